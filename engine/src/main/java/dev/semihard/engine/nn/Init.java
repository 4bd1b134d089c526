package dev.semihard.engine.nn;

import dev.semihard.engine.Parameter;
import dev.semihard.engine.Rng;

/**
 * Weight initialization. Every value comes from the seeded {@link Rng}, so a seed gives
 * bit-identical weights on every run and every backend.
 */
public final class Init {
    private Init() {}

    /**
     * He (Kaiming) normal, fan-in mode, gain sqrt(2): N(0, 2 / fanIn), PyTorch's
     * {@code kaiming_normal_(w, mode="fan_in", nonlinearity="relu")}.
     */
    public static void heNormal(Parameter p, int fanIn, Rng rng) {
        double std = Math.sqrt(2.0 / fanIn);
        float[] v = new float[(int) p.numel()];
        for (int i = 0; i < v.length; i++) v[i] = (float) (rng.nextGaussian() * std);
        p.set(v);
    }

    /** Every element set to {@code value}. */
    public static void constant(Parameter p, float value) {
        float[] v = new float[(int) p.numel()];
        java.util.Arrays.fill(v, value);
        p.set(v);
    }
}
