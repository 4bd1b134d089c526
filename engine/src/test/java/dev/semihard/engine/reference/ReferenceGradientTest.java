package dev.semihard.engine.reference;

import dev.semihard.engine.Rng;
import dev.semihard.engine.backend.Buffer;
import dev.semihard.engine.backend.ConvGeometry;
import dev.semihard.engine.backend.Distance;
import dev.semihard.engine.backend.PoolGeometry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.function.Consumer;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Each backward kernel of the reference backend is the exact gradient of its forward kernel:
 * for a random weighting dy of the outputs, L = sum dy * forward(inputs), and the backward
 * kernel's result must match central finite differences of L, in double precision.
 * (The op-level gradient checks through {@code F} live with the ops; these test the kernels alone.)
 */
class ReferenceGradientTest {
    private static final double H = 1e-6;
    private final ReferenceBackend be = new ReferenceBackend(2);
    private final Rng rng = new Rng(42);

    @AfterEach
    void close() { be.close(); }

    private double[] gaussian(int n) {
        double[] a = new double[n];
        for (int i = 0; i < n; i++) a[i] = rng.nextGaussian();
        return a;
    }

    private Buffer buf(double[] v) {
        Buffer b = be.allocate(v.length);
        be.uploadDouble(v, b);
        return b;
    }

    /**
     * Checks {@code analytic} against central differences of L = dy . forward() with respect to
     * every element of {@code input} (a host array that {@code forward} re-uploads each call).
     */
    private void check(String what, double[] input, Consumer<double[]> upload, Supplier<double[]> forward,
                       double[] dy, double[] analytic) {
        double worst = 0;
        int worstAt = -1;
        for (int i = 0; i < input.length; i++) {
            double keep = input[i];
            input[i] = keep + H;
            upload.accept(input);
            double lp = dot(dy, forward.get());
            input[i] = keep - H;
            upload.accept(input);
            double lm = dot(dy, forward.get());
            input[i] = keep;
            upload.accept(input);
            double num = (lp - lm) / (2 * H);
            double err = Math.abs(num - analytic[i]) / (1e-6 + 1e-5 * Math.abs(num));
            if (err > worst) { worst = err; worstAt = i; }
        }
        assertTrue(worst <= 1, what + ": worst element " + worstAt + " analytic " + (worstAt < 0 ? 0 : analytic[worstAt])
                + " is off the finite difference by " + worst + " x the tolerance");
    }

