package dev.semihard.engine.optim;

import dev.semihard.engine.Parameter;
import dev.semihard.engine.Tensor;
import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.Buffer;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Updates parameters in place from their gradients, with one backend update kernel per parameter.
 *
 * <p>Per-parameter state ("slots": momentum buffer, Adam moments, Adagrad sums) lives on the
 * parameter's backend, allocated zero-filled at construction, outside every arena. A parameter
 * whose gradient is null at {@link #step()} (unused in this step) is skipped and its state left as
 * it is, like PyTorch. The step count is global and 1-based inside the update (Adam's bias
 * correction uses it).
 *
 * <p>{@link #stateDict()} holds {@code "step"} (one float, exact up to 2^24 steps) and
 * {@code "<parameter name>.<slot>"} for every slot, e.g. {@code "conv1.weight.exp_avg"}.
 */
public abstract class Optimizer implements AutoCloseable {
    protected final List<Parameter> params;
    private final Buffer[][] slots;
    private float lr;
    private int step;

    protected Optimizer(List<Parameter> params, float lr) {
        if (params == null || params.isEmpty())
            throw new IllegalArgumentException(getClass().getSimpleName() + ": no parameters to optimize");
        checkLr(lr);
        this.params = List.copyOf(params);
        this.lr = lr;
        Set<String> names = new HashSet<>();
        Set<Parameter> seen = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        for (Parameter p : this.params) {
            if (!seen.add(p)) throw new IllegalArgumentException(getClass().getSimpleName() + ": parameter " + p.name() + " is listed twice");
            if (!names.add(p.name()))
                throw new IllegalArgumentException(getClass().getSimpleName() + ": two parameters are named '" + p.name()
                        + "'; names must be unique for checkpoints");
        }
        String[] slotNames = slotNames();
        slots = new Buffer[this.params.size()][slotNames.length];
        for (int i = 0; i < this.params.size(); i++) {
            Parameter p = this.params.get(i);
            for (int s = 0; s < slotNames.length; s++) slots[i][s] = p.backend().allocate(p.numel());
        }
    }

    /** Names of the per-parameter state buffers, e.g. {"exp_avg", "exp_avg_sq"}. */
    protected abstract String[] slotNames();

    /** Runs the update kernel for one parameter; {@code step} is 1-based. */
    protected abstract void update(Backend backend, Parameter p, Buffer grad, Buffer[] slots, float lr, int step);

    /** One update of every parameter that has a gradient. */
    public void step() {
        step++;
        for (int i = 0; i < params.size(); i++) {
            Parameter p = params.get(i);
            Tensor g = p.grad();
            if (g == null) continue;
            update(p.backend(), p, g.buffer(), slots[i], lr, step);
        }
    }

    /** Drops every parameter's gradient. */
    public void zeroGrad() {
        for (Parameter p : params) p.zeroGrad();
    }

    public void setLearningRate(float lr) {
        checkLr(lr);
        this.lr = lr;
    }

    public float learningRate() { return lr; }

    /** Number of {@link #step()} calls so far (restored by {@link #loadStateDict}). */
    public int stepCount() { return step; }

    public List<Parameter> parameters() { return params; }

    /** A host copy of the whole state (for checkpoints). */
    public LinkedHashMap<String, float[]> stateDict() {
        LinkedHashMap<String, float[]> out = new LinkedHashMap<>();
        out.put("step", new float[]{step});
        String[] names = slotNames();
        for (int i = 0; i < params.size(); i++) {
            Parameter p = params.get(i);
            for (int s = 0; s < names.length; s++) {
                float[] v = new float[(int) p.numel()];
                p.backend().download(slots[i][s], 0, v, 0, v.length);
                out.put(p.name() + "." + names[s], v);
            }
        }
        return out;
    }

    /** Restores a {@link #stateDict()} of an optimizer of the same kind over parameters of the same names and sizes. */
    public void loadStateDict(Map<String, float[]> state) {
        String kind = getClass().getSimpleName();
        float[] st = state.get("step");
        if (st == null || st.length != 1 || st[0] < 0 || st[0] != Math.rint(st[0]))
            throw new IllegalArgumentException(kind + ".loadStateDict: missing or invalid \"step\" entry");
        String[] names = slotNames();
        List<String> expected = new ArrayList<>();
        expected.add("step");
        for (int i = 0; i < params.size(); i++) {
            Parameter p = params.get(i);
            for (String n : names) {
                String key = p.name() + "." + n;
                expected.add(key);
                float[] v = state.get(key);
                if (v == null)
                    throw new IllegalArgumentException(kind + ".loadStateDict: missing entry '" + key
                            + "' (was the checkpoint written by another optimizer or model?)");
                if (v.length != p.numel())
                    throw new IllegalArgumentException(kind + ".loadStateDict: entry '" + key + "' has " + v.length
                            + " values but parameter " + p.name() + " has " + p.numel());
            }
        }
        for (String k : state.keySet())
            if (!expected.contains(k))
                throw new IllegalArgumentException(kind + ".loadStateDict: unexpected entry '" + k
                        + "' (was the checkpoint written by another optimizer or model?)");
        for (int i = 0; i < params.size(); i++) {
            Parameter p = params.get(i);
            for (int s = 0; s < names.length; s++) {
                float[] v = state.get(p.name() + "." + names[s]);
                p.backend().upload(v, 0, slots[i][s], 0, v.length);
            }
        }
        step = (int) st[0];
    }

    /** Releases the state buffers (not the parameters). */
    @Override
    public void close() {
        for (Buffer[] bs : slots) for (Buffer b : bs) b.close();
    }

    private void checkLr(float lr) {
        if (!(lr >= 0) || Float.isInfinite(lr))
            throw new IllegalArgumentException(getClass().getSimpleName() + ": learning rate must be a finite number >= 0, got " + lr);
    }

    static void checkRange(String kind, String what, float v, float lo, float hi, boolean hiInclusive) {
        boolean ok = v >= lo && (hiInclusive ? v <= hi : v < hi);
        if (!ok)
            throw new IllegalArgumentException(kind + ": " + what + " must be in [" + lo + ", " + hi + (hiInclusive ? "]" : ")")
                    + ", got " + v);
    }
}
