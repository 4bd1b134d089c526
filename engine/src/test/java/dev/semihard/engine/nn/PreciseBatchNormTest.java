package dev.semihard.engine.nn;

import dev.semihard.engine.Arena;
import dev.semihard.engine.Autograd;
import dev.semihard.engine.Rng;
import dev.semihard.engine.Tensor;
import dev.semihard.engine.reference.ReferenceBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Precise batch norm: running statistics re-estimated as plain averages of batch statistics. */
class PreciseBatchNormTest {
    static ReferenceBackend be;

    @BeforeAll
    static void start() { be = new ReferenceBackend(2); }

    @AfterAll
    static void stop() { be.close(); }

    static float[] random(Rng rng, int n, float shift) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (rng.nextGaussian() * (1 + 0.5 * (i % 3)) + shift);
        return x;
    }

    @Test
    void singleLayerStatisticsAreTheAverageOfTheBatchStatistics() {
        int n = 5, c = 3, hw = 4, batches = 4;
        Rng rng = new Rng(11);
        float[][] data = new float[batches][];
        for (int b = 0; b < batches; b++) data[b] = random(rng, n * c * hw, b - 1.5f);
        try (BatchNorm2d bn = new BatchNorm2d(be, "bn", c)) {
            bn.eval();
            int used = PreciseBatchNorm.recalibrate(bn, batches, b -> Tensor.of(be, data[b], n, c, 2, 2));
            assertEquals(batches, used);
            assertFalse(bn.isTraining(), "the eval mode is restored");
            double[] mean = new double[c], var = new double[c];
            for (int b = 0; b < batches; b++) {
                for (int ch = 0; ch < c; ch++) {
                    double s = 0, ss = 0;
                    int count = n * hw;
                    for (int i = 0; i < n; i++) for (int j = 0; j < hw; j++) s += data[b][(i * c + ch) * hw + j];
                    double m = s / count;
                    for (int i = 0; i < n; i++) for (int j = 0; j < hw; j++) {
                        double d = data[b][(i * c + ch) * hw + j] - m;
                        ss += d * d;
                    }
                    mean[ch] += m / batches;
                    var[ch] += ss / (count - 1) / batches;   // unbiased, as PyTorch's running_var
                }
            }
            float[] rm = bn.runningMean().toArray(), rv = bn.runningVar().toArray();
            for (int ch = 0; ch < c; ch++) {
                assertEquals(mean[ch], rm[ch], 1e-5 + 1e-5 * Math.abs(mean[ch]), "running_mean[" + ch + "]");
                assertEquals(var[ch], rv[ch], 1e-5 + 1e-5 * Math.abs(var[ch]), "running_var[" + ch + "]");
            }
            assertTrue(Math.abs(rm[0] - rm[1]) > 1e-3 || Math.abs(rv[0] - rv[2]) > 1e-3, "channels differ, so the check is not trivial");
        }
    }

    /**
     * Recalibrated on one batch, a whole network in eval mode computes (up to the unbiased-variance
     * factor count / (count - 1)) what it computes in training mode on that batch: every layer's
     * statistics were measured on the input the earlier layers really produce.
     */
    @Test
    void wholeNetworkEvalMatchesTrainingModeOnTheCalibrationBatch() {
        int n = 64;
        float[] x = random(new Rng(5), n * 28 * 28, 0.1f);
        try (EmbeddingModel m = Models.create("fmnist-cnn", be, 3)) {
            float[] train = forward(m, x, n, true);
            float[] before = forward(m, x, n, false);
            assertTrue(maxDiff(train, before) > 0.05, "fresh running statistics (0, 1) are far from the batch's: " + maxDiff(train, before));
            PreciseBatchNorm.recalibrate(m, 1, b -> Tensor.of(be, x, n, 1, 28, 28));
            assertTrue(m.isTraining(), "the training mode is restored");
            float[] after = forward(m, x, n, false);
            assertTrue(maxDiff(train, after) < 3e-3, "eval after recalibration vs training mode: " + maxDiff(train, after));
        }
    }

    @Test
    void snapshotAndRestoreRoundTripExactly() {
        try (EmbeddingModel m = Models.create("fmnist-cnn", be, 3)) {
            assertEquals(4, PreciseBatchNorm.layers(m).size());
            float[] x = random(new Rng(6), 8 * 28 * 28, 0.5f);
            PreciseBatchNorm.recalibrate(m, 1, b -> Tensor.of(be, x, 8, 1, 28, 28));   // values that are not floats in double storage
            Tensor mean = PreciseBatchNorm.layers(m).get(0).runningMean();
            double[] exact = be.downloadDouble(mean.buffer());
            PreciseBatchNorm.Snapshot saved = PreciseBatchNorm.snapshot(m);
            assertEquals(8, saved.size());
            PreciseBatchNorm.recalibrate(m, 2, b -> Tensor.of(be, random(new Rng(b), 8 * 28 * 28, -0.5f), 8, 1, 28, 28));
            assertTrue(maxDiff(saved.values(0), mean.toArray()) > 1e-3, "recalibration changed the statistics");
            PreciseBatchNorm.restore(m, saved);
            assertArrayEquals(exact, be.downloadDouble(mean.buffer()), "restored bit for bit, in double storage too");
        }
    }

    @Test
    void zeroBatchesOrNoBatchNormChangesNothing() {
        try (EmbeddingModel m = Models.create("fmnist-cnn", be, 3)) {
            Tensor var = PreciseBatchNorm.layers(m).get(3).runningVar();
            float[] before = var.toArray();
            assertEquals(0, PreciseBatchNorm.recalibrate(m, 0, b -> { throw new AssertionError("no batch expected"); }));
            assertArrayEquals(before, var.toArray());
        }
    }

    @Test
    void momentumZeroIsRefusedWithTheReason() {
        try (BatchNorm2d bn = new BatchNorm2d(be, "bn", 2, 0f, 1e-5f)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> PreciseBatchNorm.recalibrate(bn, 1, b -> Tensor.zeros(be, 2, 2, 1, 1)));
            assertTrue(e.getMessage().contains("momentum"), e.getMessage());
        }
    }

    static float[] forward(Module m, float[] x, int n, boolean training) {
        m.train(training);
        try (Autograd.NoGrad g = Autograd.noGrad(); Arena a = Arena.open()) {
            return m.forward(Tensor.of(be, x, n, 1, 28, 28)).toArray();
        } finally {
            m.train(true);
        }
    }

    static double maxDiff(float[] a, float[] b) {
        double w = 0;
        for (int i = 0; i < a.length; i++) w = Math.max(w, Math.abs(a[i] - b[i]));
        return w;
    }
}
