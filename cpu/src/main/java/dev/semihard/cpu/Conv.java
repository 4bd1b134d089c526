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
 * <p><b>Image groups.</b> Late layers have few output positions (P = 9 for a 3 x 3 map), and a GEMM
 * with N = 9 would fill 9 of the micro-tile's 2L columns. So images are taken {@link #groupSize} at a
 * time, side by side in one matrix of nb * P >= {@value #GROUP_COLUMNS} columns: the columns of a group
 * are [CRS][nb * P], dy of a group is gathered to [K][nb * P], and the GEMM outputs are scattered back
 * per image (a copy of P floats per (image, channel), cheap next to the GEMM).
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

    /** Columns a group of images should reach: a few micro-tile widths, while the group's columns stay in L2. */
    static final int GROUP_COLUMNS = 256;

    /** Images per group: 1 from GROUP_COLUMNS output positions up, else enough to reach GROUP_COLUMNS columns. */
    static int groupSize(ConvGeometry g) {
        int p = g.outH() * g.outW();
        return Math.max(1, Math.min(g.n(), (GROUP_COLUMNS + p - 1) / p));
    }

    static void forward(CpuContext cx, ConvGeometry g, float[] x, float[] w, float[] bias, float[] y) {
        final int C = g.c(), HW = g.h() * g.w(), K = g.k(), P = g.outH() * g.outW(), CRS = C * g.r() * g.s();
        Gemm.Mat wm = new Gemm.Mat(w, 0, CRS, 1);
        perGroup(cx, g, (ws, n0, nb, par) -> {
            if (nb == 1) {
                Gemm.Mat cols = direct(g) ? new Gemm.Mat(x, n0 * C * HW, P, 1) : new Gemm.Mat(im2col(ws, g, x, n0, 1), 0, P, 1);
                gemm(cx, ws, par, K, P, CRS, wm, cols, y, n0 * K * P, P, false);
                if (bias != null) for (int k = 0; k < K; k++) addBias(y, (n0 * K + k) * P, P, bias[k]);
                return;
            }
            int ld = nb * P;
            float[] out = ws.partial((long) K * ld);
            gemm(cx, ws, par, K, ld, CRS, wm, new Gemm.Mat(im2col(ws, g, x, n0, nb), 0, ld, 1), out, 0, ld, false);
            for (int i = 0; i < nb; i++)                 // out[k][i*P + p] -> y[n0 + i][k][p]
                for (int k = 0; k < K; k++) {
                    int dst = ((n0 + i) * K + k) * P, src = k * ld + i * P;
                    float b = bias == null ? 0f : bias[k];
                    for (int p = 0; p < P; p++) y[dst + p] = out[src + p] + b;
                }
        });
    }

    private static void addBias(float[] y, int o, int n, float b) {
        for (int p = o, end = o + n; p < end; p++) y[p] += b;
    }

    static void backwardData(CpuContext cx, ConvGeometry g, float[] dy, float[] w, float[] dx) {
        final int C = g.c(), HW = g.h() * g.w(), K = g.k(), P = g.outH() * g.outW(), CRS = C * g.r() * g.s();
        Gemm.Mat wT = new Gemm.Mat(w, 0, 1, CRS);            // W^T(crs, k) = w[k * CRS + crs]
        perGroup(cx, g, (ws, n0, nb, par) -> {
            int ld = nb * P;
            Gemm.Mat dyg = nb == 1 ? new Gemm.Mat(dy, n0 * K * P, P, 1) : new Gemm.Mat(gatherDy(ws, dy, n0, nb, K, P), 0, ld, 1);
            if (nb == 1 && direct(g)) {
                gemm(cx, ws, par, CRS, P, K, wT, dyg, dx, n0 * C * HW, P, false);
                return;
            }
            float[] cols = ws.cols((long) CRS * ld);
            gemm(cx, ws, par, CRS, ld, K, wT, dyg, cols, 0, ld, false);
            if (g.outW() >= SHORT_ROWS) {
                for (int i = 0; i < nb; i++) col2im(g, cols, i * P, ld, dx, n0 + i);
                return;
            }
            Arrays.fill(dx, n0 * C * HW, (n0 + nb) * C * HW, 0f);
            byTaps(tapTable(ws, g), g, n0, nb, dx, cols, false);
        });
    }

    static void backwardFilter(CpuContext cx, ConvGeometry g, float[] x, float[] dy, float[] dw, float[] dbias) {
        final int N = g.n(), C = g.c(), HW = g.h() * g.w(), K = g.k(), P = g.outH() * g.outW(), CRS = C * g.r() * g.s();
        final int size = K * CRS, group = groupSize(g);
        long work = (long) N * K * P * CRS;
        int chunks = cx.par.chunksFor(N, work);
        // few taps, many filters (the first layer: 9 taps, 32 filters): dW^T = cols x dy^T fills the micro-tile's
        // columns with filters, where dW would fill 9 of 2L columns with taps
        final boolean tr = CRS < K && CRS < cx.gemm.nr();
        cx.par.split(N, chunks, (t, lo, hi) -> {
            Workspace ws = cx.ws[t];
            float[] out = chunks == 1 && !tr ? dw : ws.partial(size);
            for (int n0 = lo; n0 < hi; n0 += group) {
                int nb = Math.min(group, hi - n0), ld = nb * P;
                Gemm.Mat dyg, colsT;
                if (nb == 1) {
                    dyg = new Gemm.Mat(dy, n0 * K * P, P, 1);
                    colsT = direct(g) ? new Gemm.Mat(x, n0 * C * HW, 1, P) : new Gemm.Mat(im2col(ws, g, x, n0, 1), 0, 1, P);
                } else {
                    dyg = new Gemm.Mat(gatherDy(ws, dy, n0, nb, K, P), 0, ld, 1);
                    colsT = new Gemm.Mat(im2col(ws, g, x, n0, nb), 0, 1, ld);
                }
                if (tr) cx.gemm.gemm(ws, CRS, K, ld, colsT.transposed(), dyg.transposed(), out, 0, K, n0 > lo);
                else cx.gemm.gemm(ws, K, CRS, ld, dyg, colsT, out, 0, CRS, n0 > lo);
            }
            if (hi == lo) Arrays.fill(out, 0, size, 0f);
        });
        if (tr) {                     // dw[k][crs] = sum over chunks, in order, of partial_t[crs][k]
            cx.par.range(K, (long) size * chunks, (t, lo, hi) -> {
                for (int k = lo; k < hi; k++)
                    for (int i = 0; i < CRS; i++) {
                        float v = cx.ws[0].partial(size)[i * K + k];
                        for (int c = 1; c < chunks; c++) v += cx.ws[c].partial(size)[i * K + k];
                        dw[k * CRS + i] = v;
                    }
            });
        } else if (chunks > 1) CpuContext.sumPartials(cx, chunks, size, dw);
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

    /** Work on one group: the workspace, its first image, its number of images, the pool to split its GEMM with (null: this thread only). */
    @FunctionalInterface
    private interface GroupTask {
        void run(Workspace ws, int n0, int nb, Parallel split);
    }

    /**
     * Groups of {@link #groupSize} images within one contiguous chunk of images per thread; or, with fewer
     * images than threads, one image at a time with its GEMM split over the threads.
     */
    private static void perGroup(CpuContext cx, ConvGeometry g, GroupTask task) {
        int N = g.n(), group = groupSize(g);
        long work = (long) N * g.k() * g.outH() * g.outW() * g.c() * g.r() * g.s();
        if (N >= cx.par.threads() || cx.par.chunksFor(N, work) == 1) {
            cx.par.range(N, work, (t, lo, hi) -> {
                for (int n0 = lo; n0 < hi; n0 += group) task.run(cx.ws[t], n0, Math.min(group, hi - n0), null);
            });
        } else {
            for (int n = 0; n < N; n++) task.run(cx.ws[0], n, 1, cx.par);
        }
    }

    /** dy of images n0 .. n0+nb-1 gathered side by side: out[k][i*P + p] = dy[n0 + i][k][p]. */
    private static float[] gatherDy(Workspace ws, float[] dy, int n0, int nb, int K, int P) {
        int ld = nb * P;
        float[] out = ws.gathered((long) K * ld);
        for (int i = 0; i < nb; i++)
            for (int k = 0; k < K; k++) {
                int src = ((n0 + i) * K + k) * P, dst = k * ld + i * P;
                for (int p = 0; p < P; p++) out[dst + p] = dy[src + p];
            }
        return out;
    }

    private static void gemm(CpuContext cx, Workspace ws, Parallel split, int M, int N, int K, Gemm.Mat a, Gemm.Mat b,
                             float[] c, int cOff, int ldc, boolean accumulate) {
        if (split == null) cx.gemm.gemm(ws, M, N, K, a, b, c, cOff, ldc, accumulate);
        else cx.gemm.parallel(split, cx.ws, M, N, K, a, b, c, cOff, ldc, accumulate);
    }

    /**
     * The columns of images n0 .. n0+nb-1 side by side, in the workspace's column buffer:
     * cols[(c*R + r)*S + s][i*P + oh*OW + ow] = x[n0 + i, c, oh*stride - pad + r, ow*stride - pad + s] (0 in the padding).
     */
    static float[] im2col(Workspace ws, ConvGeometry g, float[] x, int n0, int nb) {
        final int P = g.outH() * g.outW(), ld = nb * P;
        float[] cols = ws.cols((long) g.c() * g.r() * g.s() * ld);
        if (g.outW() >= SHORT_ROWS) {
            for (int i = 0; i < nb; i++) im2col(g, x, n0 + i, cols, i * P, ld);
            return cols;
        }
        byTaps(tapTable(ws, g), g, n0, nb, x, cols, true);
        return cols;
    }

    /**
     * The tap-table loops: for images n0 .. n0+nb-1, every (c, tap) row of the columns (row stride nb * P)
     * against x (or dx): toCols: cols = x at the tap's offsets, 0 in the padding (im2col); else x += cols
     * at those offsets (col2im, after dx was zeroed). Positions in order, so sums are in a fixed order.
     */
    private static void byTaps(int[] tap, ConvGeometry g, int n0, int nb, float[] x, float[] cols, boolean toCols) {
        final int C = g.c(), RS = g.r() * g.s(), HW = g.h() * g.w(), P = g.outH() * g.outW(), ld = nb * P;
        for (int i = 0; i < nb; i++)
            for (int c = 0; c < C; c++) {
                int xBase = ((n0 + i) * C + c) * HW;
                for (int rs = 0; rs < RS; rs++) {
                    int o = (c * RS + rs) * ld + i * P, t = rs * P;
                    if (toCols) {
                        for (int p = 0; p < P; p++) { int off = tap[t + p]; cols[o + p] = off < 0 ? 0f : x[xBase + off]; }
                    } else {
                        for (int p = 0; p < P; p++) { int off = tap[t + p]; if (off >= 0) x[xBase + off] += cols[o + p]; }
                    }
                }
            }
    }

    /** Output rows shorter than this take the tap-table im2col / col2im (one loop per tap, not three per output row). */
    static final int SHORT_ROWS = 16;

    /**
     * tap[(r*S + s)*P + oh*OW + ow] = the input offset ih*W + iw within a channel plane that tap (r, s) of output
     * position (oh, ow) reads, or -1 in the padding. For small maps (a 3 x 3 output has rows of 3) the
     * im2col and col2im loops then run over all P positions of a tap at once.
     */
    private static int[] tapTable(Workspace ws, ConvGeometry g) {
        final int R = g.r(), S = g.s(), OH = g.outH(), OW = g.outW(), P = OH * OW, H = g.h(), W = g.w();
        int[] tap = ws.ints(R * S * P);
        for (int r = 0; r < R; r++)
            for (int s = 0; s < S; s++)
                for (int oh = 0; oh < OH; oh++)
                    for (int ow = 0; ow < OW; ow++) {
                        int ih = oh * g.stride() - g.pad() + r, iw = ow * g.stride() - g.pad() + s;
                        tap[(r * S + s) * P + oh * OW + ow] = ih < 0 || ih >= H || iw < 0 || iw >= W ? -1 : ih * W + iw;
                    }
        return tap;
    }

    /** One image's columns at column offset colOff of a matrix with row stride ld. */
    private static void im2col(ConvGeometry g, float[] x, int n, float[] cols, int colOff, int ld) {
        final int C = g.c(), H = g.h(), W = g.w(), R = g.r(), S = g.s(), st = g.stride(), pad = g.pad();
        final int OH = g.outH(), OW = g.outW();
        for (int c = 0; c < C; c++) {
            int xBase = (n * C + c) * H * W;
            for (int r = 0; r < R; r++)
                for (int s = 0; s < S; s++) {
                    int row = ((c * R + r) * S + s) * ld + colOff;
                    int lo = firstInside(s, pad, st), hi = endInside(s, pad, st, W, OW);
                    for (int oh = 0; oh < OH; oh++) {
                        // plain loops, no arraycopy / fill calls: rows are short (3 to 96 values) and a call
                        // per row cost as much as the GEMM on small maps
                        int o = row + oh * OW, ih = oh * st - pad + r, ow = 0;
                        if (ih >= 0 && ih < H) {
                            int src = xBase + ih * W - pad + s;
                            for (; ow < lo; ow++) cols[o + ow] = 0f;
                            if (st == 1) for (; ow < hi; ow++) cols[o + ow] = x[src + ow];
                            else for (; ow < hi; ow++) cols[o + ow] = x[src + ow * st];
                        }
                        for (; ow < OW; ow++) cols[o + ow] = 0f;
                    }
                }
        }
    }

    /** dx[n] = 0, then every entry of its columns (at colOff, row stride ld) added back to the input position it was read from. */
    private static void col2im(ConvGeometry g, float[] cols, int colOff, int ld, float[] dx, int n) {
        final int C = g.c(), H = g.h(), W = g.w(), R = g.r(), S = g.s(), st = g.stride(), pad = g.pad();
        final int OH = g.outH(), OW = g.outW();
        Arrays.fill(dx, n * C * H * W, (n + 1) * C * H * W, 0f);
        for (int c = 0; c < C; c++) {
            int xBase = (n * C + c) * H * W;
            for (int r = 0; r < R; r++)
                for (int s = 0; s < S; s++) {
                    int row = ((c * R + r) * S + s) * ld + colOff;
                    int lo = firstInside(s, pad, st), hi = endInside(s, pad, st, W, OW);
                    for (int oh = 0; oh < OH; oh++) {
                        int ih = oh * st - pad + r;
                        if (ih < 0 || ih >= H) continue;
                        int dst = xBase + ih * W - pad + s, o = row + oh * OW;
                        if (st == 1) for (int ow = lo; ow < hi; ow++) dx[dst + ow] += cols[o + ow];
                        else for (int ow = lo; ow < hi; ow++) dx[dst + ow * st] += cols[o + ow];
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
