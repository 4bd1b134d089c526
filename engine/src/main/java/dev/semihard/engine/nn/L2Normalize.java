package dev.semihard.engine.nn;

import dev.semihard.engine.Tensor;
import dev.semihard.engine.ops.F;

/** Row-wise L2 normalization of [N, D] (safe at zero norm, eps 1e-12). */
public final class L2Normalize extends Module {
    public L2Normalize() { super(""); }

    @Override
    public Tensor forward(Tensor x) { return F.l2Normalize(x); }
}
