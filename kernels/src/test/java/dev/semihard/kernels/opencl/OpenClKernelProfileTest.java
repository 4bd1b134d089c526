package dev.semihard.kernels.opencl;

import dev.semihard.engine.backend.BackendOptions;
import dev.semihard.engine.backend.Buffer;
import dev.semihard.engine.backend.ConvGeometry;
import dev.semihard.engine.backend.KernelProfile;
import dev.semihard.kernels.KernelProfileChecks;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The opt-in kernel profile of the OpenCL backend (on PoCL here): launch counts equal the launches a
 * known sequence of calls issues, times are positive, {@code reset} forgets, and a backend created
 * without the option records nothing.
 */
class OpenClKernelProfileTest {
    static final BackendOptions PROFILED = new BackendOptions(null, "fp32", 0, Map.of(KernelProfile.OPTION, "true"));

    @BeforeEach
    void assumeOpenCl() {
        OpenClTestSupport.assumeOpenCl();
    }

    @Test
    void countsEveryLaunchByKernelNameWithPositiveTimes() {
        int n = 1 << 18;
        try (OpenClBackend cl = new OpenClBackend(PROFILED)) {
            assertTrue(cl.profiling());
            assertTrue(KernelProfile.of(cl).isPresent());
            assertEquals(1, cl.snapshot().get("fill").launches(), "the constructor zeroes one dummy buffer");
            cl.reset();
            Buffer x = cl.allocate(n), y = cl.allocate(n);        // two "fill" launches (zeroing)
            for (int i = 0; i < 3; i++) cl.axpy(n, 0.5f, x, y);
            cl.reluForward(n, x, y);
            cl.reluForward(n, y, x);
            cl.scale(0, 2f, x);                                  // empty: no launch
            Map<String, KernelProfile.Stat> s = cl.snapshot();
            assertEquals(Set.of("fill", "axpy", "reluForward"), s.keySet(), s.toString());
            assertEquals(2, s.get("fill").launches());
            assertEquals(3, s.get("axpy").launches());
            assertEquals(2, s.get("reluForward").launches());
            KernelProfileChecks.timedSlowestFirst(s);
            // a snapshot does not consume: reading again gives the same counts
            assertEquals(3, cl.snapshot().get("axpy").launches());

            cl.reset();
            assertTrue(cl.snapshot().isEmpty(), "reset forgets everything");

            // a padded convolution: the padding (image-innermost copy) kernel, then the convolution kernel
            // (batch 2: the 8-image "N8" version)
            ConvGeometry g = new ConvGeometry(2, 3, 8, 8, 8, 3, 3, 1, 1);
            try (Buffer in = cl.allocate(g.inputSize()); Buffer w = cl.allocate(g.weightSize()); Buffer out = cl.allocate(g.outputSize())) {
                cl.reset();
                cl.conv2dForward(g, in, w, null, out);
                cl.conv2dForward(g, in, w, null, out);
            }
            Map<String, KernelProfile.Stat> c = cl.snapshot();
            assertEquals(Map.of("conv2dPadInput", 2L, "conv2dForwardN8", 2L),
                    Map.of("conv2dPadInput", c.get("conv2dPadInput").launches(), "conv2dForwardN8", c.get("conv2dForwardN8").launches()));
            assertEquals(2, c.size(), c.toString());
            x.close();
            y.close();
        }
    }

    @Test
    void manyLaunchesBeyondThePendingLimitAreAllCounted() {
        try (OpenClBackend cl = new OpenClBackend(PROFILED)) {
            KernelProfileChecks.everyLaunchCounted(cl, OpenClKernelProfile.MAX_PENDING + 904);
        }
    }

    @Test
    void offByDefaultRecordsNothing() {
        assertFalse(KernelProfile.requested(BackendOptions.defaults()) && System.getProperty(KernelProfile.PROPERTY) == null);
        assertTrue(KernelProfile.requested(PROFILED));
        assertFalse(KernelProfile.requested(new BackendOptions(null, "fp32", 0, Map.of(KernelProfile.OPTION, "false"))));
        try (OpenClBackend cl = new OpenClBackend(new BackendOptions(null, "fp32", 0, Map.of(KernelProfile.OPTION, "false")))) {
            KernelProfileChecks.recordsNothing(cl);
        }
    }
}
