package dev.semihard.engine.nn;

import dev.semihard.engine.Parameter;
import dev.semihard.engine.Tensor;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A layer or a network: a forward function plus named state.
 *
 * <p>Every module knows its full dotted name (given at construction, e.g. {@code "block2.conv1"}),
 * so its parameters are named once and for all ({@code "block2.conv1.weight"}) and
 * {@link #state()} returns the same stable names every time, in construction order. The names
 * follow PyTorch's {@code state_dict()} conventions ({@code weight}, {@code bias},
 * {@code running_mean}, {@code running_var}); PyTorch's {@code num_batches_tracked} is not kept.
 *
 * <p>A module owns its parameters and buffers; {@link #close()} releases them.
 */
public abstract class Module implements AutoCloseable {
    private final String name;
    private final List<Module> children = new ArrayList<>();
    private final LinkedHashMap<String, Parameter> params = new LinkedHashMap<>();
    private final LinkedHashMap<String, Tensor> buffers = new LinkedHashMap<>();
    private boolean training = true;

    protected Module(String name) { this.name = name == null ? "" : name; }

    /** Runs the module; records the autodiff graph when {@link dev.semihard.engine.Autograd#enabled()}. */
    public abstract Tensor forward(Tensor x);

    /** The full dotted name ("" for a top-level model). */
    public String moduleName() { return name; }

    /** {@code moduleName() + "." + local}, or {@code local} for a top-level module. */
    protected String qualify(String local) { return name.isEmpty() ? local : name + "." + local; }

    /** Every trainable parameter, this module's first, then its children's, in construction order. */
    public List<Parameter> parameters() {
        List<Parameter> out = new ArrayList<>(params.values());
        for (Module m : children) out.addAll(m.parameters());
        return out;
    }

    /**
     * Every parameter and non-trainable buffer (batch-norm running statistics) by full name,
     * in a stable order; the tensors are the live ones (writing into them changes the model).
     */
    public LinkedHashMap<String, Tensor> state() {
        LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
        collect(out);
        return out;
    }

    private void collect(Map<String, Tensor> out) {
        for (Parameter p : params.values()) out.put(p.name(), p);
        for (Map.Entry<String, Tensor> e : buffers.entrySet()) out.put(e.getKey(), e.getValue());
        for (Module m : children) m.collect(out);
    }

    /** Training (batch statistics) or evaluation (running statistics) mode, for this module and its children. */
    public void train(boolean on) {
        training = on;
        for (Module m : children) m.train(on);
    }

    /** Shorthand for {@code train(false)}. */
    public void eval() { train(false); }

    public boolean isTraining() { return training; }

    /** Clears the gradient of every parameter. */
    public void zeroGrad() {
        for (Parameter p : parameters()) p.zeroGrad();
    }

    /** Number of trainable scalars. */
    public long parameterCount() {
        long n = 0;
        for (Parameter p : parameters()) n += p.numel();
        return n;
    }

    protected <M extends Module> M addChild(M m) {
        children.add(m);
        return m;
    }

    protected List<Module> children() { return children; }

    /** This module and every module below it, depth first, in construction order. */
    public List<Module> modules() {
        List<Module> out = new ArrayList<>();
        out.add(this);
        for (Module m : children) out.addAll(m.modules());
        return out;
    }

    /** Registers a parameter whose full name must already be qualified. */
    protected Parameter addParameter(Parameter p) {
        params.put(p.name(), p);
        return p;
    }

    /** Registers a non-trainable tensor (kept outside every arena) under {@code qualify(local)}. */
    protected Tensor addBuffer(String local, Tensor t) {
        t.detachFromArena();
        buffers.put(qualify(local), t);
        return t;
    }

    @Override
    public void close() {
        for (Parameter p : params.values()) { p.zeroGrad(); p.close(); }
        for (Tensor t : buffers.values()) t.close();
        for (Module m : children) m.close();
    }
}
