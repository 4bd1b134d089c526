package dev.semihard.cpu;

/**
 * <b>The one GEMM of the CPU backend</b>: C[m][n] (+)= sum over k of A(m, k) * B(k, n), with A and B
 * read through strides (so a transposed operand costs nothing but a different packing loop) and C
 * row-major. Convolutions (forward, data and filter gradients, through im2col), linear layers and the
 * triplet loss's gradient all end here.
 *
 * <h2>Blocking (BLIS / Goto's algorithm)</h2>
 * <pre>
 * for jc over N in steps of NC:           B panel KC x NC packed once per (jc, pc): ~1 MiB, stays in L2
 *   for pc over K in steps of KC:         KC = 256: one k-slice of an A strip (6 x 256 x 4 B = 6 KiB) and of a
 *     pack B[pc.., jc..] into bPanel                B strip (256 x NR x 4 B = 16-32 KiB) fit L1 together
 *     for ic over M in steps of MC:       A panel MC x KC = 120 x 256 x 4 B = 120 KiB, stays in L2
 *       pack A[ic.., pc..] into aPanel
 *       for each NR-column strip jr, each MR-row strip ir:
 *         micro-kernel: the MR x NR tile of C, accumulators in registers over the whole KC slice
 * </pre>
 * Packing copies each operand into the order the micro-kernel streams it (MR-row strips of A,
 * NR-column strips of B, both k-major, zero-padded to whole strips), so the kernel reads both
 * sequentially whatever the strides were; edge tiles are computed whole into a scratch tile and only
 * their valid part is added to C. The k slices are summed in order, so every element of C has one
 * fixed summation order: results do not depend on threads or scheduling.
 *
 * <p>One call runs on one thread with the caller's {@link Workspace}; callers split work between
 * threads ({@link #parallel} splits C by columns or rows).
 */
final class Gemm {
    static final int MR = Kernels.MR;
    static final int KC = 256;
    static final int MC = 20 * MR;          // 120

    private final Kernels kernels;
    private final int nr;
    private final int nc;

    Gemm(Kernels kernels) {
        this.kernels = kernels;
        this.nr = kernels.nr();
        this.nc = Math.max(nr, (1024 / nr) * nr);   // KC x NC floats = 1 MiB
    }

    int nr() { return nr; }

    int nc() { return nc; }

    Kernels kernels() { return kernels; }

    /** One operand: element (row, col) at {@code data[off + row * rowStride + col * colStride]}. */
    record Mat(float[] data, int off, int rowStride, int colStride) {
        float at(int row, int col) { return data[off + row * rowStride + col * colStride]; }

        /** The transpose: element (row, col) is this one's (col, row). */
        Mat transposed() { return new Mat(data, off, colStride, rowStride); }

        /** The same matrix starting at (row0, col0). */
        Mat from(int row0, int col0) { return new Mat(data, off + row0 * rowStride + col0 * colStride, rowStride, colStride); }
    }

