package dev.semihard.engine.ops;

import dev.semihard.engine.Parameter;
import dev.semihard.engine.Rng;
import dev.semihard.engine.Tensor;
import dev.semihard.engine.backend.Distance;
import dev.semihard.engine.nn.BasicBlock;
import dev.semihard.engine.nn.BatchNorm2d;
import dev.semihard.engine.nn.Conv2d;
import dev.semihard.engine.nn.GlobalAvgPool;
import dev.semihard.engine.nn.L2Normalize;
import dev.semihard.engine.nn.Linear;
import dev.semihard.engine.nn.MaxPool2d;
import dev.semihard.engine.nn.ReLU;
import dev.semihard.engine.nn.Sequential;
import dev.semihard.engine.reference.ReferenceBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

/** Finite-difference gradient checks (double precision, see {@link GradCheck}) of every op in {@link F}. */
class OpsGradientTest {
    static ReferenceBackend be;

    @BeforeAll
    static void start() { be = new ReferenceBackend(2); }

    @AfterAll
    static void stop() { be.close(); }

    @ParameterizedTest(name = "conv2d n={0} c={1} {2}x{3} k={4} kernel {5}x{6} stride {7} pad {8} bias {9}")
    @CsvSource({
            "2, 3, 7, 6, 4, 3, 3, 1, 1, true",
            "2, 3, 7, 6, 4, 3, 3, 1, 0, false",
            "1, 2, 7, 7, 3, 3, 3, 2, 0, false",
            "1, 2, 7, 7, 3, 3, 3, 2, 1, true",
            "2, 2, 5, 8, 3, 3, 2, 2, 1, true",
            "2, 3, 5, 5, 2, 1, 1, 2, 0, false",
            "1, 1, 3, 3, 2, 5, 5, 1, 1, true",
    })
    void conv2d(int n, int c, int h, int w, int k, int r, int s, int stride, int pad, boolean bias) {
        GradCheck gc = new GradCheck(be, 11);
        Tensor x = gc.leaf(n, c, h, w);
        Tensor wt = gc.leaf(k, c, r, s);
        Tensor b = bias ? gc.leaf(k) : null;
        List<Tensor> wrt = new ArrayList<>(List.of(x, wt));
        if (b != null) wrt.add(b);
        gc.check("conv2d", () -> F.conv2d(x, wt, b, stride, pad), wrt);
    }

    @ParameterizedTest(name = "maxPool2d {0}x{1} size {2} stride {3}")
    @CsvSource({"6, 6, 2, 2", "7, 5, 2, 2", "7, 7, 3, 2", "5, 6, 3, 1"})
    void maxPool2d(int h, int w, int size, int stride) {
        GradCheck gc = new GradCheck(be, 12);
        Tensor x = gc.leaf(2, 3, h, w);
        gc.check("maxPool2d", () -> F.maxPool2d(x, size, stride), List.of(x));
    }

    @Test
    void globalAvgPool() {
        GradCheck gc = new GradCheck(be, 13);
        Tensor x = gc.leaf(3, 4, 5, 3);
        gc.check("globalAvgPool", () -> F.globalAvgPool(x), List.of(x));
    }

    @ParameterizedTest(name = "batchNorm2d training, input [{0}, {1}, {2}, {3}]")
    @CsvSource({"3, 4, 3, 2", "1, 2, 3, 3", "4, 3, 1, 1"})
    void batchNormTraining(int n, int c, int h, int w) {
        GradCheck gc = new GradCheck(be, 14);
        Tensor x = gc.leaf(gc.uniform(n * c * h * w, 2.0), n, c, h, w);
        Tensor gamma = gc.leaf(gc.awayFromZero(c, 0.5, 1.5), c);
        Tensor beta = gc.leaf(c);
        Tensor rm = gc.constant(new double[c], c);
        Tensor rv = gc.constant(ones(c), c);
        gc.check("batchNorm2d (training)", () -> F.batchNorm2d(x, gamma, beta, rm, rv, true, 0.1f, 1e-5f), List.of(x, gamma, beta));
    }

