package dev.semihard.kernels.cuda;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.Backends;
import dev.semihard.engine.conformance.BackendConformanceTest;

/**
 * The conformance suite (every kernel against the reference backend) on the CUDA backend. Without
 * a GPU it is skipped loudly; with {@code SEMIHARD_REQUIRE=cuda} (or {@code -Dsemihard.require=cuda})
 * an unavailable CUDA backend fails the build instead.
 */
class CudaConformanceTest extends BackendConformanceTest {
    @Override
    protected Backend createCandidate() { return Backends.create("cuda"); }
}
