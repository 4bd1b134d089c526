package dev.semihard.engine.golden;

import dev.semihard.engine.Arena;
import dev.semihard.engine.Autograd;
import dev.semihard.engine.Parameter;
import dev.semihard.engine.Rng;
import dev.semihard.engine.Tensor;
import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.TripletOptions;
import dev.semihard.engine.loss.TripletLoss;
import dev.semihard.engine.nn.EmbeddingModel;
import dev.semihard.engine.nn.Models;
import dev.semihard.engine.ops.F;
import dev.semihard.engine.optim.Adam;
import dev.semihard.engine.optim.Optimizer;
import dev.semihard.engine.optim.Sgd;
import dev.semihard.engine.reference.ReferenceBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Both models against PyTorch 1.13 (float64), from the committed fixture of
 * {@code tools/golden/make_golden.py}: eval- and train-mode embeddings, the loss sum(E * R), every
 * parameter gradient, the running statistics after one train-mode forward, and every state tensor
 * after 3 steps of SGD with momentum and of Adam (both with weight decay, train-mode batch norm), and
 * the semi-hard triplet loss (fused kernel, squared L2, margin 0.2) with its parameter gradients.
 *
 * <p>Tolerance, per compared element: |java - torch| &lt;= RTOL * |torch| + ATOL * max|torch over the
 * tensor|, with RTOL = 1e-4 and ATOL = 1e-5; sum(x^2) and sum(|x|) of each whole tensor within
 * relative 1e-4. Both sides compute in double from the same float32 inputs, so the observed error is
 * at most the final float32 rounding (on the reference backend every compared value has come out
 * bit-identical); the margin leaves room for summation order. The check is sensitive: scaling the
 * SGD learning rate by 1.0001 makes it fail on both models.
 */
class GoldenTest {
    static final double RTOL = 1e-4, ATOL = 1e-5, SUM_RTOL = 1e-4;
    static ReferenceBackend be;
    static GoldenFixture fx;

    @BeforeAll
    static void start() {
        be = new ReferenceBackend(0);
        fx = GoldenFixture.load();
    }

    @AfterAll
    static void stop() { be.close(); }

    /** The Java twin of the Python SplitMix64: the first values of seed 0, and the float draw. */
    @Test
    void generatorMatchesPython() {
        Rng r = new Rng(0);
        assertEquals(0xE220A8397B1DCDAFL, r.nextLong(), "SplitMix64(0) first output");
        Rng a = new Rng(12345), b = new Rng(12345);
        assertEquals((b.nextLong() >>> 40) * 0x1.0p-24f, a.nextFloat());
    }

    @ParameterizedTest
    @ValueSource(strings = {"fmnist-cnn", "face-resnet10"})
    void matchesPyTorch(String name) {
        Drawn d = draw(fx, name);
        int batch = d.batch();
        LinkedHashMap<String, float[]> init = d.state();
        int[] xs = d.xShape();
        float[] x = d.x(), r = d.r();
        Worst worst = new Worst();

        try (EmbeddingModel m = Models.create(name, be, 0)) {
            LinkedHashMap<String, Tensor> state = m.state();
            forwardAndGradients(fx, name, m, d, worst);

            // FaceNet's semi-hard triplet loss (fused kernel) on the train-mode embeddings, labels i / 2
            load(be, m, init);
            m.train(true);
            try (Arena a = Arena.open()) {
                int[] labels = new int[batch];
                for (int i = 0; i < batch; i++) labels[i] = i / 2;
                TripletLoss.Result tl = TripletLoss.compute(m.forward(Tensor.of(be, x, xs)), labels, TripletOptions.facenet(batch));
                double want = fx.entry(name + "/semihard/loss").prop("value");
                assertEquals(want, tl.loss().item(), 1e-5 * Math.max(1, Math.abs(want)), name + " semihard loss");
                tl.loss().backward();
                for (Parameter p : m.parameters()) compare(fx, name + "/semihard/grad/" + p.name(), p.grad().toArray(), worst);
            }
            m.zeroGrad();

            int steps = Integer.parseInt(fx.metaValue("steps"));
            for (String tag : new String[]{"sgd", "adam"}) {
                load(be, m, init);
                m.train(true);
                Optimizer opt = tag.equals("sgd")
                        ? new Sgd(m.parameters(), fx.metaFloat("sgd", "lr"), fx.metaFloat("sgd", "momentum"), false,
                                fx.metaFloat("sgd", "weight_decay"))
                        : new Adam(m.parameters(), fx.metaFloat("adam", "lr"), fx.metaFloat("adam", "beta1"),
                                fx.metaFloat("adam", "beta2"), fx.metaFloat("adam", "eps"), fx.metaFloat("adam", "weight_decay"), false);
                for (int s = 0; s < steps; s++) {
                    try (Arena a = Arena.open()) {
                        opt.zeroGrad();
                        weightedSum(m.forward(Tensor.of(be, x, xs)), Tensor.of(be, r, batch, 128)).backward();
                        opt.step();
                    }
                }
                for (Map.Entry<String, Tensor> s : state.entrySet())
                    compare(fx, name + "/" + tag + "/" + s.getKey(), s.getValue().toArray(), worst);
                opt.zeroGrad();
                opt.close();
            }
        }
        worst.report(name);
    }

