package dev.semihard.engine.nn;

import dev.semihard.engine.Tensor;
import dev.semihard.engine.ops.F;

/** Max pooling, square window, no padding, floor rounding (stride defaults to the window size). */
public final class MaxPool2d extends Module {
    private final int size, stride;

    public MaxPool2d(int size) { this(size, size); }

    public MaxPool2d(int size, int stride) {
        super("");
        this.size = size;
        this.stride = stride;
    }

    @Override
    public Tensor forward(Tensor x) { return F.maxPool2d(x, size, stride); }
}
