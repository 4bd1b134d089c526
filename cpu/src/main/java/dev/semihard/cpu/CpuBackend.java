package dev.semihard.cpu;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.BackendOptions;
import dev.semihard.engine.backend.Buffer;
import dev.semihard.engine.backend.ConvGeometry;
import dev.semihard.engine.backend.Distance;
import dev.semihard.engine.backend.KernelProfile;
import dev.semihard.engine.backend.OptimizerParams;
import dev.semihard.engine.backend.PoolGeometry;
import dev.semihard.engine.backend.TripletOptions;

import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * <b>The "cpu" backend: every {@link Backend} kernel in pure Java, float32, on all cores.</b>
 *
 * <p>Where the time goes in training (convolutions, linear layers, distances, the triplet gradient) the
 * work is compute-bound and runs on register-blocked SIMD kernels through the incubating Vector API
 * ({@link VectorKernels}, chosen by {@link SimdSupport}, with plain-loop {@link ScalarKernels} as the
 * fallback); everything else is memory-bound and runs as plain loops split over the threads. One
 * place per kernel family, named like {@link Backend}, the reference and the {@code .cu} / {@code .cl}
 * files:
 * <ul>
 *   <li>{@link Gemm}: the packed, blocked GEMM every convolution and linear layer runs on;</li>
 *   <li>{@link Conv}: {@code conv2dForward}, {@code conv2dBackwardData}, {@code conv2dBackwardFilter} (im2col + GEMM);</li>
 *   <li>{@link CpuTriplet}: {@code pairwiseDistance*} and the fused {@code tripletLoss};</li>
 *   <li>this class: memory, elementwise, pooling, batch norm, linear, {@code l2Normalize*}, optimizer updates.</li>
 * </ul>
 *
 * <p>Buffers are Java {@code float[]} ({@link CpuBuffer}); calls are synchronous. Workspaces (GEMM panels,
 * im2col columns, partial sums, the triplet's B x B matrices) live in per-thread {@link Workspace}s
 * and are only ever grown, so after the first step a training step allocates no large array.
 *
 * <p>Determinism: work is split statically ({@link Parallel}); every output element is either owned by
 * one thread (fixed summation order: the same result for any thread count) or, for the filter gradient,
 * a sum of per-chunk partials added in chunk order (the same result for the same thread count).
 */
public final class CpuBackend implements Backend, KernelProfile {
    /** System property: worker threads (default: every available processor). */
    public static final String THREADS_PROPERTY = "semihard.cpu.threads";

    private final CpuContext cx;
    private final CpuTriplet triplet;
    private final int threads;
    private final AtomicLong bytesInUse = new AtomicLong();
    private final AtomicLong peakBytes = new AtomicLong();
    private volatile boolean closed;
    private final boolean profiling;
    private final Map<String, Stat> profile = new HashMap<>();
    private final Map<Integer, ArrayDeque<float[]>> cache = new HashMap<>();

    /** A backend with {@link #THREADS_PROPERTY} threads (or all processors) and the SIMD choice of {@link SimdSupport}. */
    public CpuBackend() { this(0); }

    /** @param threads worker threads; 0 = {@link #THREADS_PROPERTY}, else {@link Runtime#availableProcessors()} */
    public CpuBackend(int threads) { this(threads, SimdSupport.choose(), false); }

    /** @param simd "auto", "vector" or "scalar" (see {@link SimdSupport}) */
    public CpuBackend(int threads, String simd) { this(threads, SimdSupport.choose(simd), false); }

    /** From {@link BackendOptions}: its threads, and a {@link KernelProfile} (wall time per kernel) when it asks for one. */
    public CpuBackend(BackendOptions options) { this(options.threads(), SimdSupport.choose(), KernelProfile.requested(options)); }

    private CpuBackend(int threads, SimdSupport.Choice simd, boolean profiling) {
        this.profiling = profiling;
        if (threads < 0) throw new IllegalArgumentException("cpu backend: threads must be >= 0, got " + threads);
        this.threads = threads > 0 ? threads : defaultThreads();
        this.cx = new CpuContext(this.threads, simd);
        this.triplet = new CpuTriplet(cx);
    }

    static int defaultThreads() {
        String s = System.getProperty(THREADS_PROPERTY);
        if (s == null || s.isBlank()) return Runtime.getRuntime().availableProcessors();
        try {
            int t = Integer.parseInt(s.trim());
            if (t >= 1) return t;
        } catch (NumberFormatException ignored) {
            // fall through to the error
        }
        throw new IllegalArgumentException("-D" + THREADS_PROPERTY + "=" + s + " is not a thread count: use an integer >= 1");
    }

    /** Worker threads. */
    public int threads() { return threads; }

    /** Whether the Vector API kernels are in use (false: the scalar loops), and why. */
    public boolean simd() { return cx.kernels instanceof VectorKernels; }

    /** Why the kernels in use were chosen (the line the log printed). */
    public String simdReason() { return cx.kernels.describe() + " (" + cx.simdReason + ")"; }

    // ================================================================== identity and memory

    @Override public String name() { return "cpu"; }

    @Override
    public String deviceDescription() {
        return "Java float32, " + threads + (threads == 1 ? " thread, " : " threads, ") + cx.kernels.describe();
    }

    @Override
    public Buffer allocate(long floats) { return allocate(floats, true); }

    /** Unspecified contents: a cached array is handed out as it is (no zero fill). */
    @Override
    public Buffer allocateUninitialized(long floats) { return allocate(floats, false); }

    /**
     * A buffer from the cache of closed arrays of exactly this size, else a new array. Training allocates
     * the same sizes every step (activations, gradients, temporaries), so after the first step every
     * buffer comes from the cache: no garbage, no zeroing by the JVM (the caching allocator of the device
     * backends, in Java). The cache never holds more than the peak of live buffers.
     */
    private Buffer allocate(long floats, boolean zero) {
        if (closed) throw new IllegalStateException("cpu backend: allocate() after close()");
        if (floats < 0 || floats > Integer.MAX_VALUE - 16)
            throw new IllegalArgumentException("cpu backend: cannot allocate " + floats + " floats in one Java array (max "
                    + (Integer.MAX_VALUE - 16) + "); use a smaller batch or the two-pass mode");
        int n = (int) floats;
        float[] a;
        synchronized (cache) {
            ArrayDeque<float[]> q = cache.get(n);
            a = q == null ? null : q.poll();
        }
        if (a != null) {
            if (zero) Arrays.fill(a, 0f);
        } else {
            try {
                a = new float[n];
            } catch (OutOfMemoryError e) {
                synchronized (cache) { cache.clear(); }            // give the cached arrays to the GC, try once more
                try {
                    a = new float[n];
                } catch (OutOfMemoryError e2) {
                    throw new IllegalStateException("cpu backend: out of Java heap allocating " + floats + " floats with "
                            + (bytesInUse.get() >> 20) + " MiB in use; raise -Xmx (JAVA_OPTS), use a smaller batch or the two-pass mode", e2);
                }
            }
        }
        long now = bytesInUse.addAndGet(floats * 4);
        peakBytes.accumulateAndGet(now, Math::max);
        return new CpuBuffer(this, a);
    }

    /** A closed buffer's array goes back to the cache. */
    void released(float[] a) {
        bytesInUse.addAndGet(-4L * a.length);
        if (closed) return;
        synchronized (cache) { cache.computeIfAbsent(a.length, k -> new ArrayDeque<>()).push(a); }
    }

    @Override
    public void upload(float[] src, int srcOff, Buffer dst, long dstOff, int n) {
        System.arraycopy(src, srcOff, data(dst), (int) dstOff, n);
    }

    @Override
    public void download(Buffer src, long srcOff, float[] dst, int dstOff, int n) {
        System.arraycopy(data(src), (int) srcOff, dst, dstOff, n);
    }

    @Override
    public void copy(Buffer src, long srcOff, Buffer dst, long dstOff, long n) {
        System.arraycopy(data(src), (int) srcOff, data(dst), (int) dstOff, checkedInt(n));
    }

    @Override
    public void fill(Buffer dst, long off, long n, float value) {
        Arrays.fill(data(dst), (int) off, (int) off + checkedInt(n), value);
    }

    @Override public void synchronize() {}

    @Override public long bytesInUse() { return bytesInUse.get(); }

    @Override public long peakBytes() { return peakBytes.get(); }

    @Override
    public void close() {
        closed = true;
        synchronized (cache) { cache.clear(); }
        cx.close();
    }

    // ================================================================== elementwise (memory-bound: plain loops)

    /** body over [0, n) in per-thread ranges when n is large. */
    private void elementwise(long n, Parallel.Chunk body) {
        cx.par.range(checkedInt(n), n, body);
    }

    @Override
    public void axpy(long n, float alpha, Buffer x, Buffer y) {
        long t0 = start();
        float[] xs = data(x), ys = data(y);
        elementwise(n, (t, lo, hi) -> { for (int i = lo; i < hi; i++) ys[i] += alpha * xs[i]; });
        done("axpy", t0);
    }

    @Override
    public void scale(long n, float alpha, Buffer x) {
        long t0 = start();
        float[] xs = data(x);
        elementwise(n, (t, lo, hi) -> { for (int i = lo; i < hi; i++) xs[i] *= alpha; });
        done("scale", t0);
    }

    @Override
    public void add(long n, Buffer a, Buffer b, Buffer y) {
        long t0 = start();
        float[] as = data(a), bs = data(b), ys = data(y);
        elementwise(n, (t, lo, hi) -> { for (int i = lo; i < hi; i++) ys[i] = as[i] + bs[i]; });
        done("add", t0);
    }

    @Override
    public void reluForward(long n, Buffer x, Buffer y) {
        long t0 = start();
        float[] xs = data(x), ys = data(y);
        elementwise(n, (t, lo, hi) -> { for (int i = lo; i < hi; i++) ys[i] = xs[i] > 0 ? xs[i] : 0f; });
        done("reluForward", t0);
    }

    @Override
    public void reluBackward(long n, Buffer y, Buffer dy, Buffer dx) {
        long t0 = start();
        float[] ys = data(y), dys = data(dy), dxs = data(dx);
        elementwise(n, (t, lo, hi) -> { for (int i = lo; i < hi; i++) dxs[i] = ys[i] > 0 ? dys[i] : 0f; });
        done("reluBackward", t0);
    }

    @Override
    public void sumSquares(long n, Buffer x, float[] out) {
        long t0 = start();
        float[] xs = data(x);
        int m = checkedInt(n);
        double sum = 0;
        long nonFinite = 0;
        for (int i = 0; i < m; i++) {
            float v = xs[i];
            if (Float.isFinite(v)) sum += (double) v * v;
            else nonFinite++;
        }
        out[0] = (float) sum;
        out[1] = nonFinite;
        done("sumSquares", t0);
    }

    // ================================================================== convolution (Conv: im2col + GEMM)

    @Override
    public void conv2dForward(ConvGeometry g, Buffer x, Buffer w, Buffer bias, Buffer y) {
        long t0 = start();
        Conv.forward(cx, g, data(x), data(w), bias == null ? null : data(bias), data(y));
        done("conv2dForward", t0);
    }

    @Override
    public void conv2dBackwardData(ConvGeometry g, Buffer dy, Buffer w, Buffer dx) {
        long t0 = start();
        Conv.backwardData(cx, g, data(dy), data(w), data(dx));
        done("conv2dBackwardData", t0);
    }

    @Override
    public void conv2dBackwardFilter(ConvGeometry g, Buffer x, Buffer dy, Buffer dw, Buffer dbias) {
        long t0 = start();
        Conv.backwardFilter(cx, g, data(x), data(dy), data(dw), dbias == null ? null : data(dbias));
        done("conv2dBackwardFilter", t0);
    }

    // ================================================================== pooling

    @Override
    public void maxPool2dForward(PoolGeometry g, Buffer x, Buffer y) {
        long t0 = start();
        float[] xs = data(x), ys = data(y);
        final int H = g.h(), W = g.w(), size = g.size(), stride = g.stride(), OH = g.outH(), OW = g.outW();
        cx.par.range(g.n() * g.c(), g.outputSize() * size * size, (t, lo, hi) -> {
            for (int plane = lo; plane < hi; plane++) {
                int xBase = plane * H * W, yBase = plane * OH * OW;
                if (size == 2 && stride == 2) { pool2x2Plane(xs, xBase, W, ys, yBase, OH, OW); continue; }
                for (int oh = 0; oh < OH; oh++)
                    for (int ow = 0; ow < OW; ow++)
                        ys[yBase + oh * OW + ow] = xs[xBase + argMax(xs, xBase, W, oh * stride, ow * stride, size)];
            }
        });
        done("maxPool2dForward", t0);
    }

    @Override
    public void maxPool2dBackward(PoolGeometry g, Buffer x, Buffer dy, Buffer dx) {
        long t0 = start();
        float[] xs = data(x), dys = data(dy), dxs = data(dx);
        final int H = g.h(), W = g.w(), size = g.size(), stride = g.stride(), OH = g.outH(), OW = g.outW();
        cx.par.range(g.n() * g.c(), g.outputSize() * size * size, (t, lo, hi) -> {
            for (int plane = lo; plane < hi; plane++) {
                int xBase = plane * H * W, yBase = plane * OH * OW;
                if (size == 2 && stride == 2) { pool2x2BackwardPlane(xs, xBase, H, W, dys, yBase, dxs, OH, OW); continue; }
                Arrays.fill(dxs, xBase, xBase + H * W, 0f);
                for (int oh = 0; oh < OH; oh++)
                    for (int ow = 0; ow < OW; ow++)
                        dxs[xBase + argMax(xs, xBase, W, oh * stride, ow * stride, size)] += dys[yBase + oh * OW + ow];
            }
        });
        done("maxPool2dBackward", t0);
    }

    /**
     * One plane of the 2 x 2, stride 2 max pool (every model's). {@link Math#max} compiles to max
     * instructions; the reference's rule (strict compares in window order) is a chain of data-dependent
     * branches that mispredict on real activations and run 10x slower. The two agree except where a NaN is
     * in the window (Math.max gives NaN; the rule gives NaN only when it comes first): those windows,
     * never seen in training, take {@link #argMax}. (+0 and -0 may differ in sign only: equal values.)
     */
    private static void pool2x2Plane(float[] xs, int xBase, int W, float[] ys, int yBase, int OH, int OW) {
        for (int oh = 0; oh < OH; oh++) {
            int r0 = xBase + 2 * oh * W, r1 = r0 + W, yo = yBase + oh * OW;
            for (int ow = 0; ow < OW; ow++) {
                float m = Math.max(Math.max(xs[r0 + 2 * ow], xs[r0 + 2 * ow + 1]), Math.max(xs[r1 + 2 * ow], xs[r1 + 2 * ow + 1]));
                if (m != m) m = xs[xBase + argMax(xs, xBase, W, 2 * oh, 2 * ow, 2)];
                ys[yo + ow] = m;
            }
        }
    }

    /**
     * The backward of {@link #pool2x2Plane}: each window's dy goes to its first maximum, the other three get
     * 0, without branches: per position a mask "equals the maximum" (from the bits of x + 0 and max + 0, so
     * -0 equals +0), and "first" is that mask and-not the earlier ones. Windows with a NaN take {@link #argMax}.
     */
    private static void pool2x2BackwardPlane(float[] xs, int xBase, int H, int W, float[] dys, int yBase, float[] dxs,
                                             int OH, int OW) {
        if (2 * OH != H || 2 * OW != W) Arrays.fill(dxs, xBase, xBase + H * W, 0f);   // rows/columns no window covers
        for (int oh = 0; oh < OH; oh++) {
            int r0 = xBase + 2 * oh * W, r1 = r0 + W, yo = yBase + oh * OW;
            for (int ow = 0; ow < OW; ow++) {
                int a = r0 + 2 * ow, c = r1 + 2 * ow;
                float x0 = xs[a], x1 = xs[a + 1], x2 = xs[c], x3 = xs[c + 1];
                float m = Math.max(Math.max(x0, x1), Math.max(x2, x3));
                float dy = dys[yo + ow];
                if (m != m) {
                    dxs[a] = 0f; dxs[a + 1] = 0f; dxs[c] = 0f; dxs[c + 1] = 0f;
                    dxs[xBase + argMax(xs, xBase, W, 2 * oh, 2 * ow, 2)] = dy;
                    continue;
                }
                int mb = Float.floatToRawIntBits(m + 0f), d = Float.floatToRawIntBits(dy);
                int e0 = equalMask(x0, mb), e1 = equalMask(x1, mb) & ~e0, e2 = equalMask(x2, mb) & ~(e0 | e1);
                int e3 = ~(e0 | e1 | e2);
                dxs[a] = Float.intBitsToFloat(d & e0);
                dxs[a + 1] = Float.intBitsToFloat(d & e1);
                dxs[c] = Float.intBitsToFloat(d & e2);
                dxs[c + 1] = Float.intBitsToFloat(d & e3);
            }
        }
    }

    /** All ones when the bits of x + 0 (so -0 becomes +0) are {@code bits}, else 0; no branch. */
    private static int equalMask(float x, int bits) {
        int e = Float.floatToRawIntBits(x + 0f) ^ bits;
        return ~((e | -e) >> 31);
    }

    /**
     * Offset (from xBase) of the first maximum of the window at (h0, w0), row-major order (the reference's
     * rule: strict comparisons in window order, so a NaN is kept only in the first position). The 2 x 2
     * window of every model is unrolled.
     */
    private static int argMax(float[] xs, int xBase, int W, int h0, int w0, int size) {
        if (size == 2) {                       // conditional moves, not branches: on real data each compare is a coin toss
            int o = h0 * W + w0, best = o;
            float bestV = xs[xBase + o], v;
            v = xs[xBase + o + 1];
            best = v > bestV ? o + 1 : best;
            bestV = v > bestV ? v : bestV;
            v = xs[xBase + o + W];
            best = v > bestV ? o + W : best;
            bestV = v > bestV ? v : bestV;
            v = xs[xBase + o + W + 1];
            return v > bestV ? o + W + 1 : best;
        }
        int best = h0 * W + w0;
        float bestV = xs[xBase + best];
        for (int i = 0; i < size; i++)
            for (int j = 0; j < size; j++) {
                int o = (h0 + i) * W + w0 + j;
                if (xs[xBase + o] > bestV) { bestV = xs[xBase + o]; best = o; }
            }
        return best;
    }

    @Override
    public void globalAvgPoolForward(int n, int c, int hw, Buffer x, Buffer y) {
        long t0 = start();
        float[] xs = data(x), ys = data(y);
        cx.par.range(n * c, (long) n * c * hw, (t, lo, hi) -> {
            for (int p = lo; p < hi; p++) {
                double sum = 0.0;
                for (int i = p * hw, end = i + hw; i < end; i++) sum += xs[i];
                ys[p] = (float) (sum / hw);
            }
        });
        done("globalAvgPoolForward", t0);
    }

    @Override
    public void globalAvgPoolBackward(int n, int c, int hw, Buffer dy, Buffer dx) {
        long t0 = start();
        float[] dys = data(dy), dxs = data(dx);
        cx.par.range(n * c, (long) n * c * hw, (t, lo, hi) -> {
            for (int p = lo; p < hi; p++) Arrays.fill(dxs, p * hw, p * hw + hw, (float) ((double) dys[p] / hw));
        });
        done("globalAvgPoolBackward", t0);
    }

    // ================================================================== batch norm 2d (per channel; sums in double)

    @Override
    public void batchNormForwardTraining(int n, int c, int hw, float eps, float momentum, Buffer x, Buffer gamma, Buffer beta,
                                         Buffer y, Buffer saveMean, Buffer saveInvStd, Buffer runningMean, Buffer runningVar) {
        long t0 = start();
        bnTraining(n, c, hw, eps, momentum, x, gamma, beta, y, saveMean, saveInvStd, runningMean, runningVar, false);
        done("batchNormForwardTraining", t0);
    }

    @Override
    public void batchNormReluForwardTraining(int n, int c, int hw, float eps, float momentum, Buffer x, Buffer gamma,
                                             Buffer beta, Buffer y, Buffer saveMean, Buffer saveInvStd,
                                             Buffer runningMean, Buffer runningVar) {
        long t0 = start();
        bnTraining(n, c, hw, eps, momentum, x, gamma, beta, y, saveMean, saveInvStd, runningMean, runningVar, true);
        done("batchNormReluForwardTraining", t0);
    }

    /** Mean, then the biased variance from the mean (two passes, as the reference), then y; running statistics PyTorch's way. */
    private void bnTraining(int n, int c, int hw, float eps, float momentum, Buffer x, Buffer gamma, Buffer beta, Buffer y,
                            Buffer saveMean, Buffer saveInvStd, Buffer runningMean, Buffer runningVar, boolean relu) {
        final long count = (long) n * hw;
        if (count < 2)
            throw new IllegalArgumentException("batchNorm2d (training): needs more than one value per channel, got n*h*w = "
                    + count + "; use a batch larger than 1 or eval mode");
        float[] xs = data(x), gs = data(gamma), bs = data(beta), ys = data(y);
        float[] sm = data(saveMean), si = data(saveInvStd), rm = data(runningMean), rv = data(runningVar);
        Kernels k = cx.kernels;
        cx.par.range(c, count * c * 4, (t, lo, hi) -> {
            for (int ch = lo; ch < hi; ch++) {
                double sum = 0.0;                       // per row (hw values) a float vector sum, rows added in double
                for (int i = 0; i < n; i++) sum += k.sum(xs, (i * c + ch) * hw, hw);
                double mean = sum / count, sq = 0.0;
                for (int i = 0; i < n; i++) sq += k.sumSquaredDeviation(xs, (i * c + ch) * hw, hw, (float) mean);
                double var = sq / count, invStd = 1.0 / Math.sqrt(var + eps);
                float scale = (float) (invStd * gs[ch]), shift = (float) (bs[ch] - mean * invStd * gs[ch]);
                for (int i = 0; i < n; i++) k.affine(xs, ys, (i * c + ch) * hw, hw, scale, shift, relu);
                sm[ch] = (float) mean;
                si[ch] = (float) invStd;
                rm[ch] = (float) ((1 - (double) momentum) * rm[ch] + (double) momentum * mean);
                rv[ch] = (float) ((1 - (double) momentum) * rv[ch] + (double) momentum * var * count / (count - 1));
            }
        });
    }

    @Override
    public void batchNormForwardInference(int n, int c, int hw, float eps, Buffer x, Buffer gamma, Buffer beta,
                                          Buffer runningMean, Buffer runningVar, Buffer y) {
        long t0 = start();
        bnInference(n, c, hw, eps, x, gamma, beta, runningMean, runningVar, y, false);
        done("batchNormForwardInference", t0);
    }

    @Override
    public void batchNormReluForwardInference(int n, int c, int hw, float eps, Buffer x, Buffer gamma, Buffer beta,
                                              Buffer runningMean, Buffer runningVar, Buffer y) {
        long t0 = start();
        bnInference(n, c, hw, eps, x, gamma, beta, runningMean, runningVar, y, true);
        done("batchNormReluForwardInference", t0);
    }

    private void bnInference(int n, int c, int hw, float eps, Buffer x, Buffer gamma, Buffer beta,
                             Buffer runningMean, Buffer runningVar, Buffer y, boolean relu) {
        float[] xs = data(x), gs = data(gamma), bs = data(beta), rm = data(runningMean), rv = data(runningVar), ys = data(y);
        cx.par.range(c, (long) n * hw * c, (t, lo, hi) -> {
            for (int ch = lo; ch < hi; ch++) {
                double s = gs[ch] / Math.sqrt((double) rv[ch] + eps);
                float scale = (float) s, shift = (float) (bs[ch] - rm[ch] * s);
                for (int i = 0; i < n; i++) cx.kernels.affine(xs, ys, (i * c + ch) * hw, hw, scale, shift, relu);
            }
        });
    }

    @Override
    public void batchNormBackward(int n, int c, int hw, Buffer x, Buffer dy, Buffer gamma,
                                  Buffer saveMean, Buffer saveInvStd, Buffer dx, Buffer dgamma, Buffer dbeta) {
        long t0 = start();
        bnBackward(n, c, hw, x, null, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta);
        done("batchNormBackward", t0);
    }

    @Override
    public void batchNormReluBackward(int n, int c, int hw, Buffer x, Buffer y, Buffer dy, Buffer gamma,
                                      Buffer saveMean, Buffer saveInvStd, Buffer dx, Buffer dgamma, Buffer dbeta) {
        long t0 = start();
        bnBackward(n, c, hw, x, y, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta);
        done("batchNormReluBackward", t0);
    }

    /** dbeta, dgamma in one pass, then dx; with y != null, dy is masked by y > 0 (the fused ReLU) on the fly. */
    private void bnBackward(int n, int c, int hw, Buffer x, Buffer y, Buffer dy, Buffer gamma,
                            Buffer saveMean, Buffer saveInvStd, Buffer dx, Buffer dgamma, Buffer dbeta) {
        float[] xs = data(x), ys = y == null ? null : data(y), dys = data(dy), gs = data(gamma);
        float[] sm = data(saveMean), si = data(saveInvStd), dxs = data(dx), dgs = data(dgamma), dbs = data(dbeta);
        final long count = (long) n * hw;
        Kernels k = cx.kernels;
        cx.par.range(c, count * c * 4, (t, lo, hi) -> {
            double[] sums = new double[2];
            for (int ch = lo; ch < hi; ch++) {
                float mean = sm[ch], invStd = si[ch];
                sums[0] = 0;
                sums[1] = 0;
                for (int i = 0; i < n; i++) k.sumsForBackward(dys, ys, xs, (i * c + ch) * hw, hw, mean, sums);
                double sumDy = sums[0], sumDyXhat = sums[1] * invStd;
                double kk = gs[ch] * (double) invStd / count;
                // dx = kk * (count * d - sumDy - xhat * sumDyXhat), xhat = (x - mean) * invStd
                float a = (float) (kk * count), b = (float) (kk * sumDy), cc = (float) (kk * sumDyXhat * invStd);
                for (int i = 0; i < n; i++) k.bnBackwardRow(dys, ys, xs, dxs, (i * c + ch) * hw, hw, mean, a, b, cc);
                dbs[ch] = (float) sumDy;
                dgs[ch] = (float) sumDyXhat;
            }
        });
    }

    // ================================================================== linear (GEMM)

    @Override
    public void linearForward(int n, int in, int out, Buffer x, Buffer w, Buffer b, Buffer y) {
        long t0 = start();
        float[] ys = data(y);
        cx.gemm.parallel(cx.par, cx.ws, n, out, in, new Gemm.Mat(data(x), 0, in, 1), new Gemm.Mat(data(w), 0, 1, in),
                ys, 0, out, false);
        if (b != null) {
            float[] bs = data(b);
            cx.par.range(n, (long) n * out, (t, lo, hi) -> {
                for (int r = lo; r < hi; r++) for (int o = 0; o < out; o++) ys[r * out + o] += bs[o];
            });
        }
        done("linearForward", t0);
    }

    @Override
    public void linearBackwardData(int n, int in, int out, Buffer dy, Buffer w, Buffer dx) {
        long t0 = start();
        cx.gemm.parallel(cx.par, cx.ws, n, in, out, new Gemm.Mat(data(dy), 0, out, 1), new Gemm.Mat(data(w), 0, in, 1),
                data(dx), 0, in, false);
        done("linearBackwardData", t0);
    }

    @Override
    public void linearBackwardWeight(int n, int in, int out, Buffer x, Buffer dy, Buffer dw, Buffer db) {
        long t0 = start();
        float[] dys = data(dy);
        cx.gemm.parallel(cx.par, cx.ws, out, in, n, new Gemm.Mat(dys, 0, 1, out), new Gemm.Mat(data(x), 0, in, 1),
                data(dw), 0, in, false);
        if (db != null) {
            float[] dbs = data(db);
            cx.par.range(out, (long) n * out, (t, lo, hi) -> {
                for (int o = lo; o < hi; o++) {
                    float s = 0f;
                    for (int r = 0; r < n; r++) s += dys[r * out + o];
                    dbs[o] = s;
                }
            });
        }
        done("linearBackwardWeight", t0);
    }

    // ================================================================== embeddings

    @Override
    public void l2NormalizeForward(int n, int d, float eps, Buffer x, Buffer y, Buffer norms) {
        long t0 = start();
        float[] xs = data(x), ys = data(y), ns = data(norms);
        cx.par.range(n, (long) n * d * 2, (t, lo, hi) -> {
            for (int i = lo; i < hi; i++) {
                double sq = 0.0;
                for (int j = i * d, end = j + d; j < end; j++) sq += (double) xs[j] * xs[j];
                double norm = Math.max(Math.sqrt(sq), eps);
                ns[i] = (float) norm;
                for (int j = i * d, end = j + d; j < end; j++) ys[j] = (float) (xs[j] / norm);
            }
        });
        done("l2NormalizeForward", t0);
    }

    @Override
    public void l2NormalizeBackward(int n, int d, float eps, Buffer y, Buffer norms, Buffer dy, Buffer dx) {
        long t0 = start();
        float[] ys = data(y), ns = data(norms), dys = data(dy), dxs = data(dx);
        cx.par.range(n, (long) n * d * 2, (t, lo, hi) -> {
            for (int i = lo; i < hi; i++) {
                float norm = ns[i];
                if (norm > eps) {
                    double dot = 0.0;
                    for (int j = i * d, end = j + d; j < end; j++) dot += (double) ys[j] * dys[j];
                    for (int j = i * d, end = j + d; j < end; j++) dxs[j] = (float) ((dys[j] - ys[j] * dot) / norm);
                } else {
                    for (int j = i * d, end = j + d; j < end; j++) dxs[j] = dys[j] / eps;
                }
            }
        });
        done("l2NormalizeBackward", t0);
    }

    @Override
    public void pairwiseDistanceForward(int n, int d, Distance metric, Buffer e, Buffer dist) {
        long t0 = start();
        triplet.pairwiseDistanceForward(n, d, metric, data(e), data(dist));
        done("pairwiseDistanceForward", t0);
    }

    @Override
    public void pairwiseDistanceBackward(int n, int d, Distance metric, Buffer e, Buffer dist, Buffer dDist, Buffer dE) {
        long t0 = start();
        triplet.pairwiseDistanceBackward(n, d, metric, data(e), data(dist), data(dDist), data(dE));
        done("pairwiseDistanceBackward", t0);
    }

    // ================================================================== the fused triplet loss

    @Override
    public void tripletLoss(int b, int d, int[] labels, TripletOptions options, Buffer e, Buffer dE, Buffer stats) {
        long t0 = start();
        if (options == null) throw new IllegalArgumentException("tripletLoss: options are required");
        if (b < 0 || d < 0) throw new IllegalArgumentException("tripletLoss: negative size b=" + b + ", d=" + d);
        if (labels == null || labels.length < b)
            throw new IllegalArgumentException("tripletLoss: need " + b + " labels, got " + (labels == null ? "null" : labels.length));
        if (options.anchorRows() > b)
            throw new IllegalArgumentException("tripletLoss: anchorRows " + options.anchorRows() + " exceeds the batch of " + b
                    + " rows; use TripletOptions.withAnchorRows(B) when the batch has no extra negatives");
        triplet.tripletLoss(b, d, labels, options, data(e), data(dE), data(stats));
        done("tripletLoss", t0);
    }

    // ================================================================== optimizer updates (elementwise)

    @Override
    public void sgdUpdate(long n, OptimizerParams.Sgd p, Buffer param, Buffer grad, Buffer velocity) {
        long t0 = start();
        float[] ws = data(param), gs = data(grad), vs = data(velocity);
        float lr = p.lr(), mom = p.momentum(), wd = p.weightDecay();
        boolean nesterov = p.nesterov();
        elementwise(n, (t, lo, hi) -> {
            for (int i = lo; i < hi; i++) {
                float g = gs[i] + wd * ws[i];
                float v = mom * vs[i] + g;
                vs[i] = v;
                ws[i] -= lr * (nesterov ? g + mom * v : v);
            }
        });
        done("sgdUpdate", t0);
    }

    @Override
    public void adamUpdate(long n, OptimizerParams.Adam p, Buffer param, Buffer grad, Buffer m, Buffer v) {
        long t0 = start();
        if (p.step() < 1) throw new IllegalArgumentException("adamUpdate: step is 1-based, got " + p.step());
        float[] ws = data(param), gs = data(grad), ms = data(m), vs = data(v);
        float lr = p.lr(), b1 = p.beta1(), b2 = p.beta2(), eps = p.eps(), wd = p.weightDecay();
        boolean decoupled = p.decoupled();
        float c1 = (float) (1 - Math.pow(b1, p.step())), c2 = (float) (1 - Math.pow(b2, p.step()));
        elementwise(n, (t, lo, hi) -> {
            for (int i = lo; i < hi; i++) {
                float g = gs[i];
                if (decoupled) ws[i] -= lr * wd * ws[i];
                else g += wd * ws[i];
                float mi = b1 * ms[i] + (1 - b1) * g, vi = b2 * vs[i] + (1 - b2) * g * g;
                ms[i] = mi;
                vs[i] = vi;
                ws[i] -= lr * (mi / c1) / ((float) Math.sqrt(vi / c2) + eps);
            }
        });
        done("adamUpdate", t0);
    }

    @Override
    public void adagradUpdate(long n, OptimizerParams.Adagrad p, Buffer param, Buffer grad, Buffer accumulator) {
        long t0 = start();
        float[] ws = data(param), gs = data(grad), as = data(accumulator);
        float lr = p.lr(), eps = p.eps(), wd = p.weightDecay();
        elementwise(n, (t, lo, hi) -> {
            for (int i = lo; i < hi; i++) {
                float g = gs[i] + wd * ws[i];
                float a = as[i] + g * g;
                as[i] = a;
                ws[i] -= lr * g / ((float) Math.sqrt(a) + eps);
            }
        });
        done("adagradUpdate", t0);
    }

    // ================================================================== profile (KernelProfile: wall time per kernel name)

    /** The time a kernel starts, when profiling (0 otherwise: profiling off costs one branch per call). */
    private long start() { return profiling ? System.nanoTime() : 0L; }

    /** Adds a kernel's wall time since {@code t0} to its name's total, when profiling. */
    private void done(String kernel, long t0) {
        if (!profiling) return;
        double ms = (System.nanoTime() - t0) / 1e6;
        synchronized (profile) { profile.merge(kernel, new Stat(1, ms), (a, b) -> a.plus(1, ms)); }
    }

    @Override public boolean profiling() { return profiling; }

    @Override
    public Map<String, Stat> snapshot() {
        synchronized (profile) {
            Map<String, Stat> sorted = new LinkedHashMap<>();
            profile.entrySet().stream().sorted((a, b) -> Double.compare(b.getValue().totalMillis(), a.getValue().totalMillis()))
                    .forEach(e -> sorted.put(e.getKey(), e.getValue()));
            return sorted;
        }
    }

    @Override
    public void reset() { synchronized (profile) { profile.clear(); } }

    // ================================================================== helpers

    private float[] data(Buffer b) {
        if (b == null) throw new IllegalArgumentException("cpu backend: null buffer");
        if (!(b instanceof CpuBuffer cb) || b.backend() != this)
            throw new IllegalArgumentException("cpu backend: buffer " + b + " belongs to another backend (" + b.backend().name()
                    + "); tensors cannot be mixed across backends, copy through the host instead");
        return cb.data();
    }

    private static int checkedInt(long n) {
        if (n < 0 || n > Integer.MAX_VALUE)
            throw new IllegalArgumentException("cpu backend: element count " + n + " out of range");
        return (int) n;
    }

    @Override
    public String toString() { return "CpuBackend(" + threads + " threads, " + cx.kernels.describe() + ")"; }
}
