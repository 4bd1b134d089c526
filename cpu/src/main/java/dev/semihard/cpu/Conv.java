package dev.semihard.cpu;

import dev.semihard.engine.backend.ConvGeometry;

import java.util.Arrays;

/**
 * <b>Convolutions</b> ({@code conv2dForward}, {@code conv2dBackwardData}, {@code conv2dBackwardFilter}) as
 * GEMMs over im2col columns, one image at a time.
 *
 * <p>For image n, with P = OH * OW output positions and CRS = C * R * S filter taps,
 * {@code cols[(c*R + r)*S + s][oh*OW + ow] = x[n, c, oh*stride - pad + r, ow*stride - pad + s]} (0 in the
 * padding) is a CRS x P matrix, and
 * <pre>
 * forward:          y[n]  (K x P)   = W (K x CRS)      x cols (CRS x P)         then + bias[k]
 * data gradient:    dcols (CRS x P) = W^T (CRS x K)    x dy[n] (K x P)          then col2im adds dcols into dx[n]
 * filter gradient:  dW (K x CRS)   += dy[n] (K x P)    x cols^T (P x CRS)       summed over the images
 * </pre>
 * A 1x1, stride-1, unpadded convolution needs no columns: x[n] itself is the CRS x P matrix.
 *
 * <p>Threads: images are split into one contiguous chunk per thread, each with its own columns in its
 * {@link Workspace}; when there are fewer images than threads, each image's GEMM is split instead. The
 * filter gradient keeps one partial dW per chunk and adds the chunks in chunk order, so it is
 * bit-identical for a given thread count (and every other output for any thread count).
 */
final class Conv {
    private Conv() {}

    /** True when x[n] is already the im2col matrix (1x1 filter, stride 1, no padding). */
    private static boolean direct(ConvGeometry g) {
        return g.r() == 1 && g.s() == 1 && g.stride() == 1 && g.pad() == 0;
    }

    static void forward(CpuContext cx, ConvGeometry g, float[] x, float[] w, float[] bias, float[] y) {
        final int C = g.c(), HW = g.h() * g.w(), K = g.k(), P = g.outH() * g.outW(), CRS = C * g.r() * g.s();
        Gemm.Mat wm = new Gemm.Mat(w, 0, CRS, 1);
        perImage(cx, g, (ws, n, par) -> {
            Gemm.Mat cols = direct(g) ? new Gemm.Mat(x, n * C * HW, P, 1) : new Gemm.Mat(im2col(ws, g, x, n), 0, P, 1);
            gemm(cx, ws, par, K, P, CRS, wm, cols, y, n * K * P, P, false);
        });
        if (bias != null) {
            cx.par.range(g.n() * K, (long) g.n() * K * P, (t, lo, hi) -> {
                for (int i = lo; i < hi; i++) {
                    float b = bias[i % K];
                    for (int p = i * P, end = p + P; p < end; p++) y[p] += b;
                }
            });
        }
    }

    static void backwardData(CpuContext cx, ConvGeometry g, float[] dy, float[] w, float[] dx) {
        final int C = g.c(), HW = g.h() * g.w(), K = g.k(), P = g.outH() * g.outW(), CRS = C * g.r() * g.s();
        Gemm.Mat wT = new Gemm.Mat(w, 0, 1, CRS);            // W^T(crs, k) = w[k * CRS + crs]
        perImage(cx, g, (ws, n, par) -> {
            Gemm.Mat dyn = new Gemm.Mat(dy, n * K * P, P, 1);
            if (direct(g)) {
                gemm(cx, ws, par, CRS, P, K, wT, dyn, dx, n * C * HW, P, false);
            } else {
                float[] cols = ws.cols((long) CRS * P);
                gemm(cx, ws, par, CRS, P, K, wT, dyn, cols, 0, P, false);
                col2im(g, cols, dx, n);
            }
        });
    }

    static void backwardFilter(CpuContext cx, ConvGeometry g, float[] x, float[] dy, float[] dw, float[] dbias) {
        final int N = g.n(), C = g.c(), HW = g.h() * g.w(), K = g.k(), P = g.outH() * g.outW(), CRS = C * g.r() * g.s();
        final int size = K * CRS;
        long work = (long) N * K * P * CRS;
        int chunks = cx.par.chunksFor(N, work);
        cx.par.split(N, chunks, (t, lo, hi) -> {
            Workspace ws = cx.ws[t];
            float[] out = chunks == 1 ? dw : ws.partial(size);
            for (int n = lo; n < hi; n++) {
                Gemm.Mat dyn = new Gemm.Mat(dy, n * K * P, P, 1);
                Gemm.Mat colsT = direct(g) ? new Gemm.Mat(x, n * C * HW, 1, P) : new Gemm.Mat(im2col(ws, g, x, n), 0, 1, P);
                cx.gemm.gemm(ws, K, CRS, P, dyn, colsT, out, 0, CRS, n > lo);
            }
            if (hi == lo) Arrays.fill(out, 0, size, 0f);
        });
        if (chunks > 1) CpuContext.sumPartials(cx, chunks, size, dw);
        if (dbias != null) {
            cx.par.range(K, (long) N * K * P, (t, lo, hi) -> {
                for (int k = lo; k < hi; k++) {
                    float s = 0f;
                    for (int n = 0; n < N; n++)
                        for (int p = (n * K + k) * P, end = p + P; p < end; p++) s += dy[p];
                    dbias[k] = s;
                }
            });
        }
    }

