package dev.semihard.engine.reference;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.Buffer;
import dev.semihard.engine.backend.ConvGeometry;
import dev.semihard.engine.backend.Distance;
import dev.semihard.engine.backend.OptimizerParams;
import dev.semihard.engine.backend.PoolGeometry;
import dev.semihard.engine.backend.TripletOptions;

import dev.semihard.engine.util.Tasks;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntConsumer;

/**
 * <b>The reference backend: the specification of every {@link Backend} kernel, in plain Java loops.</b>
 *
 * <p>Each method is the most direct loop nest that computes what the javadoc of {@link Backend}
 * says, written to be read and checked by eye; the OpenCL and CUDA backends are held to it by the
 * conformance suite ({@code dev.semihard.engine.conformance.Conformance}). Design choices:
 * <ul>
 *   <li><b>Exact.</b> Every buffer is a {@code double[]} ({@link ReferenceBuffer}) and every
 *       computation is done in double precision; values are converted from float only at
 *       {@link #upload} and rounded to float only at {@link #download}. Hyper-parameters passed as
 *       {@code float} (eps, momentum, learning rate, ...) are widened exactly to double.
 *       {@link #uploadDouble} and {@link #downloadDouble} give double-precision access for
 *       finite-difference gradient checks.</li>
 *   <li><b>Deterministic.</b> Work is split over independent output slices only (batch rows,
 *       output channels, input channels), each computed by one thread in a fixed loop order, so
 *       every run gives bit-identical results whatever the thread count. No sum is ever combined
 *       across threads.</li>
 *   <li><b>Fast enough.</b> Every convolution runs through one row kernel ({@link #convRows})
 *       whose innermost loop runs over output channels in contiguous memory; the stride-1 backward
 *       passes are rewritten as convolutions to use it. A {@code fmnist-cnn} training step at batch
 *       64 costs about 1 CPU-second (0.5 to 2 s on two cores, depending on load). Each method's
 *       javadoc states the formula first; the loop order is only a means to that end, and the tests
 *       compare it with the textbook loops and with finite differences.</li>
 * </ul>
 *
 * <p>Memory: {@link #bytesInUse()} counts 4 bytes per element, the float32 footprint a device
 * backend would allocate for the same buffers (the Java heap actually holds 8 bytes per element),
 * so peaks compare across backends.
 *
 * <p>Buffers are checked to belong to this very instance; using a closed buffer is a clear error.
 */
public final class ReferenceBackend implements Backend {
    /** Below this many multiply-adds a kernel runs on the calling thread. */
    private static final long PARALLEL_MIN_WORK = 1 << 15;

    private final int threads;
    private final ForkJoinPool pool;
    private final AtomicLong bytesInUse = new AtomicLong();
    private final AtomicLong peakBytes = new AtomicLong();
    private volatile boolean closed;

    /** A reference backend using every available processor. */
    public ReferenceBackend() { this(0); }

    /** @param threads worker threads; 0 = {@link Runtime#availableProcessors()} */
    public ReferenceBackend(int threads) {
        if (threads < 0) throw new IllegalArgumentException("reference backend: threads must be >= 0, got " + threads);
        this.threads = threads == 0 ? Runtime.getRuntime().availableProcessors() : threads;
        this.pool = this.threads > 1 ? new ForkJoinPool(this.threads) : null;
    }

    /** Number of worker threads. */
    public int threads() { return threads; }

    // ================================================================== identity and memory

    @Override public String name() { return "reference"; }

    @Override public String deviceDescription() { return describe(threads); }

    static String describe(int threads) { return "Java reference, " + threads + (threads == 1 ? " thread" : " threads"); }

    @Override
    public Buffer allocate(long floats) {
        if (closed) throw new IllegalStateException("reference backend: allocate() after close()");
        if (floats < 0) throw new IllegalArgumentException("reference backend: cannot allocate " + floats + " elements");
        if (floats > Integer.MAX_VALUE - 16)
            throw new IllegalArgumentException("reference backend: " + floats + " elements exceed one Java array ("
                    + (Integer.MAX_VALUE - 16) + "); use a smaller batch or the two-pass mode");
        ReferenceBuffer b;
        try {
            b = new ReferenceBuffer(this, (int) floats);
        } catch (OutOfMemoryError e) {
            throw new IllegalStateException("reference backend: out of Java heap allocating " + floats + " elements ("
                    + (floats * 8 >> 20) + " MiB as doubles) with " + (bytesInUse.get() >> 20)
                    + " MiB (float32) in use; raise -Xmx, use a smaller batch or the two-pass mode", e);
        }
        long now = bytesInUse.addAndGet(floats * 4);
        peakBytes.accumulateAndGet(now, Math::max);
        return b;
    }

    /**
     * Filled with NaN: an op that reads an element of a kernel output that the kernel did not write
     * (which the engine must never do) then shows up in every engine test as a NaN, not as a silent 0.
     */
    @Override
    public Buffer allocateUninitialized(long floats) {
        Buffer b = allocate(floats);
        java.util.Arrays.fill(data(b), Double.NaN);
        return b;
    }

    void released(long floats) { bytesInUse.addAndGet(-floats * 4); }

    @Override
    public void upload(float[] src, int srcOff, Buffer dst, long dstOff, int n) {
        double[] d = data(dst);
        int o = (int) dstOff;
        for (int i = 0; i < n; i++) d[o + i] = src[srcOff + i];
    }

