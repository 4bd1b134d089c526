package dev.semihard.engine.conformance;

import dev.semihard.engine.backend.Backend;

import java.util.function.BiFunction;

/**
 * One conformance check: runs a kernel (or a short sequence of kernels) on identical seeded
 * inputs on a reference backend and on a candidate backend, and compares the outputs.
 *
 * @param name a readable name with the shape, e.g. {@code "conv2dForward n2 c3 8x8 k4 3x3 s2 p1 bias"}
 * @param test (reference, candidate) -> result; never throws (see {@link #run})
 */
public record Check(String name, BiFunction<Backend, Backend, CheckResult> test) {
    /** Runs the check; any exception escaping the test becomes a failed result naming it. */
    public CheckResult run(Backend reference, Backend candidate) {
        try {
            return test.apply(reference, candidate);
        } catch (RuntimeException | AssertionError e) {
            return CheckResult.failed(name, "the check itself threw " + Conformance.describe(e));
        }
    }

    @Override
    public String toString() { return name; }
}
