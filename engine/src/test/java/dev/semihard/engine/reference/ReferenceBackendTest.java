package dev.semihard.engine.reference;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.Backends;
import dev.semihard.engine.backend.Buffer;
import dev.semihard.engine.backend.ConvGeometry;
import dev.semihard.engine.backend.Distance;
import dev.semihard.engine.backend.OptimizerParams;
import dev.semihard.engine.backend.PoolGeometry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Kernel-level tests of the reference backend on tiny cases whose expected values were computed
 * by hand (the numbers in the comments), plus memory accounting, buffer ownership and determinism.
 * Gradient consistency of every backward kernel is in {@link ReferenceGradientTest}.
 */
class ReferenceBackendTest {
    private final ReferenceBackend be = new ReferenceBackend(2);

    @AfterEach
    void close() { be.close(); }

    private Buffer buf(double... v) {
        Buffer b = be.allocate(v.length);
        be.uploadDouble(v, b);
        return b;
    }

    private double[] get(Buffer b) { return be.downloadDouble(b); }

    private static double[] iota(int n) {
        double[] a = new double[n];
        for (int i = 0; i < n; i++) a[i] = i;
        return a;
    }

    // ------------------------------------------------------------------ convolution

    /** x = 0..15 as a 4x4 image, w = the 3x3 identity ("diagonal") filter. */
    private static final double[] DIAG = {1, 0, 0, 0, 1, 0, 0, 0, 1};

    @Test
    void conv3x3On4x4ByHand() {
        ConvGeometry g = new ConvGeometry(1, 1, 4, 4, 1, 3, 3, 1, 0);
        Buffer x = buf(iota(16)), w = buf(DIAG), b = buf(1), y = be.allocate(4);
        be.conv2dForward(g, x, w, b, y);
        // y[i,j] = x[i,j] + x[i+1,j+1] + x[i+2,j+2] + bias = 3(4i + j) + 15 + 1
        assertArrayEquals(new double[]{16, 19, 28, 31}, get(y), 0);
        be.conv2dForward(g, x, w, null, y);
        assertArrayEquals(new double[]{15, 18, 27, 30}, get(y), 0);

        // dy = ones: dx[ih,iw] counts the (oh,ow,r) with oh = ih - r, ow = iw - r inside the 2x2 output
        Buffer dy = buf(1, 1, 1, 1), dx = be.allocate(16);
        be.fill(dx, 0, 16, 7f); // must be overwritten
        be.conv2dBackwardData(g, dy, w, dx);
        assertArrayEquals(new double[]{1, 1, 0, 0, 1, 2, 1, 0, 0, 1, 2, 1, 0, 0, 1, 1}, get(dx), 0);

        // dw[r,s] = sum of the 2x2 block of x at (r,s) = 16r + 4s + 10; dbias = 4
        Buffer dw = be.allocate(9), db = be.allocate(1);
        be.fill(dw, 0, 9, 7f);
        be.conv2dBackwardFilter(g, x, dy, dw, db);
        assertArrayEquals(new double[]{10, 14, 18, 26, 30, 34, 42, 46, 50}, get(dw), 0);
        assertArrayEquals(new double[]{4}, get(db), 0);
    }

    @Test
    void conv3x3Pad1Stride2ByHand() {
        // outH = (4 + 2 - 3) / 2 + 1 = 2; each output sums the padded diagonal of its window:
        // (0,0): x[-1,-1] + x[0,0] + x[1,1] = 0 + 0 + 5;  (0,1): 0 + x[0,2] + x[1,3] = 2 + 7
        // (1,0): 0 + x[2,0] + x[3,1] = 8 + 13;            (1,1): x[1,1] + x[2,2] + x[3,3] = 5 + 10 + 15
        ConvGeometry g = new ConvGeometry(1, 1, 4, 4, 1, 3, 3, 2, 1);
        assertEquals(2, g.outH());
        Buffer x = buf(iota(16)), w = buf(DIAG), y = be.allocate(4);
        be.conv2dForward(g, x, w, null, y);
        assertArrayEquals(new double[]{5, 9, 21, 30}, get(y), 0);
    }