    @Override
    public void download(Buffer src, long srcOff, float[] dst, int dstOff, int n) {
        double[] s = data(src);
        int o = (int) srcOff;
        for (int i = 0; i < n; i++) dst[dstOff + i] = (float) s[o + i];
    }

    /** Double-precision upload of {@code src.length} values to {@code dst[0..]} (for gradient checks). */
    public void uploadDouble(double[] src, Buffer dst) {
        double[] d = data(dst);
        if (src.length > d.length)
            throw new IllegalArgumentException("uploadDouble: " + src.length + " values into a buffer of " + d.length);
        System.arraycopy(src, 0, d, 0, src.length);
    }

    /** Double-precision copy of the whole buffer (for gradient checks). */
    public double[] downloadDouble(Buffer src) { return data(src).clone(); }

    @Override
    public void copy(Buffer src, long srcOff, Buffer dst, long dstOff, long n) {
        System.arraycopy(data(src), (int) srcOff, data(dst), (int) dstOff, checkedInt(n));
    }

    @Override
    public void fill(Buffer dst, long off, long n, float value) {
        double[] d = data(dst);
        int o = (int) off, m = checkedInt(n);
        for (int i = 0; i < m; i++) d[o + i] = value;
    }

    @Override public void synchronize() {}

    @Override public long bytesInUse() { return bytesInUse.get(); }

    @Override public long peakBytes() { return peakBytes.get(); }

    @Override
    public void close() {
        closed = true;
        if (pool != null) pool.shutdown();
    }

    // ================================================================== elementwise

    @Override
    public void axpy(long n, float alpha, Buffer x, Buffer y) {
        double[] xs = data(x), ys = data(y);
        int m = checkedInt(n);
        double a = alpha;
        for (int i = 0; i < m; i++) ys[i] += a * xs[i];
    }

    @Override
    public void scale(long n, float alpha, Buffer x) {
        double[] xs = data(x);
        int m = checkedInt(n);
        double a = alpha;
        for (int i = 0; i < m; i++) xs[i] *= a;
    }

    @Override
    public void add(long n, Buffer a, Buffer b, Buffer y) {
        double[] as = data(a), bs = data(b), ys = data(y);
        int m = checkedInt(n);
        for (int i = 0; i < m; i++) ys[i] = as[i] + bs[i];
    }

    @Override
    public void reluForward(long n, Buffer x, Buffer y) {
        double[] xs = data(x), ys = data(y);
        int m = checkedInt(n);
        for (int i = 0; i < m; i++) ys[i] = xs[i] > 0 ? xs[i] : 0.0;
    }

    @Override
    public void reluBackward(long n, Buffer y, Buffer dy, Buffer dx) {
        double[] ys = data(y), dys = data(dy), dxs = data(dx);
        int m = checkedInt(n);
        for (int i = 0; i < m; i++) dxs[i] = ys[i] > 0 ? dys[i] : 0.0;
    }

    @Override
    public void sumSquares(long n, Buffer x, float[] out) {
        double[] xs = data(x);
        int m = checkedInt(n);
        double sum = 0;
        long nonFinite = 0;
        for (int i = 0; i < m; i++) {
            double v = xs[i];
            if (Double.isFinite(v)) sum += v * v;
            else nonFinite++;
        }
        out[0] = (float) sum;
        out[1] = nonFinite;
    }

    // ================================================================== convolution

    /**
     * y[n,k,oh,ow] = bias[k] + sum over c, r, s of w[k,c,r,s] * x[n,c, oh*stride - pad + r, ow*stride - pad + s]
     * (terms outside the input are zero padding). Computed by {@link #convRows}.
     */
    @Override
    public void conv2dForward(ConvGeometry g, Buffer x, Buffer w, Buffer bias, Buffer y) {
        double[] ws = data(w);
        final int K = g.k(), CRS = g.c() * g.r() * g.s();
        double[] wT = new double[CRS * K];                 // wT[(c*R + r)*S + s][k] = w[k][c][r][s]
        for (int k = 0; k < K; k++)
            for (int i = 0; i < CRS; i++) wT[i * K + k] = ws[k * CRS + i];
        convRows(g, data(x), wT, bias == null ? null : data(bias), data(y));
    }

