package dev.semihard.cpu;

import dev.semihard.engine.backend.Availability;
import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.BackendOptions;
import dev.semihard.engine.backend.BackendProvider;

/**
 * Service provider of the {@link CpuBackend}: name "cpu", priority {@value #PRIORITY}: under
 * {@code --backend auto} after CUDA (100) and OpenCL on a GPU (60), before OpenCL on a CPU device (30:
 * measured slower than this backend on PoCL, bench/RESULTS.md) and the reference (0). Always available
 * (pure Java); the description says whether it runs the SIMD kernels and why not.
 */
public final class CpuBackendProvider implements BackendProvider {
    public static final int PRIORITY = 40;

    @Override public String name() { return "cpu"; }

    @Override public int priority() { return PRIORITY; }

    @Override
    public Availability probe() {
        SimdSupport.Choice c = SimdSupport.choose();
        return Availability.yes("Java float32, " + c.kernels().describe() + " (" + c.reason() + ")");
    }

    @Override
    public Backend create(BackendOptions options) { return new CpuBackend(options); }
}
