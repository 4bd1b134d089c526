package dev.semihard.engine;

import dev.semihard.engine.backend.Backend;

/**
 * A trainable, named tensor (e.g. "block2.conv1.weight"). Parameters live outside step arenas,
 * always require a gradient, and keep their gradient buffer across steps.
 */
public final class Parameter extends Tensor {
    private final String name;

    public Parameter(String name, Backend backend, int... shape) {
        super(backend, backend.allocate(numel(shape)), shape, true, false);
        this.name = name;
        requiresGrad(true);
    }

    public String name() { return name; }

    /** Overwrites the values from a host array of exactly numel() floats. */
    public void set(float[] values) {
        if (values.length != numel())
            throw new IllegalArgumentException("parameter " + name + ": " + values.length + " values for " + numel() + " elements");
        backend().upload(values, 0, buffer(), 0, values.length);
    }

    @Override
    protected Tensor allocateGrad() {
        // created outside any arena, so the gradient survives the step that produced it
        Tensor g = Tensor.empty(backend(), shape());   // overwritten by the copy that follows
        g.detachFromArena();
        return g;
    }

    @Override
    protected Tensor adoptGrad(dev.semihard.engine.backend.Buffer b) {
        // not registered with any arena: the gradient survives the step that produced it
        return new Tensor(backend(), b, shape(), true, false);
    }

    @Override
    public String toString() { return "Parameter " + name + " " + java.util.Arrays.toString(shape()); }
}