    /**
     * The convolution y = conv(x, w) + bias of {@link #conv2dForward}, given the weights transposed
     * to wT[(c*R + r)*S + s][k].
     *
     * <p>Loop order, for speed only: one task per output row (n, oh) keeps an accumulator
     * acc[ow][k] for that row; for each input value x[n,c,ih,iw] it adds x times the weights of
     * all K filters at (c, r, s), a contiguous row of wT, so the innermost loop runs over k in
     * contiguous memory. Each output sums c, r, s in order, then adds the bias.
     */
    private void convRows(ConvGeometry g, double[] xs, double[] wT, double[] bs, double[] ys) {
        final int C = g.c(), H = g.h(), W = g.w(), K = g.k(), R = g.r(), S = g.s();
        final int stride = g.stride(), pad = g.pad(), OH = g.outH(), OW = g.outW();
        parallelFor(g.n() * OH, (long) g.n() * OH * OW * K * C * R * S, task -> {
            int n = task / OH, oh = task % OH;
            double[] acc = new double[OW * K];             // acc[ow][k]
            for (int c = 0; c < C; c++) {
                int xBase = (n * C + c) * H * W;
                for (int r = 0; r < R; r++) {
                    int ih = oh * stride - pad + r;
                    if (ih < 0 || ih >= H) continue;       // zero padding
                    for (int s = 0; s < S; s++) {
                        int wRow = ((c * R + r) * S + s) * K;
                        int owLo = firstInside(s, pad, stride), owHi = endInside(s, pad, stride, W, OW);
                        for (int ow = owLo; ow < owHi; ow++) {
                            double xv = xs[xBase + ih * W + ow * stride - pad + s];
                            int a = ow * K;
                            for (int k = 0; k < K; k++) acc[a + k] += xv * wT[wRow + k];
                        }
                    }
                }
            }
            for (int k = 0; k < K; k++) {
                double b0 = bs == null ? 0.0 : bs[k];
                int yRow = ((n * K + k) * OH + oh) * OW;
                for (int ow = 0; ow < OW; ow++) ys[yRow + ow] = b0 + acc[ow * K + k];
            }
        });
    }

    /**
     * dx[n,c,ih,iw] = sum over k, r, s of w[k,c,r,s] * dy[n,k,oh,ow] over the (oh, ow) with
     * oh*stride - pad + r = ih and ow*stride - pad + s = iw: every output position sends its
     * gradient back to the input positions it read; padding positions receive nothing.
     *
     * <p>With stride 1 and a square kernel (pad <= r - 1) this is itself a convolution: dx is dy
     * convolved with the filters transposed (k <-> c) and flipped (r -> R-1-r, s -> S-1-s), padding
     * R-1-pad; from 8 input channels up it is computed that way by the fast {@link #convRows}.
     * Otherwise a direct loop: for each (image n, input channel c), every (k, r, s) adds a weight
     * times a row of dy into a row of dx.
     */
    @Override
    public void conv2dBackwardData(ConvGeometry g, Buffer dy, Buffer w, Buffer dx) {
        double[] dys = data(dy), ws = data(w), dxs = data(dx);
        final int C = g.c(), H = g.h(), W = g.w(), K = g.k(), R = g.r(), S = g.s();
        final int stride = g.stride(), pad = g.pad(), OH = g.outH(), OW = g.outW();
        if (stride == 1 && R == S && pad <= R - 1 && C >= 8) {   // (its inner loop runs over c: worth it from 8)
            // dx = conv(dy, w'), w'[c][k][r][s] = w[k][c][R-1-r][S-1-s], as wT'[(k*R + r)*S + s][c]
            ConvGeometry t = new ConvGeometry(g.n(), K, OH, OW, C, R, S, 1, R - 1 - pad);
            double[] wT = new double[K * R * S * C];
            for (int k = 0; k < K; k++)
                for (int c = 0; c < C; c++)
                    for (int r = 0; r < R; r++)
                        for (int s = 0; s < S; s++)
                            wT[((k * R + r) * S + s) * C + c] = ws[((k * C + c) * R + (R - 1 - r)) * S + (S - 1 - s)];
            convRows(t, dys, wT, null, dxs);
            return;
        }
        parallelFor(g.n() * C, (long) g.weightSize() * OH * OW, task -> {
            int n = task / C, c = task % C;
            int dxBase = (n * C + c) * H * W;
            for (int i = 0; i < H * W; i++) dxs[dxBase + i] = 0.0;
            for (int k = 0; k < K; k++) {
                int dyBase = (n * K + k) * OH * OW;
                int wBase = (k * C + c) * R * S;
                for (int r = 0; r < R; r++) {
                    for (int s = 0; s < S; s++) {
                        double wv = ws[wBase + r * S + s];
                        int owLo = firstInside(s, pad, stride), owHi = endInside(s, pad, stride, W, OW);
                        for (int oh = 0; oh < OH; oh++) {
                            int ih = oh * stride - pad + r;
                            if (ih < 0 || ih >= H) continue;
                            int dxRow = dxBase + ih * W - pad + s;
                            int dyRow = dyBase + oh * OW;
                            for (int ow = owLo; ow < owHi; ow++) dxs[dxRow + ow * stride] += wv * dys[dyRow + ow];
                        }
                    }
                }
            }
        });
    }

