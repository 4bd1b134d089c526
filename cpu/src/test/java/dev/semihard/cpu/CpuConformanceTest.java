package dev.semihard.cpu;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.Backends;
import dev.semihard.engine.conformance.BackendConformanceTest;

/**
 * The engine's conformance suite (every Backend kernel against the reference backend) on the cpu
 * backend, through {@code Backends.create("cpu")}, with the kernels {@link SimdSupport} picks here
 * (the Vector API ones on a machine with C2 and FMA; surefire adds jdk.incubator.vector).
 */
class CpuConformanceTest extends BackendConformanceTest {
    @Override
    protected Backend createCandidate() {
        return Backends.create("cpu");
    }
}