    /**
     * C[m][n] = (accumulate ? C[m][n] : 0) + sum over k < K of A(m, k) B(k, n), for m < M, n < N;
     * C row-major at c[cOff + m * ldc + n]. Single-threaded, with the scratch of {@code ws}.
     */
    void gemm(Workspace ws, int M, int N, int K, Mat a, Mat b, float[] c, int cOff, int ldc, boolean accumulate) {
        if (M <= 0 || N <= 0) return;
        if (K <= 0) {
            if (!accumulate) for (int m = 0; m < M; m++) java.util.Arrays.fill(c, cOff + m * ldc, cOff + m * ldc + N, 0f);
            return;
        }
        for (int jc = 0; jc < N; jc += nc) {
            int ncur = Math.min(nc, N - jc);
            for (int pc = 0; pc < K; pc += KC) {
                int kc = Math.min(KC, K - pc);
                packB(ws.bPanel, b, pc, kc, jc, ncur);
                boolean acc = accumulate || pc > 0;
                for (int ic = 0; ic < M; ic += MC) {
                    int mc = Math.min(MC, M - ic);
                    packA(ws.aPanel, a, ic, mc, pc, kc);
                    for (int jr = 0; jr < ncur; jr += nr) {
                        int nv = Math.min(nr, ncur - jr);
                        for (int ir = 0; ir < mc; ir += MR) {
                            int mv = Math.min(MR, mc - ir);
                            int ai = ir * kc, bi = jr * kc, ci = cOff + (ic + ir) * ldc + jc + jr;
                            if (mv == MR && nv == nr) {
                                kernels.microKernel(kc, ws.aPanel, ai, ws.bPanel, bi, c, ci, ldc, acc);
                            } else {                      // edge tile: whole tile into scratch, valid part into C
                                kernels.microKernel(kc, ws.aPanel, ai, ws.bPanel, bi, ws.tile, 0, nr, false);
                                for (int i = 0; i < mv; i++)
                                    for (int j = 0; j < nv; j++) {
                                        int o = ci + i * ldc + j;
                                        c[o] = acc ? c[o] + ws.tile[i * nr + j] : ws.tile[i * nr + j];
                                    }
                            }
                        }
                    }
                }
            }
        }
    }

    /** aPanel[strip][k][i] = A(m0 + strip * MR + i, k0 + k), zero past row mc. */
    private static void packA(float[] dst, Mat a, int m0, int mc, int k0, int kc) {
        int o = 0;
        for (int ir = 0; ir < mc; ir += MR) {
            int mv = Math.min(MR, mc - ir);
            for (int k = 0; k < kc; k++) {
                int src = a.off + (m0 + ir) * a.rowStride + (k0 + k) * a.colStride;
                for (int i = 0; i < mv; i++) dst[o + i] = a.data[src + i * a.rowStride];
                for (int i = mv; i < MR; i++) dst[o + i] = 0f;
                o += MR;
            }
        }
    }

    /** bPanel[strip][k][j] = B(k0 + k, n0 + strip * NR + j), zero past column nc; rows copied whole when contiguous. */
    private void packB(float[] dst, Mat b, int k0, int kc, int n0, int ncur) {
        int o = 0;
        for (int jr = 0; jr < ncur; jr += nr) {
            int nv = Math.min(nr, ncur - jr);
            for (int k = 0; k < kc; k++) {
                int src = b.off + (k0 + k) * b.rowStride + (n0 + jr) * b.colStride;
                if (b.colStride == 1) System.arraycopy(b.data, src, dst, o, nv);
                else for (int j = 0; j < nv; j++) dst[o + j] = b.data[src + j * b.colStride];
                for (int j = nv; j < nr; j++) dst[o + j] = 0f;
                o += nr;
            }
        }
    }

    /**
     * {@link #gemm} split over the worker threads: by NR-aligned column ranges when N is the larger
     * side, else by MR-aligned row ranges. Each element of C is still computed by one thread in one
     * order, so the result is the same for any thread count.
     */
    void parallel(Parallel par, Workspace[] ws, int M, int N, int K, Mat a, Mat b, float[] c, int cOff, int ldc,
                  boolean accumulate) {
        long work = (long) M * N * K;
        if (N >= M) {
            int strips = (N + nr - 1) / nr;
            par.range(strips, work, (t, lo, hi) -> {
                int n0 = lo * nr, n1 = Math.min(N, hi * nr);
                if (n1 > n0) gemm(ws[t], M, n1 - n0, K, a, b.from(0, n0), c, cOff + n0, ldc, accumulate);
            });
        } else {
            int strips = (M + MR - 1) / MR;
            par.range(strips, work, (t, lo, hi) -> {
                int m0 = lo * MR, m1 = Math.min(M, hi * MR);
                if (m1 > m0) gemm(ws[t], m1 - m0, N, K, a.from(m0, 0), b, c, cOff + m0 * ldc, ldc, accumulate);
            });
        }
    }
}
