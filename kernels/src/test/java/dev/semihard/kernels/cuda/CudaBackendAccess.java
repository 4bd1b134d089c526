package dev.semihard.kernels.cuda;

/** Package-private CudaBackend sizes, for tests in other packages. */
public final class CudaBackendAccess {
    private CudaBackendAccess() {}

    /** {@link CudaBackend#symChunkCols}: columns per chunk of the sym backward's row masks. */
    public static int symChunkCols(int b) { return CudaBackend.symChunkCols(b); }
}
