package dev.semihard.kernels.opencl;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.Backends;
import dev.semihard.engine.conformance.BackendConformanceTest;

/**
 * The engine's conformance suite (every Backend kernel against the reference backend) on the OpenCL
 * backend, through {@code Backends.create("opencl")}: on PoCL here and in CI. Skipped loudly when OpenCL
 * is unavailable, and failed instead when {@code SEMIHARD_REQUIRE} lists "opencl" (CI sets it).
 */
class OpenClConformanceTest extends BackendConformanceTest {
    @Override
    protected Backend createCandidate() {
        return Backends.create("opencl");
    }
}