    /**
     * dw[k,c,r,s] = sum over n, oh, ow of dy[n,k,oh,ow] * x[n,c, oh*stride - pad + r, ow*stride - pad + s]
     * and dbias[k] = sum over n, oh, ow of dy[n,k,oh,ow].
     *
     * <p>With stride 1 this is itself a stride-1 convolution, computed by the fast {@link #convRows}:
     * the input is x with batch and channels swapped ([c][n][h][w]), the "filters" are dy
     * ([k][n][oh][ow], an OH x OW kernel), the padding is pad, and the output is [c][k][r][s].
     * Otherwise a direct loop per filter k, summing over n in order.
     */
    @Override
    public void conv2dBackwardFilter(ConvGeometry g, Buffer x, Buffer dy, Buffer dw, Buffer dbias) {
        double[] xs = data(x), dys = data(dy), dws = data(dw), dbs = dbias == null ? null : data(dbias);
        final int N = g.n(), C = g.c(), H = g.h(), W = g.w(), K = g.k(), R = g.r(), S = g.s();
        final int stride = g.stride(), pad = g.pad(), OH = g.outH(), OW = g.outW();
        if (stride == 1) {
            ConvGeometry t = new ConvGeometry(C, N, H, W, K, OH, OW, 1, pad);   // t.outH() = R, t.outW() = S
            double[] xT = new double[N * C * H * W];                            // xT[c][n][h][w] = x[n][c][h][w]
            for (int n = 0; n < N; n++)
                for (int c = 0; c < C; c++)
                    System.arraycopy(xs, (n * C + c) * H * W, xT, (c * N + n) * H * W, H * W);
            double[] dyT = new double[N * OH * OW * K];                         // dyT[(n*OH + oh)*OW + ow][k]
            for (int n = 0; n < N; n++)
                for (int k = 0; k < K; k++)
                    for (int i = 0; i < OH * OW; i++) dyT[(n * OH * OW + i) * K + k] = dys[(n * K + k) * OH * OW + i];
            double[] out = new double[C * K * R * S];                           // out[c][k][r][s]
            convRows(t, xT, dyT, null, out);
            for (int k = 0; k < K; k++)
                for (int c = 0; c < C; c++)
                    System.arraycopy(out, (c * K + k) * R * S, dws, (k * C + c) * R * S, R * S);
            if (dbs != null) {
                for (int k = 0; k < K; k++) {
                    double db = 0.0;
                    for (int n = 0; n < N; n++)
                        for (int i = 0; i < OH * OW; i++) db += dys[(n * K + k) * OH * OW + i];
                    dbs[k] = db;
                }
            }
            return;
        }
        parallelFor(K, (long) g.weightSize() * N * OH * OW, k -> {
            int wkBase = k * C * R * S;
            for (int i = 0; i < C * R * S; i++) dws[wkBase + i] = 0.0;
            double db = 0.0;
            for (int n = 0; n < N; n++) {
                int dyBase = (n * K + k) * OH * OW;
                for (int i = 0; i < OH * OW; i++) db += dys[dyBase + i];
                for (int c = 0; c < C; c++) {
                    int xBase = (n * C + c) * H * W;
                    for (int r = 0; r < R; r++) {
                        for (int s = 0; s < S; s++) {
                            int owLo = firstInside(s, pad, stride), owHi = endInside(s, pad, stride, W, OW);
                            double acc = 0.0;
                            for (int oh = 0; oh < OH; oh++) {
                                int ih = oh * stride - pad + r;
                                if (ih < 0 || ih >= H) continue;
                                int xRow = xBase + ih * W - pad + s;
                                int dyRow = dyBase + oh * OW;
                                for (int ow = owLo; ow < owHi; ow++) acc += dys[dyRow + ow] * xs[xRow + ow * stride];
                            }
                            dws[wkBase + (c * R + r) * S + s] += acc;
                        }
                    }
                }
            }
            if (dbs != null) dbs[k] = db;
        });
    }

    /** First output column ow whose input column ow*stride - pad + s is >= 0. */
    private static int firstInside(int s, int pad, int stride) {
        int need = pad - s;                       // ow*stride >= need
        return need <= 0 ? 0 : (need + stride - 1) / stride;
    }

    /** One past the last output column ow (at most outW) whose input column ow*stride - pad + s is < w. */
    private static int endInside(int s, int pad, int stride, int w, int outW) {
        int lim = w - 1 + pad - s;                // ow*stride <= lim
        if (lim < 0) return 0;
        return Math.min(outW, lim / stride + 1);
    }

    // ================================================================== pooling

