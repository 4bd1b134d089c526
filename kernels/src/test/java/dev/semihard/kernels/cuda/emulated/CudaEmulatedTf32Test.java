package dev.semihard.kernels.cuda.emulated;

import dev.semihard.engine.backend.BackendOptions;
import dev.semihard.engine.backend.KernelProfile;
import dev.semihard.engine.conformance.CheckResult;
import dev.semihard.engine.reference.ReferenceBackend;
import dev.semihard.kernels.cuda.CudaBackend;
import dev.semihard.kernels.cuda.Tf32Checks;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The TF32 tensor-core GEMMs ({@code --precision tf32}) on the emulator, whose mma.sync reads only the
 * TF32 bits of its inputs as the tensor cores do: {@link Tf32Checks} (each convolution and linear
 * kernel on each of its three tiles, against the reference on TF32-rounded inputs), and the kernel
 * profile proves that all 24 TF32 kernels ran.
 */
class CudaEmulatedTf32Test {
    @BeforeAll
    static void emulator() {
        Shemu.openOrSkip().close();
    }

    @Test
    void everyTf32KernelMatchesTheReferenceOnRoundedInputs() {
        BackendOptions tf32 = new BackendOptions(null, "tf32", 0, Map.of(KernelProfile.OPTION, "true"));
        try (CudaBackend cu = new CudaBackend(tf32); ReferenceBackend ref = new ReferenceBackend(2)) {
            assertEquals("tf32", cu.precision());
            List<CheckResult> results = Tf32Checks.run(ref, cu, cu.smCount());
            assertEquals(24, results.size());   // 8 GEMM families x 3 tiles
            List<String> failed = new ArrayList<>();
            for (CheckResult r : results) if (!r.passed()) failed.add(r.toString());
            assertTrue(failed.isEmpty(), String.join("\n", failed));
            Set<String> ran = cu.snapshot().keySet();
            List<String> missing = Tf32Checks.notReached(ran);
            assertTrue(missing.isEmpty(), "TF32 kernels the checks did not reach: " + missing + "; ran " + ran);
        }
    }

    /** The host's rounding is cvt.rna's: to the nearest 10-bit mantissa, ties away from zero. */
    @Test
    void hostRoundingIsRoundToNearestTiesAway() {
        float ulp = Math.scalb(1f, -10);                          // TF32 spacing in [1, 2)
        assertEquals(1f, Tf32Checks.round(1f + ulp / 4));
        assertEquals(1f + ulp, Tf32Checks.round(1f + ulp * 3 / 4));
        assertEquals(1f + ulp, Tf32Checks.round(1f + ulp / 2));    // a tie goes away from zero
        assertEquals(-(1f + ulp), Tf32Checks.round(-(1f + ulp / 2)));
        assertEquals(Float.POSITIVE_INFINITY, Tf32Checks.round(Float.POSITIVE_INFINITY));
        assertTrue(Float.isNaN(Tf32Checks.round(Float.NaN)));
    }
}
