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

    /**
     * For each parameter in order, the sum of squares of its gradient's finite elements and the count
     * of its non-finite ones (out[2i], out[2i+1]; 0 and 0 without a gradient), read back from the
     * device once ({@link Backend#sumSquaresMany}): a training step's non-finite check and gradient norm.
     */
    public static float[] gradientSumSquares(java.util.List<Parameter> params) {
        float[] out = new float[2 * params.size()];
        java.util.List<Integer> at = new java.util.ArrayList<>();
        for (int i = 0; i < params.size(); i++) if (params.get(i).grad() != null) at.add(i);
        if (at.isEmpty()) return out;
        long[] ns = new long[at.size()];
        dev.semihard.engine.backend.Buffer[] gs = new dev.semihard.engine.backend.Buffer[at.size()];
        for (int j = 0; j < ns.length; j++) {
            Tensor g = params.get(at.get(j)).grad();
            ns[j] = g.numel();
            gs[j] = g.buffer();
        }
        float[] sums = new float[2 * ns.length];
        params.get(at.get(0)).backend().sumSquaresMany(ns, gs, sums);
        for (int j = 0; j < ns.length; j++) {
            out[2 * at.get(j)] = sums[2 * j];
            out[2 * at.get(j) + 1] = sums[2 * j + 1];
        }
        return out;
    }

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
