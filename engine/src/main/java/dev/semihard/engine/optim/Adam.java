package dev.semihard.engine.optim;

import dev.semihard.engine.Parameter;
import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.Buffer;
import dev.semihard.engine.backend.OptimizerParams;

import java.util.List;

/**
 * Adam, and AdamW when {@code decoupled} (PyTorch semantics, see {@link OptimizerParams.Adam}).
 * Slots: {@code exp_avg} (m), {@code exp_avg_sq} (v).
 */
public final class Adam extends Optimizer {
    private final float beta1, beta2, eps, weightDecay;
    private final boolean decoupled;

    public Adam(List<Parameter> params, float lr, float beta1, float beta2, float eps, float weightDecay, boolean decoupled) {
        super(params, lr);
        String kind = decoupled ? "AdamW" : "Adam";
        checkRange(kind, "beta1", beta1, 0f, 1f, false);
        checkRange(kind, "beta2", beta2, 0f, 1f, false);
        if (!(eps > 0) || Float.isInfinite(eps)) throw new IllegalArgumentException(kind + ": eps must be > 0, got " + eps);
        checkRange(kind, "weight decay", weightDecay, 0f, Float.MAX_VALUE, true);
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
        this.decoupled = decoupled;
    }

    /** PyTorch's defaults: betas (0.9, 0.999), eps 1e-8. */
    public Adam(List<Parameter> params, float lr) { this(params, lr, 0.9f, 0.999f, 1e-8f, 0f, false); }

    @Override
    protected String[] slotNames() { return new String[]{"exp_avg", "exp_avg_sq"}; }

    @Override
    protected void update(Backend backend, Parameter p, Buffer grad, Buffer[] slots, float lr, int step) {
        backend.adamUpdate(p.numel(), new OptimizerParams.Adam(lr, beta1, beta2, eps, weightDecay, decoupled, step),
                p.buffer(), grad, slots[0], slots[1]);
    }

    public boolean decoupled() { return decoupled; }
}
