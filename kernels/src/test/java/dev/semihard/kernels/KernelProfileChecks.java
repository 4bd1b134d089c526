package dev.semihard.kernels;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.Buffer;
import dev.semihard.engine.backend.KernelProfile;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The kernel-profile checks the CUDA (emulated) and OpenCL tests share. */
public final class KernelProfileChecks {
    private KernelProfileChecks() {}

    /** {@code launches} launches of "scale" (more than the profile keeps pending) are all counted, with device time. */
    public static <B extends Backend & KernelProfile> void everyLaunchCounted(B be, int launches) {
        try (Buffer x = be.allocate(64)) {
            be.reset();
            for (int i = 0; i < launches; i++) be.scale(64, 1f, x);
            KernelProfile.Stat s = be.snapshot().get("scale");
            assertEquals(launches, s.launches());
            assertTrue(s.totalMillis() > 0);
        }
    }

    /** A backend created with profiling off says so and records nothing; reset is harmless. */
    public static <B extends Backend & KernelProfile> void recordsNothing(B be) {
        try (Buffer x = be.allocate(1024)) {
            be.axpy(1024, 1f, x, x);
            assertFalse(be.profiling());
            assertTrue(KernelProfile.of(be).isEmpty());
            assertTrue(be.snapshot().isEmpty());
            be.reset();
        }
    }

    /** Every kernel of a snapshot has device time, and the snapshot lists the slowest total first. */
    public static void timedSlowestFirst(Map<String, KernelProfile.Stat> s) {
        for (Map.Entry<String, KernelProfile.Stat> e : s.entrySet())
            assertTrue(e.getValue().totalMillis() > 0, e.getKey() + " has no device time: " + e.getValue());
        double prev = Double.MAX_VALUE;
        for (KernelProfile.Stat st : s.values()) {
            assertTrue(st.totalMillis() <= prev, s.toString());
            prev = st.totalMillis();
        }
    }
}
