package dev.semihard.engine.nn;

import dev.semihard.engine.Tensor;

import java.util.List;

/** Runs its children in order. Children carry their own full names, so the order of state() is theirs. */
public class Sequential extends Module {
    public Sequential(String name) { super(name); }

    public Sequential(String name, Module... modules) {
        super(name);
        for (Module m : modules) add(m);
    }

    /** Appends a module; returns this for chaining. */
    public Sequential add(Module m) {
        addChild(m);
        return this;
    }

    public List<Module> modules() { return List.copyOf(children()); }

    @Override
    public Tensor forward(Tensor x) {
        Tensor h = x;
        for (Module m : children()) h = m.forward(h);
        return h;
    }
}