    @Test
    void conv1x1IsAPerPixelMatrixProduct() {
        // 2 input channels, 3 output channels, 2x1 image: y[k,p] = sum_c w[k,c] x[c,p] + b[k]
        ConvGeometry g = new ConvGeometry(1, 2, 2, 1, 3, 1, 1, 1, 0);
        Buffer x = buf(1, 2, 10, 20), w = buf(1, 0, 0, 1, 1, -1), b = buf(0, 0, 0.5), y = be.allocate(6);
        be.conv2dForward(g, x, w, b, y);
        assertArrayEquals(new double[]{1, 2, 10, 20, -8.5, -17.5}, get(y), 0);
    }

    /** The forward kernel's loop order is tuned for speed; it must equal the textbook 7-loop sum. */
    @Test
    void conv2dForwardEqualsTheTextbookSum() {
        dev.semihard.engine.Rng rng = new dev.semihard.engine.Rng(3);
        ConvGeometry[] shapes = {
                new ConvGeometry(2, 3, 7, 6, 4, 3, 3, 1, 1), new ConvGeometry(1, 2, 9, 8, 3, 3, 3, 2, 1),
                new ConvGeometry(2, 4, 5, 5, 2, 1, 1, 2, 0), new ConvGeometry(1, 2, 6, 7, 3, 3, 2, 3, 2),
                new ConvGeometry(1, 1, 4, 4, 2, 5, 5, 1, 2)};
        for (ConvGeometry g : shapes) {
            double[] xv = new double[(int) g.inputSize()], wv = new double[(int) g.weightSize()], bv = new double[g.k()];
            for (int i = 0; i < xv.length; i++) xv[i] = rng.nextGaussian();
            for (int i = 0; i < wv.length; i++) wv[i] = rng.nextGaussian();
            for (int i = 0; i < bv.length; i++) bv[i] = rng.nextGaussian();
            double[] want = new double[(int) g.outputSize()];
            int C = g.c(), H = g.h(), W = g.w(), K = g.k(), R = g.r(), S = g.s(), OH = g.outH(), OW = g.outW();
            for (int n = 0; n < g.n(); n++)
                for (int k = 0; k < K; k++)
                    for (int oh = 0; oh < OH; oh++)
                        for (int ow = 0; ow < OW; ow++) {
                            double sum = bv[k];
                            for (int c = 0; c < C; c++)
                                for (int r = 0; r < R; r++)
                                    for (int s = 0; s < S; s++) {
                                        int ih = oh * g.stride() - g.pad() + r, iw = ow * g.stride() - g.pad() + s;
                                        if (ih >= 0 && ih < H && iw >= 0 && iw < W)
                                            sum += wv[((k * C + c) * R + r) * S + s] * xv[((n * C + c) * H + ih) * W + iw];
                                    }
                            want[((n * K + k) * OH + oh) * OW + ow] = sum;
                        }
            Buffer y = be.allocate(want.length);
            be.conv2dForward(g, buf(xv), buf(wv), buf(bv), y);
            assertArrayEquals(want, get(y), 1e-12, g.toString());
        }
    }

    // ------------------------------------------------------------------ pooling

    @Test
    void maxPoolTiesGoToTheFirstElementInRowMajorOrder() {
        // 4x4, windows 2x2 stride 2; top-left window [[5,5],[1,5]] has three tied maxima
        double[] xv = {
                5, 5, 0, 1,
                1, 5, 2, 2,
                3, 3, 9, 8,
                3, 3, 8, 9};
        PoolGeometry g = new PoolGeometry(1, 1, 4, 4, 2, 2);
        Buffer x = buf(xv), y = be.allocate(4), dy = buf(10, 20, 30, 40), dx = be.allocate(16);
        be.maxPool2dForward(g, x, y);
        assertArrayEquals(new double[]{5, 2, 3, 9}, get(y), 0);
        be.fill(dx, 0, 16, 7f);
        be.maxPool2dBackward(g, x, dy, dx);
        assertArrayEquals(new double[]{
                10, 0, 0, 0,
                0, 0, 20, 0,
                30, 0, 40, 0,
                0, 0, 0, 0}, get(dx), 0);
    }