    @Test
    void batchNormEval() {
        GradCheck gc = new GradCheck(be, 15);
        int c = 3;
        Tensor x = gc.leaf(2, c, 3, 2);
        Tensor gamma = gc.leaf(gc.awayFromZero(c, 0.5, 1.5), c);
        Tensor beta = gc.leaf(c);
        Tensor rm = gc.constant(gc.uniform(c, 0.5), c);
        Tensor rv = gc.constant(new double[]{0.5, 1.0, 2.0}, c);
        gc.check("batchNorm2d (eval)", () -> F.batchNorm2d(x, gamma, beta, rm, rv, false, 0.1f, 1e-5f), List.of(x, gamma, beta));
    }

    @ParameterizedTest(name = "batchNorm2dRelu training, input [{0}, {1}, {2}, {3}]")
    @CsvSource({"3, 4, 3, 2", "4, 3, 1, 1"})
    void batchNormReluTraining(int n, int c, int h, int w) {
        GradCheck gc = new GradCheck(be, 24);
        Tensor x = gc.leaf(gc.uniform(n * c * h * w, 2.0), n, c, h, w);
        Tensor gamma = gc.leaf(gc.awayFromZero(c, 0.5, 1.5), c);
        Tensor beta = gc.leaf(gc.uniform(c, 0.5), c);
        Tensor rm = gc.constant(new double[c], c);
        Tensor rv = gc.constant(ones(c), c);
        gc.check("batchNorm2dRelu (training)", () -> F.batchNorm2dRelu(x, gamma, beta, rm, rv, true, 0.1f, 1e-5f),
                List.of(x, gamma, beta));
    }

    @Test
    void batchNormReluEval() {
        GradCheck gc = new GradCheck(be, 25);
        int c = 3;
        Tensor x = gc.leaf(2, c, 3, 2);
        Tensor gamma = gc.leaf(gc.awayFromZero(c, 0.5, 1.5), c);
        Tensor beta = gc.leaf(c);
        Tensor rm = gc.constant(gc.uniform(c, 0.5), c);
        Tensor rv = gc.constant(new double[]{0.5, 1.0, 2.0}, c);
        gc.check("batchNorm2dRelu (eval)", () -> F.batchNorm2dRelu(x, gamma, beta, rm, rv, false, 0.1f, 1e-5f),
                List.of(x, gamma, beta));
    }

