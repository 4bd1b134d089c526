package dev.semihard.kernels.cuda.emulated;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.BackendOptions;
import dev.semihard.engine.backend.Buffer;
import dev.semihard.engine.backend.ConvGeometry;
import dev.semihard.engine.backend.KernelProfile;
import dev.semihard.kernels.KernelProfileChecks;
import dev.semihard.kernels.cuda.CudaBackend;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The CUDA backend's opt-in kernel profile (CudaKernelProfile: event pairs around each launch, read
 * lazily, pooled) on the emulator, whose events carry the host's clock: counts equal the launches a
 * known sequence issues, times are positive, launches beyond the pending limit are all counted,
 * {@code reset} forgets, and without the option nothing is recorded.
 */
class CudaEmulatedKernelProfileTest {
    static final BackendOptions PROFILED = new BackendOptions(null, "fp32", 0, Map.of(KernelProfile.OPTION, "true"));

    @BeforeAll
    static void emulator() {
        Shemu.openOrSkip().close();       // builds and selects the emulator; the tests open their own backends
    }

    @Test
    void countsEveryLaunchByKernelNameWithPositiveTimes() {
        int n = 4096;
        try (CudaBackend cu = new CudaBackend(PROFILED)) {
            assertTrue(cu.profiling());
            assertTrue(KernelProfile.of(cu).isPresent());
            Buffer x = cu.allocate(n), y = cu.allocate(n);        // memsets, not kernels
            for (int i = 0; i < 3; i++) cu.axpy(n, 0.5f, x, y);
            cu.reluForward(n, x, y);
            cu.reluForward(n, y, x);
            cu.scale(0, 2f, x);                                  // empty: no launch
            Map<String, KernelProfile.Stat> s = cu.snapshot();
            assertEquals(Set.of("axpy", "reluForward"), s.keySet(), s.toString());
            assertEquals(3, s.get("axpy").launches());
            assertEquals(2, s.get("reluForward").launches());
            KernelProfileChecks.timedSlowestFirst(s);
            assertEquals(3, cu.snapshot().get("axpy").launches(), "a snapshot does not consume");
            cu.reset();
            assertTrue(cu.snapshot().isEmpty(), "reset forgets everything");

            ConvGeometry g = new ConvGeometry(2, 3, 8, 8, 8, 3, 3, 1, 1);
            try (Buffer in = cu.allocate(g.inputSize()); Buffer w = cu.allocate(g.weightSize()); Buffer out = cu.allocate(g.outputSize())) {
                cu.conv2dForward(g, in, w, null, out);
                cu.conv2dForward(g, in, w, null, out);
            }
            Map<String, KernelProfile.Stat> c = cu.snapshot();
            assertEquals(1, c.size(), "one kernel per convolution: " + c);
            String name = c.keySet().iterator().next();
            assertTrue(name.startsWith("conv2dForward"), name);
            assertEquals(2, c.get(name).launches());
            x.close();
            y.close();
        }
    }

    @Test
    void launchesBeyondThePendingLimitAreAllCounted() {
        try (CudaBackend cu = new CudaBackend(PROFILED)) {
            KernelProfileChecks.everyLaunchCounted(cu, 8192 + 904);   // CudaKernelProfile.MAX_PENDING + more
        }
    }

    @Test
    void offByDefaultRecordsNothing() {
        try (CudaBackend cu = new CudaBackend(new BackendOptions(null, "fp32", 0, Map.of(KernelProfile.OPTION, "false")))) {
            KernelProfileChecks.recordsNothing(cu);
        }
    }
}
