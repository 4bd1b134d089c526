package dev.semihard.kernels.cuda.emulated;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.conformance.BackendConformanceTest;

/**
 * The conformance suite on the CUDA backend with its kernels emulated on the CPU ({@link Shemu}):
 * every CUDA kernel against the reference backend on machines without a GPU, CI included. It checks
 * what the kernels compute (indexing, arithmetic, barriers, warp operations), not their speed; the
 * same suite on a real GPU is {@code CudaConformanceTest} and {@code semihard selftest --backend cuda}.
 */
class CudaEmulatedConformanceTest extends BackendConformanceTest {
    @Override protected Backend createCandidate() { return Shemu.open(); }

    @Override protected String candidateName() { return Shemu.NAME; }
}
