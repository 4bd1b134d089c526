package dev.semihard.engine.conformance;

/**
 * Outcome of one {@link Check}.
 *
 * @param name    the check's name
 * @param passed  every compared element was within tolerance
 * @param skipped the candidate (or reference) does not implement the kernel: it threw
 *                {@link UnsupportedOperationException}; never silently green, the detail says so loudly
 * @param detail  on failure the worst element: output, index, reference value, candidate value and the
 *                allowed tolerance; on success the worst ratio |diff| / allowed
 */
public record CheckResult(String name, boolean passed, boolean skipped, String detail) {
    public static CheckResult pass(String name, String detail) { return new CheckResult(name, true, false, detail); }

    public static CheckResult failed(String name, String detail) { return new CheckResult(name, false, false, detail); }

    public static CheckResult skip(String name, String detail) { return new CheckResult(name, false, true, detail); }

    @Override
    public String toString() {
        return (skipped ? "SKIPPED " : passed ? "PASS    " : "FAIL    ") + name + ": " + detail;
    }
}
