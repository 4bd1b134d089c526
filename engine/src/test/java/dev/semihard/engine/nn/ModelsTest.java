package dev.semihard.engine.nn;

import dev.semihard.engine.Arena;
import dev.semihard.engine.Autograd;
import dev.semihard.engine.Parameter;
import dev.semihard.engine.Rng;
import dev.semihard.engine.Tensor;
import dev.semihard.engine.ops.F;
import dev.semihard.engine.optim.Sgd;
import dev.semihard.engine.reference.ReferenceBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The two reference models: architecture, state names, initialization, determinism. */
class ModelsTest {
    static ReferenceBackend be;

    @BeforeAll
    static void start() { be = new ReferenceBackend(2); }

    @AfterAll
    static void stop() { be.close(); }

    @Test
    void registry() {
        assertEquals(List.of("fmnist-cnn", "face-resnet10"), Models.names());
    }

    @Test
    void fmnistCnnArchitecture() {
        try (EmbeddingModel m = Models.create("fmnist-cnn", be, 0)) {
            assertEquals("fmnist-cnn", m.name());
            assertArrayEquals(new int[]{1, 28, 28}, m.inputShape());
            assertEquals(128, m.embeddingDim());
            // convs 288 + 18432 + 73728 + 294912, BN 2 * (32 + 64 + 128 + 256), fc 256 * 128 + 128
            assertEquals(387360 + 960 + 32896, m.parameterCount());
            List<String> names = List.copyOf(m.state().keySet());
            assertEquals(List.of("conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
                    "conv2.weight", "bn2.weight", "bn2.bias", "bn2.running_mean", "bn2.running_var",
                    "conv3.weight", "bn3.weight", "bn3.bias", "bn3.running_mean", "bn3.running_var",
                    "conv4.weight", "bn4.weight", "bn4.bias", "bn4.running_mean", "bn4.running_var",
                    "fc.weight", "fc.bias"), names);
            assertEquals(4 + 8 + 2, m.parameters().size(), "running stats are state, not parameters");
            assertUnitRows(m, 3);
        }
    }

    @Test
    void faceResnet10Architecture() {
        try (EmbeddingModel m = Models.create("face-resnet10", be, 0)) {
            assertArrayEquals(new int[]{3, 96, 96}, m.inputShape());
            Map<String, Tensor> s = m.state();
            assertArrayEquals(new int[]{32, 3, 3, 3}, s.get("conv1.weight").shape());
            assertArrayEquals(new int[]{32, 32, 3, 3}, s.get("block1.conv2.weight").shape());
            assertFalse(s.containsKey("block1.downsample.0.weight"), "block1 keeps the shape: identity shortcut");
            assertArrayEquals(new int[]{64, 32, 3, 3}, s.get("block2.conv1.weight").shape());
            assertArrayEquals(new int[]{64, 32, 1, 1}, s.get("block2.downsample.0.weight").shape());
            assertArrayEquals(new int[]{256}, s.get("block4.downsample.1.running_var").shape());
            assertArrayEquals(new int[]{128, 256}, s.get("fc.weight").shape());
            assertEquals(1259296, m.parameterCount());
            assertUnitRows(m, 2);
        }
    }

    private static void assertUnitRows(EmbeddingModel m, int n) {
        int[] in = m.inputShape();
        float[] x = new float[n * in[0] * in[1] * in[2]];
        Rng rng = new Rng(3);
        for (int i = 0; i < x.length; i++) x[i] = (float) rng.nextGaussian();
        for (boolean training : new boolean[]{true, false}) {
            m.train(training);
            try (Arena a = Arena.open(); var g = Autograd.noGrad()) {
                Tensor e = m.forward(Tensor.of(be, x, n, in[0], in[1], in[2]));
                assertArrayEquals(new int[]{n, 128}, e.shape());
                float[] v = e.toArray();
                for (int r = 0; r < n; r++) {
                    double s = 0;
                    for (int j = 0; j < 128; j++) s += v[r * 128 + j] * v[r * 128 + j];
                    assertEquals(1.0, s, 1e-5, "row " + r + " has unit norm");
                }
            }
        }
        m.train(true);
    }

    @Test
    void heInitialization() {
        try (EmbeddingModel m = Models.create("fmnist-cnn", be, 1)) {
            Map<String, Tensor> s = m.state();
            float[] w = s.get("conv4.weight").toArray();
            double mean = 0, sq = 0;
            for (float v : w) { mean += v; sq += v * v; }
            mean /= w.length;
            double std = Math.sqrt(sq / w.length - mean * mean);
            assertEquals(Math.sqrt(2.0 / (128 * 9)), std, 0.01 * Math.sqrt(2.0 / (128 * 9)), "He normal std sqrt(2 / fan_in)");
            assertEquals(0, mean, 0.01 * std);
            assertArrayEquals(new float[128], s.get("fc.bias").toArray(), "linear bias starts at zero");
            float[] ones = new float[64];
            java.util.Arrays.fill(ones, 1f);
            assertArrayEquals(ones, s.get("bn2.weight").toArray(), "BN gamma = 1");
            assertArrayEquals(new float[64], s.get("bn2.bias").toArray(), "BN beta = 0");
            assertArrayEquals(ones, s.get("bn2.running_var").toArray(), "running var starts at 1");
        }
    }

