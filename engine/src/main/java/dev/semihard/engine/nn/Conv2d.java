package dev.semihard.engine.nn;

import dev.semihard.engine.Parameter;
import dev.semihard.engine.Rng;
import dev.semihard.engine.Tensor;
import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.ops.F;

/**
 * 2-D convolution with square kernels. State: {@code <name>.weight} [out, in, k, k] (He normal),
 * and {@code <name>.bias} [out] (zeros) only when built with a bias (off by default: a batch norm
 * follows every convolution of the models).
 */
public final class Conv2d extends Module {
    private final Parameter weight;
    private final Parameter bias;
    private final int stride, pad;

    /** Without bias. */
    public Conv2d(Backend backend, String name, int in, int out, int kernel, int stride, int pad, Rng rng) {
        this(backend, name, in, out, kernel, stride, pad, false, rng);
    }

    public Conv2d(Backend backend, String name, int in, int out, int kernel, int stride, int pad, boolean withBias, Rng rng) {
        super(name);
        if (in < 1 || out < 1 || kernel < 1 || stride < 1 || pad < 0)
            throw new IllegalArgumentException("Conv2d " + name + ": need in, out, kernel, stride >= 1 and pad >= 0, got in=" + in
                    + " out=" + out + " kernel=" + kernel + " stride=" + stride + " pad=" + pad);
        this.stride = stride;
        this.pad = pad;
        weight = addParameter(new Parameter(qualify("weight"), backend, out, in, kernel, kernel));
        Init.heNormal(weight, in * kernel * kernel, rng);
        if (withBias) {
            bias = addParameter(new Parameter(qualify("bias"), backend, out));
            Init.constant(bias, 0f);
        } else {
            bias = null;
        }
    }

    @Override
    public Tensor forward(Tensor x) { return F.conv2d(x, weight, bias, stride, pad); }

    public Parameter weight() { return weight; }
    public Parameter bias() { return bias; }
    public int stride() { return stride; }
    public int padding() { return pad; }
}