    @Test
    void maxPoolOverlappingWindowsAddUp() {
        // 3x3, window 2 stride 1: the centre 9 is the maximum of all four windows
        PoolGeometry g = new PoolGeometry(1, 1, 3, 3, 2, 1);
        Buffer x = buf(1, 2, 3, 4, 9, 5, 6, 7, 8), y = be.allocate(4), dy = buf(1, 2, 3, 4), dx = be.allocate(9);
        be.maxPool2dForward(g, x, y);
        assertArrayEquals(new double[]{9, 9, 9, 9}, get(y), 0);
        be.maxPool2dBackward(g, x, dy, dx);
        assertArrayEquals(new double[]{0, 0, 0, 0, 10, 0, 0, 0, 0}, get(dx), 0);
    }

    @Test
    void maxPoolOddSizeFloors() {
        // 7 -> 3 with window 2 stride 2: the last row and column are never read
        PoolGeometry g = new PoolGeometry(1, 1, 7, 7, 2, 2);
        assertEquals(3, g.outH());
        double[] xv = iota(49);
        xv[48] = 1000; // bottom-right corner, outside every window
        Buffer x = buf(xv), y = be.allocate(9);
        be.maxPool2dForward(g, x, y);
        // window (i,j) max = x[2i+1, 2j+1] = 7(2i+1) + 2j + 1
        assertArrayEquals(new double[]{8, 10, 12, 22, 24, 26, 36, 38, 40}, get(y), 0);
    }

    @Test
    void globalAvgPool() {
        Buffer x = buf(1, 2, 3, 4, 10, 20, 30, 40), y = be.allocate(2), dx = be.allocate(8);
        be.globalAvgPoolForward(1, 2, 4, x, y);
        assertArrayEquals(new double[]{2.5, 25}, get(y), 0);
        be.globalAvgPoolBackward(1, 2, 4, buf(4, 8), dx);
        assertArrayEquals(new double[]{1, 1, 1, 1, 2, 2, 2, 2}, get(dx), 0);
    }

    // ------------------------------------------------------------------ batch norm

    @Test
    void batchNormByHand() {
        // n = 2, c = 1, hw = 2: x = [1, 2, 3, 6]; mean 3; biased var (4 + 1 + 0 + 9) / 4 = 3.5;
        // eps 0.5 -> invStd = 1 / sqrt(4) = 0.5; gamma 2, beta 1: y = (x - 3) * 0.5 * 2 + 1
        Buffer x = buf(1, 2, 3, 6), gamma = buf(2), beta = buf(1), y = be.allocate(4);
        Buffer mean = be.allocate(1), inv = be.allocate(1), rm = buf(0), rv = buf(1);
        be.batchNormForwardTraining(2, 1, 2, 0.5f, 0.1f, x, gamma, beta, y, mean, inv, rm, rv);
        assertArrayEquals(new double[]{-1, 0, 1, 4}, get(y), 1e-15);
        assertEquals(3, get(mean)[0], 0);
        assertEquals(0.5, get(inv)[0], 0);
        double mom = 0.1f; // the float momentum, widened
        assertEquals(mom * 3, get(rm)[0], 1e-15);
        // unbiased variance 3.5 * 4 / 3
        assertEquals((1 - mom) * 1 + mom * 3.5 * 4 / 3, get(rv)[0], 1e-15);

        // backward with dy = [1, 0, 0, 0]: xhat = [-1, -0.5, 0, 1.5]; dbeta = 1; dgamma = -1;
        // dx = 2 * 0.5 / 4 * (4 dy - 1 + xhat) = [0.5, -0.375, -0.25, 0.125]
        Buffer dy = buf(1, 0, 0, 0), dx = be.allocate(4), dgamma = be.allocate(1), dbeta = be.allocate(1);
        be.batchNormBackward(2, 1, 2, x, dy, gamma, mean, inv, dx, dgamma, dbeta);
        assertArrayEquals(new double[]{0.5, -0.375, -0.25, 0.125}, get(dx), 1e-15);
        assertEquals(-1, get(dgamma)[0], 1e-15);
        assertEquals(1, get(dbeta)[0], 0);

        // eval mode with running stats equal to the batch statistics gives the same y
        Buffer y2 = be.allocate(4);
        be.batchNormForwardInference(2, 1, 2, 0.5f, x, gamma, beta, buf(3), buf(3.5), y2);
        assertArrayEquals(new double[]{-1, 0, 1, 4}, get(y2), 1e-15);
    }

