package dev.semihard.engine.optim;

import dev.semihard.engine.Parameter;
import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.Buffer;
import dev.semihard.engine.backend.OptimizerParams;

import java.util.List;

/**
 * SGD with momentum, PyTorch semantics (dampening 0): g = grad + wd * param; v = momentum * v + g;
 * param -= lr * (nesterov ? g + momentum * v : v). Slot: {@code momentum_buffer}.
 */
public final class Sgd extends Optimizer {
    private final float momentum, weightDecay;
    private final boolean nesterov;

    public Sgd(List<Parameter> params, float lr, float momentum, boolean nesterov, float weightDecay) {
        super(params, lr);
        checkRange("Sgd", "momentum", momentum, 0f, 1f, false);
        checkRange("Sgd", "weight decay", weightDecay, 0f, Float.MAX_VALUE, true);
        if (nesterov && momentum == 0f) throw new IllegalArgumentException("Sgd: Nesterov momentum needs momentum > 0");
        this.momentum = momentum;
        this.nesterov = nesterov;
        this.weightDecay = weightDecay;
    }

    @Override
    protected String[] slotNames() { return new String[]{"momentum_buffer"}; }

    @Override
    protected void update(Backend backend, Parameter p, Buffer grad, Buffer[] slots, float lr, int step) {
        backend.sgdUpdate(p.numel(), new OptimizerParams.Sgd(lr, momentum, nesterov, weightDecay), p.buffer(), grad, slots[0]);
    }

    public float momentum() { return momentum; }
    public boolean nesterov() { return nesterov; }
    public float weightDecay() { return weightDecay; }
}
