package dev.semihard.engine.backend;

/** Hyper-parameters passed to the optimizer-update kernels for one step. */
public final class OptimizerParams {
    private OptimizerParams() {}

    /**
     * SGD with momentum (PyTorch semantics, dampening 0):
     * g = grad + wd*param; v = momentum*v + g; step = nesterov ? g + momentum*v : v; param -= lr*step.
     */
    public record Sgd(float lr, float momentum, boolean nesterov, float weightDecay) {}

    /**
     * Adam / AdamW (PyTorch semantics). step is 1-based (bias correction uses it).
     * Adam: g = grad + wd*param. AdamW (decoupled): param -= lr*wd*param, then the Adam step with g = grad.
     * m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2; mhat = m/(1-b1^step); vhat = v/(1-b2^step);
     * param -= lr * mhat / (sqrt(vhat) + eps).
     */
    public record Adam(float lr, float beta1, float beta2, float eps, float weightDecay, boolean decoupled, int step) {}

    /**
     * Adagrad (FaceNet's choice; PyTorch semantics, no lr decay, initial accumulator 0):
     * g = grad + wd*param; acc += g^2; param -= lr * g / (sqrt(acc) + eps).
     */
    public record Adagrad(float lr, float eps, float weightDecay) {}
}
