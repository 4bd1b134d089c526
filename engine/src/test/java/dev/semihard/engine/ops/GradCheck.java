package dev.semihard.engine.ops;

import dev.semihard.engine.Arena;
import dev.semihard.engine.Autograd;
import dev.semihard.engine.Rng;
import dev.semihard.engine.Tensor;
import dev.semihard.engine.reference.ReferenceBackend;

import java.util.List;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * Finite-difference gradient checks in double precision, on the reference backend (whose storage is
 * double). The scalar is L = sum(y * R) for a fixed random R, so dL/dy = R is the backward seed;
 * each checked input element gets (L(x + eps) - L(x - eps)) / (2 eps), compared with the analytic
 * gradient: |analytic - numeric| &lt;= rtol * max|analytic over the tensor| + atol.
 */
public final class GradCheck {
    public static final double EPS = 1e-6;
    public static final double RTOL = 1e-6;
    public static final double ATOL = 1e-9;
    /** Inputs with more elements than this are checked at this many random positions. */
    public static final int MAX_CHECKED = 120;

    final ReferenceBackend be;
    private final Rng rng;

    public GradCheck(ReferenceBackend be, long seed) {
        this.be = be;
        this.rng = new Rng(seed);
    }

    /** Uniform values in [-scale, scale]. */
    public double[] uniform(int n, double scale) {
        double[] v = new double[n];
        for (int i = 0; i < n; i++) v[i] = (rng.nextDouble() * 2 - 1) * scale;
        return v;
    }

    /** Uniform values with |v| in [lo, hi] and a random sign (away from kinks at 0). */
    public double[] awayFromZero(int n, double lo, double hi) {
        double[] v = new double[n];
        for (int i = 0; i < n; i++) v[i] = (lo + rng.nextDouble() * (hi - lo)) * (rng.nextDouble() < 0.5 ? -1 : 1);
        return v;
    }

    /** A leaf tensor outside every arena holding exactly {@code values} (double precision). */
    public Tensor leaf(double[] values, int... shape) {
        Tensor t = Tensor.zeros(be, shape).detachFromArena();
        be.uploadDouble(values, t.buffer());
        return t.requiresGrad(true);
    }

    public Tensor leaf(int... shape) { return leaf(uniform((int) Tensor.numel(shape), 1.0), shape); }

    /** A tensor that needs no gradient (e.g. running statistics). */
    public Tensor constant(double[] values, int... shape) {
        Tensor t = Tensor.zeros(be, shape).detachFromArena();
        be.uploadDouble(values, t.buffer());
        return t;
    }

    /** Checks the gradient of every tensor in {@code wrt} through {@code f}; returns the largest error seen. */
    public double check(String what, Supplier<Tensor> f, List<? extends Tensor> wrt) {
        for (Tensor t : wrt) t.zeroGrad();
        double[] r;
        double[][] grads = new double[wrt.size()][];
        try (Arena a = Arena.open()) {
            // gradients of leaves created inside the arena die with it: read them before it closes
            Tensor y = f.get();
            r = uniform((int) y.numel(), 1.0);
            Tensor seed = Tensor.zeros(be, y.shape());
            be.uploadDouble(r, seed.buffer());
            y.backward(seed);
            for (int k = 0; k < wrt.size(); k++) {
                Tensor t = wrt.get(k);
                if (t.grad() == null) fail(what + ": input " + k + " " + t + " received no gradient");
                grads[k] = be.downloadDouble(t.grad().buffer());
            }
        }
        for (Tensor t : wrt) t.zeroGrad();
        double worst = 0;
        for (int k = 0; k < wrt.size(); k++) {
            Tensor t = wrt.get(k);
            double[] analytic = grads[k];
            double[] x = be.downloadDouble(t.buffer());
            int n = (int) t.numel();
            double maxAbs = 0;
            for (int i = 0; i < n; i++) maxAbs = Math.max(maxAbs, Math.abs(analytic[i]));
            int[] idx = positions(n);
            for (int i : idx) {
                double orig = x[i];
                x[i] = orig + EPS;
                be.uploadDouble(x, t.buffer());
                double lp = loss(f, r);
                x[i] = orig - EPS;
                be.uploadDouble(x, t.buffer());
                double lm = loss(f, r);
                x[i] = orig;
                be.uploadDouble(x, t.buffer());
                double numeric = (lp - lm) / (2 * EPS);
                double err = Math.abs(numeric - analytic[i]);
                double tol = RTOL * Math.max(maxAbs, Math.abs(numeric)) + ATOL;
                worst = Math.max(worst, err / tol);
                if (!(err <= tol))   // also fails on NaN (an element read before any kernel wrote it is NaN on the reference)
                    fail(String.format("%s: d/d input %d %s [%d]: analytic %.12g, numeric %.12g, error %.3g > tol %.3g",
                            what, k, t, i, analytic[i], numeric, err, tol));
            }
            if (maxAbs == 0) fail(what + ": gradient of input " + k + " is identically zero; the check would prove nothing");
        }
        for (Tensor t : wrt) t.zeroGrad();
        return worst;
    }

    private int[] positions(int n) {
        if (n <= MAX_CHECKED) {
            int[] all = new int[n];
            for (int i = 0; i < n; i++) all[i] = i;
            return all;
        }
        int[] p = new int[MAX_CHECKED];
        for (int i = 0; i < p.length; i++) p[i] = rng.nextInt(n);
        return p;
    }

    private double loss(Supplier<Tensor> f, double[] r) {
        try (Arena a = Arena.open(); Autograd.NoGrad g = Autograd.noGrad()) {
            double[] y = be.downloadDouble(f.get().buffer());
            double s = 0;
            for (int i = 0; i < r.length; i++) s += y[i] * r[i];
            return s;
        }
    }
}