    @Test
    void batchNormTrainingRefusesOneValuePerChannel() {
        Buffer one = buf(1);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> be.batchNormForwardTraining(
                1, 1, 1, 1e-5f, 0.1f, one, buf(1), buf(0), be.allocate(1), be.allocate(1), be.allocate(1), buf(0), buf(1)));
        assertTrue(e.getMessage().contains("more than one value per channel"), e.getMessage());
    }

    // ------------------------------------------------------------------ linear

    @Test
    void linearByHand() {
        // x [2, 3], w [2, 3], b [2]
        Buffer x = buf(1, 2, 3, 4, 5, 6), w = buf(1, 0, -1, 0.5, 0.5, 0.5), b = buf(10, 20), y = be.allocate(4);
        be.linearForward(2, 3, 2, x, w, b, y);
        assertArrayEquals(new double[]{1 - 3 + 10, 3 + 20, 4 - 6 + 10, 7.5 + 20}, get(y), 0);
        Buffer dy = buf(1, 2, 3, 4), dx = be.allocate(6), dw = be.allocate(6), db = be.allocate(2);
        be.linearBackwardData(2, 3, 2, dy, w, dx);
        // dx[n] = dy[n,0] w[0] + dy[n,1] w[1]
        assertArrayEquals(new double[]{2, 1, 0, 5, 2, -1}, get(dx), 0);
        be.linearBackwardWeight(2, 3, 2, x, dy, dw, db);
        // dw[o] = dy[0,o] x[0] + dy[1,o] x[1]
        assertArrayEquals(new double[]{13, 17, 21, 18, 24, 30}, get(dw), 0);
        assertArrayEquals(new double[]{4, 6}, get(db), 0);
    }

    // ------------------------------------------------------------------ embeddings

    @Test
    void l2NormalizeWithAZeroRow() {
        float eps = 1e-12f;
        Buffer x = buf(3, 4, 0, 0), y = be.allocate(4), norms = be.allocate(2);
        be.l2NormalizeForward(2, 2, eps, x, y, norms);
        assertArrayEquals(new double[]{0.6, 0.8, 0, 0}, get(y), 1e-15);
        assertArrayEquals(new double[]{5, eps}, get(norms), 0);
        // row 0: (dy - y (y.dy)) / 5 with dy = [1, 0], y.dy = 0.6 -> [0.64, -0.48] / 5; row 1 clamped: dy / eps
        Buffer dy = buf(1, 0, 1, 2), dx = be.allocate(4);
        be.l2NormalizeBackward(2, 2, eps, y, norms, dy, dx);
        double[] got = get(dx);
        assertEquals(0.128, got[0], 1e-15);
        assertEquals(-0.096, got[1], 1e-15);
        assertEquals(1 / (double) eps, got[2], 0);
        assertEquals(2 / (double) eps, got[3], 0);
    }

    @Test
    void pairwiseDistancesByHand() {
        // rows (0,0), (3,4), (1,0)
        Buffer e = buf(0, 0, 3, 4, 1, 0), d = be.allocate(9);
        be.pairwiseDistanceForward(3, 2, Distance.SQUARED_L2, e, d);
        assertArrayEquals(new double[]{0, 25, 1, 25, 0, 20, 1, 20, 0}, get(d), 0);
        be.pairwiseDistanceForward(3, 2, Distance.L2, e, d);
        assertArrayEquals(new double[]{0, 5, 1, 5, 0, Math.sqrt(20), 1, Math.sqrt(20), 0}, get(d), 1e-15);
        be.pairwiseDistanceForward(3, 2, Distance.COSINE, e, d);
        // the zero row is at cosine distance 1 from the others; cos((3,4),(1,0)) = 0.6
        assertArrayEquals(new double[]{0, 1, 1, 1, 0, 0.4, 1, 0.4, 0}, get(d), 1e-15);
    }

    @Test
    void l2DistanceGradientIsZeroNotNaNAtZeroDistance() {
        Buffer e = buf(1, 2, 1, 2, 0, 0), d = be.allocate(9), dE = be.allocate(6);
        be.pairwiseDistanceForward(3, 2, Distance.L2, e, d);
        be.pairwiseDistanceBackward(3, 2, Distance.L2, e, d, buf(0, 1, 0, 1, 0, 0, 0, 0, 0), dE);
        for (double v : get(dE)) assertEquals(0, v, 0);
        be.pairwiseDistanceBackward(3, 2, Distance.L2, e, d, buf(1, 1, 1, 1, 1, 1, 1, 1, 1), dE);
        for (double v : get(dE)) assertTrue(Double.isFinite(v));
    }

    // ------------------------------------------------------------------ elementwise

    @Test
    void elementwiseAndReductions() {
        Buffer x = buf(-1, 2, -3, 4), y = buf(1, 1, 1, 1);
        be.axpy(4, 2f, x, y);
        assertArrayEquals(new double[]{-1, 5, -5, 9}, get(y), 0);
        be.scale(3, 0.5f, y);
        assertArrayEquals(new double[]{-0.5, 2.5, -2.5, 9}, get(y), 0);
        be.add(4, x, y, y); // y aliases b
        assertArrayEquals(new double[]{-1.5, 4.5, -5.5, 13}, get(y), 0);
        be.reluForward(4, x, x); // in place
        assertArrayEquals(new double[]{0, 2, 0, 4}, get(x), 0);
        be.reluBackward(4, x, y, y);
        assertArrayEquals(new double[]{0, 4.5, 0, 13}, get(y), 0);

        float[] out = new float[2];
        be.sumSquares(4, buf(1, Double.NaN, 2, Double.POSITIVE_INFINITY), out);
        assertArrayEquals(new float[]{5, 2}, out);
        be.sumSquares(3, buf(3, 4, 0, Double.NaN), out); // n limits the range
        assertArrayEquals(new float[]{25, 0}, out);
    }

    @Test
    void uploadDownloadCopyFillWithOffsets() {
        Buffer b = be.allocate(6), c = be.allocate(6);
        be.upload(new float[]{9, 1, 2, 3}, 1, b, 2, 3);
        float[] got = new float[5];
        be.download(b, 1, got, 1, 4);
        assertArrayEquals(new float[]{0, 0, 1, 2, 3}, got);
        be.fill(c, 0, 6, -1f);
        be.copy(b, 2, c, 1, 3);
        be.fill(c, 5, 1, 0.25f);
        assertArrayEquals(new double[]{-1, 1, 2, 3, -1, 0.25}, get(c), 0);
        // float conversion happens only at the edges: a double upload survives exactly
        be.uploadDouble(new double[]{0.1}, c);
        assertEquals(0.1, get(c)[0], 0);
        be.download(c, 0, got, 0, 1);
        assertEquals(0.1f, got[0]);
    }

    // ------------------------------------------------------------------ optimizers (one step vs the formula)

    @Test
    void sgdOneStep() {
        float lr = 0.1f, mom = 0.9f, wd = 0.01f;
        Buffer p = buf(1), g = buf(0.5), v = buf(0.2);
        be.sgdUpdate(1, new OptimizerParams.Sgd(lr, mom, false, wd), p, g, v);
        double gg = 0.5 + (double) wd * 1, vv = (double) mom * 0.2 + gg;   // 0.51, 0.69
        assertEquals(vv, get(v)[0], 1e-15);
        assertEquals(1 - (double) lr * vv, get(p)[0], 1e-15);              // 0.931
        assertEquals(0.931, get(p)[0], 1e-7);
        assertEquals(0.5, get(g)[0], 0); // the gradient is not modified

        Buffer p2 = buf(1), v2 = buf(0.2);
        be.sgdUpdate(1, new OptimizerParams.Sgd(lr, mom, true, wd), p2, g, v2);
        assertEquals(1 - (double) lr * (gg + (double) mom * vv), get(p2)[0], 1e-15);  // 0.8869
        assertEquals(0.8869, get(p2)[0], 1e-7);
    }

    @Test
    void adamAndAdamWOneStep() {
        float lr = 0.01f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0.1f;
        // Adam, step 1: g = 0.5 + 0.1 * 2 = 0.7; mhat = g, vhat = g^2 -> param -= lr * 0.7 / (0.7 + eps)
        Buffer p = buf(2), g = buf(0.5), m = be.allocate(1), v = be.allocate(1);
        be.adamUpdate(1, new OptimizerParams.Adam(lr, b1, b2, eps, wd, false, 1), p, g, m, v);
        double gg = 0.5 + (double) wd * 2;
        assertEquals((1 - (double) b1) * gg, get(m)[0], 1e-15);
        assertEquals((1 - (double) b2) * gg * gg, get(v)[0], 1e-15);
        assertEquals(2 - (double) lr * gg / (gg + eps), get(p)[0], 1e-12);
        assertEquals(1.99, get(p)[0], 1e-7);

        // AdamW, step 1: param = 2 - lr * wd * 2 = 1.998, then the plain Adam step with g = 0.5
        Buffer pw = buf(2), mw = be.allocate(1), vw = be.allocate(1);
        be.adamUpdate(1, new OptimizerParams.Adam(lr, b1, b2, eps, wd, true, 1), pw, g, mw, vw);
        assertEquals(2 - (double) lr * wd * 2 - (double) lr * 0.5 / (0.5 + eps), get(pw)[0], 1e-12);
        assertEquals(1.988, get(pw)[0], 1e-7);

        // step 3 with existing moments: the bias corrections use beta^3
        Buffer p3 = buf(1), m3 = buf(0.1), v3 = buf(0.04);
        be.adamUpdate(1, new OptimizerParams.Adam(lr, b1, b2, eps, 0f, false, 3), p3, g, m3, v3);
        double mm = b1 * 0.1 + (1 - (double) b1) * 0.5, vv = b2 * 0.04 + (1 - (double) b2) * 0.25;
        double mhat = mm / (1 - Math.pow(b1, 3)), vhat = vv / (1 - Math.pow(b2, 3));
        assertEquals(1 - lr * mhat / (Math.sqrt(vhat) + eps), get(p3)[0], 1e-12);
    }

    @Test
    void adagradOneStep() {
        float lr = 0.1f, eps = 1e-10f;
        // g = 2 + 0.5 * 1 = 2.5; acc = 9.75 + 6.25 = 16; param = 1 - 0.1 * 2.5 / 4 = 0.9375
        Buffer p = buf(1), g = buf(2), acc = buf(9.75);
        be.adagradUpdate(1, new OptimizerParams.Adagrad(lr, eps, 0.5f), p, g, acc);
        assertEquals(16, get(acc)[0], 0);
        assertEquals(1 - (double) lr * 2.5 / (4 + (double) eps), get(p)[0], 1e-15);
        assertEquals(0.9375, get(p)[0], 1e-7);
    }

    // ------------------------------------------------------------------ memory, ownership, determinism

    @Test
    void memoryIsTrackedAsFloat32Bytes() {
        long before = be.bytesInUse();
        Buffer a = be.allocate(1000), b = be.allocate(500);
        assertEquals(before + 6000, be.bytesInUse());
        a.close();
        a.close(); // idempotent
        assertEquals(before + 2000, be.bytesInUse());
        assertTrue(be.peakBytes() >= before + 6000);
        b.close();
        assertEquals(before, be.bytesInUse());
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> be.fill(a, 0, 1, 1f));
        assertTrue(e.getMessage().contains("after close"), e.getMessage());
    }

    @Test
    void buffersOfAnotherBackendAreRejected() {
        try (ReferenceBackend other = new ReferenceBackend(1)) {
            Buffer foreign = other.allocate(4);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> be.reluForward(4, foreign, be.allocate(4)));
            assertTrue(e.getMessage().contains("another backend"), e.getMessage());
        }
    }

    @Test
    void resultsDoNotDependOnTheThreadCount() {
        ConvGeometry g = new ConvGeometry(3, 5, 9, 8, 6, 3, 3, 2, 1);
        dev.semihard.engine.Rng rng = new dev.semihard.engine.Rng(7);
        double[] xv = new double[(int) g.inputSize()], wv = new double[(int) g.weightSize()], dyv = new double[(int) g.outputSize()];
        for (int i = 0; i < xv.length; i++) xv[i] = rng.nextGaussian();
        for (int i = 0; i < wv.length; i++) wv[i] = rng.nextGaussian();
        for (int i = 0; i < dyv.length; i++) dyv[i] = rng.nextGaussian();
        double[][] results = new double[2][];
        int[] threadCounts = {1, 3};
        for (int t = 0; t < 2; t++) {
            try (ReferenceBackend b = new ReferenceBackend(threadCounts[t])) {
                Buffer x = b.allocate(xv.length), w = b.allocate(wv.length), dy = b.allocate(dyv.length);
                b.uploadDouble(xv, x); b.uploadDouble(wv, w); b.uploadDouble(dyv, dy);
                Buffer y = b.allocate(dyv.length), dx = b.allocate(xv.length), dw = b.allocate(wv.length), db = b.allocate(g.k());
                b.conv2dForward(g, x, w, null, y);
                b.conv2dBackwardData(g, dy, w, dx);
                b.conv2dBackwardFilter(g, x, dy, dw, db);
                double[] all = new double[dyv.length + xv.length + wv.length + g.k()];
                int o = 0;
                for (Buffer r : new Buffer[]{y, dx, dw, db}) {
                    double[] v = b.downloadDouble(r);
                    System.arraycopy(v, 0, all, o, v.length);
                    o += v.length;
                }
                results[t] = all;
            }
        }
        assertArrayEquals(results[0], results[1], 0.0, "bit-identical for 1 and 3 threads");
    }

    @Test
    void foundThroughServiceLoader() {
        try (Backend b = Backends.create("reference")) {
            assertEquals("reference", b.name());
            assertTrue(b.deviceDescription().startsWith("Java reference, "), b.deviceDescription());
            assertTrue(b instanceof ReferenceBackend);
        }
    }

    /** --precision tf32 on a backend without tensor cores: it runs fp32 and says so, once, as a warning. */
    @Test
    void askingForTf32WithoutTensorCoresIsAWarningNotASilentFp32() {
        java.util.logging.Logger log = java.util.logging.Logger.getLogger(Backends.class.getName());
        java.util.List<java.util.logging.LogRecord> records = new java.util.ArrayList<>();
        java.util.logging.Handler h = new java.util.logging.Handler() {
            @Override public void publish(java.util.logging.LogRecord r) { records.add(r); }
            @Override public void flush() {}
            @Override public void close() {}
        };
        log.addHandler(h);
        try (Backend b = Backends.create("reference", new dev.semihard.engine.backend.BackendOptions(null, "tf32", 1, java.util.Map.of()))) {
            assertEquals("fp32", b.precision());
        } finally {
            log.removeHandler(h);
        }
        java.util.List<String> warnings = records.stream().filter(r -> r.getLevel() == java.util.logging.Level.WARNING)
                .map(java.util.logging.LogRecord::getMessage).toList();
        assertEquals(1, warnings.size(), records.stream().map(java.util.logging.LogRecord::getMessage).toList().toString());
        assertTrue(warnings.get(0).contains("no tf32 path") && warnings.get(0).contains("--backend cuda"), warnings.get(0));
        records.clear();
        log.addHandler(h);
        try (Backend b = Backends.create("reference")) {
            assertEquals("fp32", b.precision());
        } finally {
            log.removeHandler(h);
        }
        assertTrue(records.stream().noneMatch(r -> r.getLevel() == java.util.logging.Level.WARNING), "no warning for fp32");
    }
}