    /** y[n,c,oh,ow] = max over the size x size window at (oh*stride, ow*stride). */
    @Override
    public void maxPool2dForward(PoolGeometry g, Buffer x, Buffer y) {
        double[] xs = data(x), ys = data(y);
        final int H = g.h(), W = g.w(), size = g.size(), stride = g.stride(), OH = g.outH(), OW = g.outW();
        parallelFor(g.n() * g.c(), g.outputSize() * size * size, plane -> {
            int xBase = plane * H * W, yBase = plane * OH * OW;
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++)
                    ys[yBase + oh * OW + ow] = xs[xBase + argMax(xs, xBase, W, oh * stride, ow * stride, size)];
        });
    }

    /** dx = 0, then each window adds its dy at its argmax (first maximum in row-major window order). */
    @Override
    public void maxPool2dBackward(PoolGeometry g, Buffer x, Buffer dy, Buffer dx) {
        double[] xs = data(x), dys = data(dy), dxs = data(dx);
        final int H = g.h(), W = g.w(), size = g.size(), stride = g.stride(), OH = g.outH(), OW = g.outW();
        parallelFor(g.n() * g.c(), g.outputSize() * size * size, plane -> {
            int xBase = plane * H * W, yBase = plane * OH * OW;
            for (int i = 0; i < H * W; i++) dxs[xBase + i] = 0.0;
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++)
                    dxs[xBase + argMax(xs, xBase, W, oh * stride, ow * stride, size)] += dys[yBase + oh * OW + ow];
        });
    }

    /** Offset (from xBase) of the first maximum of the window with top-left (h0, w0), row-major order. */
    private static int argMax(double[] xs, int xBase, int W, int h0, int w0, int size) {
        int best = h0 * W + w0;
        double bestV = xs[xBase + best];
        for (int i = 0; i < size; i++)
            for (int j = 0; j < size; j++) {
                int o = (h0 + i) * W + w0 + j;
                if (xs[xBase + o] > bestV) { bestV = xs[xBase + o]; best = o; }
            }
        return best;
    }

    @Override
    public void globalAvgPoolForward(int n, int c, int hw, Buffer x, Buffer y) {
        double[] xs = data(x), ys = data(y);
        for (int p = 0; p < n * c; p++) {
            double sum = 0.0;
            for (int i = 0; i < hw; i++) sum += xs[p * hw + i];
            ys[p] = sum / hw;
        }
    }

    @Override
    public void globalAvgPoolBackward(int n, int c, int hw, Buffer dy, Buffer dx) {
        double[] dys = data(dy), dxs = data(dx);
        for (int p = 0; p < n * c; p++) {
            double v = dys[p] / hw;
            for (int i = 0; i < hw; i++) dxs[p * hw + i] = v;
        }
    }

    // ================================================================== batch norm 2d

    /**
     * Per channel (in parallel over channels), two passes: mean, then the biased variance
     * sum (x - mean)^2 / count; then y, the saved statistics, and the running averages.
     * Needs count = n * hw > 1 (PyTorch refuses training-mode batch norm on one value per channel too).
     */
    @Override
    public void batchNormForwardTraining(int n, int c, int hw, float eps, float momentum,
                                         Buffer x, Buffer gamma, Buffer beta, Buffer y,
                                         Buffer saveMean, Buffer saveInvStd, Buffer runningMean, Buffer runningVar) {
        bnTraining(n, c, hw, eps, momentum, x, gamma, beta, y, saveMean, saveInvStd, runningMean, runningVar, false);
    }

    /** The same, then y = max(0, y) element by element (the ReLU of {@link #reluForward}). */
    @Override
    public void batchNormReluForwardTraining(int n, int c, int hw, float eps, float momentum,
                                             Buffer x, Buffer gamma, Buffer beta, Buffer y,
                                             Buffer saveMean, Buffer saveInvStd, Buffer runningMean, Buffer runningVar) {
        bnTraining(n, c, hw, eps, momentum, x, gamma, beta, y, saveMean, saveInvStd, runningMean, runningVar, true);
    }

    private void bnTraining(int n, int c, int hw, float eps, float momentum, Buffer x, Buffer gamma, Buffer beta, Buffer y,
                            Buffer saveMean, Buffer saveInvStd, Buffer runningMean, Buffer runningVar, boolean relu) {
        final long count = (long) n * hw;
        if (count < 2)
            throw new IllegalArgumentException("batchNorm2d (training): needs more than one value per channel, got n*h*w = "
                    + count + "; use a batch larger than 1 or eval mode");
        double[] xs = data(x), gs = data(gamma), bs = data(beta), ys = data(y);
        double[] sm = data(saveMean), si = data(saveInvStd), rm = data(runningMean), rv = data(runningVar);
        final double e = eps, mom = momentum;
        parallelFor(c, count * c * 4, ch -> {
            double sum = 0.0;
            for (int i = 0; i < n; i++) {
                int base = (i * c + ch) * hw;
                for (int j = 0; j < hw; j++) sum += xs[base + j];
            }
            double mean = sum / count;
            double sq = 0.0;
            for (int i = 0; i < n; i++) {
                int base = (i * c + ch) * hw;
                for (int j = 0; j < hw; j++) { double d = xs[base + j] - mean; sq += d * d; }
            }
            double var = sq / count;
            double invStd = 1.0 / Math.sqrt(var + e);
            double scale = invStd * gs[ch], shift = bs[ch];
            for (int i = 0; i < n; i++) {
                int base = (i * c + ch) * hw;
                for (int j = 0; j < hw; j++) ys[base + j] = clampIf(relu, (xs[base + j] - mean) * scale + shift);
            }
            sm[ch] = mean;
            si[ch] = invStd;
            rm[ch] = (1 - mom) * rm[ch] + mom * mean;
            rv[ch] = (1 - mom) * rv[ch] + mom * var * count / (count - 1);
        });
    }

    @Override
    public void batchNormForwardInference(int n, int c, int hw, float eps, Buffer x, Buffer gamma, Buffer beta,
                                          Buffer runningMean, Buffer runningVar, Buffer y) {
        bnInference(n, c, hw, eps, x, gamma, beta, runningMean, runningVar, y, false);
    }

    @Override
    public void batchNormReluForwardInference(int n, int c, int hw, float eps, Buffer x, Buffer gamma, Buffer beta,
                                              Buffer runningMean, Buffer runningVar, Buffer y) {
        bnInference(n, c, hw, eps, x, gamma, beta, runningMean, runningVar, y, true);
    }

    private void bnInference(int n, int c, int hw, float eps, Buffer x, Buffer gamma, Buffer beta,
                             Buffer runningMean, Buffer runningVar, Buffer y, boolean relu) {
        double[] xs = data(x), gs = data(gamma), bs = data(beta), rm = data(runningMean), rv = data(runningVar), ys = data(y);
        final double e = eps;
        parallelFor(c, (long) n * hw * c, ch -> {
            double scale = gs[ch] / Math.sqrt(rv[ch] + e), mean = rm[ch], shift = bs[ch];
            for (int i = 0; i < n; i++) {
                int base = (i * c + ch) * hw;
                for (int j = 0; j < hw; j++) ys[base + j] = clampIf(relu, (xs[base + j] - mean) * scale + shift);
            }
        });
    }

    /** Per channel: dbeta, dgamma in one pass, then dx (the full gradient of the training forward). */
    @Override
    public void batchNormBackward(int n, int c, int hw, Buffer x, Buffer dy, Buffer gamma,
                                  Buffer saveMean, Buffer saveInvStd, Buffer dx, Buffer dgamma, Buffer dbeta) {
        bnBackward(n, c, hw, x, data(dy), gamma, saveMean, saveInvStd, dx, dgamma, dbeta);
    }

    /** dy masked by the ReLU (dy where y > 0, else 0, as {@link #reluBackward}), then {@link #batchNormBackward}. */
    @Override
    public void batchNormReluBackward(int n, int c, int hw, Buffer x, Buffer y, Buffer dy, Buffer gamma,
                                      Buffer saveMean, Buffer saveInvStd, Buffer dx, Buffer dgamma, Buffer dbeta) {
        double[] ys = data(y), dys = data(dy);
        int m = checkedInt((long) n * c * hw);
        double[] masked = new double[m];
        for (int i = 0; i < m; i++) masked[i] = ys[i] > 0 ? dys[i] : 0.0;
        bnBackward(n, c, hw, x, masked, gamma, saveMean, saveInvStd, dx, dgamma, dbeta);
    }

    private void bnBackward(int n, int c, int hw, Buffer x, double[] dys, Buffer gamma,
                            Buffer saveMean, Buffer saveInvStd, Buffer dx, Buffer dgamma, Buffer dbeta) {
        double[] xs = data(x), gs = data(gamma), sm = data(saveMean), si = data(saveInvStd);
        double[] dxs = data(dx), dgs = data(dgamma), dbs = data(dbeta);
        final long count = (long) n * hw;
        parallelFor(c, count * c * 4, ch -> {
            double mean = sm[ch], invStd = si[ch];
            double sumDy = 0.0, sumDyXhat = 0.0;
            for (int i = 0; i < n; i++) {
                int base = (i * c + ch) * hw;
                for (int j = 0; j < hw; j++) {
                    double d = dys[base + j];
                    sumDy += d;
                    sumDyXhat += d * (xs[base + j] - mean) * invStd;
                }
            }
            double k = gs[ch] * invStd / count;
            for (int i = 0; i < n; i++) {
                int base = (i * c + ch) * hw;
                for (int j = 0; j < hw; j++) {
                    double xhat = (xs[base + j] - mean) * invStd;
                    dxs[base + j] = k * (count * dys[base + j] - sumDy - xhat * sumDyXhat);
                }
            }
            dbs[ch] = sumDy;
            dgs[ch] = sumDyXhat;
        });
    }

    /** v, or max(v, 0) (0 for NaN, like {@link #reluForward}) when relu is set. */
    private static double clampIf(boolean relu, double v) {
        return relu ? (v > 0 ? v : 0.0) : v;
    }

    // ================================================================== linear

    @Override
    public void linearForward(int n, int in, int out, Buffer x, Buffer w, Buffer b, Buffer y) {
        double[] xs = data(x), ws = data(w), ys = data(y), bs = b == null ? null : data(b);
        parallelFor(n, (long) n * in * out, row -> {
            int xBase = row * in;
            for (int o = 0; o < out; o++) {
                int wBase = o * in;
                double acc = 0.0;
                for (int i = 0; i < in; i++) acc += xs[xBase + i] * ws[wBase + i];
                ys[row * out + o] = acc + (bs == null ? 0.0 : bs[o]);
            }
        });
    }

    @Override
    public void linearBackwardData(int n, int in, int out, Buffer dy, Buffer w, Buffer dx) {
        double[] dys = data(dy), ws = data(w), dxs = data(dx);
        parallelFor(n, (long) n * in * out, row -> {
            int dxBase = row * in;
            for (int i = 0; i < in; i++) dxs[dxBase + i] = 0.0;
            for (int o = 0; o < out; o++) {
                double a = dys[row * out + o];
                int wBase = o * in;
                for (int i = 0; i < in; i++) dxs[dxBase + i] += a * ws[wBase + i];
            }
        });
    }

    @Override
    public void linearBackwardWeight(int n, int in, int out, Buffer x, Buffer dy, Buffer dw, Buffer db) {
        double[] xs = data(x), dys = data(dy), dws = data(dw), dbs = db == null ? null : data(db);
        parallelFor(out, (long) n * in * out, o -> {
            int wBase = o * in;
            for (int i = 0; i < in; i++) dws[wBase + i] = 0.0;
            double bsum = 0.0;
            for (int row = 0; row < n; row++) {
                double a = dys[row * out + o];
                bsum += a;
                int xBase = row * in;
                for (int i = 0; i < in; i++) dws[wBase + i] += a * xs[xBase + i];
            }
            if (dbs != null) dbs[o] = bsum;
        });
    }

    // ================================================================== embeddings

    @Override
    public void l2NormalizeForward(int n, int d, float eps, Buffer x, Buffer y, Buffer norms) {
        double[] xs = data(x), ys = data(y), ns = data(norms);
        for (int i = 0; i < n; i++) {
            double sq = 0.0;
            for (int j = 0; j < d; j++) sq += xs[i * d + j] * xs[i * d + j];
            double norm = Math.max(Math.sqrt(sq), eps);
            ns[i] = norm;
            for (int j = 0; j < d; j++) ys[i * d + j] = xs[i * d + j] / norm;
        }
    }

    @Override
    public void l2NormalizeBackward(int n, int d, float eps, Buffer y, Buffer norms, Buffer dy, Buffer dx) {
        double[] ys = data(y), ns = data(norms), dys = data(dy), dxs = data(dx);
        for (int i = 0; i < n; i++) {
            double norm = ns[i];
            if (norm > eps) {
                double dot = 0.0;
                for (int j = 0; j < d; j++) dot += ys[i * d + j] * dys[i * d + j];
                for (int j = 0; j < d; j++) dxs[i * d + j] = (dys[i * d + j] - ys[i * d + j] * dot) / norm;
            } else {
                double e = eps;
                for (int j = 0; j < d; j++) dxs[i * d + j] = dys[i * d + j] / e;
            }
        }
    }

    /**
     * Row norms below this are clamped in the cosine distance: cos(a, b) = a.b / (max(|a|, eps) max(|b|, eps)),
     * so a zero row is at cosine distance 1 from everything (and 0 from itself), never NaN.
     */
    public static final double COSINE_EPS = 1e-12;

    /**
     * The pairwise distance of rows i and j of e ([*, d]), exactly as this backend defines it:
     * squared-l2 sum (e_i - e_j)^2 (computed from differences, not from norms); l2 its square root;
     * cosine 1 - e_i.e_j / (max(|e_i|, COSINE_EPS) max(|e_j|, COSINE_EPS)). Distance of a row to
     * itself is 0 by definition.
     */
    public static double distance(Distance metric, double[] e, int d, int i, int j) {
        if (i == j) return 0.0;
        int a = i * d, b = j * d;
        switch (metric) {
            case SQUARED_L2:
            case L2: {
                double sq = 0.0;
                for (int t = 0; t < d; t++) { double diff = e[a + t] - e[b + t]; sq += diff * diff; }
                return metric == Distance.L2 ? Math.sqrt(sq) : sq;
            }
            case COSINE: {
                double dot = 0.0, na = 0.0, nb = 0.0;
                for (int t = 0; t < d; t++) { dot += e[a + t] * e[b + t]; na += e[a + t] * e[a + t]; nb += e[b + t] * e[b + t]; }
                return 1.0 - dot / (Math.max(Math.sqrt(na), COSINE_EPS) * Math.max(Math.sqrt(nb), COSINE_EPS));
            }
            default: throw new IllegalArgumentException("unknown distance " + metric);
        }
    }

    @Override
    public void pairwiseDistanceForward(int n, int d, Distance metric, Buffer e, Buffer dist) {
        double[] es = data(e), ds = data(dist);
        parallelFor(n, (long) n * n * d, i -> {
            for (int j = 0; j < n; j++) ds[i * n + j] = distance(metric, es, d, i, j);
        });
    }

    /**
     * dE_i = sum over j != i of (dDist[i,j] + dDist[j,i]) * d dist(e_i, e_j) / d e_i, where
     * squared-l2: 2 (e_i - e_j); l2: (e_i - e_j) / dist (0 where dist = 0; dist[i,j] and dist[j,i]
     * each divide their own term); cosine, with n_i = max(|e_i|, eps) and u_i = e_i / n_i:
     * -(u_j - [|e_i| > eps] cos(e_i, e_j) u_i) / n_i. The diagonal is constant 0 and contributes nothing.
     */
    @Override
    public void pairwiseDistanceBackward(int n, int d, Distance metric, Buffer e, Buffer dist, Buffer dDist, Buffer dE) {
        double[] es = data(e), ds = data(dist), gs = data(dDist), out = data(dE);
        double[] norms = new double[n];
        boolean[] clamped = new boolean[n];
        if (metric == Distance.COSINE) {
            for (int i = 0; i < n; i++) {
                double sq = 0.0;
                for (int t = 0; t < d; t++) sq += es[i * d + t] * es[i * d + t];
                double norm = Math.sqrt(sq);
                clamped[i] = !(norm > COSINE_EPS);
                norms[i] = Math.max(norm, COSINE_EPS);
            }
        }
        parallelFor(n, (long) n * n * d, i -> {
            int a = i * d;
            for (int t = 0; t < d; t++) out[a + t] = 0.0;
            for (int j = 0; j < n; j++) {
                if (j == i) continue;
                int b = j * d;
                double gij = gs[i * n + j], gji = gs[j * n + i];
                switch (metric) {
                    case SQUARED_L2: {
                        double coef = 2.0 * (gij + gji);
                        for (int t = 0; t < d; t++) out[a + t] += coef * (es[a + t] - es[b + t]);
                        break;
                    }
                    case L2: {
                        double coef = (ds[i * n + j] > 0 ? gij / ds[i * n + j] : 0.0)
                                + (ds[j * n + i] > 0 ? gji / ds[j * n + i] : 0.0);
                        for (int t = 0; t < d; t++) out[a + t] += coef * (es[a + t] - es[b + t]);
                        break;
                    }
                    case COSINE: {
                        double dot = 0.0;
                        for (int t = 0; t < d; t++) dot += es[a + t] * es[b + t];
                        double cos = dot / (norms[i] * norms[j]);
                        double g = gij + gji;
                        double cu = clamped[i] ? 0.0 : cos / norms[i];   // coefficient of u_i = e_i / n_i
                        for (int t = 0; t < d; t++)
                            out[a + t] -= g / norms[i] * (es[b + t] / norms[j] - cu * es[a + t]);
                        break;
                    }
                    default: throw new IllegalArgumentException("unknown distance " + metric);
                }
            }
        });
    }

    // ================================================================== the fused triplet loss

    /** Delegates to {@link ReferenceTriplet#tripletLoss}, the specification of the fused kernel. */
    @Override
    public void tripletLoss(int b, int d, int[] labels, TripletOptions options, Buffer e, Buffer dE, Buffer stats) {
        ReferenceTriplet.tripletLoss(b, d, labels, options, data(e), data(dE), data(stats));
    }

    // ================================================================== optimizer updates

    /** Per element, exactly {@link OptimizerParams.Sgd}'s formula, in double precision. */
    @Override
    public void sgdUpdate(long n, OptimizerParams.Sgd p, Buffer param, Buffer grad, Buffer velocity) {
        double[] ws = data(param), gs = data(grad), vs = data(velocity);
        int m = checkedInt(n);
        double lr = p.lr(), mom = p.momentum(), wd = p.weightDecay();
        for (int i = 0; i < m; i++) {
            double g = gs[i] + wd * ws[i];
            vs[i] = mom * vs[i] + g;
            double step = p.nesterov() ? g + mom * vs[i] : vs[i];
            ws[i] -= lr * step;
        }
    }

    /** Per element, exactly {@link OptimizerParams.Adam}'s formula, in double precision. */
    @Override
    public void adamUpdate(long n, OptimizerParams.Adam p, Buffer param, Buffer grad, Buffer m, Buffer v) {
        double[] ws = data(param), gs = data(grad), ms = data(m), vs = data(v);
        int cnt = checkedInt(n);
        if (p.step() < 1) throw new IllegalArgumentException("adamUpdate: step is 1-based, got " + p.step());
        double lr = p.lr(), b1 = p.beta1(), b2 = p.beta2(), eps = p.eps(), wd = p.weightDecay();
        double c1 = 1 - Math.pow(b1, p.step()), c2 = 1 - Math.pow(b2, p.step());
        for (int i = 0; i < cnt; i++) {
            double g = gs[i];
            if (p.decoupled()) ws[i] -= lr * wd * ws[i];
            else g += wd * ws[i];
            ms[i] = b1 * ms[i] + (1 - b1) * g;
            vs[i] = b2 * vs[i] + (1 - b2) * g * g;
            double mhat = ms[i] / c1, vhat = vs[i] / c2;
            ws[i] -= lr * mhat / (Math.sqrt(vhat) + eps);
        }
    }

    /** Per element, exactly {@link OptimizerParams.Adagrad}'s formula, in double precision. */
    @Override
    public void adagradUpdate(long n, OptimizerParams.Adagrad p, Buffer param, Buffer grad, Buffer accumulator) {
        double[] ws = data(param), gs = data(grad), as = data(accumulator);
        int m = checkedInt(n);
        double lr = p.lr(), eps = p.eps(), wd = p.weightDecay();
        for (int i = 0; i < m; i++) {
            double g = gs[i] + wd * ws[i];
            as[i] += g * g;
            ws[i] -= lr * g / (Math.sqrt(as[i]) + eps);
        }
    }

    // ================================================================== helpers

    /** The storage of a buffer of this backend instance (clear errors for foreign or closed buffers). */
    private double[] data(Buffer b) {
        if (b == null) throw new IllegalArgumentException("reference backend: null buffer");
        if (!(b instanceof ReferenceBuffer rb) || b.backend() != this)
            throw new IllegalArgumentException("reference backend: buffer " + b + " belongs to another backend ("
                    + b.backend().name() + ", " + System.identityHashCode(b.backend())
                    + "); tensors cannot be mixed across backends, copy through the host instead");
        return rb.data();
    }

    private static int checkedInt(long n) {
        if (n < 0 || n > Integer.MAX_VALUE)
            throw new IllegalArgumentException("reference backend: element count " + n + " out of range");
        return (int) n;
    }

    /**
     * Runs body(0..count-1), each index exactly once, on the worker threads when the work is large
     * enough. Each index must write its own disjoint outputs, so results never depend on scheduling.
     */
    private void parallelFor(int count, long work, IntConsumer body) {
        if (pool == null || count < 2 || work < PARALLEL_MIN_WORK) {
            for (int i = 0; i < count; i++) body.accept(i);
            return;
        }
        AtomicInteger next = new AtomicInteger();
        int tasks = Math.min(threads, count);
        List<Callable<Void>> list = new ArrayList<>(tasks);
        for (int t = 0; t < tasks; t++) {
            list.add(() -> {
                for (int i; (i = next.getAndIncrement()) < count; ) body.accept(i);
                return null;
            });
        }
        Tasks.invokeAll(pool, list, "reference backend");
    }

    @Override
    public String toString() { return "ReferenceBackend(" + threads + " threads)"; }
}
