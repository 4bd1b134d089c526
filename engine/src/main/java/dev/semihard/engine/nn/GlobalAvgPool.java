package dev.semihard.engine.nn;

import dev.semihard.engine.Tensor;
import dev.semihard.engine.ops.F;

/** [N, C, H, W] -> [N, C], the mean over each feature map. */
public final class GlobalAvgPool extends Module {
    public GlobalAvgPool() { super(""); }

    @Override
    public Tensor forward(Tensor x) { return F.globalAvgPool(x); }
}
