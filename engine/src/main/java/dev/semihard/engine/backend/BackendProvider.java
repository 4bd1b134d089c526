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

    /** Higher is preferred by {@code --backend auto} (reference 0, opencl 50, cuda 100). */
    int priority();

    /** Whether this backend can run here, and if not, why. Cached; never throws. */
    Availability probe();

    /** Creates the backend; only called when {@link #probe()} said available. */
    Backend create(BackendOptions options);
}
