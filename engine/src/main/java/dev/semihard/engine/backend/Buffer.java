package dev.semihard.engine.backend;

/**
 * A block of float32 device memory owned by one {@link Backend}.
 *
 * <p>Buffers are opaque handles: only the backend that allocated one may read
 * or write it. Sizes and offsets are counted in floats, never bytes.
 */
public interface Buffer extends AutoCloseable {
    /** Number of float32 elements. */
    long size();

    /** The backend that owns this buffer. */
    Backend backend();

    /** Returns the memory to the backend (or its caching allocator). Idempotent. */
    @Override
    void close();
}
