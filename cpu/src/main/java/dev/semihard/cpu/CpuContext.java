package dev.semihard.cpu;

/**
 * What every kernel family of the CPU backend shares: the worker threads, one {@link Workspace} per
 * thread, the chosen {@link Kernels} (SIMD or scalar) and the {@link Gemm} built on them.
 */
final class CpuContext implements AutoCloseable {
    final Parallel par;
    final Kernels kernels;
    final Gemm gemm;
    final Workspace[] ws;
    final String simdReason;

    CpuContext(int threads, SimdSupport.Choice choice) {
        this.par = new Parallel(threads);
        this.kernels = choice.kernels();
        this.simdReason = choice.reason();
        this.gemm = new Gemm(kernels);
        this.ws = new Workspace[threads];
        for (int t = 0; t < threads; t++) ws[t] = new Workspace(gemm);
    }

    /** out[i] = sum over chunks t (in order 0, 1, ...) of ws[t].partial[i], i < size; split by elements. */
    static void sumPartials(CpuContext cx, int chunks, int size, float[] out) {
        cx.par.range(size, (long) size * chunks * 8, (t, lo, hi) -> {
            float[] first = cx.ws[0].partial(size);
            System.arraycopy(first, lo, out, lo, hi - lo);
            for (int c = 1; c < chunks; c++) {
                float[] p = cx.ws[c].partial(size);
                for (int i = lo; i < hi; i++) out[i] += p[i];
            }
        });
    }

    @Override
    public void close() { par.close(); }
}
