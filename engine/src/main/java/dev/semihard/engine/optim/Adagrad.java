package dev.semihard.engine.optim;

import dev.semihard.engine.Parameter;
import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.Buffer;
import dev.semihard.engine.backend.OptimizerParams;

import java.util.List;

/**
 * Adagrad (FaceNet's optimizer), PyTorch semantics with no lr decay and a zero initial accumulator:
 * g = grad + wd * param; acc += g^2; param -= lr * g / (sqrt(acc) + eps). Slot: {@code sum}.
 */
public final class Adagrad extends Optimizer {
    private final float eps, weightDecay;

    public Adagrad(List<Parameter> params, float lr, float eps, float weightDecay) {
        super(params, lr);
        if (!(eps > 0) || Float.isInfinite(eps)) throw new IllegalArgumentException("Adagrad: eps must be > 0, got " + eps);
        checkRange("Adagrad", "weight decay", weightDecay, 0f, Float.MAX_VALUE, true);
        this.eps = eps;
        this.weightDecay = weightDecay;
    }

    @Override
    protected String[] slotNames() { return new String[]{"sum"}; }

    @Override
    protected void update(Backend backend, Parameter p, Buffer grad, Buffer[] slots, float lr, int step) {
        backend.adagradUpdate(p.numel(), new OptimizerParams.Adagrad(lr, eps, weightDecay), p.buffer(), grad, slots[0]);
    }
}
