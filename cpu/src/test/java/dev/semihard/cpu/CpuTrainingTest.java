package dev.semihard.cpu;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.conformance.TrainingSteps;
import dev.semihard.engine.reference.ReferenceBackend;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Whole training steps of fmnist-cnn through the engine ({@link TrainingSteps}): the cpu backend follows
 * the reference backend's losses and first-step gradients, its first convolution's weights stay within
 * 1e-3 of the reference's after four Adam steps, and two runs with the same thread count are
 * bit-identical (static work split, fixed reduction orders); the scalar fallback follows the reference too.
 */
class CpuTrainingTest {
    @Test
    void followsTheReferenceAndIsReproducible() {
        TrainingSteps ref, c1, c2;
        try (Backend r = new ReferenceBackend(2)) { ref = TrainingSteps.run(r, "adam"); }
        try (Backend c = new CpuBackend(2)) { c1 = TrainingSteps.run(c, "adam"); }
        try (Backend c = new CpuBackend(2)) { c2 = TrainingSteps.run(c, "adam"); }
        assertArrayEquals(c1.losses(), c2.losses(), "two cpu runs with 2 threads must give bit-identical losses");
        assertArrayEquals(c1.firstConv(), c2.firstConv(), "two cpu runs with 2 threads must give bit-identical weights");
        followsReference(c1, ref);
    }

    @Test
    void scalarFallbackFollowsTheReference() {
        TrainingSteps ref, s;
        try (Backend r = new ReferenceBackend(2)) { ref = TrainingSteps.run(r, "adam"); }
        try (Backend c = new CpuBackend(3, "scalar")) { s = TrainingSteps.run(c, "adam"); }
        followsReference(s, ref);
    }

    private static void followsReference(TrainingSteps got, TrainingSteps ref) {
        got.assertLossesFollow(ref);
        got.assertFirstGradientsMatch(ref);
        double maxDiff = 0;
        for (int i = 0; i < ref.firstConv().length; i++) maxDiff = Math.max(maxDiff, Math.abs(ref.firstConv()[i] - got.firstConv()[i]));
        assertTrue(maxDiff < 1e-3, "first conv weights after " + TrainingSteps.STEPS + " Adam steps differ by " + maxDiff);
    }
}
