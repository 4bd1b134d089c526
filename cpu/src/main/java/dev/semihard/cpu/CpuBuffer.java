package dev.semihard.cpu;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.Buffer;

/** A buffer of the CPU backend: a Java {@code float[]} (heap memory is the device memory). */
final class CpuBuffer implements Buffer {
    private final CpuBackend owner;
    private float[] data;
    private final long size;

    CpuBuffer(CpuBackend owner, int size) {
        this.owner = owner;
        this.data = new float[size];
        this.size = size;
    }

    float[] data() {
        float[] d = data;
        if (d == null) throw new IllegalStateException("cpu backend: buffer used after close()");
        return d;
    }

    @Override public long size() { return size; }

    @Override public Backend backend() { return owner; }

    @Override
    public synchronized void close() {
        if (data == null) return;
        data = null;
        owner.released(size);
    }

    @Override public String toString() { return "CpuBuffer(" + size + ")"; }
}
