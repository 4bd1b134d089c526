package dev.semihard.kernels.cuda;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.Buffer;

/**
 * A float32 block of device memory of one {@link CudaBackend}. {@link #close()} hands the block
 * back to the backend's caching allocator (no {@code cuMemFree}); it is idempotent.
 */
public final class CudaBuffer implements Buffer {
    private final CudaBackend owner;
    final DevicePtr ptr;
    private final long floats;
    final long bytes;        // the allocator's size class, >= 4 * floats
    private boolean closed;

    CudaBuffer(CudaBackend owner, DevicePtr ptr, long floats, long bytes) {
        this.owner = owner;
        this.ptr = ptr;
        this.floats = floats;
        this.bytes = bytes;
    }

    @Override public long size() { return floats; }

    @Override public Backend backend() { return owner; }

    boolean isClosed() { return closed; }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        owner.release(this);
    }

    @Override
    public String toString() { return "CudaBuffer(" + floats + " floats" + (closed ? ", closed" : "") + ")"; }
}