    /**
     * Checks the state names and order against PyTorch's state_dict, the eval-mode embeddings (initial running
     * statistics), then one train-mode forward and backward of L = sum(E * R): embeddings, loss, every
     * parameter gradient and the running statistics after it. Leaves the gradients cleared.
     */
    static void forwardAndGradients(GoldenFixture fx, String name, EmbeddingModel m, Drawn d, Worst worst) {
        Backend be = m.parameters().get(0).backend();
        LinkedHashMap<String, Tensor> state = m.state();
        assertEquals(List.copyOf(d.state().keySet()), List.copyOf(state.keySet()), "state names and order match PyTorch's state_dict");
        load(be, m, d.state());
        m.eval();
        try (Arena a = Arena.open(); var g = Autograd.noGrad()) {
            compare(fx, name + "/eval/embeddings", m.forward(Tensor.of(be, d.x(), d.xShape())).toArray(), worst);
        }
        load(be, m, d.state());
        m.train(true);
        try (Arena a = Arena.open()) {
            Tensor e = m.forward(Tensor.of(be, d.x(), d.xShape()));
            Tensor loss = weightedSum(e, Tensor.of(be, d.r(), d.batch(), m.embeddingDim()));
            loss.backward();
            compare(fx, name + "/train/embeddings", e.toArray(), worst);
            double want = fx.entry(name + "/train/loss").prop("value");
            assertEquals(want, loss.item(), 1e-5 * Math.max(1, Math.abs(want)), name + " loss");
            for (Map.Entry<String, Tensor> s : state.entrySet()) {
                if (s.getValue() instanceof Parameter p) compare(fx, name + "/grad/" + s.getKey(), p.grad().toArray(), worst);
                else compare(fx, name + "/train1/" + s.getKey(), s.getValue().toArray(), worst);
            }
        }
        m.zeroGrad();
    }

    /** A model's initial state, input batch x and loss weights r, drawn as the fixture's "init" lines say. */
    record Drawn(int batch, LinkedHashMap<String, float[]> state, float[] x, int[] xShape, float[] r) {}

    static Drawn draw(GoldenFixture fx, String name) {
        Map<String, String> info = fx.model(name);
        int batch = Integer.parseInt(info.get("batch"));
        Rng rng = new Rng(Long.parseLong(info.get("seed")));
        LinkedHashMap<String, float[]> init = new LinkedHashMap<>();
        int[] xShape = null;
        for (GoldenFixture.Init in : fx.inits(name)) {
            float[] v = new float[in.numel()];
            for (int i = 0; i < v.length; i++) v[i] = (float) (in.lo() + (in.hi() - in.lo()) * (double) rng.nextFloat());
            init.put(in.name(), v);
            if (in.name().equals("input")) xShape = in.shape();
        }
        float[] x = init.remove("input"), r = init.remove("lossweights");
        assertEquals(batch, xShape[0]);
        return new Drawn(batch, init, x, xShape, r);
    }

    /** L = sum(e * r) as a differentiable [1, 1] tensor (the fixture's loss). */
    static Tensor weightedSum(Tensor e, Tensor r) {
        int n = (int) e.numel();
        return F.linear(e.reshape(1, n), r.reshape(1, n), null);
    }

    static void load(Backend be, EmbeddingModel m, Map<String, float[]> init) {
        for (Map.Entry<String, Tensor> s : m.state().entrySet()) {
            float[] v = init.get(s.getKey());
            be.upload(v, 0, s.getValue().buffer(), 0, v.length);
        }
    }

    static final class Worst {
        double ratio;
        String where = "-";
        int count;

        void report(String name) {
            System.out.printf("golden %s: %d tensors compared, %s%n", name, count, ratio == 0
                    ? "every compared value identical to PyTorch's"
                    : String.format("worst |java - torch| / tolerance = %.3g at %s", ratio, where));
        }
    }

    static void compare(GoldenFixture fx, String key, float[] got, Worst worst) {
        GoldenFixture.Entry e = fx.entry(key);
        float[] want = fx.floats(e);
        int[] idx;
        if (e.props().containsKey("idx")) {
            idx = fx.ints(fx.entry(e.props().get("idx")));
        } else {
            idx = new int[want.length];
            for (int i = 0; i < idx.length; i++) idx[i] = i;
        }
        if (e.props().containsKey("n") && got.length != (int) e.prop("n"))
            fail(key + ": " + got.length + " elements, PyTorch has " + (int) e.prop("n"));
        double maxAbs = 0;
        for (float w : want) maxAbs = Math.max(maxAbs, Math.abs(w));
        List<String> bad = new ArrayList<>();
        for (int i = 0; i < want.length; i++) {
            double g = got[idx[i]], w = want[i];
            double tol = RTOL * Math.abs(w) + ATOL * maxAbs;
            double err = Math.abs(g - w);
            if (err / tol > worst.ratio) { worst.ratio = err / tol; worst.where = key + "[" + idx[i] + "]"; }
            if (!(err <= tol) && bad.size() < 5) bad.add(String.format("[%d] java %.9g torch %.9g (tol %.3g)", idx[i], g, w, tol));
        }
        if (!bad.isEmpty()) fail(key + ": differs from PyTorch at " + bad);
        if (e.props().containsKey("sumsq")) {
            double sq = 0, ab = 0;
            for (float g : got) { sq += (double) g * g; ab += Math.abs(g); }
            double wsq = e.prop("sumsq"), wab = e.prop("sumabs");
            if (Math.abs(sq - wsq) > SUM_RTOL * wsq || Math.abs(ab - wab) > SUM_RTOL * wab)
                fail(String.format("%s: sum(x^2) java %.9g torch %.9g, sum|x| java %.9g torch %.9g", key, sq, wsq, ab, wab));
        }
        worst.count++;
    }
}
