package dev.semihard.engine.reference;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.Buffer;

/**
 * A buffer of the {@link ReferenceBackend}: a plain {@code double[]} on the Java heap.
 *
 * <p>The interface counts elements as float32, but the reference backend stores and computes
 * every element in double precision so that it can serve as the exact specification; values are
 * rounded to float only when downloaded.
 */
public final class ReferenceBuffer implements Buffer {
    private final ReferenceBackend owner;
    private double[] data;
    private final long size;

    ReferenceBuffer(ReferenceBackend owner, int size) {
        this.owner = owner;
        this.size = size;
        this.data = new double[size];
    }

    @Override public long size() { return size; }

    @Override public Backend backend() { return owner; }

    /** The storage; throws a clear error when the buffer was already closed. */
    double[] data() {
        double[] d = data;
        if (d == null)
            throw new IllegalStateException("reference buffer of " + size + " elements used after close(): "
                    + "a tensor outlived its Arena or was closed twice; detach it from the arena (Tensor.detachFromArena) "
                    + "if it must survive the step");
        return d;
    }

    /** True once {@link #close()} ran. */
    public boolean isClosed() { return data == null; }

    @Override
    public synchronized void close() {
        if (data == null) return;
        data = null;
        owner.released(size);
    }

    @Override
    public String toString() { return "ReferenceBuffer[" + size + (data == null ? ", closed]" : "]"); }
}
