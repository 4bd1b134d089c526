package dev.semihard.kernels.cuda;

/** Package-private CudaBackend sizes, for tests in other packages. */
public final class CudaBackendAccess {
    private CudaBackendAccess() {}

    /** {@link CudaBackend#symChunkCols}: columns per chunk of the sym backward's row masks. */
    public static int symChunkCols(int b) { return CudaBackend.symChunkCols(b); }

    /** The split-K count {@link CudaBackend#plan} gives a fp32 pipelined family kernel (a weight gradient) on smCount SMs. */
    public static int weightGradSplits(int smCount, int m, int n, int kDim) {
        return CudaBackend.plan(smCount, false, true, true, false, m, n, kDim, CudaBackend.weightGradSplits(smCount), true).splits();
    }
}
