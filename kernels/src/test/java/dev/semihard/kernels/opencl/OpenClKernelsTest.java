package dev.semihard.kernels.opencl;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.BackendOptions;
import dev.semihard.engine.backend.Buffer;
import dev.semihard.engine.backend.ConvGeometry;
import dev.semihard.engine.backend.Distance;
import dev.semihard.engine.backend.OptimizerParams;
import dev.semihard.engine.backend.PoolGeometry;
import dev.semihard.engine.backend.Strategy;
import dev.semihard.engine.backend.TripletOptions;
import dev.semihard.engine.backend.TripletStats;
import dev.semihard.engine.reference.ReferenceBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * OpenCL-specific kernel checks against the reference backend: shapes the tiled kernels treat specially
 * (tile edges, split reductions, strides, odd sizes), determinism, and the fused triplet loss. The
 * generic per-kernel checks are the conformance suite ({@link OpenClConformanceTest}).
 */
class OpenClKernelsTest {
    static Backend ref, cl;

    @BeforeAll
    static void setUp() {
        OpenClTestSupport.assumeOpenCl();
        ref = new ReferenceBackend(2);
        cl = new OpenClBackend(BackendOptions.defaults());
    }

    @AfterAll
    static void tearDown() {
        if (cl != null) cl.close();
        if (ref != null) ref.close();
    }

