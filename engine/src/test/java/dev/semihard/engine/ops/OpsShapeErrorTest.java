package dev.semihard.engine.ops;

import dev.semihard.engine.Tensor;
import dev.semihard.engine.backend.Distance;
import dev.semihard.engine.nn.Models;
import dev.semihard.engine.reference.ReferenceBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Bad shapes and non-finite values give an IllegalArgumentException naming the op, the expected and the actual shape. */
class OpsShapeErrorTest {
    static ReferenceBackend be;

    @BeforeAll
    static void start() { be = new ReferenceBackend(1); }

    @AfterAll
    static void stop() { be.close(); }

    private static Tensor t(int... shape) { return Tensor.zeros(be, shape); }

    private static void fails(Executable e, String... fragments) {
        IllegalArgumentException ex = assertThrows(IllegalArgumentException.class, e);
        for (String f : fragments)
            assertTrue(ex.getMessage().contains(f), "message should contain '" + f + "': " + ex.getMessage());
    }

    @Test
    void conv2dWrongChannels() {
        IllegalArgumentException ex = assertThrows(IllegalArgumentException.class,
                () -> F.conv2d(t(8, 3, 28, 28), t(32, 1, 3, 3), null, 1, 1));
        assertEquals("conv2d: input has 3 channels but the weight expects 1 (input shape [8, 3, 28, 28], weight [32, 1, 3, 3])",
                ex.getMessage());
    }

    @Test
    void conv2dKernelLargerThanPaddedInput() {
        fails(() -> F.conv2d(t(1, 2, 4, 4), t(3, 2, 7, 7), null, 1, 1),
                "conv2d", "kernel 7x7 is larger than the padded input 6x6", "[1, 2, 4, 4]", "[3, 2, 7, 7]");
    }

    @Test
    void conv2dWrongRanksAndBias() {
        fails(() -> F.conv2d(t(3, 28, 28), t(32, 3, 3, 3), null, 1, 1), "conv2d", "input", "[N, C, H, W]", "[3, 28, 28]");
        fails(() -> F.conv2d(t(1, 3, 8, 8), t(4, 3, 3), null, 1, 1), "conv2d", "weight", "[K, C, R, S]", "[4, 3, 3]");
        fails(() -> F.conv2d(t(1, 3, 8, 8), t(4, 3, 3, 3), t(5), 1, 1), "conv2d", "bias", "[4]", "[5]");
        fails(() -> F.conv2d(t(1, 3, 8, 8), t(4, 3, 3, 3), null, 0, 1), "conv2d", "stride");
        fails(() -> F.conv2d(t(1, 3, 8, 8), t(4, 3, 3, 3), null, 1, -1), "conv2d", "padding");
    }

    @Test
    void maxPoolWindowLargerThanInput() {
        fails(() -> F.maxPool2d(t(1, 2, 3, 3), 4, 4), "maxPool2d", "window 4x4", "3x3", "[1, 2, 3, 3]");
        fails(() -> F.maxPool2d(t(2, 3), 2, 2), "maxPool2d", "[N, C, H, W]", "[2, 3]");
    }

    @Test
    void globalAvgPoolRank() {
        fails(() -> F.globalAvgPool(t(4, 8)), "globalAvgPool", "[N, C, H, W]", "[4, 8]");
    }

    @Test
    void batchNormParameterShapes() {
        fails(() -> F.batchNorm2d(t(2, 4, 3, 3), t(3), t(4), t(4), t(4), true, 0.1f, 1e-5f),
                "batchNorm2d", "gamma", "[4]", "[3]", "[2, 4, 3, 3]");
        fails(() -> F.batchNorm2d(t(2, 4, 3, 3), t(4), t(4), t(4), t(5), true, 0.1f, 1e-5f),
                "batchNorm2d", "running variance", "[4]", "[5]");
        fails(() -> F.batchNorm2d(t(1, 4, 1, 1), t(4), t(4), t(4), t(4), true, 0.1f, 1e-5f),
                "batchNorm2d", "more than one value per channel", "[1, 4, 1, 1]");
    }

    @Test
    void addShapes() {
        fails(() -> F.add(t(2, 3), t(3, 2)), "add", "[2, 3]", "[3, 2]");
    }

    @Test
    void linearShapes() {
        fails(() -> F.linear(t(4, 10), t(5, 12), t(5)), "linear", "10 features", "expects 12", "[4, 10]", "[5, 12]");
        fails(() -> F.linear(t(4, 12), t(5, 12), t(4)), "linear", "bias", "[5]", "[4]");
        fails(() -> F.linear(t(4, 2, 6), t(5, 12), null), "linear", "[N, in]", "[4, 2, 6]");
    }

    @Test
    void flattenL2AndDistanceRanks() {
        fails(() -> F.flatten(t(7)), "flatten", "[7]");
        fails(() -> F.l2Normalize(t(2, 3, 4)), "l2Normalize", "[N, D]", "[2, 3, 4]");
        fails(() -> F.pairwiseDistance(t(5), Distance.SQUARED_L2), "pairwiseDistance", "[N, D]", "[5]");
    }

    @Test
    void modelInputShape() {
        var m = Models.create("fmnist-cnn", be, 0);
        fails(() -> m.forward(t(2, 3, 28, 28)), "fmnist-cnn", "[N, 1, 28, 28]", "[2, 3, 28, 28]");
        m.close();
        fails(() -> Models.create("resnet50", be, 0), "unknown model 'resnet50'", "fmnist-cnn", "face-resnet10");
    }

    @Test
    void checkFiniteNamesWhere() {
        Tensor ok = Tensor.of(be, new float[]{1, 2, 3}, 3);
        assertEquals(ok, F.checkFinite(ok, "fine"));
        Tensor bad = Tensor.of(be, new float[]{1, Float.NaN, Float.POSITIVE_INFINITY, 4}, 2, 2);
        fails(() -> F.checkFinite(bad, "embeddings after step 7"), "embeddings after step 7", "2 of 4", "[2, 2]");
    }

    @Test
    void perOpFiniteChecksCatchNaNInputs() {
        Tensor bad = Tensor.of(be, new float[]{1, Float.NaN, 3, 4}, 2, 2);
        assertEquals(4, F.relu(bad).numel(), "off by default: no check");
        F.setFiniteChecks(true);
        try {
            fails(() -> F.relu(bad), "relu", "input 0", "1 of 4");
        } finally {
            F.setFiniteChecks(false);
        }
    }
}
