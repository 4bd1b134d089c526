package dev.semihard.engine.ops;

import dev.semihard.engine.Tensor;
import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.ConvGeometry;
import dev.semihard.engine.backend.Distance;
import dev.semihard.engine.backend.PoolGeometry;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The differentiable operations: each validates its shapes, runs the forward {@link Backend} kernel
 * into a new tensor ({@link Tensor#empty}: no zero fill, since every kernel overwrites its outputs entirely;
 * it belongs to the current {@link dev.semihard.engine.Arena}), and records a {@link dev.semihard.engine.Node} whose backward calls the matching backward kernels.
 * <b>The chain rule lives here only</b>: backends see nothing but kernels, layers see nothing but ops.
 *
 * <p>Shape errors are {@link IllegalArgumentException}s that name the op, the expected and the actual
 * shape, e.g. {@code conv2d: input has 3 channels but the weight expects 1 (input shape [8, 3, 28, 28],
 * weight [32, 1, 3, 3])}.
 *
 * <p>Non-finite checks: {@link #checkFinite(Tensor, String)} checks one tensor on demand;
 * {@link #setFiniteChecks(boolean)} (or {@code -Dsemihard.checkFinite=true}) makes every op check its
 * inputs and output, at the cost of one extra read of each.
 *
 * <p>Backward temporaries are handed over with {@link Tensor#accumulateGradOwned}: an input's first
 * gradient is the temporary's buffer itself (no copy, no zero fill), later ones are added into it and
 * the temporary is closed at once. A node may also hand over its output gradient {@code dy} (add, relu),
 * which {@link Tensor#backward(Tensor)} drops right after the node anyway; it must then be the node's
 * last use of dy.
 */
public final class F {
    private static volatile boolean finiteChecks = Boolean.getBoolean("semihard.checkFinite");

    private F() {}

    // ------------------------------------------------------------------ non-finite checks

    /** Turns the per-op NaN/Inf checks on or off (default: off, or the system property semihard.checkFinite). */
    public static void setFiniteChecks(boolean on) { finiteChecks = on; }

    /** Whether every op checks its inputs and output for NaN/Inf. */
    public static boolean finiteChecks() { return finiteChecks; }

    /**
     * Throws an {@link IllegalArgumentException} naming {@code where} when {@code t} holds a NaN or an
     * infinity. Costs one pass over the tensor (and, on device backends, a synchronization).
     *
     * @return t, for chaining
     */
    public static Tensor checkFinite(Tensor t, String where) {
        if (t == null) return null;
        float[] out = new float[2];
        t.backend().sumSquares(t.numel(), t.buffer(), out);
        if (out[1] != 0f)
            throw new IllegalArgumentException(where + ": " + (long) out[1] + " of " + t.numel()
                    + " elements are NaN or infinite (shape " + Arrays.toString(t.shape())
                    + "); check the input data, lower the learning rate, or enable gradient clipping");
        return t;
    }

    private static void checkInputs(String op, Tensor... ts) {
        if (!finiteChecks) return;
        for (int i = 0; i < ts.length; i++) if (ts[i] != null) checkFinite(ts[i], op + " (input " + i + ")");
    }

    private static Tensor checkOutput(String op, Tensor y) {
        if (finiteChecks) checkFinite(y, op + " (output)");
        return y;
    }

    // ------------------------------------------------------------------ convolution

    /**
     * 2-D convolution. x: [N, C, H, W], w: [K, C, R, S], bias: [K] or null;
     * y: [N, K, (H + 2 pad - R) / stride + 1, (W + 2 pad - S) / stride + 1].
     */
    public static Tensor conv2d(Tensor x, Tensor w, Tensor bias, int stride, int pad) {
        final String op = "conv2d";
        requireRank(op, "input", x, 4, "[N, C, H, W]");
        requireRank(op, "weight", w, 4, "[K, C, R, S]");
        sameBackend(op, x, w, bias);
        int[] xs = x.shape(), ws = w.shape();
        if (xs[1] != ws[1])
            throw new IllegalArgumentException(op + ": input has " + xs[1] + " channels but the weight expects " + ws[1]
                    + " (input shape " + Arrays.toString(xs) + ", weight " + Arrays.toString(ws) + ")");
        if (bias != null && (bias.rank() != 1 || bias.dim(0) != ws[0]))
            throw new IllegalArgumentException(op + ": bias must have shape [" + ws[0] + "] (one per output channel) but has "
                    + Arrays.toString(bias.shape()) + " (weight " + Arrays.toString(ws) + ")");
        if (stride < 1) throw new IllegalArgumentException(op + ": stride must be >= 1, got " + stride);
        if (pad < 0) throw new IllegalArgumentException(op + ": padding must be >= 0, got " + pad);
        if (xs[2] + 2 * pad < ws[2] || xs[3] + 2 * pad < ws[3])
            throw new IllegalArgumentException(op + ": kernel " + ws[2] + "x" + ws[3] + " is larger than the padded input "
                    + (xs[2] + 2 * pad) + "x" + (xs[3] + 2 * pad) + " (input shape " + Arrays.toString(xs) + ", weight "
                    + Arrays.toString(ws) + ", padding " + pad + "); use a smaller kernel or more padding");
        checkInputs(op, x, w, bias);
        ConvGeometry g = new ConvGeometry(xs[0], xs[1], xs[2], xs[3], ws[0], ws[2], ws[3], stride, pad);
        Backend be = x.backend();
        Tensor y = Tensor.empty(be, g.n(), g.k(), g.outH(), g.outW());
        be.conv2dForward(g, x.buffer(), w.buffer(), bias == null ? null : bias.buffer(), y.buffer());
        y.record(op, inputs(x, w, bias), dy -> {
            if (x.requiresGrad()) {
                Tensor dx = Tensor.empty(be, xs);
                be.conv2dBackwardData(g, dy.buffer(), w.buffer(), dx.buffer());
                accumulate(x, dx);
            }
            boolean wantBias = bias != null && bias.requiresGrad();
            if (w.requiresGrad() || wantBias) {
                Tensor dw = Tensor.empty(be, ws);
                Tensor db = wantBias ? Tensor.empty(be, ws[0]) : null;
                be.conv2dBackwardFilter(g, x.buffer(), dy.buffer(), dw.buffer(), db == null ? null : db.buffer());
                accumulate(w, dw);
                if (db != null) accumulate(bias, db);
            }
        });
        return checkOutput(op, y);
    }

    // ------------------------------------------------------------------ pooling

    /** Max pooling with a square window, no padding, floor rounding. x: [N, C, H, W]. */
    public static Tensor maxPool2d(Tensor x, int size, int stride) {
        final String op = "maxPool2d";
        requireRank(op, "input", x, 4, "[N, C, H, W]");
        int[] xs = x.shape();
        if (size < 1 || stride < 1)
            throw new IllegalArgumentException(op + ": window size and stride must be >= 1, got size " + size + ", stride " + stride);
        if (size > xs[2] || size > xs[3])
            throw new IllegalArgumentException(op + ": window " + size + "x" + size + " is larger than the input "
                    + xs[2] + "x" + xs[3] + " (input shape " + Arrays.toString(xs) + ")");
        checkInputs(op, x);
        PoolGeometry g = new PoolGeometry(xs[0], xs[1], xs[2], xs[3], size, stride);
        Backend be = x.backend();
        Tensor y = Tensor.empty(be, g.n(), g.c(), g.outH(), g.outW());
        be.maxPool2dForward(g, x.buffer(), y.buffer());
        y.record(op, List.of(x), dy -> {
            Tensor dx = Tensor.empty(be, xs);
            be.maxPool2dBackward(g, x.buffer(), dy.buffer(), dx.buffer());
            accumulate(x, dx);
        });
        return checkOutput(op, y);
    }

    /** Global average pooling: [N, C, H, W] -> [N, C]. */
    public static Tensor globalAvgPool(Tensor x) {
        final String op = "globalAvgPool";
        requireRank(op, "input", x, 4, "[N, C, H, W]");
        checkInputs(op, x);
        int[] xs = x.shape();
        int n = xs[0], c = xs[1], hw = xs[2] * xs[3];
        Backend be = x.backend();
        Tensor y = Tensor.empty(be, n, c);
        be.globalAvgPoolForward(n, c, hw, x.buffer(), y.buffer());
        y.record(op, List.of(x), dy -> {
            Tensor dx = Tensor.empty(be, xs);
            be.globalAvgPoolBackward(n, c, hw, dy.buffer(), dx.buffer());
            accumulate(x, dx);
        });
        return checkOutput(op, y);
    }

    // ------------------------------------------------------------------ batch norm

    /**
     * Batch normalization over (N, H, W) per channel. x: [N, C, H, W] (or [N, C]); gamma, beta,
     * runningMean, runningVar: [C].
     *
     * <p>Training mode uses the batch statistics, saves mean and 1/std for the backward pass and updates
     * the running statistics in place (PyTorch's rule, unbiased variance). Eval mode uses the running
     * statistics; its backward treats them as constants (dx = dy * gamma / sqrt(runningVar + eps)).
     */
    public static Tensor batchNorm2d(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                     boolean training, float momentum, float eps) {
        return batchNorm("batchNorm2d", x, gamma, beta, runningMean, runningVar, training, momentum, eps, false);
    }

    /**
     * {@code relu(batchNorm2d(x, ...))} in one op, with the same arguments, semantics and running-statistics
     * update as {@link #batchNorm2d}: the backend's fused kernels
     * ({@code batchNormRelu*}) save one pass over the activation and the ReLU's output buffer forward,
     * and the ReLU's gradient buffer backward (the backward masks dy with y > 0 inside the batch-norm
     * backward). Use it wherever a ReLU directly follows a batch norm.
     */
    public static Tensor batchNorm2dRelu(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                         boolean training, float momentum, float eps) {
        return batchNorm("batchNorm2dRelu", x, gamma, beta, runningMean, runningVar, training, momentum, eps, true);
    }

    private static Tensor batchNorm(String op, Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                    boolean training, float momentum, float eps, boolean relu) {
        if (x.rank() != 4 && x.rank() != 2)
            throw new IllegalArgumentException(op + ": input must have shape [N, C, H, W] or [N, C], got " + Arrays.toString(x.shape()));
        sameBackend(op, x, gamma, beta, runningMean, runningVar);
        int[] xs = x.shape();
        int n = xs[0], c = xs[1], hw = x.rank() == 4 ? xs[2] * xs[3] : 1;
        requireVector(op, "gamma", gamma, c, xs);
        requireVector(op, "beta", beta, c, xs);
        requireVector(op, "running mean", runningMean, c, xs);
        requireVector(op, "running variance", runningVar, c, xs);
        if (!(eps > 0)) throw new IllegalArgumentException(op + ": eps must be > 0, got " + eps);
        if (training && n * hw < 2)
            throw new IllegalArgumentException(op + ": training mode needs more than one value per channel, got input shape "
                    + Arrays.toString(xs) + "; use a batch of at least 2 or eval mode");
        checkInputs(op, x, gamma, beta);
        Backend be = x.backend();
        Tensor y = Tensor.empty(be, xs);
        if (training) {
            Tensor mean = Tensor.empty(be, c), invStd = Tensor.empty(be, c);
            if (relu)
                be.batchNormReluForwardTraining(n, c, hw, eps, momentum, x.buffer(), gamma.buffer(), beta.buffer(), y.buffer(),
                        mean.buffer(), invStd.buffer(), runningMean.buffer(), runningVar.buffer());
            else
                be.batchNormForwardTraining(n, c, hw, eps, momentum, x.buffer(), gamma.buffer(), beta.buffer(), y.buffer(),
                        mean.buffer(), invStd.buffer(), runningMean.buffer(), runningVar.buffer());
            y.record(op, List.of(x, gamma, beta), dy -> {
                Tensor dx = Tensor.empty(be, xs), dg = Tensor.empty(be, c), db = Tensor.empty(be, c);
                if (relu)
                    be.batchNormReluBackward(n, c, hw, x.buffer(), y.buffer(), dy.buffer(), gamma.buffer(), mean.buffer(),
                            invStd.buffer(), dx.buffer(), dg.buffer(), db.buffer());
                else
                    be.batchNormBackward(n, c, hw, x.buffer(), dy.buffer(), gamma.buffer(), mean.buffer(), invStd.buffer(),
                            dx.buffer(), dg.buffer(), db.buffer());
                accumulate(x, dx);
                accumulate(gamma, dg);
                accumulate(beta, db);
            });
        } else if (relu) {
            be.batchNormReluForwardInference(n, c, hw, eps, x.buffer(), gamma.buffer(), beta.buffer(),
                    runningMean.buffer(), runningVar.buffer(), y.buffer());
            y.record(op, List.of(x, gamma, beta), dy -> {
                Tensor dz = Tensor.empty(be, xs);   // the ReLU's gradient: dy where y > 0
                be.reluBackward(y.numel(), y.buffer(), dy.buffer(), dz.buffer());
                evalBatchNormBackward(be, n, c, hw, eps, xs, x, dz, gamma, beta, runningMean, runningVar);
                dz.close();
            });
        } else {
            be.batchNormForwardInference(n, c, hw, eps, x.buffer(), gamma.buffer(), beta.buffer(),
                    runningMean.buffer(), runningVar.buffer(), y.buffer());
            y.record(op, List.of(x, gamma, beta), dy -> evalBatchNormBackward(be, n, c, hw, eps, xs, x, dy, gamma, beta,
                    runningMean, runningVar));
        }
        return checkOutput(op, y);
    }

    /**
     * Backward of eval-mode batch norm with the kernels at hand: dx = dy * gamma * invStd is the
     * inference forward applied to dy with zero mean and beta; invStd = 1/sqrt(runningVar + eps) is the
     * inference forward of a vector of ones; dgamma and dbeta are exactly what the training backward
     * computes when handed the running mean and that invStd (its dx is discarded).
     */
    private static void evalBatchNormBackward(Backend be, int n, int c, int hw, float eps, int[] xs, Tensor x, Tensor dy,
                                              Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar) {
        Tensor zeros = Tensor.zeros(be, c);
        if (x.requiresGrad()) {
            Tensor dx = Tensor.empty(be, xs);
            be.batchNormForwardInference(n, c, hw, eps, dy.buffer(), gamma.buffer(), zeros.buffer(), zeros.buffer(),
                    runningVar.buffer(), dx.buffer());
            accumulate(x, dx);
        }
        if (gamma.requiresGrad() || beta.requiresGrad()) {
            Tensor ones = Tensor.zeros(be, c);
            be.fill(ones.buffer(), 0, c, 1f);
            Tensor invStd = Tensor.empty(be, c);
            be.batchNormForwardInference(1, c, 1, eps, ones.buffer(), ones.buffer(), zeros.buffer(), zeros.buffer(),
                    runningVar.buffer(), invStd.buffer());
            Tensor scratch = Tensor.empty(be, xs), dg = Tensor.empty(be, c), db = Tensor.empty(be, c);
            be.batchNormBackward(n, c, hw, x.buffer(), dy.buffer(), gamma.buffer(), runningMean.buffer(), invStd.buffer(),
                    scratch.buffer(), dg.buffer(), db.buffer());
            accumulate(gamma, dg);
            accumulate(beta, db);
            ones.close();
            invStd.close();
            scratch.close();
        }
        zeros.close();
    }

    // ------------------------------------------------------------------ elementwise

    /** max(x, 0), any shape. */
    public static Tensor relu(Tensor x) {
        final String op = "relu";
        checkInputs(op, x);
        Backend be = x.backend();
        int[] xs = x.shape();
        Tensor y = Tensor.empty(be, xs);
        be.reluForward(x.numel(), x.buffer(), y.buffer());
        y.record(op, List.of(x), dy -> {
            // in place (the interface allows dx = dy), then dy itself is handed over as x's gradient
            be.reluBackward(y.numel(), y.buffer(), dy.buffer(), dy.buffer());
            x.accumulateGradOwned(dy);
        });
        return checkOutput(op, y);
    }

    /** a + b, same shapes (the residual add). */
    public static Tensor add(Tensor a, Tensor b) {
        final String op = "add";
        sameBackend(op, a, b);
        if (!Arrays.equals(a.shape(), b.shape()))
            throw new IllegalArgumentException(op + ": both operands must have the same shape, got "
                    + Arrays.toString(a.shape()) + " and " + Arrays.toString(b.shape()));
        checkInputs(op, a, b);
        Backend be = a.backend();
        Tensor y = Tensor.empty(be, a.shape());
        be.add(a.numel(), a.buffer(), b.buffer(), y.buffer());
        y.record(op, List.of(a, b), dy -> {
            a.accumulateGrad(dy);        // a copy (or an axpy) ...
            b.accumulateGradOwned(dy);   // ... then dy itself goes to b: its last use here
        });
        return checkOutput(op, y);
    }

    // ------------------------------------------------------------------ linear

    /** y = x w^T + b. x: [N, in], w: [out, in], b: [out] or null; y: [N, out]. */
    public static Tensor linear(Tensor x, Tensor w, Tensor b) {
        final String op = "linear";
        requireRank(op, "input", x, 2, "[N, in]");
        requireRank(op, "weight", w, 2, "[out, in]");
        sameBackend(op, x, w, b);
        int n = x.dim(0), in = x.dim(1), out = w.dim(0);
        if (w.dim(1) != in)
            throw new IllegalArgumentException(op + ": input has " + in + " features but the weight expects " + w.dim(1)
                    + " (input shape " + Arrays.toString(x.shape()) + ", weight " + Arrays.toString(w.shape()) + ")");
        if (b != null && (b.rank() != 1 || b.dim(0) != out))
            throw new IllegalArgumentException(op + ": bias must have shape [" + out + "] but has " + Arrays.toString(b.shape())
                    + " (weight " + Arrays.toString(w.shape()) + ")");
        checkInputs(op, x, w, b);
        Backend be = x.backend();
        Tensor y = Tensor.empty(be, n, out);
        be.linearForward(n, in, out, x.buffer(), w.buffer(), b == null ? null : b.buffer(), y.buffer());
        y.record(op, inputs(x, w, b), dy -> {
            if (x.requiresGrad()) {
                Tensor dx = Tensor.empty(be, n, in);
                be.linearBackwardData(n, in, out, dy.buffer(), w.buffer(), dx.buffer());
                accumulate(x, dx);
            }
            boolean wantBias = b != null && b.requiresGrad();
            if (w.requiresGrad() || wantBias) {
                Tensor dw = Tensor.empty(be, out, in);
                Tensor db = wantBias ? Tensor.empty(be, out) : null;
                be.linearBackwardWeight(n, in, out, x.buffer(), dy.buffer(), dw.buffer(), db == null ? null : db.buffer());
                accumulate(w, dw);
                if (db != null) accumulate(b, db);
            }
        });
        return checkOutput(op, y);
    }

    /** [N, d1, d2, ...] -> [N, d1*d2*...], a view over the same buffer (no copy). */
    public static Tensor flatten(Tensor x) {
        if (x.rank() < 2)
            throw new IllegalArgumentException("flatten: input must have at least 2 dimensions [N, ...], got " + Arrays.toString(x.shape()));
        int n = x.dim(0);
        long rest = 1;
        for (int i = 1; i < x.rank(); i++) rest *= x.dim(i);
        if (rest > Integer.MAX_VALUE) throw new IllegalArgumentException("flatten: " + rest + " features per row is too many");
        return x.reshape(n, (int) rest);
    }

    // ------------------------------------------------------------------ embeddings

    /** The epsilon of {@link #l2Normalize}: norms below it are clamped, so a zero row gives zeros, not NaN. */
    public static final float L2_EPS = 1e-12f;

    /** Row-wise L2 normalization of [N, D]: y_i = x_i / max(||x_i||, 1e-12). */
    public static Tensor l2Normalize(Tensor x) {
        final String op = "l2Normalize";
        requireRank(op, "input", x, 2, "[N, D]");
        checkInputs(op, x);
        int n = x.dim(0), d = x.dim(1);
        Backend be = x.backend();
        Tensor y = Tensor.empty(be, n, d);
        Tensor norms = Tensor.empty(be, n);
        be.l2NormalizeForward(n, d, L2_EPS, x.buffer(), y.buffer(), norms.buffer());
        y.record(op, List.of(x), dy -> {
            Tensor dx = Tensor.empty(be, n, d);
            be.l2NormalizeBackward(n, d, L2_EPS, y.buffer(), norms.buffer(), dy.buffer(), dx.buffer());
            accumulate(x, dx);
        });
        return checkOutput(op, y);
    }

    /** The [N, N] matrix of pairwise distances between the rows of e: [N, D] (zero diagonal). */
    public static Tensor pairwiseDistance(Tensor e, Distance metric) {
        final String op = "pairwiseDistance";
        requireRank(op, "embeddings", e, 2, "[N, D]");
        if (metric == null) throw new IllegalArgumentException(op + ": metric is required (squared-l2, l2 or cosine)");
        checkInputs(op, e);
        int n = e.dim(0), d = e.dim(1);
        Backend be = e.backend();
        Tensor dist = Tensor.empty(be, n, n);
        be.pairwiseDistanceForward(n, d, metric, e.buffer(), dist.buffer());
        dist.record(op, List.of(e), dd -> {
            Tensor de = Tensor.empty(be, n, d);
            be.pairwiseDistanceBackward(n, d, metric, e.buffer(), dist.buffer(), dd.buffer(), de.buffer());
            accumulate(e, de);
        });
        return checkOutput(op, dist);
    }

    // ------------------------------------------------------------------ helpers

    /** Hands the backward temporary g over to target's gradient (adopted as is when target has none yet). */
    private static void accumulate(Tensor target, Tensor g) {
        target.accumulateGradOwned(g);
    }

    private static List<Tensor> inputs(Tensor... ts) {
        List<Tensor> l = new ArrayList<>(ts.length);
        for (Tensor t : ts) if (t != null) l.add(t);
        return l;
    }

    private static void requireRank(String op, String what, Tensor t, int rank, String layout) {
        if (t == null) throw new IllegalArgumentException(op + ": " + what + " is required (shape " + layout + ")");
        if (t.rank() != rank)
            throw new IllegalArgumentException(op + ": " + what + " must have shape " + layout + " (" + rank
                    + " dimensions) but has shape " + Arrays.toString(t.shape()));
    }

    private static void requireVector(String op, String what, Tensor t, int c, int[] xs) {
        if (t == null) throw new IllegalArgumentException(op + ": " + what + " is required (shape [" + c + "])");
        if (t.rank() != 1 || t.dim(0) != c)
            throw new IllegalArgumentException(op + ": " + what + " must have shape [" + c + "] (one per channel of input "
                    + Arrays.toString(xs) + ") but has shape " + Arrays.toString(t.shape()));
    }

    private static void sameBackend(String op, Tensor first, Tensor... others) {
        if (first == null) return;
        for (Tensor t : others)
            if (t != null && t.backend() != first.backend())
                throw new IllegalArgumentException(op + ": operands live on different backends (" + first.backend().name()
                        + " and " + t.backend().name() + "); move them to one backend first");
    }
}
