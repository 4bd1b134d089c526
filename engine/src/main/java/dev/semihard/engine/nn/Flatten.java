package dev.semihard.engine.nn;

import dev.semihard.engine.Tensor;
import dev.semihard.engine.ops.F;

/** [N, ...] -> [N, features], a view (no copy). */
public final class Flatten extends Module {
    public Flatten() { super(""); }

    @Override
    public Tensor forward(Tensor x) { return F.flatten(x); }
}
