package dev.semihard.cpu;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.conformance.BackendConformanceTest;

/** The conformance suite on the cpu backend's scalar fallback ({@code -Dsemihard.cpu.simd=scalar}), 2 threads. */
class CpuScalarConformanceTest extends BackendConformanceTest {
    @Override
    protected Backend createCandidate() {
        return new CpuBackend(2, "scalar");
    }

    @Override
    protected String candidateName() { return "cpu"; }
}