    // ------------------------------------------------------------------ helpers

    /** Work on one image: its index, the workspace, and the pool to split its GEMM with (null: this thread only). */
    @FunctionalInterface
    private interface ImageTask {
        void run(Workspace ws, int n, Parallel split);
    }

    /** Images in one chunk per thread, or one image at a time with the GEMM split when images are fewer than threads. */
    private static void perImage(CpuContext cx, ConvGeometry g, ImageTask task) {
        int N = g.n();
        long work = (long) N * g.k() * g.outH() * g.outW() * g.c() * g.r() * g.s();
        if (N >= cx.par.threads() || cx.par.chunksFor(N, work) == 1) {
            cx.par.range(N, work, (t, lo, hi) -> {
                for (int n = lo; n < hi; n++) task.run(cx.ws[t], n, null);
            });
        } else {
            for (int n = 0; n < N; n++) task.run(cx.ws[0], n, cx.par);
        }
    }

    private static void gemm(CpuContext cx, Workspace ws, Parallel split, int M, int N, int K, Gemm.Mat a, Gemm.Mat b,
                             float[] c, int cOff, int ldc, boolean accumulate) {
        if (split == null) cx.gemm.gemm(ws, M, N, K, a, b, c, cOff, ldc, accumulate);
        else cx.gemm.parallel(split, cx.ws, M, N, K, a, b, c, cOff, ldc, accumulate);
    }

    /** cols[(c*R + r)*S + s][oh*OW + ow] of image n (0 in the padding), in the workspace's column buffer. */
    static float[] im2col(Workspace ws, ConvGeometry g, float[] x, int n) {
        final int C = g.c(), H = g.h(), W = g.w(), R = g.r(), S = g.s(), st = g.stride(), pad = g.pad();
        final int OH = g.outH(), OW = g.outW(), P = OH * OW;
        float[] cols = ws.cols((long) C * R * S * P);
        for (int c = 0; c < C; c++) {
            int xBase = (n * C + c) * H * W;
            for (int r = 0; r < R; r++)
                for (int s = 0; s < S; s++) {
                    int row = ((c * R + r) * S + s) * P;
                    int lo = firstInside(s, pad, st), hi = endInside(s, pad, st, W, OW);
                    for (int oh = 0; oh < OH; oh++) {
                        int o = row + oh * OW, ih = oh * st - pad + r;
                        if (ih < 0 || ih >= H || hi <= lo) { Arrays.fill(cols, o, o + OW, 0f); continue; }
                        Arrays.fill(cols, o, o + lo, 0f);
                        int src = xBase + ih * W - pad + s;
                        if (st == 1) System.arraycopy(x, src + lo, cols, o + lo, hi - lo);
                        else for (int ow = lo; ow < hi; ow++) cols[o + ow] = x[src + ow * st];
                        Arrays.fill(cols, o + hi, o + OW, 0f);
                    }
                }
        }
        return cols;
    }

    /** dx[n] = 0, then every column entry added back to the input position it was read from. */
    private static void col2im(ConvGeometry g, float[] cols, float[] dx, int n) {
        final int C = g.c(), H = g.h(), W = g.w(), R = g.r(), S = g.s(), st = g.stride(), pad = g.pad();
        final int OH = g.outH(), OW = g.outW(), P = OH * OW;
        Arrays.fill(dx, n * C * H * W, (n + 1) * C * H * W, 0f);
        for (int c = 0; c < C; c++) {
            int xBase = (n * C + c) * H * W;
            for (int r = 0; r < R; r++)
                for (int s = 0; s < S; s++) {
                    int row = ((c * R + r) * S + s) * P;
                    int lo = firstInside(s, pad, st), hi = endInside(s, pad, st, W, OW);
                    for (int oh = 0; oh < OH; oh++) {
                        int ih = oh * st - pad + r;
                        if (ih < 0 || ih >= H) continue;
                        int dst = xBase + ih * W - pad + s, o = row + oh * OW;
                        for (int ow = lo; ow < hi; ow++) dx[dst + ow * st] += cols[o + ow];
                    }
                }
        }
    }

    /** First output column ow whose input column ow*stride - pad + s is >= 0. */
    private static int firstInside(int s, int pad, int stride) {
        int need = pad - s;
        return need <= 0 ? 0 : (need + stride - 1) / stride;
    }

    /** One past the last output column (at most outW) whose input column ow*stride - pad + s is < w. */
    private static int endInside(int s, int pad, int stride, int w, int outW) {
        int lim = w - 1 + pad - s;
        if (lim < 0) return 0;
        return Math.min(outW, lim / stride + 1);
    }
}
