package dev.semihard.engine.optim;

import dev.semihard.engine.Parameter;
import dev.semihard.engine.Tensor;
import dev.semihard.engine.reference.ReferenceBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.LinkedHashMap;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Optimizers against the update formulas written out by hand (PyTorch semantics), over two steps. */
class OptimizerTest {
    static ReferenceBackend be;
    static final float[] W0 = {0.5f, -1.0f, 2.0f};
    static final double[][] GRADS = {{0.1, -0.3, 0.7}, {-0.2, 0.05, 0.4}};

    @BeforeAll
    static void start() { be = new ReferenceBackend(1); }

    @AfterAll
    static void stop() { be.close(); }

    private static Parameter param(String name) {
        Parameter p = new Parameter(name, be, 3);
        p.set(W0);
        return p;
    }

    private static void setGrad(Parameter p, double[] g) {
        p.zeroGrad();
        float[] f = new float[g.length];
        for (int i = 0; i < g.length; i++) f[i] = (float) g[i];
        p.accumulateGrad(Tensor.of(be, f, g.length));
    }

    private static void assertClose(double[] want, float[] got, String what) {
        for (int i = 0; i < want.length; i++)
            assertEquals(want[i], got[i], 1e-6 + 1e-6 * Math.abs(want[i]), what + " [" + i + "]");
    }

    private static double f(float v) { return v; }

    @ParameterizedTest(name = "nesterov {0}")
    @ValueSource(booleans = {false, true})
    void sgdMatchesHandFormula(boolean nesterov) {
        float lr = 0.1f, mom = 0.9f, wd = 0.01f;
        Parameter p = param("w");
        Sgd opt = new Sgd(List.of(p), lr, mom, nesterov, wd);
        double[] w = {W0[0], W0[1], W0[2]}, v = new double[3];
        for (double[] grad : GRADS) {
            setGrad(p, grad);
            opt.step();
            for (int i = 0; i < 3; i++) {
                double g = f((float) grad[i]) + f(wd) * w[i];
                v[i] = f(mom) * v[i] + g;
                double step = nesterov ? g + f(mom) * v[i] : v[i];
                w[i] -= f(lr) * step;
            }
        }
        assertClose(w, p.toArray(), "sgd weights");
        assertClose(v, opt.stateDict().get("w.momentum_buffer"), "momentum buffer");
        assertEquals(2, opt.stepCount());
    }

    @ParameterizedTest(name = "decoupled {0}")
    @ValueSource(booleans = {false, true})
    void adamMatchesHandFormula(boolean decoupled) {
        float lr = 0.01f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0.05f;
        Parameter p = param("w");
        Adam opt = new Adam(List.of(p), lr, b1, b2, eps, wd, decoupled);
        double[] w = {W0[0], W0[1], W0[2]}, m = new double[3], v = new double[3];
        int t = 0;
        for (double[] grad : GRADS) {
            setGrad(p, grad);
            opt.step();
            t++;
            for (int i = 0; i < 3; i++) {
                double g = f((float) grad[i]);
                if (decoupled) w[i] -= f(lr) * f(wd) * w[i];
                else g += f(wd) * w[i];
                m[i] = f(b1) * m[i] + (1 - f(b1)) * g;
                v[i] = f(b2) * v[i] + (1 - f(b2)) * g * g;
                double mhat = m[i] / (1 - Math.pow(f(b1), t)), vhat = v[i] / (1 - Math.pow(f(b2), t));
                w[i] -= f(lr) * mhat / (Math.sqrt(vhat) + f(eps));
            }
        }
        assertClose(w, p.toArray(), decoupled ? "adamw weights" : "adam weights");
        assertClose(m, opt.stateDict().get("w.exp_avg"), "exp_avg");
        assertClose(v, opt.stateDict().get("w.exp_avg_sq"), "exp_avg_sq");
    }

    @Test
    void adagradMatchesHandFormula() {
        float lr = 0.05f, eps = 1e-10f, wd = 0.02f;
        Parameter p = param("w");
        Adagrad opt = new Adagrad(List.of(p), lr, eps, wd);
        double[] w = {W0[0], W0[1], W0[2]}, acc = new double[3];
        for (double[] grad : GRADS) {
            setGrad(p, grad);
            opt.step();
            for (int i = 0; i < 3; i++) {
                double g = f((float) grad[i]) + f(wd) * w[i];
                acc[i] += g * g;
                w[i] -= f(lr) * g / (Math.sqrt(acc[i]) + f(eps));
            }
        }
        assertClose(w, p.toArray(), "adagrad weights");
        assertClose(acc, opt.stateDict().get("w.sum"), "sum");
    }

