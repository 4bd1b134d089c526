package dev.semihard.cpu;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.Buffer;

/** A buffer of the CPU backend: a Java {@code float[]} (heap memory is the device memory); closing gives the array back to the backend's cache. */
final class CpuBuffer implements Buffer {
    private final CpuBackend owner;
    private float[] data;
    private final long size;

    CpuBuffer(CpuBackend owner, float[] data) {
        this.owner = owner;
        this.data = data;
        this.size = data.length;
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
        float[] d = data;
        data = null;
        owner.released(d);
    }

    @Override public String toString() { return "CpuBuffer(" + size + ")"; }
}
