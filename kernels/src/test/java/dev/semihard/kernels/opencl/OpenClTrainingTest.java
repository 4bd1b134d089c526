package dev.semihard.kernels.opencl;

import dev.semihard.engine.Arena;
import dev.semihard.engine.Tensor;
import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.BackendOptions;
import dev.semihard.engine.backend.TripletOptions;
import dev.semihard.engine.loss.TripletLoss;
import dev.semihard.engine.nn.EmbeddingModel;
import dev.semihard.engine.nn.Models;
import dev.semihard.engine.optim.Optimizer;
import dev.semihard.engine.optim.Optimizers;
import dev.semihard.engine.reference.ReferenceBackend;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Whole training steps of fmnist-cnn through the engine (forward, semi-hard loss, backward, optimizer):
 * the OpenCL backend follows the reference backend's losses for the first steps, and two OpenCL runs
 * give bit-identical losses and weights (no atomics, fixed reduction orders).
 */
class OpenClTrainingTest {
    static final int B = 16, STEPS = 4;

    /** Losses of STEPS training steps, then the first conv's weights appended. */
    static float[] train(Backend be, String optimizer) {
        float[] out = new float[STEPS];
        int[] labels = new int[B];
        for (int i = 0; i < B; i++) labels[i] = i / 4;
        float[] host = new float[B * 28 * 28];
        Random r = new Random(7);
        for (int i = 0; i < host.length; i++) host[i] = (float) r.nextGaussian();
        try (EmbeddingModel model = Models.create("fmnist-cnn", be, 0);
             Tensor x = Tensor.of(be, host, B, 1, 28, 28)) {
            model.train(true);
            Optimizer opt = Optimizers.create(optimizer, model.parameters(), 0.01f, 1e-4f);
            TripletOptions lo = TripletOptions.facenet(B);
            for (int s = 0; s < STEPS; s++) {
                try (Arena a = Arena.open()) {
                    Tensor e = model.forward(x);
                    TripletLoss.Result res = TripletLoss.compute(e, labels, lo);
                    opt.zeroGrad();
                    res.loss().backward();
                    opt.step();
                    out[s] = res.stats().loss();
                }
            }
            float[] w = model.parameters().get(0).toArray();
            float[] all = new float[STEPS + w.length];
            System.arraycopy(out, 0, all, 0, STEPS);
            System.arraycopy(w, 0, all, STEPS, w.length);
            return all;
        }
    }

    @Test
    void followsTheReferenceAndIsReproducible() {
        OpenClTestSupport.assumeOpenCl();
        float[] ref, cl1, cl2;
        try (Backend r = new ReferenceBackend(2)) { ref = train(r, "adam"); }
        try (Backend c = new OpenClBackend(BackendOptions.defaults())) { cl1 = train(c, "adam"); }
        try (Backend c = new OpenClBackend(BackendOptions.defaults())) { cl2 = train(c, "adam"); }
        assertArrayEquals(cl1, cl2, "two OpenCL runs must be bit-identical");
        for (int s = 0; s < STEPS; s++) {
            assertTrue(Float.isFinite(cl1[s]) && cl1[s] > 0, "loss " + cl1[s]);
            assertEquals(ref[s], cl1[s], 1e-3 + 1e-3 * Math.abs(ref[s]), "loss at step " + s);
        }
        double maxDiff = 0;
        for (int i = STEPS; i < ref.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ref[i] - cl1[i]));
        assertTrue(maxDiff < 1e-3, "first conv weights after " + STEPS + " Adam steps differ by " + maxDiff);
    }
}
