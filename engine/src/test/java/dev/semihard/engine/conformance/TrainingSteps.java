package dev.semihard.engine.conformance;

import dev.semihard.engine.Arena;
import dev.semihard.engine.Tensor;
import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.TripletOptions;
import dev.semihard.engine.loss.TripletLoss;
import dev.semihard.engine.nn.EmbeddingModel;
import dev.semihard.engine.nn.Models;
import dev.semihard.engine.optim.Optimizer;
import dev.semihard.engine.optim.Optimizers;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A few whole training steps of fmnist-cnn through the engine (forward, semi-hard loss, backward,
 * optimizer) on one backend, for the native backends' training tests: B = 16 seeded images, 4
 * classes of 4, lr 0.01, weight decay 1e-4.
 *
 * @param losses          the loss of each step
 * @param firstGradients  every parameter's gradient at the first step (same initial weights on every backend)
 * @param firstConv       the first convolution's weights after the last step
 */
public record TrainingSteps(float[] losses, List<float[]> firstGradients, float[] firstConv) {
    public static final int B = 16, STEPS = 4;

    /**
     * fmnist-cnn in training mode on {@code be} with B seeded Gaussian images (seed {@code seed}), labels
     * i / 4, FaceNet's semi-hard options and {@code optimizer} (lr 0.01, weight decay 1e-4).
     */
    public record Fixture(EmbeddingModel model, Tensor x, int[] labels, TripletOptions options, Optimizer opt)
            implements AutoCloseable {
        public static Fixture open(Backend be, String optimizer, long seed) {
            int[] labels = new int[B];
            for (int i = 0; i < B; i++) labels[i] = i / 4;
            float[] host = new float[B * 28 * 28];
            Random r = new Random(seed);
            for (int i = 0; i < host.length; i++) host[i] = (float) r.nextGaussian();
            EmbeddingModel model = Models.create("fmnist-cnn", be, 0);
            model.train(true);
            return new Fixture(model, Tensor.of(be, host, B, 1, 28, 28), labels, TripletOptions.facenet(B),
                    Optimizers.create(optimizer, model.parameters(), 0.01f, 1e-4f));
        }

        @Override
        public void close() {
            x.close();
            model.close();
        }
    }

    public static TrainingSteps run(Backend be, String optimizer) {
        float[] losses = new float[STEPS];
        List<float[]> grads = new ArrayList<>();
        try (Fixture f = Fixture.open(be, optimizer, 7)) {
            for (int s = 0; s < STEPS; s++) {
                try (Arena a = Arena.open()) {
                    Tensor e = f.model().forward(f.x());
                    TripletLoss.Result res = TripletLoss.compute(e, f.labels(), f.options());
                    f.opt().zeroGrad();
                    res.loss().backward();
                    if (s == 0) for (Tensor p : f.model().parameters()) grads.add(p.grad().toArray());
                    f.opt().step();
                    losses[s] = res.stats().loss();
                }
            }
            return new TrainingSteps(losses, grads, f.model().parameters().get(0).toArray());
        }
    }

    /** The losses are positive and within 1e-3 (abs + rel) of {@code ref}'s. */
    public void assertLossesFollow(TrainingSteps ref) {
        for (int s = 0; s < STEPS; s++) {
            assertTrue(Float.isFinite(losses[s]) && losses[s] > 0, "loss " + losses[s]);
            assertEquals(ref.losses[s], losses[s], 1e-3 + 1e-3 * Math.abs(ref.losses[s]), "loss at step " + s);
        }
    }

    /**
     * Every first-step gradient element is within {@code 1e-5 * max|ref gradient of that parameter|}
     * plus 1e-9 of {@code ref}'s: the whole backward pass agrees before the optimizer amplifies
     * rounding (Adam moves a weight whose gradient is ~1e-8 by a sizable fraction of the learning rate).
     */
    public void assertFirstGradientsMatch(TrainingSteps ref) {
        assertEquals(ref.firstGradients.size(), firstGradients.size());
        for (int p = 0; p < firstGradients.size(); p++) {
            float[] a = ref.firstGradients.get(p), b = firstGradients.get(p);
            assertEquals(a.length, b.length, "parameter " + p);
            double scale = 0, worst = 0;
            int at = 0;
            for (float v : a) scale = Math.max(scale, Math.abs(v));
            for (int i = 0; i < a.length; i++) {
                double d = Math.abs(a[i] - b[i]);
                if (!(d <= worst)) { worst = d; at = i; }
            }
            double allowed = 1e-9 + 1e-5 * scale;
            assertTrue(worst <= allowed, "gradient of parameter " + p + " (" + a.length + " elements): worst element " + at
                    + ": ref " + a[at] + ", got " + b[at] + ", |diff| " + worst + " > allowed " + allowed);
        }
    }
}
