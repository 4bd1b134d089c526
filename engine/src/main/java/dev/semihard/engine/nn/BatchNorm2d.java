package dev.semihard.engine.nn;

import dev.semihard.engine.Parameter;
import dev.semihard.engine.Tensor;
import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.ops.F;

/**
 * Batch normalization per channel with PyTorch's defaults: momentum 0.1, eps 1e-5, gamma = 1,
 * beta = 0, running mean 0, running variance 1. State: {@code <name>.weight} (gamma),
 * {@code <name>.bias} (beta), and the non-trainable {@code <name>.running_mean},
 * {@code <name>.running_var}. Training mode normalizes with the batch statistics and updates the
 * running ones; eval mode uses the running ones.
 *
 * <p>With {@code relu = true} the layer is {@code relu(batchNorm(x))} in one op
 * ({@link F#batchNorm2dRelu}: fused kernels, one pass over the activation less); its state is the
 * same as without, so checkpoints do not change when a model fuses its ReLUs.
 */
public final class BatchNorm2d extends Module {
    public static final float MOMENTUM = 0.1f;
    public static final float EPS = 1e-5f;

    private final Parameter gamma, beta;
    private final Tensor runningMean, runningVar;
    private final float momentum, eps;
    private final boolean relu;

    public BatchNorm2d(Backend backend, String name, int channels) { this(backend, name, channels, MOMENTUM, EPS, false); }

    /** With {@code relu}, the ReLU that follows the batch norm is part of this layer (fused kernels). */
    public BatchNorm2d(Backend backend, String name, int channels, boolean relu) {
        this(backend, name, channels, MOMENTUM, EPS, relu);
    }

    public BatchNorm2d(Backend backend, String name, int channels, float momentum, float eps) {
        this(backend, name, channels, momentum, eps, false);
    }

    public BatchNorm2d(Backend backend, String name, int channels, float momentum, float eps, boolean relu) {
        super(name);
        this.relu = relu;
        if (channels < 1) throw new IllegalArgumentException("BatchNorm2d " + name + ": channels must be >= 1, got " + channels);
        this.momentum = momentum;
        this.eps = eps;
        gamma = addParameter(new Parameter(qualify("weight"), backend, channels));
        Init.constant(gamma, 1f);
        beta = addParameter(new Parameter(qualify("bias"), backend, channels));
        runningMean = addBuffer("running_mean", Tensor.zeros(backend, channels));
        runningVar = addBuffer("running_var", Tensor.zeros(backend, channels));
        backend.fill(runningVar.buffer(), 0, channels, 1f);
    }

    @Override
    public Tensor forward(Tensor x) {
        return relu ? F.batchNorm2dRelu(x, gamma, beta, runningMean, runningVar, isTraining(), momentum, eps)
                    : F.batchNorm2d(x, gamma, beta, runningMean, runningVar, isTraining(), momentum, eps);
    }

    /** Whether the ReLU after the batch norm is fused into this layer. */
    public boolean fusesRelu() { return relu; }

    public Parameter gamma() { return gamma; }
    public Parameter beta() { return beta; }
    public Tensor runningMean() { return runningMean; }
    public Tensor runningVar() { return runningVar; }
    /** Weight of the newest batch in the running statistics (PyTorch's {@code momentum}). */
    public float momentum() { return momentum; }
}
