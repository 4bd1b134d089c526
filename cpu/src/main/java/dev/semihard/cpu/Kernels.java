package dev.semihard.cpu;

/**
 * The innermost loops of the CPU backend, in two implementations: {@link VectorKernels} (SIMD through
 * the incubating Vector API) and {@link ScalarKernels} (plain Java, the fallback that {@link SimdSupport}
 * picks when the Vector API cannot run fast). Everything above these loops (packing, blocking,
 * threading, the triplet mining) is shared, so both give the same results up to float rounding.
 *
 * <p>The GEMM micro-kernel contract (BLIS's): A is packed as MR-row strips, k-major
 * ({@code a[ai + k * MR + i]}), B as NR-column strips, k-major ({@code b[bi + k * NR + j]}); the
 * kernel computes the MR x NR tile {@code C[i][j] (+)= sum over k < kc of A[i][k] * B[k][j]} with
 * C row-major at {@code c[ci + i * ldc + j]}, summing k in order.
 */
interface Kernels {
    /** Rows of a micro-tile (the same for every implementation). */
    int MR = 6;

    /** Columns of a micro-tile. */
    int nr();

    /** Short description for the log ("Vector API, 512-bit FloatVector" / "scalar loops"). */
    String describe();

    /** C tile (+)= A panel x B panel; overwrites when {@code accumulate} is false. */
    void microKernel(int kc, float[] a, int ai, float[] b, int bi, float[] c, int ci, int ldc, boolean accumulate);

    /** sum over t < n of x[xo + t] * y[yo + t]. */
    float dot(float[] x, int xo, float[] y, int yo, int n);

    /** sum over t < n of (x[xo + t] - y[yo + t])^2. */
    float squaredDistance(float[] x, int xo, float[] y, int yo, int n);

    /** out[oo + t] += s * (e[ei + t] - e[ej + t]), t < n. */
    void addScaledDifference(float s, float[] e, int ei, int ej, float[] out, int oo, int n);

    /** y[yo + t] += a * x[xo + t], t < n. */
    void axpy(float a, float[] x, int xo, float[] y, int yo, int n);

    // ------------------------------------------------------------------ batch-norm rows (memory-bound, but
    // a double or scalar reduction per element is latency-bound: these keep one vector of partial sums)

    /** sum over t < n of x[o + t]. */
    float sum(float[] x, int o, int n);

    /** sum over t < n of (x[o + t] - mean)^2. */
    float sumSquaredDeviation(float[] x, int o, int n, float mean);

    /** y[o + t] = x[o + t] * scale + shift, then max(., 0) when relu (0 for NaN, like reluForward). */
    void affine(float[] x, float[] y, int o, int n, float scale, float shift, boolean relu);

    /**
     * With d = dy[o + t], masked to 0 where mask != null and mask[o + t] <= 0 (the fused ReLU):
     * out[0] += sum of d, out[1] += sum of d * (x[o + t] - mean).
     */
    void sumsForBackward(float[] dy, float[] mask, float[] x, int o, int n, float mean, double[] out);

    /** dx[o + t] = a * d - b - (x[o + t] - mean) * c, d masked as in {@link #sumsForBackward}. */
    void bnBackwardRow(float[] dy, float[] mask, float[] x, float[] dx, int o, int n, float mean, float a, float b, float c);

    // ------------------------------------------------------------------ semihard mining

    /** Readable +Inf padding {@link #countBelow} may load past len (a whole vector of the widest species). */
    int COUNT_PAD = 64;

    /**
     * Number of values of the ascending a[0, len) strictly below x (a[len, len + COUNT_PAD) readable, +Inf).
     * Semihard asks it for every (anchor, negative) pair: the bucket of the negative among the anchor's
     * sorted positive distances.
     */
    int countBelow(float[] a, int len, float x);

    /**
     * {@link #countBelow} as a binary search over powers of two whose step is a conditional move, not a branch
     * (the textbook search's branch mispredicts half the time on these data).
     */
    static int countBelowSearch(float[] a, int len, float x) {
        int lo = 0;
        for (int step = Integer.highestOneBit(len); step > 0; step >>= 1) {
            int probe = lo + step;
            lo = probe <= len && a[probe - 1] < x ? probe : lo;
        }
        return lo;
    }
}
