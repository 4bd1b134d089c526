package dev.semihard.engine.backend;

/**
 * Service-provider interface: one per backend, listed in
 * {@code META-INF/services/dev.semihard.engine.backend.BackendProvider}.
 *
 * <p>{@link #probe()} must never throw, even when a native library is missing: JCuda and
 * LWJGL throw {@link UnsatisfiedLinkError} the first time and {@link NoClassDefFoundError}
 * after, so providers probe once, catch {@link Throwable}, and cache the answer.
 */
public interface BackendProvider {
    /** The name used by {@code --backend}. */
    String name();

    /** Higher is preferred by {@code --backend auto} (reference 0, cpu 40, opencl 50, cuda 100). */
    int priority();

    /**
     * The priority once the probe has answered, for a provider whose rank depends on the device it found
     * (OpenCL: 60 on a GPU, ahead of the cpu backend's 40; 30 on a CPU device, behind it). Default: {@link #priority()}.
     */
    default int priority(Availability availability) { return priority(); }

    /** Why {@link #priority(Availability)} differs from {@link #priority()} (for the log), or null. */
    default String priorityReason(Availability availability) { return null; }

    /** Whether this backend can run here, and if not, why. Cached; never throws. */
    Availability probe();

    /** Creates the backend; only called when {@link #probe()} said available. */
    Backend create(BackendOptions options);
}
