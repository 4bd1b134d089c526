package dev.semihard.engine;

/**
 * Global switches of reverse-mode autodiff.
 *
 * <p>{@code try (var g = Autograd.noGrad()) { ... }} runs a block without recording the graph
 * (evaluation, embedding, the first pass of two-pass training).
 */
public final class Autograd {
    private static final ThreadLocal<int[]> NO_GRAD_DEPTH = ThreadLocal.withInitial(() -> new int[1]);

    private Autograd() {}

    /** True when operations should record the graph on this thread. */
    public static boolean enabled() { return NO_GRAD_DEPTH.get()[0] == 0; }

    /** Disables graph recording until the returned handle is closed. */
    public static NoGrad noGrad() {
        NO_GRAD_DEPTH.get()[0]++;
        return new NoGrad();
    }

    /** Handle returned by {@link #noGrad()}. */
    public static final class NoGrad implements AutoCloseable {
        private boolean closed;
        private NoGrad() {}
        @Override public void close() {
            if (!closed) { closed = true; NO_GRAD_DEPTH.get()[0]--; }
        }
    }
}
