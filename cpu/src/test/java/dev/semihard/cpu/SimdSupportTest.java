package dev.semihard.cpu;

import dev.semihard.engine.backend.Backends;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The SIMD guard's setting, its reasons, and the cpu backend's place in {@code auto}. */
class SimdSupportTest {
    @Test
    void scalarSettingForcesThePlainLoops() {
        SimdSupport.Choice c = SimdSupport.choose("scalar");
        assertInstanceOf(ScalarKernels.class, c.kernels());
        assertTrue(c.reason().contains("semihard.cpu.simd=scalar"), c.reason());
        try (CpuBackend b = new CpuBackend(1, "scalar")) {
            assertFalse(b.simd());
            assertTrue(b.deviceDescription().contains("scalar loops"), b.deviceDescription());
        }
    }

    @Test
    void autoUsesTheVectorApiExactlyWhenNoCheckObjects() {
        // surefire runs with --add-modules jdk.incubator.vector on HotSpot C2: the module check passes here
        assertEquals(null, SimdSupport.moduleProblem());
        String speed = SimdSupport.speedProblem();
        SimdSupport.Choice c = SimdSupport.choose("auto");
        if (speed == null) assertInstanceOf(VectorKernels.class, c.kernels(), c.reason());
        else {
            assertInstanceOf(ScalarKernels.class, c.kernels());
            assertTrue(c.reason().contains(speed), c.reason());
        }
        assertInstanceOf(VectorKernels.class, SimdSupport.choose("vector").kernels());
    }

    @Test
    void aWrongSettingNamesTheChoices() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SimdSupport.choose("avx9"));
        assertTrue(e.getMessage().contains("auto, vector or scalar"), e.getMessage());
    }

    @Test
    void autoPrefersCpuOverTheReference() {
        int cpu = -1, ref = -1;
        var ranked = Backends.ranked();
        for (int i = 0; i < ranked.size(); i++) {
            if (ranked.get(i).provider().name().equals("cpu")) cpu = i;
            if (ranked.get(i).provider().name().equals("reference")) ref = i;
        }
        assertTrue(cpu >= 0 && ref > cpu, "cpu must rank above the reference: " + ranked);
        try (var b = Backends.create("auto")) {
            assertEquals("cpu", b.name(), "without CUDA or OpenCL here, auto must pick cpu");
        }
    }
}
