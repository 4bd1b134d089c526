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
import static org.junit.jupiter.api.Assertions.assertThrows;
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
        assertEquals(List.of("fmnist-cnn", "face-resnet10", "face-resnet18", "face-resnet34"), Models.names());
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

    @Test
    void faceResnet18And34Architecture() {
        int[][] blocks = {{2, 2, 2, 2}, {3, 4, 6, 3}};
        long[] params = {11234496, 21342656};
        String[] names = {"face-resnet18", "face-resnet34"};
        for (int v = 0; v < 2; v++) {
            try (EmbeddingModel m = Models.create(names[v], be, 0)) {
                assertArrayEquals(new int[]{3, 96, 96}, m.inputShape());
                assertEquals(128, m.embeddingDim());
                assertEquals(params[v], m.parameterCount(), names[v] + " parameters (torchvision's count less the 1000-way fc, plus 512 x 128)");
                Map<String, Tensor> s = m.state();
                assertArrayEquals(new int[]{64, 3, 3, 3}, s.get("conv1.weight").shape(), "3x3 stem");
                int convs = 0, downsamples = 0;
                for (String k : s.keySet()) {
                    if (k.endsWith("conv1.weight") || k.endsWith("conv2.weight")) convs++;
                    if (k.endsWith("downsample.0.weight")) downsamples++;
                }
                int total = java.util.Arrays.stream(blocks[v]).sum();
                assertEquals(1 + 2 * total, convs, "stem + two 3x3 convs per block");
                assertEquals(3, downsamples, "a 1x1 shortcut where a stage starts with stride 2");
                int last = blocks[v][3] - 1;
                assertArrayEquals(new int[]{512, 512, 3, 3}, s.get("layer4." + last + ".conv2.weight").shape());
                assertArrayEquals(new int[]{128, 64, 1, 1}, s.get("layer2.0.downsample.0.weight").shape());
                assertArrayEquals(new int[]{512}, s.get("layer4.0.downsample.1.running_var").shape());
                assertFalse(s.containsKey("layer1.0.downsample.0.weight"), "layer1 keeps 64 channels: identity shortcut");
                assertFalse(s.containsKey("layer2.1.downsample.0.weight"));
                assertArrayEquals(new int[]{128, 512}, s.get("fc.weight").shape());
                List<String> keys = List.copyOf(s.keySet());
                assertEquals(List.of("conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
                        "layer1.0.conv1.weight", "layer1.0.bn1.weight"), keys.subList(0, 7), "torchvision's names and order");
                assertEquals(List.of("fc.weight", "fc.bias"), keys.subList(keys.size() - 2, keys.size()));
            }
        }
    }

    /** The input size changes the data only: same names, shapes and values; the embeddings are [B, D] at 112 and 160. */
    @Test
    void faceInputSizesAndEmbeddingDim() {
        try (EmbeddingModel a = Models.create("face-resnet18", 96, 128, be, 7);
             EmbeddingModel b = Models.create("face-resnet18", 160, 128, be, 7)) {
            assertArrayEquals(new int[]{3, 160, 160}, b.inputShape());
            assertEquals(List.copyOf(a.state().keySet()), List.copyOf(b.state().keySet()));
            for (String k : a.state().keySet())
                assertArrayEquals(a.state().get(k).toArray(), b.state().get(k).toArray(), k + " does not depend on the input size");
        }
        for (int size : new int[]{112, 160}) {
            try (EmbeddingModel m = Models.create("face-resnet10", size, 128, be, 0)) {
                assertArrayEquals(new int[]{3, size, size}, m.inputShape());
                assertUnitRows(m, 2);
            }
        }
        try (EmbeddingModel m = Models.create("face-resnet18", 112, 128, be, 0)) {
            assertUnitRows(m, 2);
        }
        try (EmbeddingModel m = Models.create("face-resnet34", 32, 64, be, 0)) {
            assertArrayEquals(new int[]{64, 512}, m.state().get("fc.weight").shape());
            assertUnitRows(m, 2);   // [2, 64]
        }
        try (EmbeddingModel m = Models.create("fmnist-cnn", 28, 32, be, 0)) {
            assertArrayEquals(new int[]{32, 256}, m.state().get("fc.weight").shape());
            assertUnitRows(m, 2);
        }
    }

    @Test
    void badInputSizeOrEmbeddingDimIsRefusedWithTheFix() {
        assertEquals(28, Models.defaultInputSize("fmnist-cnn"));
        assertEquals(96, Models.defaultInputSize("face-resnet34"));
        String msg = assertThrows(IllegalArgumentException.class, () -> Models.create("fmnist-cnn", 32, 128, be, 0)).getMessage();
        assertTrue(msg.contains("--input-size 32") && msg.contains("28x28") && msg.contains("drop --input-size"), msg);
        msg = assertThrows(IllegalArgumentException.class, () -> Models.check("face-resnet18", 16, 128)).getMessage();
        assertTrue(msg.contains("--input-size 16") && msg.contains("32 to 512"), msg);
        msg = assertThrows(IllegalArgumentException.class, () -> Models.check("face-resnet10", 96, 1)).getMessage();
        assertTrue(msg.contains("--embedding-dim 1") && msg.contains("[2, 2048]"), msg);
        msg = assertThrows(IllegalArgumentException.class, () -> Models.check("resnet50", 96, 128)).getMessage();
        assertTrue(msg.contains("unknown model 'resnet50'") && msg.contains("face-resnet34"), msg);
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
                int d = m.embeddingDim();
                assertArrayEquals(new int[]{n, d}, e.shape());
                float[] v = e.toArray();
                for (int r = 0; r < n; r++) {
                    double s = 0;
                    for (int j = 0; j < d; j++) s += v[r * d + j] * v[r * d + j];
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