    @Test
    void parameterWithoutGradientIsSkipped() {
        Parameter used = param("used"), unused = param("unused");
        Sgd opt = new Sgd(List.of(used, unused), 0.1f, 0.9f, false, 0.1f);
        setGrad(used, GRADS[0]);
        opt.step();
        assertArrayEquals(W0, unused.toArray(), "no gradient, no update (not even weight decay)");
        assertTrue(used.toArray()[0] != W0[0]);
        opt.zeroGrad();
        assertNull(used.grad());
    }

    @Test
    void stateDictRoundTripContinuesIdentically() {
        Parameter a = param("w"), b = param("w");
        Adam first = new Adam(List.of(a), 0.01f);
        for (double[] g : GRADS) { setGrad(a, g); first.step(); }
        LinkedHashMap<String, float[]> state = first.stateDict();
        assertEquals(List.of("step", "w.exp_avg", "w.exp_avg_sq"), List.copyOf(state.keySet()));
        assertArrayEquals(new float[]{2}, state.get("step"));
        b.set(a.toArray());
        Adam second = new Adam(List.of(b), 0.01f);
        second.loadStateDict(state);
        assertEquals(2, second.stepCount());
        setGrad(a, GRADS[1]);
        setGrad(b, GRADS[1]);
        first.step();
        second.step();
        // exact on float32 backends; the reference backend keeps doubles, which a float checkpoint rounds
        assertArrayEquals(a.toArray(), b.toArray(), 1e-6f, "a restored optimizer continues where it stopped");
    }

    @Test
    void loadStateDictRejectsAnotherOptimizersState() {
        Parameter p = param("w");
        LinkedHashMap<String, float[]> sgdState = new Sgd(List.of(p), 0.1f, 0.9f, false, 0).stateDict();
        Adam adam = new Adam(List.of(p), 0.01f);
        IllegalArgumentException ex = assertThrows(IllegalArgumentException.class, () -> adam.loadStateDict(sgdState));
        assertTrue(ex.getMessage().contains("w.exp_avg"), ex.getMessage());
        LinkedHashMap<String, float[]> wrongSize = adam.stateDict();
        wrongSize.put("w.exp_avg", new float[5]);
        ex = assertThrows(IllegalArgumentException.class, () -> adam.loadStateDict(wrongSize));
        assertTrue(ex.getMessage().contains("5 values"), ex.getMessage());
    }

    @Test
    void factoryAndValidation() {
        Parameter p = param("w");
        assertTrue(Optimizers.create("sgd", List.of(p), 0.1f, 0) instanceof Sgd);
        assertTrue(Optimizers.create("ADAM", List.of(p), 0.1f, 0) instanceof Adam a && !a.decoupled());
        assertTrue(Optimizers.create("adamw", List.of(p), 0.1f, 0.01f) instanceof Adam a && a.decoupled());
        assertTrue(Optimizers.create("adagrad", List.of(p), 0.1f, 0) instanceof Adagrad);
        IllegalArgumentException ex = assertThrows(IllegalArgumentException.class, () -> Optimizers.create("rmsprop", List.of(p), 0.1f, 0));
        assertTrue(ex.getMessage().contains("rmsprop") && ex.getMessage().contains("adagrad"), ex.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new Sgd(List.of(p), -1f, 0.9f, false, 0));
        assertThrows(IllegalArgumentException.class, () -> new Sgd(List.of(p), 0.1f, 0f, true, 0));
        assertThrows(IllegalArgumentException.class, () -> new Adam(List.of(p), 0.1f, 1f, 0.999f, 1e-8f, 0, false));
        assertThrows(IllegalArgumentException.class, () -> new Sgd(List.of(p, param("w")), 0.1f, 0.9f, false, 0));
        Optimizer o = Optimizers.create("sgd", List.of(p), 0.1f, 0);
        o.setLearningRate(0.5f);
        assertEquals(0.5f, o.learningRate());
    }
}
