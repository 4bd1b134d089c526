package dev.semihard.kernels.cuda.emulated;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.BackendOptions;
import dev.semihard.engine.backend.Backends;
import dev.semihard.engine.backend.Buffer;
import dev.semihard.engine.backend.Distance;
import dev.semihard.engine.backend.KernelProfile;
import dev.semihard.engine.backend.Strategy;
import dev.semihard.engine.reference.ReferenceBackend;
import dev.semihard.kernels.FullSuite;
import dev.semihard.kernels.cuda.CudaBackend;
import dev.semihard.kernels.cuda.CudaSelfTest;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The dot-product distances on tensor cores in 3xTF32 ({@code pairwiseDistanceForward_dot_x3}): cosine
 * distances against the reference and against the fp32 FFMA tiles, and the fused loss with its
 * squared-l2 distances from norms and dot products (what batches beyond 4096 rows use), forced at a
 * small batch with {@code -Dsemihard.cuda.diffDistanceMaxRows=0}.
 */
class CudaEmulatedDistanceTest {
    static final BackendOptions PROFILED = new BackendOptions(null, "fp32", 0, Map.of(KernelProfile.OPTION, "true"));

    @BeforeAll
    static void emulator() {
        Shemu.openOrSkip().close();
    }

    @AfterEach
    void clear() {
        System.clearProperty(CudaBackend.DISTANCE_TENSOR_CORES_PROPERTY);
        System.clearProperty(CudaBackend.DIFF_DISTANCE_MAX_ROWS_PROPERTY);
    }

    private static float[] cosine(Backend be, int n, int d, float[] e) {
        try (Buffer eb = be.allocate((long) n * d); Buffer dist = be.allocate((long) n * n)) {
            be.upload(e, 0, eb, 0, e.length);
            be.pairwiseDistanceForward(n, d, Distance.COSINE, eb, dist);
            float[] out = new float[n * n];
            be.download(dist, 0, out, 0, out.length);
            return out;
        }
    }

    @Test
    void cosineDistancesOnTensorCoresMatchTheReferenceAndTheFp32Tiles() {
        for (int n : new int[]{300, 70}) {          // 300: 128 x 128 tiles (6 of the upper triangle fill 4 SMs); 70: 64 x 64
            System.clearProperty(CudaBackend.DISTANCE_TENSOR_CORES_PROPERTY);
            int d = 40;                              // not a multiple of 16: a ragged last k-slice
            Random r = new Random(n);
            float[] e = new float[n * d];
            for (int i = 0; i < e.length; i++) e[i] = (float) r.nextGaussian();
            float[] ref;
            try (ReferenceBackend rb = new ReferenceBackend(2)) {
                ref = cosine(rb, n, d, e);
            }
            float[] x3, fp32;
            try (CudaBackend cu = (CudaBackend) Backends.create("cuda", PROFILED)) {
                x3 = cosine(cu, n, d, e);
                Set<String> ran = cu.snapshot().keySet();
                String want = "pairwiseDistanceForward_dot_x3" + (n >= 128 ? "" : "_small");
                assertTrue(ran.contains(want), "expected " + want + ", ran " + ran);
                System.setProperty(CudaBackend.DISTANCE_TENSOR_CORES_PROPERTY, "false");
                cu.reset();
                fp32 = cosine(cu, n, d, e);
                assertTrue(cu.snapshot().keySet().stream().noneMatch(k -> k.contains("_x3")), "the switch turns them off");
            }
            double worstRef = 0, worstFp32 = 0;
            for (int i = 0; i < ref.length; i++) {
                worstRef = Math.max(worstRef, Math.abs(x3[i] - ref[i]));
                worstFp32 = Math.max(worstFp32, Math.abs(x3[i] - fp32[i]));
            }
            // TF32 alone (10-bit mantissas) would be off by ~1e-3 here; 3xTF32 is within fp32's own error
            assertTrue(worstRef < 2e-6, "n=" + n + ": worst |x3 - reference| " + worstRef);
            assertTrue(worstFp32 < 2e-6, "n=" + n + ": worst |x3 - fp32 tiles| " + worstFp32);
            for (int i = 0; i < n; i++) assertEquals(0f, x3[i * n + i], "the diagonal is exactly 0");
        }
    }

    @Test
    @FullSuite   // B = 2048 on the emulator (19 s): the full tier; the quick tier reaches the tensor-core distance tiles through the cosine test
    void fusedLossWithDistancesFromNormsOnTensorCoresEqualsTheReference() {
        System.setProperty(CudaBackend.DIFF_DISTANCE_MAX_ROWS_PROPERTY, "0");   // as beyond 4096 rows
        try (ReferenceBackend ref = new ReferenceBackend(2); CudaBackend cu = (CudaBackend) Backends.create("cuda", PROFILED)) {
            for (Strategy st : new Strategy[]{Strategy.SEMIHARD, Strategy.BATCH_HARD}) {
                cu.reset();
                // integer distances (ternary rows): exact in fp32 and in 3xTF32, so both mine the reference's triplets
                String r = CudaSelfTest.compareLoss(ref, cu, 256, 8, st);
                assertTrue(r.startsWith("PASS"), r);
                // batch-hard is mined inside the distance tiles (no D stored); semihard reads a stored D
                String want = st == Strategy.BATCH_HARD ? "tripletHardMine_x3" : "pairwiseDistanceForward_dot_x3";
                assertTrue(cu.snapshot().keySet().stream().anyMatch(k -> k.startsWith(want)),
                        "the norms form on tensor cores ran: " + cu.snapshot().keySet());
            }
        }
    }
}
