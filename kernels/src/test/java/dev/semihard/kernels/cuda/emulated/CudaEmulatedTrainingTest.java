package dev.semihard.kernels.cuda.emulated;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.reference.ReferenceBackend;
import dev.semihard.engine.conformance.TrainingSteps;
import dev.semihard.kernels.FullSuite;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * Whole training steps (fmnist-cnn forward, semi-hard loss, backward, Adam) on the emulated CUDA
 * backend: the CudaBackend's allocator, staging and launch code with every kernel of a step. The
 * losses and the first step's gradients follow the reference backend's, and two runs are
 * bit-identical. (The weights after several Adam steps are not compared: the emulator's rounding
 * differs from the reference's by ~1e-9 in some near-zero gradients, which Adam turns into 1e-3.)
 *
 * <p>Full test tier only ({@link FullSuite}): two emulated runs of four steps take minutes; the quick tier
 * checks each of their kernels in {@code CudaEmulatedConformanceTest}.
 */
@FullSuite
class CudaEmulatedTrainingTest {
    @Test
    void followsTheReferenceAndIsReproducible() {
        TrainingSteps ref, c1, c2;
        try (Backend r = new ReferenceBackend(2)) { ref = TrainingSteps.run(r, "adam"); }
        try (Backend c = Shemu.openOrSkip()) { c1 = TrainingSteps.run(c, "adam"); }
        try (Backend c = Shemu.openOrSkip()) { c2 = TrainingSteps.run(c, "adam"); }
        assertArrayEquals(c1.losses(), c2.losses(), "two CUDA runs must give bit-identical losses");
        assertArrayEquals(c1.firstConv(), c2.firstConv(), "two CUDA runs must give bit-identical weights");
        c1.assertLossesFollow(ref);
        c1.assertFirstGradientsMatch(ref);
    }
}
