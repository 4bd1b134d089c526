package dev.semihard.bench.jmh;

/**
 * Nominal work of one benchmark invocation, used to turn JMH's ms/op into GFLOP/s and GB/s.
 *
 * @param flops floating-point operations (a multiply-add counts 2), 0 for pure data movement
 * @param bytes bytes the kernel must read plus write at least once (its compulsory traffic)
 */
public record Work(double flops, double bytes) {
    public static Work bytes(double bytes) { return new Work(0, bytes); }
    public static Work of(double flops, double bytes) { return new Work(flops, bytes); }

    /** GFLOP/s at {@code ms} per invocation (0 when there are no flops). */
    public double gflops(double ms) { return flops / 1e9 / (ms / 1e3); }

    /** GB/s at {@code ms} per invocation. */
    public double gbytes(double ms) { return bytes / 1e9 / (ms / 1e3); }
}
