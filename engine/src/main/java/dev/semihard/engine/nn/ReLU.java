package dev.semihard.engine.nn;

import dev.semihard.engine.Tensor;
import dev.semihard.engine.ops.F;

/** max(x, 0). */
public final class ReLU extends Module {
    public ReLU() { super(""); }

    @Override
    public Tensor forward(Tensor x) { return F.relu(x); }
}
