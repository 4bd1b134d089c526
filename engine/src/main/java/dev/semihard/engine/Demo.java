package dev.semihard.engine;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.Backends;
import dev.semihard.engine.backend.TripletOptions;
import dev.semihard.engine.loss.TripletLoss;
import dev.semihard.engine.nn.EmbeddingModel;
import dev.semihard.engine.nn.Models;
import dev.semihard.engine.optim.Optimizer;
import dev.semihard.engine.optim.Optimizers;

import java.util.Arrays;
import java.util.Locale;

/**
 * A minimal end-to-end run with nothing but the engine: trains {@code fmnist-cnn} for a few steps on
 * synthetic P x K batches (P random class prototypes, each image its prototype plus fresh noise) with
 * the semi-hard triplet loss (squared L2, margin 0.2) and Adam, and prints the loss, the share of
 * active pairs and the time of each step (forward, loss, backward, update).
 *
 * <pre>
 *   java -cp engine/target/classes dev.semihard.engine.Demo [steps=20] [P=8] [K=8] [backend=auto]
 * </pre>
 */
public final class Demo {
    private Demo() {}

    public static void main(String[] args) {
        int steps = args.length > 0 ? Integer.parseInt(args[0]) : 20;
        int p = args.length > 1 ? Integer.parseInt(args[1]) : 8;
        int k = args.length > 2 ? Integer.parseInt(args[2]) : 8;
        String backendName = args.length > 3 ? args[3] : Backends.requestedName();
        if (steps < 1 || p < 2 || k < 2)
            throw new IllegalArgumentException("usage: Demo [steps >= 1] [P >= 2] [K >= 2] [backend]; got " + Arrays.toString(args));
        int b = p * k;
        try (Backend backend = Backends.create(backendName);
             EmbeddingModel model = Models.create(Models.FMNIST_CNN, backend, 0)) {
            System.out.printf(Locale.ROOT, "%s on %s (%s), batch %d = %d identities x %d images%n",
                    model, backend.name(), backend.deviceDescription(), b, p, k);
            Optimizer opt = Optimizers.create("adam", model.parameters(), 1e-3f, 0f);
            Rng rng = new Rng(1);
            int pixels = 28 * 28;
            float[][] prototypes = new float[p][pixels];
            for (float[] proto : prototypes) for (int i = 0; i < pixels; i++) proto[i] = (float) rng.nextGaussian();
            int[] labels = new int[b];
            for (int i = 0; i < b; i++) labels[i] = i / k;
            float[] x = new float[b * pixels];
            TripletOptions options = TripletOptions.facenet(b);
            double[] ms = new double[steps];
            for (int step = 0; step < steps; step++) {
                for (int i = 0; i < b; i++)
                    for (int j = 0; j < pixels; j++)
                        x[i * pixels + j] = prototypes[labels[i]][j] + 1.5f * (float) rng.nextGaussian();
                long t0 = System.nanoTime();
                float loss, active;
                try (Arena arena = Arena.open()) {
                    Tensor images = Tensor.of(backend, x, b, 1, 28, 28);
                    Tensor e = model.forward(images);
                    TripletLoss.Result r = TripletLoss.compute(e, labels, options);
                    opt.zeroGrad();
                    r.loss().backward();
                    opt.step();
                    backend.synchronize();
                    loss = r.stats().loss();
                    active = r.stats().activeFraction();
                }
                ms[step] = (System.nanoTime() - t0) / 1e6;
                System.out.printf(Locale.ROOT, "step %3d  loss %.4f  active %.3f  %.0f ms%n", step + 1, loss, active, ms[step]);
            }
            opt.close();
            double[] sorted = ms.length > 1 ? Arrays.copyOfRange(ms, 1, ms.length) : ms.clone();
            Arrays.sort(sorted);
            System.out.printf(Locale.ROOT, "median step time (excluding the first): %.0f ms for %d images (%.1f images/s)%n",
                    sorted[sorted.length / 2], b, b * 1000.0 / sorted[sorted.length / 2]);
        }
    }
}
