package dev.semihard.kernels.opencl;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.BackendOptions;
import dev.semihard.engine.reference.ReferenceBackend;
import dev.semihard.engine.conformance.TrainingSteps;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;




/**
 * Whole training steps of fmnist-cnn through the engine ({@link TrainingSteps}): the OpenCL backend
 * follows the reference backend's losses and first-step gradients, its first convolution's weights
 * stay within 1e-3 of the reference's after four Adam steps, and two OpenCL runs are bit-identical
 * (no atomics, fixed reduction orders).
 */
class OpenClTrainingTest {
    @Test
    void followsTheReferenceAndIsReproducible() {
        OpenClTestSupport.assumeOpenCl();
        TrainingSteps ref, cl1, cl2;
        try (Backend r = new ReferenceBackend(2)) { ref = TrainingSteps.run(r, "adam"); }
        try (Backend c = new OpenClBackend(BackendOptions.defaults())) { cl1 = TrainingSteps.run(c, "adam"); }
        try (Backend c = new OpenClBackend(BackendOptions.defaults())) { cl2 = TrainingSteps.run(c, "adam"); }
        assertArrayEquals(cl1.losses(), cl2.losses(), "two OpenCL runs must give bit-identical losses");
        assertArrayEquals(cl1.firstConv(), cl2.firstConv(), "two OpenCL runs must give bit-identical weights");
        cl1.assertLossesFollow(ref);
        cl1.assertFirstGradientsMatch(ref);
        double maxDiff = 0;
        for (int i = 0; i < ref.firstConv().length; i++) maxDiff = Math.max(maxDiff, Math.abs(ref.firstConv()[i] - cl1.firstConv()[i]));
        assertTrue(maxDiff < 1e-3, "first conv weights after " + TrainingSteps.STEPS + " Adam steps differ by " + maxDiff);
    }
}
