package dev.semihard.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link Kernels} with the incubating Vector API (JDK 17: {@code --add-modules jdk.incubator.vector}).
 * Only {@link SimdSupport} loads this class, after checking that the module is there and that C2 will
 * compile it to SIMD instructions; nothing here is x86-specific ({@link FloatVector#SPECIES_PREFERRED}
 * is 256 bits with AVX2, 512 with AVX-512, 128 with ARM NEON).
 *
 * <h2>The GEMM micro-kernel: 6 x 2L register tile</h2>
 * L = lanes of the preferred species. The tile is MR = 6 rows by NR = 2 vectors: 12 accumulator
 * registers, plus 2 for the B row and 1 for the broadcast A value = 15, which fits the 16 vector
 * registers of AVX2 (and NEON's 32, AVX-512's 32) without spilling. Per k step it loads 2 vectors of
 * B and 6 scalars of A and issues 12 FMAs: 12 FMAs per 8 loads, enough to keep both FMA ports busy
 * from L1. The accumulators are written to C once, after the whole k loop.
 */
final class VectorKernels implements Kernels {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    static final int NR = 2 * L;

    /** Vector width in bits (for the guard and the log). */
    static int bits() { return S.vectorBitSize(); }

    @Override public int nr() { return NR; }

    @Override public String describe() { return "Vector API, " + bits() + "-bit FloatVector (" + L + " lanes), 6x" + NR + " GEMM tile"; }

    @Override
    public void microKernel(int kc, float[] a, int ai, float[] b, int bi, float[] c, int ci, int ldc, boolean accumulate) {
        FloatVector c00 = FloatVector.zero(S), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
        FloatVector c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
        for (int k = 0; k < kc; k++, ai += MR, bi += NR) {
            FloatVector b0 = FloatVector.fromArray(S, b, bi), b1 = FloatVector.fromArray(S, b, bi + L);
            FloatVector av = FloatVector.broadcast(S, a[ai]);
            c00 = b0.fma(av, c00); c01 = b1.fma(av, c01);
            av = FloatVector.broadcast(S, a[ai + 1]);
            c10 = b0.fma(av, c10); c11 = b1.fma(av, c11);
            av = FloatVector.broadcast(S, a[ai + 2]);
            c20 = b0.fma(av, c20); c21 = b1.fma(av, c21);
            av = FloatVector.broadcast(S, a[ai + 3]);
            c30 = b0.fma(av, c30); c31 = b1.fma(av, c31);
            av = FloatVector.broadcast(S, a[ai + 4]);
            c40 = b0.fma(av, c40); c41 = b1.fma(av, c41);
            av = FloatVector.broadcast(S, a[ai + 5]);
            c50 = b0.fma(av, c50); c51 = b1.fma(av, c51);
        }
        store(c00, c01, c, ci, accumulate);
        store(c10, c11, c, ci + ldc, accumulate);
        store(c20, c21, c, ci + 2 * ldc, accumulate);
        store(c30, c31, c, ci + 3 * ldc, accumulate);
        store(c40, c41, c, ci + 4 * ldc, accumulate);
        store(c50, c51, c, ci + 5 * ldc, accumulate);
    }

    /** One row of the tile: two vectors at c[o], added to what is there when accumulating. */
    private static void store(FloatVector v0, FloatVector v1, float[] c, int o, boolean accumulate) {
        if (accumulate) {
            v0 = v0.add(FloatVector.fromArray(S, c, o));
            v1 = v1.add(FloatVector.fromArray(S, c, o + L));
        }
        v0.intoArray(c, o);
        v1.intoArray(c, o + L);
    }

    @Override
    public float dot(float[] x, int xo, float[] y, int yo, int n) {
        FloatVector acc = FloatVector.zero(S);
        int t = 0;
        for (int end = S.loopBound(n); t < end; t += L)
            acc = FloatVector.fromArray(S, x, xo + t).fma(FloatVector.fromArray(S, y, yo + t), acc);
        float s = acc.reduceLanes(VectorOperators.ADD);
        for (; t < n; t++) s += x[xo + t] * y[yo + t];
        return s;
    }

    @Override
    public float squaredDistance(float[] x, int xo, float[] y, int yo, int n) {
        FloatVector acc = FloatVector.zero(S);
        int t = 0;
        for (int end = S.loopBound(n); t < end; t += L) {
            FloatVector d = FloatVector.fromArray(S, x, xo + t).sub(FloatVector.fromArray(S, y, yo + t));
            acc = d.fma(d, acc);
        }
        float s = acc.reduceLanes(VectorOperators.ADD);
        for (; t < n; t++) { float d = x[xo + t] - y[yo + t]; s += d * d; }
        return s;
    }

    @Override
    public void addScaledDifference(float s, float[] e, int ei, int ej, float[] out, int oo, int n) {
        FloatVector sv = FloatVector.broadcast(S, s);
        int t = 0;
        for (int end = S.loopBound(n); t < end; t += L) {
            FloatVector d = FloatVector.fromArray(S, e, ei + t).sub(FloatVector.fromArray(S, e, ej + t));
            d.fma(sv, FloatVector.fromArray(S, out, oo + t)).intoArray(out, oo + t);
        }
        for (; t < n; t++) out[oo + t] += s * (e[ei + t] - e[ej + t]);
    }

    @Override
    public void axpy(float a, float[] x, int xo, float[] y, int yo, int n) {
        FloatVector av = FloatVector.broadcast(S, a);
        int t = 0;
        for (int end = S.loopBound(n); t < end; t += L)
            FloatVector.fromArray(S, x, xo + t).fma(av, FloatVector.fromArray(S, y, yo + t)).intoArray(y, yo + t);
        for (; t < n; t++) y[yo + t] += a * x[xo + t];
    }

    @Override
    public float sum(float[] x, int o, int n) {
        FloatVector acc = FloatVector.zero(S);
        int t = 0;
        for (int end = S.loopBound(n); t < end; t += L) acc = acc.add(FloatVector.fromArray(S, x, o + t));
        float s = acc.reduceLanes(VectorOperators.ADD);
        for (; t < n; t++) s += x[o + t];
        return s;
    }

    @Override
    public float sumSquaredDeviation(float[] x, int o, int n, float mean) {
        FloatVector acc = FloatVector.zero(S), m = FloatVector.broadcast(S, mean);
        int t = 0;
        for (int end = S.loopBound(n); t < end; t += L) {
            FloatVector d = FloatVector.fromArray(S, x, o + t).sub(m);
            acc = d.fma(d, acc);
        }
        float s = acc.reduceLanes(VectorOperators.ADD);
        for (; t < n; t++) { float d = x[o + t] - mean; s += d * d; }
        return s;
    }

    @Override
    public void affine(float[] x, float[] y, int o, int n, float scale, float shift, boolean relu) {
        FloatVector sc = FloatVector.broadcast(S, scale), sh = FloatVector.broadcast(S, shift), zero = FloatVector.zero(S);
        int t = 0;
        for (int end = S.loopBound(n); t < end; t += L) {
            FloatVector v = FloatVector.fromArray(S, x, o + t).fma(sc, sh);
            if (relu) v = zero.blend(v, v.compare(VectorOperators.GT, zero));   // NaN -> 0, like max(v, 0) in reluForward
            v.intoArray(y, o + t);
        }
        for (; t < n; t++) {
            float v = x[o + t] * scale + shift;
            y[o + t] = relu ? (v > 0 ? v : 0f) : v;
        }
    }

    @Override
    public void sumsForBackward(float[] dy, float[] mask, float[] x, int o, int n, float mean, double[] out) {
        FloatVector a0 = FloatVector.zero(S), a1 = a0, m = FloatVector.broadcast(S, mean), zero = a0;
        int t = 0;
        for (int end = S.loopBound(n); t < end; t += L) {
            FloatVector d = FloatVector.fromArray(S, dy, o + t);
            if (mask != null) d = zero.blend(d, FloatVector.fromArray(S, mask, o + t).compare(VectorOperators.GT, zero));
            a0 = a0.add(d);
            a1 = d.fma(FloatVector.fromArray(S, x, o + t).sub(m), a1);
        }
        float s0 = a0.reduceLanes(VectorOperators.ADD), s1 = a1.reduceLanes(VectorOperators.ADD);
        for (; t < n; t++) {
            float d = mask == null || mask[o + t] > 0 ? dy[o + t] : 0f;
            s0 += d;
            s1 += d * (x[o + t] - mean);
        }
        out[0] += s0;
        out[1] += s1;
    }

    @Override
    public void bnBackwardRow(float[] dy, float[] mask, float[] x, float[] dx, int o, int n, float mean, float a, float b, float c) {
        FloatVector av = FloatVector.broadcast(S, a), bv = FloatVector.broadcast(S, b), cv = FloatVector.broadcast(S, c);
        FloatVector m = FloatVector.broadcast(S, mean), zero = FloatVector.zero(S);
        int t = 0;
        for (int end = S.loopBound(n); t < end; t += L) {
            FloatVector d = FloatVector.fromArray(S, dy, o + t);
            if (mask != null) d = zero.blend(d, FloatVector.fromArray(S, mask, o + t).compare(VectorOperators.GT, zero));
            FloatVector xc = FloatVector.fromArray(S, x, o + t).sub(m);
            d.fma(av, bv.neg()).sub(xc.mul(cv)).intoArray(dx, o + t);
        }
        for (; t < n; t++) {
            float d = mask == null || mask[o + t] > 0 ? dy[o + t] : 0f;
            dx[o + t] = a * d - b - (x[o + t] - mean) * c;
        }
    }

    /**
     * Up to 4 vectors of positives (64 with AVX-512): compare all with x at once and count the lanes, no
     * dependent chain of loads (the +Inf padding never counts); longer lists: the branch-free search.
     */
    @Override
    public int countBelow(float[] a, int len, float x) {
        if (len > 4 * L) return Kernels.countBelowSearch(a, len, x);
        FloatVector xv = FloatVector.broadcast(S, x);
        int c = 0;
        for (int t = 0; t < len; t += L) c += FloatVector.fromArray(S, a, t).compare(VectorOperators.LT, xv).trueCount();
        return c;
    }
}
