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
}
