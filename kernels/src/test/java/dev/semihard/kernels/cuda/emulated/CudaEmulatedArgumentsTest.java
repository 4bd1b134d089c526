package dev.semihard.kernels.cuda.emulated;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.conformance.Check;
import dev.semihard.engine.conformance.CheckResult;
import dev.semihard.engine.conformance.Conformance;
import dev.semihard.engine.reference.ReferenceBackend;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The CUDA backend's fallback way of passing kernel arguments (one JCuda Pointer per argument,
 * -Dsemihard.cuda.packedArgs=false, also taken when a driver refuses the packed buffer): a sample of
 * conformance checks (every kernel family) still passes. The packed way is what every other
 * emulated test uses.
 */
class CudaEmulatedArgumentsTest {
    @Test
    void argumentsOneByOne() {
        System.setProperty("semihard.cuda.packedArgs", "false");
        Backend cuda;
        try {
            cuda = Shemu.openOrSkip();
        } finally {
            System.clearProperty("semihard.cuda.packedArgs");
        }
        List<String> failed = new ArrayList<>();
        int n = 0;
        try (Backend ref = new ReferenceBackend(2); Backend c = cuda) {
            for (Check check : Conformance.checks()) {
                if (n++ % 7 != 0) continue;           // every 7th check: all families, a fraction of the time
                CheckResult r = check.run(ref, c);
                if (!r.passed()) failed.add(r.name() + ": " + r.detail());
            }
        }
        assertTrue(failed.isEmpty(), failed.size() + " failed:\n" + String.join("\n", failed));
    }
}
