package dev.semihard.cpu;

/**
 * {@link Kernels} in plain Java loops: the fallback when the Vector API is missing or would run slowly
 * (see {@link SimdSupport}). The micro-kernel keeps the same packed layout as {@link VectorKernels}
 * (NR = 16 columns), one output at a time, summing k in order.
 */
final class ScalarKernels implements Kernels {
    static final int NR = 16;

    @Override public int nr() { return NR; }

    @Override public String describe() { return "scalar loops"; }

    @Override
    public void microKernel(int kc, float[] a, int ai, float[] b, int bi, float[] c, int ci, int ldc, boolean accumulate) {
        for (int i = 0; i < MR; i++) {
            for (int j = 0; j < NR; j++) {
                float s = 0f;
                for (int k = 0; k < kc; k++) s += a[ai + k * MR + i] * b[bi + k * NR + j];
                int o = ci + i * ldc + j;
                c[o] = accumulate ? c[o] + s : s;
            }
        }
    }

    @Override
    public float dot(float[] x, int xo, float[] y, int yo, int n) {
        float s = 0f;
        for (int t = 0; t < n; t++) s += x[xo + t] * y[yo + t];
        return s;
    }

    @Override
    public float squaredDistance(float[] x, int xo, float[] y, int yo, int n) {
        float s = 0f;
        for (int t = 0; t < n; t++) { float d = x[xo + t] - y[yo + t]; s += d * d; }
        return s;
    }

    @Override
    public void addScaledDifference(float s, float[] e, int ei, int ej, float[] out, int oo, int n) {
        for (int t = 0; t < n; t++) out[oo + t] += s * (e[ei + t] - e[ej + t]);
    }

    @Override
    public void axpy(float a, float[] x, int xo, float[] y, int yo, int n) {
        for (int t = 0; t < n; t++) y[yo + t] += a * x[xo + t];
    }

    @Override
    public float sum(float[] x, int o, int n) {
        float s = 0f;
        for (int t = o; t < o + n; t++) s += x[t];
        return s;
    }

    @Override
    public float sumSquaredDeviation(float[] x, int o, int n, float mean) {
        float s = 0f;
        for (int t = o; t < o + n; t++) { float d = x[t] - mean; s += d * d; }
        return s;
    }

    @Override
    public void affine(float[] x, float[] y, int o, int n, float scale, float shift, boolean relu) {
        for (int t = o; t < o + n; t++) {
            float v = x[t] * scale + shift;
            y[t] = relu ? (v > 0 ? v : 0f) : v;
        }
    }

    @Override
    public void sumsForBackward(float[] dy, float[] mask, float[] x, int o, int n, float mean, double[] out) {
        float s0 = 0f, s1 = 0f;
        for (int t = o; t < o + n; t++) {
            float d = mask == null || mask[t] > 0 ? dy[t] : 0f;
            s0 += d;
            s1 += d * (x[t] - mean);
        }
        out[0] += s0;
        out[1] += s1;
    }

    @Override
    public void bnBackwardRow(float[] dy, float[] mask, float[] x, float[] dx, int o, int n, float mean, float a, float b, float c) {
        for (int t = o; t < o + n; t++) {
            float d = mask == null || mask[t] > 0 ? dy[t] : 0f;
            dx[t] = a * d - b - (x[t] - mean) * c;
        }
    }

    @Override
    public int countBelow(float[] a, int len, float x) { return Kernels.countBelowSearch(a, len, x); }
}
