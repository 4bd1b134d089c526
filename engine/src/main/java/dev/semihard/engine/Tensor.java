package dev.semihard.engine;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.Buffer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * A float32 tensor whose storage is a {@link Buffer} of one {@link Backend}.
 *
 * <p>Images are NCHW, matrices row-major. A tensor that {@link #requiresGrad()} gets a gradient
 * tensor of the same shape during {@link #backward()}; gradients accumulate (a tensor used twice
 * receives the sum), until {@link #zeroGrad()}. A tensor produced by an op while
 * {@link Autograd#enabled()} remembers the {@link Node} that made it.
 *
 * <p>Gradient buffers: the first gradient a tensor receives through {@link #accumulateGradOwned}
 * (every op in {@code F} hands over its freshly computed input gradients that way) becomes its
 * gradient buffer as is, with no allocation, zero fill or copy; later gradients are added with
 * {@link Backend#axpy}. {@link #accumulateGrad} (the caller keeps its tensor) copies on first use.
 */
public class Tensor implements AutoCloseable {
    private final Backend backend;
    private final Buffer buffer;
    private final int[] shape;
    /** False for views and wrapped buffers, and after the buffer was handed over by {@link #accumulateGradOwned}. */
    private boolean ownsBuffer;
    private boolean requiresGrad;
    private Tensor grad;
    private Node creator;
    private boolean closed;
    /**
     * The value of every element when the host knows it without a download, else NaN. Set only on the
     * gradient that {@link #backward()} seeds with 1 (so a loss's backward closure can read its
     * upstream gradient with {@link #item()} without waiting for the device), and dropped when a
     * gradient is added into that tensor.
     */
    private float hostValue = Float.NaN;

    protected Tensor(Backend backend, Buffer buffer, int[] shape, boolean ownsBuffer, boolean register) {
        this.backend = backend;
        this.buffer = buffer;
        this.shape = shape.clone();
        this.ownsBuffer = ownsBuffer;
        long n = numel(shape);
        if (buffer.size() < n)
            throw new IllegalArgumentException("tensor of shape " + Arrays.toString(shape) + " needs " + n
                    + " floats but its buffer has " + buffer.size());
        if (register) {
            Arena a = Arena.current();
            if (a != null) a.register(this);
        }
    }

    // ------------------------------------------------------------------ creation

    /** A zero-filled tensor (registered with the current {@link Arena}, if any). */
    public static Tensor zeros(Backend backend, int... shape) {
        return new Tensor(backend, backend.allocate(numel(shape)), shape, true, true);
    }

    /**
     * A tensor with <b>unspecified contents</b> ({@link Backend#allocateUninitialized}: no zero fill;
     * NaN on the reference backend), registered like {@link #zeros}. Only for a kernel output that the
     * kernel overwrites entirely before anything reads it.
     */
    public static Tensor empty(Backend backend, int... shape) {
        return new Tensor(backend, backend.allocateUninitialized(numel(shape)), shape, true, true);
    }

    /** A tensor holding a copy of {@code data}. */
    public static Tensor of(Backend backend, float[] data, int... shape) {
        if (data.length != numel(shape))
            throw new IllegalArgumentException("Tensor.of: " + data.length + " values for shape " + Arrays.toString(shape)
                    + " (" + numel(shape) + " elements)");
        Tensor t = zeros(backend, shape);
        backend.upload(data, 0, t.buffer, 0, data.length);
        return t;
    }

    /** Wraps an existing buffer without taking ownership (closing the tensor leaves the buffer open). */
    public static Tensor wrap(Backend backend, Buffer buffer, int... shape) {
        return new Tensor(backend, buffer, shape, false, false);
    }

    // ------------------------------------------------------------------ accessors

    public Backend backend() { return backend; }
    public Buffer buffer() { return buffer; }
    public int[] shape() { return shape.clone(); }
    public int dim(int i) { return shape[i < 0 ? shape.length + i : i]; }
    public int rank() { return shape.length; }
    public long numel() { return numel(shape); }
    public boolean requiresGrad() { return requiresGrad; }
    public Tensor grad() { return grad; }
    public Node creator() { return creator; }

    public Tensor requiresGrad(boolean on) { this.requiresGrad = on; return this; }

    /** Copies the contents to a new host array. */
    public float[] toArray() {
        long n = numel();
        if (n > Integer.MAX_VALUE) throw new IllegalStateException("tensor too large for one host array: " + n);
        float[] out = new float[(int) n];
        backend.download(buffer, 0, out, 0, out.length);
        return out;
    }

    /** The single value of a one-element tensor. */
    public float item() {
        if (numel() != 1) throw new IllegalStateException("item() needs one element, tensor has shape " + Arrays.toString(shape));
        if (!Float.isNaN(hostValue)) return hostValue;     // backward()'s seed: known without a download
        float[] v = new float[1];
        backend.download(buffer, 0, v, 0, 1);
        return v[0];
    }

    /** A view with another shape over the same buffer (same number of elements); gradients flow through. */
    public Tensor reshape(int... newShape) {
        if (numel(newShape) != numel())
            throw new IllegalArgumentException("reshape: cannot view shape " + Arrays.toString(shape) + " ("
                    + numel() + " elements) as " + Arrays.toString(newShape) + " (" + numel(newShape) + " elements)");
        Tensor v = new Tensor(backend, buffer, newShape, false, true);
        if (requiresGrad && Autograd.enabled()) {
            Tensor src = this;
            // the view's gradient is handed over whole: it becomes src's gradient buffer (no copy) when src has none yet
            v.record("reshape", List.of(this), g -> src.accumulateGradOwned(g));
        }
        return v;
    }

    // ------------------------------------------------------------------ autodiff

    /**
     * Marks this tensor as the output of op {@code op} over {@code inputs} when autodiff is on and
     * any input requires a gradient. Ops call this once, right after computing their output.
     */
    public Tensor record(String op, List<Tensor> inputs, Node.Backward backward) {
        if (!Autograd.enabled()) return this;
        boolean any = false;
        for (Tensor t : inputs) if (t != null && t.requiresGrad) { any = true; break; }
        if (!any) return this;
        this.requiresGrad = true;
        this.creator = new Node(op, List.copyOf(inputs.stream().filter(t -> t != null).toList()), backward);
        return this;
    }

    /**
     * Adds {@code g} (same number of elements) into this tensor's gradient, allocating it on first use.
     * Ops call this from their backward functions for each input that requires a gradient.
     */
    public void accumulateGrad(Tensor g) {
        if (!requiresGrad) return;
        if (g.numel() != numel())
            throw new IllegalArgumentException("gradient of shape " + Arrays.toString(g.shape) + " for tensor of shape "
                    + Arrays.toString(shape));
        if (grad == null) {
            grad = allocateGrad();
            backend.copy(g.buffer, 0, grad.buffer, 0, numel());
        } else {
            backend.axpy(numel(), 1f, g.buffer, grad.buffer);
            grad.hostValue = Float.NaN;
        }
    }

    /**
     * Adds {@code g} into this tensor's gradient like {@link #accumulateGrad}, <b>taking ownership of g</b>:
     * the caller must not use g afterwards (it is closed here, so closing it again is harmless).
     *
     * <p>When this tensor has no gradient yet and g owns its buffer exclusively (not a view, not a
     * wrapped buffer, not a parameter, not closed), g's buffer becomes the gradient: no allocation,
     * zero fill or copy. Later gradients are added into it with axpy, which is why the hand-over is
     * safe only for a buffer nothing else reads or writes afterwards: a backward temporary, or the
     * gradient of a node's output (which {@link #backward(Tensor)} drops right after that node), never
     * a tensor some closure keeps (use {@link #accumulateGrad} for those). Mismatched element counts
     * throw, and g is closed then too.
     */
    public void accumulateGradOwned(Tensor g) {
        try {
            if (!requiresGrad) return;
            if (grad == null && g != this && g.ownsBuffer && !g.closed && !(g instanceof Parameter) && g.backend == backend
                    && g.numel() == numel()) {
                g.ownsBuffer = false;        // g gives its buffer up: closing g (or g's arena) no longer frees it
                grad = adoptGrad(g.buffer);
            } else {
                accumulateGrad(g);
            }
        } finally {
            g.close();
        }
    }

    /** Gradient storage; {@link Parameter} overrides this to keep it outside step arenas. */
    protected Tensor allocateGrad() { return empty(backend, shape); }   // overwritten by the copy that follows

    /**
     * A gradient tensor of this tensor's shape that owns {@code b} (handed over by {@link #accumulateGradOwned}),
     * registered with the current arena like {@link #allocateGrad}; {@link Parameter} keeps it outside arenas.
     */
    protected Tensor adoptGrad(Buffer b) { return new Tensor(backend, b, shape, true, true); }

    /** Back-propagates from a one-element tensor (seed gradient 1). */
    public void backward() {
        if (numel() != 1)
            throw new IllegalStateException("backward() without a seed needs a scalar, tensor has shape " + Arrays.toString(shape));
        Tensor seed = zeros(backend, shape);
        backend.fill(seed.buffer, 0, 1, 1f);
        backward(seed, 1f);
    }

    /** Back-propagates {@code seed} (the gradient of this tensor) through the recorded graph. */
    public void backward(Tensor seed) {
        backward(seed, Float.NaN);
    }

    /** {@link #backward(Tensor)}; seedValue: every element of seed, when the host knows it (else NaN). */
    private void backward(Tensor seed, float seedValue) {
        if (!requiresGrad) throw new IllegalStateException("backward(): tensor does not require a gradient (no recorded graph)");
        List<Tensor> order = new ArrayList<>();
        topo(this, new HashSet<>(), order);
        boolean fresh = grad == null;
        accumulateGrad(seed);
        if (fresh && grad != null) grad.hostValue = seedValue;   // the gradient is exactly the seed
        for (int i = order.size() - 1; i >= 0; i--) {
            Tensor t = order.get(i);
            if (t.creator == null || t.grad == null) continue;
            t.creator.backward.apply(t.grad);
            // Like PyTorch, only leaves keep their gradient: an intermediate's gradient is consumed
            // here, so a second backward() over the same graph adds exactly one more gradient.
            t.grad.close();
            t.grad = null;
        }
        if (grad != null) grad.hostValue = Float.NaN;   // a leaf keeps its gradient, which others may change in place
    }

    private static void topo(Tensor t, Set<Tensor> seen, List<Tensor> out) {
        // iterative post-order DFS: deep ResNets must not overflow the stack
        record Frame(Tensor t, int next) {}
        ArrayList<Frame> stack = new ArrayList<>();
        if (!seen.add(t)) return;
        stack.add(new Frame(t, 0));
        while (!stack.isEmpty()) {
            Frame f = stack.remove(stack.size() - 1);
            List<Tensor> in = f.t.creator == null ? List.of() : f.t.creator.inputs;
            if (f.next < in.size()) {
                stack.add(new Frame(f.t, f.next + 1));
                Tensor c = in.get(f.next);
                if (c.requiresGrad && seen.add(c)) stack.add(new Frame(c, 0));
            } else {
                out.add(f.t);
            }
        }
    }

    /** Drops the gradient (closing its buffer). */
    public void zeroGrad() {
        if (grad != null) { grad.close(); grad = null; }
    }

    /** Forgets the graph that produced this tensor (it becomes a leaf). */
    public Tensor detachGraph() { creator = null; return this; }

    /** Takes this tensor out of the current arena so it outlives the step. */
    public Tensor detachFromArena() {
        Arena a = Arena.current();
        if (a != null) a.remove(this);
        return this;
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        if (ownsBuffer) buffer.close();
    }

    public boolean isClosed() { return closed; }

    // ------------------------------------------------------------------ helpers

    public static long numel(int[] shape) {
        long n = 1;
        for (int d : shape) {
            if (d < 0) throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(shape));
            n *= d;
        }
        return n;
    }

    @Override
    public String toString() {
        return "Tensor" + Arrays.toString(shape) + (requiresGrad ? " (grad)" : "") + (creator != null ? " <- " + creator.op : "");
    }
}