    /**
     * The fused op is exactly relu(batchNorm2d(...)): same output, same running statistics, same
     * gradients, in training and eval mode, with some bn(x) exactly 0 (per channel the values -2..2 and
     * beta = 0, so x = 0 normalizes to 0 and the ReLU's gradient there is 0 on both paths).
     */
    @ParameterizedTest(name = "batchNorm2dRelu == relu(batchNorm2d), training {0}")
    @CsvSource({"true", "false"})
    void batchNormReluEqualsReluOfBatchNorm(boolean training) {
        GradCheck gc = new GradCheck(be, 26);
        int n = 4, c = 3, hw = 5;
        double[] xv = new double[n * c * hw];
        for (int i = 0; i < xv.length; i++) xv[i] = (i % hw) - 2 + ((i / hw) % c == 2 ? 0.3 * gc.uniform(1, 1)[0] : 0);
        double[][] outs = new double[2][], grads = new double[6][], stats = new double[4][];
        for (int fused = 0; fused < 2; fused++) {
            Tensor x = gc.leaf(xv, n, c, 1, hw);
            Tensor gamma = gc.leaf(new double[]{1.5, -0.75, 1.0}, c), beta = gc.leaf(new double[]{0, 0, -0.25}, c);
            Tensor rm = gc.constant(training ? new double[c] : new double[]{0, 0, 0.1}, c);
            Tensor rv = gc.constant(training ? ones(c) : new double[]{2, 2, 1}, c);
            Tensor y = fused == 1 ? F.batchNorm2dRelu(x, gamma, beta, rm, rv, training, 0.1f, 1e-5f)
                    : F.relu(F.batchNorm2d(x, gamma, beta, rm, rv, training, 0.1f, 1e-5f));
            Tensor seed = Tensor.zeros(be, y.shape());
            be.uploadDouble(new GradCheck(be, 27).uniform((int) y.numel(), 1.0), seed.buffer());
            y.backward(seed);
            outs[fused] = be.downloadDouble(y.buffer());
            grads[3 * fused] = be.downloadDouble(x.grad().buffer());
            grads[3 * fused + 1] = be.downloadDouble(gamma.grad().buffer());
            grads[3 * fused + 2] = be.downloadDouble(beta.grad().buffer());
            stats[2 * fused] = be.downloadDouble(rm.buffer());
            stats[2 * fused + 1] = be.downloadDouble(rv.buffer());
            assertEquals(fused == 1 ? "batchNorm2dRelu" : "relu", y.creator().op());
        }
        int zeros = 0;
        for (double v : outs[1]) if (v == 0) zeros++;
        assertEquals(true, zeros >= n * c * hw / 3, "the ReLU cut about half of the values: " + zeros);
        assertArrayEquals(outs[0], outs[1], 1e-12, "y");
        assertArrayEquals(grads[0], grads[3], 1e-12, "dx");
        assertArrayEquals(grads[1], grads[4], 1e-12, "dgamma");
        assertArrayEquals(grads[2], grads[5], 1e-12, "dbeta");
        assertArrayEquals(stats[0], stats[2], 1e-12, "running mean");
        assertArrayEquals(stats[1], stats[3], 1e-12, "running var");
    }

    @Test
    void relu() {
        GradCheck gc = new GradCheck(be, 16);
        Tensor x = gc.leaf(gc.awayFromZero(60, 0.01, 1.0), 3, 4, 5);
        gc.check("relu", () -> F.relu(x), List.of(x));
    }

    @Test
    void add() {
        GradCheck gc = new GradCheck(be, 17);
        Tensor a = gc.leaf(2, 3, 4, 2), b = gc.leaf(2, 3, 4, 2);
        gc.check("add", () -> F.add(a, b), List.of(a, b));
        // the same tensor on both sides gets twice the gradient
        gc.check("add (a + a)", () -> F.add(a, a), List.of(a));
    }

    @Test
    void linear() {
        GradCheck gc = new GradCheck(be, 18);
        Tensor x = gc.leaf(3, 5), w = gc.leaf(4, 5), b = gc.leaf(4);
        gc.check("linear", () -> F.linear(x, w, b), List.of(x, w, b));
        gc.check("linear (no bias)", () -> F.linear(x, w, null), List.of(x, w));
    }

    @Test
    void flattenIsAViewAndPassesGradients() {
        GradCheck gc = new GradCheck(be, 19);
        Tensor x = gc.leaf(2, 3, 2, 2), w = gc.leaf(4, 12);
        Tensor f = F.flatten(x);
        assertArrayEquals(new int[]{2, 12}, f.shape());
        assertSame(x.buffer(), f.buffer(), "flatten must not copy");
        gc.check("flatten -> linear", () -> F.linear(F.flatten(x), w, null), List.of(x, w));
    }

    @Test
    void l2Normalize() {
        GradCheck gc = new GradCheck(be, 20);
        Tensor x = gc.leaf(4, 6);
        gc.check("l2Normalize", () -> F.l2Normalize(x), List.of(x));
    }