    private static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += a[i] * b[i];
        return s;
    }

    // ------------------------------------------------------------------ convolution

    private void convCase(ConvGeometry g) {
        double[] xv = gaussian((int) g.inputSize()), wv = gaussian((int) g.weightSize()), bv = gaussian(g.k());
        double[] dyv = gaussian((int) g.outputSize());
        Buffer x = buf(xv), w = buf(wv), b = buf(bv), y = be.allocate(g.outputSize()), dy = buf(dyv);
        Buffer dx = be.allocate(g.inputSize()), dw = be.allocate(g.weightSize()), db = be.allocate(g.k());
        be.conv2dBackwardData(g, dy, w, dx);
        be.conv2dBackwardFilter(g, x, dy, dw, db);
        Supplier<double[]> fwd = () -> { be.conv2dForward(g, x, w, b, y); return be.downloadDouble(y); };
        check("conv dx " + g, xv, v -> be.uploadDouble(v, x), fwd, dyv, be.downloadDouble(dx));
        check("conv dw " + g, wv, v -> be.uploadDouble(v, w), fwd, dyv, be.downloadDouble(dw));
        check("conv db " + g, bv, v -> be.uploadDouble(v, b), fwd, dyv, be.downloadDouble(db));
    }

    @Test
    void conv2d() {
        convCase(new ConvGeometry(2, 3, 5, 4, 2, 3, 3, 1, 1));
        convCase(new ConvGeometry(2, 2, 7, 6, 3, 3, 3, 2, 1));   // stride 2, odd size
        convCase(new ConvGeometry(1, 2, 5, 5, 2, 3, 2, 2, 0));   // non-square kernel, pad 0
        convCase(new ConvGeometry(1, 3, 4, 4, 2, 1, 1, 2, 0));   // 1x1 stride 2 (a shortcut)
        convCase(new ConvGeometry(1, 1, 3, 3, 1, 3, 3, 3, 2));   // stride 3, pad 2
        // stride 1 with >= 8 input channels: backward data is computed as a convolution
        convCase(new ConvGeometry(2, 8, 6, 5, 4, 3, 3, 1, 0));   // pad 0
        convCase(new ConvGeometry(1, 9, 5, 5, 3, 3, 3, 1, 1));   // pad 1
        convCase(new ConvGeometry(1, 8, 3, 4, 3, 1, 1, 1, 0));   // 1x1
        convCase(new ConvGeometry(1, 8, 6, 6, 2, 5, 5, 1, 2));   // 5x5, pad 2
        convCase(new ConvGeometry(1, 2, 5, 5, 2, 3, 3, 1, 3));   // pad larger than r - 1: the direct loop
    }

    // ------------------------------------------------------------------ pooling

    @Test
    void maxPool() {
        for (PoolGeometry g : new PoolGeometry[]{new PoolGeometry(2, 2, 5, 5, 2, 2), new PoolGeometry(1, 2, 7, 6, 3, 2)}) {
            double[] xv = gaussian((int) g.inputSize()), dyv = gaussian((int) g.outputSize()); // ties have probability 0
            Buffer x = buf(xv), y = be.allocate(g.outputSize()), dy = buf(dyv), dx = be.allocate(g.inputSize());
            be.maxPool2dBackward(g, x, dy, dx);
            check("maxpool " + g, xv, v -> be.uploadDouble(v, x),
                    () -> { be.maxPool2dForward(g, x, y); return be.downloadDouble(y); }, dyv, be.downloadDouble(dx));
        }
    }

    @Test
    void globalAvgPool() {
        double[] xv = gaussian(2 * 3 * 5), dyv = gaussian(6);
        Buffer x = buf(xv), y = be.allocate(6), dy = buf(dyv), dx = be.allocate(30);
        be.globalAvgPoolBackward(2, 3, 5, dy, dx);
        check("globalAvgPool", xv, v -> be.uploadDouble(v, x),
                () -> { be.globalAvgPoolForward(2, 3, 5, x, y); return be.downloadDouble(y); }, dyv, be.downloadDouble(dx));
    }

    // ------------------------------------------------------------------ batch norm (training mode)

    @Test
    void batchNormTraining() {
        int n = 3, c = 2, hw = 5;
        double[] xv = gaussian(n * c * hw), gv = gaussian(c), bv = gaussian(c), dyv = gaussian(n * c * hw);
        Buffer x = buf(xv), gamma = buf(gv), beta = buf(bv), y = be.allocate(xv.length), dy = buf(dyv);
        Buffer mean = be.allocate(c), inv = be.allocate(c), rm = be.allocate(c), rv = be.allocate(c);
        Supplier<double[]> fwd = () -> {
            be.batchNormForwardTraining(n, c, hw, 1e-5f, 0.1f, x, gamma, beta, y, mean, inv, rm, rv);
            return be.downloadDouble(y);
        };
        fwd.get();
        Buffer dx = be.allocate(xv.length), dg = be.allocate(c), db = be.allocate(c);
        be.batchNormBackward(n, c, hw, x, dy, gamma, mean, inv, dx, dg, db);
        check("batchnorm dx", xv, v -> be.uploadDouble(v, x), fwd, dyv, be.downloadDouble(dx));
        check("batchnorm dgamma", gv, v -> be.uploadDouble(v, gamma), fwd, dyv, be.downloadDouble(dg));
        check("batchnorm dbeta", bv, v -> be.uploadDouble(v, beta), fwd, dyv, be.downloadDouble(db));
    }

    // ------------------------------------------------------------------ linear, relu

    @Test
    void linear() {
        int n = 3, in = 4, out = 5;
        double[] xv = gaussian(n * in), wv = gaussian(out * in), bv = gaussian(out), dyv = gaussian(n * out);
        Buffer x = buf(xv), w = buf(wv), b = buf(bv), y = be.allocate(n * out), dy = buf(dyv);
        Buffer dx = be.allocate(n * in), dw = be.allocate(out * in), db = be.allocate(out);
        be.linearBackwardData(n, in, out, dy, w, dx);
        be.linearBackwardWeight(n, in, out, x, dy, dw, db);
        Supplier<double[]> fwd = () -> { be.linearForward(n, in, out, x, w, b, y); return be.downloadDouble(y); };
        check("linear dx", xv, v -> be.uploadDouble(v, x), fwd, dyv, be.downloadDouble(dx));
        check("linear dw", wv, v -> be.uploadDouble(v, w), fwd, dyv, be.downloadDouble(dw));
        check("linear db", bv, v -> be.uploadDouble(v, b), fwd, dyv, be.downloadDouble(db));
    }

    @Test
    void relu() {
        double[] xv = gaussian(20), dyv = gaussian(20);
        Buffer x = buf(xv), y = be.allocate(20), dy = buf(dyv), dx = be.allocate(20);
        be.reluForward(20, x, y);
        be.reluBackward(20, y, dy, dx);
        check("relu", xv, v -> be.uploadDouble(v, x), () -> { be.reluForward(20, x, y); return be.downloadDouble(y); },
                dyv, be.downloadDouble(dx));
    }

    // ------------------------------------------------------------------ embeddings

    @Test
    void l2Normalize() {
        int n = 4, d = 6;
        double[] xv = gaussian(n * d), dyv = gaussian(n * d);
        Buffer x = buf(xv), y = be.allocate(n * d), norms = be.allocate(n), dy = buf(dyv), dx = be.allocate(n * d);
        Supplier<double[]> fwd = () -> { be.l2NormalizeForward(n, d, 1e-12f, x, y, norms); return be.downloadDouble(y); };
        fwd.get();
        be.l2NormalizeBackward(n, d, 1e-12f, y, norms, dy, dx);
        check("l2normalize", xv, v -> be.uploadDouble(v, x), fwd, dyv, be.downloadDouble(dx));
    }

    @Test
    void pairwiseDistanceAllMetrics() {
        int n = 5, d = 4;
        for (Distance m : Distance.values()) {
            double[] ev = gaussian(n * d), ddv = gaussian(n * n); // dDist deliberately not symmetric
            Buffer e = buf(ev), dist = be.allocate(n * n), dd = buf(ddv), dE = be.allocate(n * d);
            Supplier<double[]> fwd = () -> { be.pairwiseDistanceForward(n, d, m, e, dist); return be.downloadDouble(dist); };
            fwd.get();
            be.pairwiseDistanceBackward(n, d, m, e, dist, dd, dE);
            check("pairwise " + m, ev, v -> be.uploadDouble(v, e), fwd, ddv, be.downloadDouble(dE));
        }
    }
}