    @Test
    void sameSeedSameWeightsAndSameLossAfterTwoSteps() {
        float[][] a = train("fmnist-cnn", 42), b = train("fmnist-cnn", 42), c = train("fmnist-cnn", 43);
        assertEquals(a.length, b.length);
        for (int i = 0; i < a.length; i++) assertArrayEquals(a[i], b[i], "row " + i + " (initial weights, losses, final weights)");
        assertFalse(java.util.Arrays.equals(a[0], c[0]), "another seed gives other weights");
        assertNotEquals(a[1][0], a[1][1], "the loss changed after a step");
    }

    /** Returns {initial weights of every parameter, the 2 losses, final weights}. */
    private static float[][] train(String name, long seed) {
        try (EmbeddingModel m = Models.create(name, be, seed)) {
            List<float[]> out = new ArrayList<>();
            List<Float> init = new ArrayList<>();
            for (Parameter p : m.parameters()) for (float v : p.toArray()) init.add(v);
            out.add(toArray(init));
            int n = 6;
            Rng rng = new Rng(99);
            float[] x = new float[n * 28 * 28], r = new float[n * 128];
            for (int i = 0; i < x.length; i++) x[i] = (float) rng.nextGaussian();
            for (int i = 0; i < r.length; i++) r[i] = (float) rng.nextGaussian();
            Sgd opt = new Sgd(m.parameters(), 0.1f, 0.9f, false, 1e-4f);
            float[] losses = new float[2];
            for (int step = 0; step < 2; step++) {
                try (Arena arena = Arena.open()) {
                    Tensor e = m.forward(Tensor.of(be, x, n, 1, 28, 28));
                    Tensor loss = weightedSum(e, Tensor.of(be, r, n, 128));
                    losses[step] = loss.item();
                    opt.zeroGrad();
                    loss.backward();
                    opt.step();
                }
            }
            out.add(losses);
            List<Float> fin = new ArrayList<>();
            for (Tensor t : m.state().values()) for (float v : t.toArray()) fin.add(v);
            out.add(toArray(fin));
            opt.close();
            return out.toArray(new float[0][]);
        }
    }

    /** sum(e * r) as a differentiable scalar [1, 1], built from ops: linear(flatten(e) as one row, r as one row). */
    static Tensor weightedSum(Tensor e, Tensor r) {
        int n = (int) e.numel();
        return F.linear(e.reshape(1, n), r.reshape(1, n), null);
    }

    private static float[] toArray(List<Float> l) {
        float[] a = new float[l.size()];
        for (int i = 0; i < a.length; i++) a[i] = l.get(i);
        return a;
    }

    /** Every activation and temporary of a step lives in the step's arena: memory returns to the same level. */
    @Test
    void aTrainingStepLeaksNoDeviceMemory() {
        try (ReferenceBackend own = new ReferenceBackend(2); EmbeddingModel m = Models.create("face-resnet10", own, 3)) {
            Sgd opt = new Sgd(m.parameters(), 0.01f, 0.9f, false, 0);
            float[] x = new float[2 * 3 * 96 * 96], r = new float[2 * 128];
            Rng rng = new Rng(4);
            for (int i = 0; i < x.length; i++) x[i] = (float) rng.nextGaussian();
            for (int i = 0; i < r.length; i++) r[i] = (float) rng.nextGaussian();
            long[] after = new long[2];
            for (int step = 0; step < 2; step++) {
                try (Arena a = Arena.open()) {
                    opt.zeroGrad();
                    weightedSum(m.forward(Tensor.of(own, x, 2, 3, 96, 96)), Tensor.of(own, r, 2, 128)).backward();
                    opt.step();
                }
                after[step] = own.bytesInUse();
            }
            long params = 4 * m.parameterCount();
            assertEquals(after[0], after[1], "bytes in use after step 1 and step 2");
            assertTrue(after[1] < 4 * params, "only weights, running stats, gradients and momentum remain: " + after[1]);
            assertTrue(own.peakBytes() > 2 * after[1], "the step itself needed more");
            opt.close();
        }
    }

    @Test
    void trainingModeUpdatesRunningStatsAndEvalModeDoesNot() {
        try (EmbeddingModel m = Models.create("fmnist-cnn", be, 5)) {
            Tensor rm = m.state().get("bn1.running_mean");
            float[] before = rm.toArray();
            float[] x = new float[2 * 28 * 28];
            Rng rng = new Rng(1);
            for (int i = 0; i < x.length; i++) x[i] = 1 + (float) rng.nextGaussian();
            m.eval();
            try (Arena a = Arena.open()) { m.forward(Tensor.of(be, x, 2, 1, 28, 28)); }
            assertArrayEquals(before, rm.toArray(), "eval mode leaves running stats alone");
            m.train(true);
            assertTrue(m.isTraining());
            try (Arena a = Arena.open()) { m.forward(Tensor.of(be, x, 2, 1, 28, 28)); }
            assertFalse(java.util.Arrays.equals(before, rm.toArray()), "training mode updates running stats");
        }
    }
}