    @Test
    void l2NormalizeOfAZeroRowIsFinite() {
        Tensor x = Tensor.of(be, new float[]{0, 0, 0, 3, 4, 0}, 2, 3).requiresGrad(true);
        Tensor y = F.l2Normalize(x);
        assertArrayEquals(new float[]{0, 0, 0, 0.6f, 0.8f, 0}, y.toArray(), 1e-7f);
        y.backward(Tensor.of(be, new float[]{1, 1, 1, 1, 1, 1}, 2, 3));
        for (float v : x.grad().toArray()) assertEquals(false, Float.isNaN(v) || Float.isInfinite(v), "gradient must be finite");
    }

    @ParameterizedTest
    @EnumSource(Distance.class)
    void pairwiseDistance(Distance metric) {
        GradCheck gc = new GradCheck(be, 21);
        Tensor e = gc.leaf(5, 4);
        gc.check("pairwiseDistance " + metric.cliName, () -> F.pairwiseDistance(e, metric), List.of(e));
    }

    @Test
    void pairwiseL2HasZeroGradientForIdenticalRows() {
        float[] v = {1, 2, 1, 2, 0, 1};
        Tensor e = Tensor.of(be, v, 3, 2).requiresGrad(true);
        Tensor d = F.pairwiseDistance(e, Distance.L2);
        float[] seed = new float[9];
        seed[1] = 1; // only d(0, 1), which is 0: rows 0 and 1 are equal
        d.backward(Tensor.of(be, seed, 3, 3));
        assertArrayEquals(new float[6], e.grad().toArray(), "l2 gradient at zero distance must be 0, not NaN");
    }

    /** A tiny conv net end to end: conv, BN, ReLU, maxpool, a residual block with downsample, GAP, linear, L2. */
    @Test
    void tinyModelEndToEnd() {
        GradCheck gc = new GradCheck(be, 22);
        Rng rng = new Rng(5);
        Sequential net = new Sequential("",
                new Conv2d(be, "conv1", 2, 3, 3, 1, 1, true, rng),
                new BatchNorm2d(be, "bn1", 3),
                new ReLU(),
                new MaxPool2d(2),
                new BasicBlock(be, "block", 3, 4, 2, rng),
                new GlobalAvgPool(),
                new Linear(be, "fc", 4, 3, rng),
                new L2Normalize());
        // move every parameter off its initial value (zero biases, unit gammas) so every path is exercised
        Rng perturb = new Rng(9);
        for (Parameter p : net.parameters()) {
            double[] v = be.downloadDouble(p.buffer());
            for (int i = 0; i < v.length; i++) v[i] += 0.2 * (perturb.nextDouble() * 2 - 1);
            be.uploadDouble(v, p.buffer());
        }
        Tensor x = gc.leaf(3, 2, 9, 8);
        List<Tensor> wrt = new ArrayList<>();
        wrt.add(x);
        wrt.addAll(net.parameters());
        assertEquals(1 + 2 + 2 + 9 + 2, wrt.size(), "x, conv(w,b), bn(2), block(conv1, bn1(2), conv2, bn2(2), down conv, down bn(2) = 9), fc(2)");
        gc.check("tiny model", () -> net.forward(x), wrt);
        assertNotEquals(0.0, be.downloadDouble(net.state().get("bn1.running_mean").buffer())[0], "training mode updates running stats");
    }

    /** The checker itself must catch a wrong backward: y = 2x whose backward forgets the factor 2. */
    @Test
    void gradCheckCatchesAWrongBackward() {
        GradCheck gc = new GradCheck(be, 23);
        Tensor x = gc.leaf(2, 3);
        java.util.function.Supplier<Tensor> wrong = () -> {
            Tensor y = Tensor.zeros(be, 2, 3);
            be.axpy(6, 2f, x.buffer(), y.buffer());
            return y.record("twice", List.of(x), dy -> x.accumulateGrad(dy));
        };
        org.junit.jupiter.api.Assertions.assertThrows(org.opentest4j.AssertionFailedError.class,
                () -> gc.check("wrong op", wrong, List.of(x)));
    }

    private static double[] ones(int n) {
        double[] v = new double[n];
        java.util.Arrays.fill(v, 1.0);
        return v;
    }
}
