package dev.semihard.engine.mining;

import dev.semihard.engine.Arena;
import dev.semihard.engine.Parameter;
import dev.semihard.engine.Rng;
import dev.semihard.engine.Tensor;
import dev.semihard.engine.backend.Strategy;
import dev.semihard.engine.backend.Distance;
import dev.semihard.engine.backend.TripletOptions;
import dev.semihard.engine.backend.TripletStats;
import dev.semihard.engine.loss.TripletLoss;
import dev.semihard.engine.nn.EmbeddingModel;
import dev.semihard.engine.nn.Models;
import dev.semihard.engine.reference.ReferenceBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Two-pass gradients equal single-pass gradients (fmnist-cnn on the reference backend). */
class TwoPassTest {
    static final ReferenceBackend BE = new ReferenceBackend();
    static final int B = 16;
    static final int[] LABELS = {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 9};   // last row: an extra negative

    @AfterAll
    static void close() { BE.close(); }

    static float[] images() {
        Rng r = new Rng(77);
        float[] x = new float[B * 28 * 28];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        return x;
    }

    static List<float[]> grads(EmbeddingModel m) {
        List<float[]> out = new ArrayList<>();
        for (Parameter p : m.parameters()) out.add(p.grad() == null ? new float[(int) p.numel()] : p.grad().toArray());
        return out;
    }

    static float[] singlePass(EmbeddingModel m, float[] x, TripletOptions o, List<float[]> gradsOut) {
        m.zeroGrad();
        try (Arena a = Arena.open()) {
            TripletLoss.Result r = TripletLoss.compute(m.forward(Tensor.of(BE, x, B, 1, 28, 28)), LABELS, o);
            r.loss().backward();
            gradsOut.addAll(grads(m));
            return new float[] {r.stats().loss()};
        }
    }

    static void assertClose(List<float[]> want, List<float[]> got, double rel) {
        double maxAbs = 0;
        for (float[] w : want) for (float v : w) maxAbs = Math.max(maxAbs, Math.abs(v));
        assertTrue(maxAbs > 0, "the loss must produce a non-zero gradient for the test to mean anything");
        for (int i = 0; i < want.size(); i++)
            for (int j = 0; j < want.get(i).length; j++)
                assertEquals(want.get(i)[j], got.get(i)[j], rel * maxAbs, "parameter " + i + " element " + j);
    }

    @Test
    void evalModeGradientsEqualSinglePass() {
        try (EmbeddingModel m = Models.create("fmnist-cnn", BE, 3)) {
            m.eval();   // batch norm with running statistics: rows are independent, so chunks change nothing
            float[] x = images();
            TripletOptions o = new TripletOptions(Strategy.BATCH_ALL, Distance.SQUARED_L2, 0.2f, false, 15);
            List<float[]> single = new ArrayList<>();
            float loss = singlePass(m, x, o, single)[0];
            m.zeroGrad();
            TripletStats s;
            try (Arena a = Arena.open()) {
                s = new TwoPass(m, 5).step(Tensor.of(BE, x, B, 1, 28, 28), LABELS, o);   // chunks of 5, 5, 5, 1
            }
            assertEquals(loss, s.loss(), 1e-6f);
            assertClose(single, grads(m), 1e-5);
            // host chunks: the same through the Chunks interface
            m.zeroGrad();
            int per = 28 * 28;
            new TwoPass(m, 7).step(B, LABELS, o, (start, n) -> {
                float[] part = new float[n * per];
                System.arraycopy(x, start * per, part, 0, n * per);
                return Tensor.of(BE, part, n, 1, 28, 28);
            });
            assertClose(single, grads(m), 1e-5);
        }
    }

    @Test
    void trainingModeOneChunkMatchesAndUpdatesRunningStatsOnce() {
        float[] x = images();
        TripletOptions o = TripletOptions.facenet(15);
        try (EmbeddingModel ref = Models.create("fmnist-cnn", BE, 4); EmbeddingModel m = Models.create("fmnist-cnn", BE, 4)) {
            List<float[]> single = new ArrayList<>();
            singlePass(ref, x, o, single);
            m.zeroGrad();
            try (Arena a = Arena.open()) {
                new TwoPass(m, B).step(Tensor.of(BE, x, B, 1, 28, 28), LABELS, o);
            }
            assertClose(single, grads(m), 1e-5);
            // pass 1 restored the running statistics, so they moved exactly once, as in single-pass training
            float[] want = ref.state().get("bn1.running_mean").toArray(), got = m.state().get("bn1.running_mean").toArray();
            boolean moved = false;
            for (int i = 0; i < want.length; i++) { assertEquals(want[i], got[i], 1e-6f); moved |= want[i] != 0; }
            assertTrue(moved);
        }
    }

    @Test
    void badArguments() {
        try (EmbeddingModel m = Models.create("fmnist-cnn", BE, 3)) {
            assertThrows(IllegalArgumentException.class, () -> new TwoPass(m, 0));
            try (Arena a = Arena.open()) {
                var e = assertThrows(IllegalArgumentException.class,
                        () -> new TwoPass(m, 4).step(Tensor.zeros(BE, 4, 1, 28, 28), new int[3], TripletOptions.facenet(4)));
                assertTrue(e.getMessage().contains("3 labels"), e.getMessage());
            }
        }
    }
}
