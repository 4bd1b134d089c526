package dev.semihard.engine.nn;

import dev.semihard.engine.Parameter;
import dev.semihard.engine.Rng;
import dev.semihard.engine.Tensor;
import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.ops.F;

/**
 * Fully connected layer y = x w^T + b. State: {@code <name>.weight} [out, in], He normal
 * (fan-in = in), and {@code <name>.bias} [out], initialized to zero (PyTorch draws it from a small
 * uniform; zero keeps the initial embedding a pure function of the weights).
 */
public final class Linear extends Module {
    private final Parameter weight, bias;

    public Linear(Backend backend, String name, int in, int out, Rng rng) {
        super(name);
        if (in < 1 || out < 1) throw new IllegalArgumentException("Linear " + name + ": in and out must be >= 1, got " + in + ", " + out);
        weight = addParameter(new Parameter(qualify("weight"), backend, out, in));
        Init.heNormal(weight, in, rng);
        bias = addParameter(new Parameter(qualify("bias"), backend, out));
        Init.constant(bias, 0f);
    }

    @Override
    public Tensor forward(Tensor x) { return F.linear(x.rank() == 2 ? x : F.flatten(x), weight, bias); }

    public Parameter weight() { return weight; }
    public Parameter bias() { return bias; }
}