    static float[] random(Random r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) r.nextGaussian();
        return a;
    }

    static Buffer up(Backend b, float[] data) {
        Buffer buf = b.allocate(data.length);
        b.upload(data, 0, buf, 0, data.length);
        return buf;
    }

    static float[] down(Backend b, Buffer buf) {
        float[] out = new float[(int) buf.size()];
        b.download(buf, 0, out, 0, out.length);
        return out;
    }

    /** Asserts |got - want| <= atol + rtol * |want| element-wise, naming the worst element. */
    static void close(String what, float[] want, float[] got, double atol, double rtol) {
        assertEquals(want.length, got.length, what + ": length");
        int worst = -1;
        double worstExcess = 0;
        for (int i = 0; i < want.length; i++) {
            double tol = atol + rtol * Math.abs(want[i]);
            double err = Math.abs((double) got[i] - want[i]);
            if (!(err <= tol) && (worst < 0 || err - tol > worstExcess)) { worst = i; worstExcess = err - tol; }
        }
        if (worst >= 0)
            throw new AssertionError(what + ": element " + worst + " want " + want[worst] + " got " + got[worst]
                    + " (tol " + (atol + rtol * Math.abs(want[worst])) + ")");
    }

    @ParameterizedTest(name = "conv n={0} c={1} {2}x{3} k={4} r={5} s={6} stride={7} pad={8}")
    @CsvSource({
            "2, 3, 9, 7, 5, 3, 3, 1, 1",
            "3, 1, 28, 28, 32, 3, 3, 1, 1",
            "2, 70, 6, 6, 67, 3, 3, 1, 1",
            "2, 4, 9, 9, 6, 3, 3, 2, 1",
            "2, 5, 8, 7, 130, 1, 1, 2, 0",
            "1, 2, 5, 5, 3, 5, 3, 1, 0",
            "2, 3, 4, 4, 2, 2, 2, 3, 2",
            "16, 32, 14, 14, 64, 3, 3, 1, 1",
            "60, 5, 6, 5, 12, 3, 3, 2, 1",      // 32-image kernels, 4 zero images, K not a multiple of 8
            "32, 7, 5, 5, 9, 3, 3, 1, 1",
            "300, 2, 5, 5, 4, 3, 3, 1, 1"})     // cells of 336 floats (skewed), two padding chunks
    void convMatchesReference(int n, int c, int h, int w, int k, int r, int s, int stride, int pad) {
        ConvGeometry g = new ConvGeometry(n, c, h, w, k, r, s, stride, pad);
        Random rnd = new Random(n * 31 + c * 7 + k);
        float[] x = random(rnd, (int) g.inputSize()), wt = random(rnd, (int) g.weightSize()), bias = random(rnd, k);
        float[] dy = random(rnd, (int) g.outputSize());
        double atol = 1e-4 * Math.sqrt(c * r * s), rtol = 1e-4;
        float[][] outs = new float[2][];
        float[][] dxs = new float[2][], dws = new float[2][], dbs = new float[2][];
        Backend[] bs = {ref, cl};
        for (int i = 0; i < 2; i++) {
            Backend b = bs[i];
            Buffer bx = up(b, x), bw = up(b, wt), bb = up(b, bias), bdy = up(b, dy);
            Buffer y = b.allocate(g.outputSize()), dx = b.allocate(g.inputSize()), dw = b.allocate(g.weightSize()), db = b.allocate(k);
            b.conv2dForward(g, bx, bw, bb, y);
            b.conv2dBackwardData(g, bdy, bw, dx);
            b.conv2dBackwardFilter(g, bx, bdy, dw, db);
            outs[i] = down(b, y); dxs[i] = down(b, dx); dws[i] = down(b, dw); dbs[i] = down(b, db);
        }
        close("conv2dForward", outs[0], outs[1], atol, rtol);
        close("conv2dBackwardData", dxs[0], dxs[1], 1e-4 * Math.sqrt(k * r * s), rtol);
        double redAtol = 1e-4 * Math.sqrt((double) n * g.outH() * g.outW());
        close("conv2dBackwardFilter", dws[0], dws[1], redAtol, rtol);
        close("conv2dBackwardBias", dbs[0], dbs[1], redAtol, rtol);
    }

    @ParameterizedTest(name = "linear n={0} in={1} out={2}")
    @CsvSource({"1, 1, 1", "5, 7, 3", "64, 256, 128", "130, 70, 65"})
    void linearMatchesReference(int n, int in, int out) {
        Random rnd = new Random(n + in + out);
        float[] x = random(rnd, n * in), w = random(rnd, out * in), b = random(rnd, out), dy = random(rnd, n * out);
        float[][] y = new float[2][], dx = new float[2][], dw = new float[2][], db = new float[2][];
        Backend[] bs = {ref, cl};
        for (int i = 0; i < 2; i++) {
            Backend be = bs[i];
            Buffer bx = up(be, x), bw = up(be, w), bb = up(be, b), bdy = up(be, dy);
            Buffer by = be.allocate(n * out), bdx = be.allocate(n * in), bdw = be.allocate(out * in), bdb = be.allocate(out);
            be.linearForward(n, in, out, bx, bw, bb, by);
            be.linearBackwardData(n, in, out, bdy, bw, bdx);
            be.linearBackwardWeight(n, in, out, bx, bdy, bdw, bdb);
            y[i] = down(be, by); dx[i] = down(be, bdx); dw[i] = down(be, bdw); db[i] = down(be, bdb);
        }
        close("linearForward", y[0], y[1], 1e-4 * Math.sqrt(in), 1e-4);
        close("linearBackwardData", dx[0], dx[1], 1e-4 * Math.sqrt(out), 1e-4);
        close("linearBackwardWeight", dw[0], dw[1], 1e-4 * Math.sqrt(n), 1e-4);
        close("linearBackwardBias", db[0], db[1], 1e-4 * Math.sqrt(n), 1e-4);
    }

    @Test
    void batchNormPoolReluMatchReference() {
        int n = 3, c = 5, h = 7, w = 6, hw = h * w;
        Random rnd = new Random(3);
        float[] x = random(rnd, n * c * hw), gamma = random(rnd, c), beta = random(rnd, c), dy = random(rnd, n * c * hw);
        PoolGeometry pg = new PoolGeometry(n, c, h, w, 3, 2);
        float[] pdy = random(rnd, (int) pg.outputSize());
        float[][] res = new float[2][];
        Backend[] bs = {ref, cl};
        for (int i = 0; i < 2; i++) {
            Backend b = bs[i];
            Buffer bx = up(b, x), bg = up(b, gamma), bb = up(b, beta), bdy = up(b, dy);
            Buffer y = b.allocate(x.length), sm = b.allocate(c), si = b.allocate(c), rm = b.allocate(c), rv = up(b, new float[]{1, 1, 1, 1, 1});
            Buffer dx = b.allocate(x.length), dg = b.allocate(c), db = b.allocate(c), yi = b.allocate(x.length);
            b.batchNormForwardTraining(n, c, hw, 1e-5f, 0.1f, bx, bg, bb, y, sm, si, rm, rv);
            b.batchNormBackward(n, c, hw, bx, bdy, bg, sm, si, dx, dg, db);
            b.batchNormForwardInference(n, c, hw, 1e-5f, bx, bg, bb, rm, rv, yi);
            Buffer py = b.allocate(pg.outputSize()), pdx = b.allocate(x.length), pdyb = up(b, pdy);
            b.maxPool2dForward(pg, bx, py);
            b.maxPool2dBackward(pg, bx, pdyb, pdx);
            Buffer gy = b.allocate(n * c), gdx = b.allocate(x.length);
            b.globalAvgPoolForward(n, c, hw, bx, gy);
            b.globalAvgPoolBackward(n, c, hw, gy, gdx);
            Buffer r = b.allocate(x.length), rd = b.allocate(x.length);
            b.reluForward(x.length, bx, r);
            b.reluBackward(x.length, r, bdy, rd);
            float[][] parts = {down(b, y), down(b, sm), down(b, si), down(b, rm), down(b, rv), down(b, dx), down(b, dg),
                    down(b, db), down(b, yi), down(b, py), down(b, pdx), down(b, gy), down(b, gdx), down(b, r), down(b, rd)};
            int len = 0;
            for (float[] p : parts) len += p.length;
            res[i] = new float[len];
            int o = 0;
            for (float[] p : parts) { System.arraycopy(p, 0, res[i], o, p.length); o += p.length; }
        }
        close("batch norm, pooling, relu", res[0], res[1], 1e-4, 1e-4);
    }

    @ParameterizedTest(name = "triplet {0} {1} soft={2} anchors={3}")
    @CsvSource({
            "semihard, squared-l2, false, 48", "semihard, l2, false, 48", "semihard, cosine, true, 40",
            "batch-hard, squared-l2, false, 48", "batch-hard, l2, true, 44", "batch-hard, cosine, false, 48",
            "batch-all, squared-l2, false, 48", "batch-all, l2, true, 48", "batch-all, cosine, false, 40"})
    void tripletMatchesReference(String strategy, String distance, boolean soft, int anchors) {
        int b = 48, d = 16;
        Random rnd = new Random(b + anchors + strategy.hashCode());
        float[] e = random(rnd, b * d);
        for (int i = 0; i < b; i++) {   // unit rows, like real embeddings
            double s = 0;
            for (int j = 0; j < d; j++) s += e[i * d + j] * e[i * d + j];
            for (int j = 0; j < d; j++) e[i * d + j] /= (float) Math.sqrt(s);
        }
        int[] labels = new int[b];
        for (int i = 0; i < b; i++) labels[i] = i < anchors ? i / 6 : 100 + rnd.nextInt(3);
        TripletOptions o = new TripletOptions(Strategy.parse(strategy), Distance.parse(distance), 0.2f, soft, anchors);
        float[][] de = new float[2][], st = new float[2][];
        Backend[] bs = {ref, cl};
        for (int i = 0; i < 2; i++) {
            Buffer be = up(bs[i], e), bde = bs[i].allocate(b * d), bst = bs[i].allocate(TripletStats.SIZE);
            bs[i].tripletLoss(b, d, labels, o, be, bde, bst);
            de[i] = down(bs[i], bde);
            st[i] = down(bs[i], bst);
        }
        close("tripletLoss stats", st[0], st[1], 1e-4, 1e-4);
        close("tripletLoss dE", de[0], de[1], 1e-5, 1e-4);
    }

    @Test
    void tripletDegenerateBatchIsZero() {
        int b = 6, d = 4;
        float[] e = random(new Random(1), b * d);
        Buffer be = up(cl, e), bde = up(cl, new float[b * d]), bst = cl.allocate(TripletStats.SIZE);
        cl.fill(bde, 0, b * d, 7f);
        cl.tripletLoss(b, d, new int[]{1, 1, 1, 1, 1, 1}, TripletOptions.facenet(b), be, bde, bst);
        TripletStats s = TripletStats.of(down(cl, bst));
        assertTrue(s.degenerate());
        assertEquals(0f, s.loss());
        assertArrayEquals(new float[b * d], down(cl, bde));
    }

    @Test
    void optimizersAndSumSquaresMatchReference() {
        int n = 1000;
        Random rnd = new Random(9);
        float[] w = random(rnd, n), g = random(rnd, n);
        g[5] = Float.NaN;
        g[17] = Float.POSITIVE_INFINITY;
        float[][] res = new float[2][];
        float[][] sums = new float[2][2];
        Backend[] bs = {ref, cl};
        for (int i = 0; i < 2; i++) {
            Backend b = bs[i];
            b.sumSquares(n, up(b, g), sums[i]);
            g[5] = 0.5f; g[17] = -0.25f;
            Buffer p1 = up(b, w), p2 = up(b, w), p3 = up(b, w), p4 = up(b, w), bg = up(b, g);
            Buffer v = b.allocate(n), m = b.allocate(n), vv = b.allocate(n), acc = b.allocate(n), v2 = b.allocate(n);
            Buffer ax = up(b, w);
            for (int step = 1; step <= 3; step++) {
                b.sgdUpdate(n, new OptimizerParams.Sgd(0.1f, 0.9f, false, 1e-4f), p1, bg, v);
                b.sgdUpdate(n, new OptimizerParams.Sgd(0.1f, 0.9f, true, 0f), p4, bg, v2);
                b.adamUpdate(n, new OptimizerParams.Adam(1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, step == 2, step), p2, bg, m, vv);
                b.adagradUpdate(n, new OptimizerParams.Adagrad(0.05f, 1e-10f, 1e-3f), p3, bg, acc);
            }
            b.axpy(n, 0.5f, bg, ax);
            b.scale(n, 3f, ax);
            b.add(n, ax, bg, ax);
            g[5] = Float.NaN; g[17] = Float.POSITIVE_INFINITY;
            float[][] parts = {down(b, p1), down(b, p2), down(b, p3), down(b, p4), down(b, ax)};
            res[i] = new float[parts.length * n];
            for (int j = 0; j < parts.length; j++) System.arraycopy(parts[j], 0, res[i], j * n, n);
        }
        close("optimizers, axpy, scale, add", res[0], res[1], 1e-5, 1e-5);
        assertEquals(2f, sums[1][1]);
        assertEquals(sums[0][0], sums[1][0], 1e-3 * sums[0][0]);
    }

    @Test
    void l2NormalizeAndPairwiseDistanceMatchReference() {
        int n = 33, d = 20;
        Random rnd = new Random(5);
        float[] x = random(rnd, n * d), dy = random(rnd, n * d), dd = random(rnd, n * n);
        for (int j = 0; j < d; j++) x[3 * d + j] = 0f;            // a zero row: clamped norm
        System.arraycopy(x, 0, x, 7 * d, d);                       // a duplicate row: zero distance
        for (Distance metric : Distance.values()) {
            float[][] res = new float[2][];
            Backend[] bs = {ref, cl};
            for (int i = 0; i < 2; i++) {
                Backend b = bs[i];
                Buffer bx = up(b, x), y = b.allocate(n * d), norms = b.allocate(n), bdy = up(b, dy), dx = b.allocate(n * d);
                b.l2NormalizeForward(n, d, 1e-12f, bx, y, norms);
                b.l2NormalizeBackward(n, d, 1e-12f, y, norms, bdy, dx);
                Buffer dist = b.allocate(n * n), de = b.allocate(n * d);
                b.pairwiseDistanceForward(n, d, metric, y, dist);
                b.pairwiseDistanceBackward(n, d, metric, y, dist, up(b, dd), de);
                float[] a = down(b, y), c = down(b, dist), e = down(b, de), f = down(b, dx);
                float[] dxs = new float[n * d];
                for (int r = 0; r < n; r++) if (r != 3) System.arraycopy(f, r * d, dxs, r * d, d);  // the clamped row's 1e12 scale
                res[i] = concat(a, c, e, dxs);
            }
            close("l2 normalize + pairwise " + metric, res[0], res[1], 2e-4, 1e-4);
        }
    }

    static float[] concat(float[]... parts) {
        int len = 0;
        for (float[] p : parts) len += p.length;
        float[] out = new float[len];
        int o = 0;
        for (float[] p : parts) { System.arraycopy(p, 0, out, o, p.length); o += p.length; }
        return out;
    }

    @Test
    void convIsDeterministic() {
        ConvGeometry g = new ConvGeometry(8, 16, 12, 12, 32, 3, 3, 1, 1);
        Random rnd = new Random(2);
        float[] x = random(rnd, (int) g.inputSize()), dy = random(rnd, (int) g.outputSize());
        Buffer bx = up(cl, x), bdy = up(cl, dy), dw1 = cl.allocate(g.weightSize()), dw2 = cl.allocate(g.weightSize());
        cl.conv2dBackwardFilter(g, bx, bdy, dw1, null);
        cl.conv2dBackwardFilter(g, bx, bdy, dw2, null);
        assertArrayEquals(down(cl, dw1), down(cl, dw2));
    }

    @Test
    void buildErrorsCarryTheCompilerLog() {
        OpenClBackend b = (OpenClBackend) cl;
        IllegalStateException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
                () -> b.compileForTest("__kernel void broken(__global float* x) { x[0] = undefined_name; }"));
        assertTrue(e.getMessage().contains("compiler log") && e.getMessage().contains("undefined_name"), e.getMessage());
    }

    @Test
    void memoryIsTrackedAndReused() {
        long before = cl.bytesInUse();
        Buffer a = cl.allocate(1000);
        assertEquals(before + 4000, cl.bytesInUse());
        a.close();
        a.close();   // idempotent
        assertEquals(before, cl.bytesInUse());
        long peak = cl.peakBytes();
        Buffer again = cl.allocate(1000);   // from the free list: zero-filled like a new one
        assertArrayEquals(new float[1000], down(cl, again));
        assertEquals(peak, cl.peakBytes());
        again.close();
        org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class, () -> cl.fill(again, 0, 1, 1f));
    }

    /** Batch norm with n >= 64 images (whole images per work-item, float8 partial sums, odd tails) and n < 64. */
    @ParameterizedTest(name = "batch norm n={0} c={1} hw={2}")
    @CsvSource({"70, 3, 13", "64, 2, 16", "130, 2, 1", "5, 3, 9"})
    void batchNormShapesMatchReference(int n, int c, int hw) {
        Random rnd = new Random(n * 7 + hw);
        float[] x = random(rnd, n * c * hw), dy = random(rnd, n * c * hw), gamma = random(rnd, c), beta = random(rnd, c);
        for (int i = 0; i < x.length; i++) x[i] = 2f + 1.5f * x[i];   // an offset, so the two-pass variance matters
        float[][] res = new float[2][];
        Backend[] bs = {ref, cl};
        for (int i = 0; i < 2; i++) {
            Backend b = bs[i];
            Buffer bx = up(b, x), bdy = up(b, dy), g = up(b, gamma), be = up(b, beta);
            Buffer y = b.allocate(x.length), sm = b.allocate(c), si = b.allocate(c), rm = b.allocate(c), rv = b.allocate(c);
            Buffer dx = b.allocate(x.length), dg = b.allocate(c), db = b.allocate(c);
            b.batchNormForwardTraining(n, c, hw, 1e-5f, 0.1f, bx, g, be, y, sm, si, rm, rv);
            b.batchNormBackward(n, c, hw, bx, bdy, g, sm, si, dx, dg, db);
            res[i] = concat(down(b, y), down(b, sm), down(b, si), down(b, rm), down(b, rv), down(b, dx), down(b, dg), down(b, db));
        }
        close("batch norm n=" + n + " c=" + c + " hw=" + hw, res[0], res[1], 2e-4, 2e-4);
        // fused with ReLU (the float8 path masks dy with select()); the backward of both backends gets the
        // reference's y, so a value rounding to either side of 0 cannot flip one element's mask
        float[] yRef = null;
        for (int i = 0; i < 2; i++) {
            Backend b = bs[i];
            Buffer bx = up(b, x), bdy = up(b, dy), g = up(b, gamma), be = up(b, beta);
            Buffer y = b.allocate(x.length), sm = b.allocate(c), si = b.allocate(c), rm = b.allocate(c), rv = b.allocate(c);
            Buffer dx = b.allocate(x.length), dg = b.allocate(c), db = b.allocate(c);
            b.batchNormReluForwardTraining(n, c, hw, 1e-5f, 0.1f, bx, g, be, y, sm, si, rm, rv);
            float[] yv = down(b, y);
            if (i == 0) yRef = yv;
            b.batchNormReluBackward(n, c, hw, bx, up(b, yRef), bdy, g, sm, si, dx, dg, db);
            res[i] = concat(yv, down(b, sm), down(b, si), down(b, rm), down(b, rv), down(b, dx), down(b, dg), down(b, db));
        }
        int zeros = 0;
        for (float v : yRef) if (v == 0f) zeros++;
        assertTrue(zeros > x.length / 5 && zeros < x.length * 4 / 5, "the ReLU should cut a fair share: " + zeros + " of " + x.length);
        close("batch norm + relu n=" + n + " c=" + c + " hw=" + hw, res[0], res[1], 2e-4, 2e-4);
    }

    /** Semihard with more than 64 positives per anchor (the kernel's second path) and a few extra negatives. */
    @Test
    void semihardWithManyPositivesMatchesReference() {
        int b = 90, d = 8, anchors = 84;
        Random rnd = new Random(11);
        float[] e = random(rnd, b * d);
        int[] labels = new int[b];
        for (int i = 0; i < b; i++) labels[i] = i < 70 ? 0 : i < anchors ? 1 : 2 + i % 3;
        TripletOptions o = new TripletOptions(Strategy.SEMIHARD, Distance.SQUARED_L2, 0.2f, false, anchors);
        float[][] de = new float[2][], st = new float[2][];
        Backend[] bs = {ref, cl};
        for (int i = 0; i < 2; i++) {
            Buffer be = up(bs[i], e), bde = bs[i].allocate(b * d), bst = bs[i].allocate(TripletStats.SIZE);
            bs[i].tripletLoss(b, d, labels, o, be, bde, bst);
            de[i] = down(bs[i], bde);
            st[i] = down(bs[i], bst);
        }
        close("tripletLoss stats, 69 positives", st[0], st[1], 1e-4, 1e-4);
        close("tripletLoss dE, 69 positives", de[0], de[1], 1e-5, 1e-4);
    }
}
