package dev.semihard.bench;

import dev.semihard.engine.backend.Backend;

import java.util.Arrays;

/**
 * Wall-clock timing of one operation on a backend, the way {@code docs/benchmarks.md} asks:
 * warm-up runs first, {@link Backend#synchronize()} before every clock read so queued device work
 * is counted, then the median of many runs.
 *
 * @param medianMs median time of one run
 * @param minMs    fastest run
 * @param maxMs    slowest run
 * @param runs     measured runs (warm-up excluded)
 */
public record Timing(double medianMs, double minMs, double maxMs, int runs) {

    /** How many runs to make: at least {@code minRuns}, at most {@code maxRuns}, about {@code budgetSeconds} in all. */
    public record Plan(int warmup, int minRuns, int maxRuns, double budgetSeconds) {
        public Plan {
            if (warmup < 0 || minRuns < 1 || maxRuns < minRuns || !(budgetSeconds > 0))
                throw new IllegalArgumentException("timing plan: need warmup >= 0, 1 <= minRuns <= maxRuns, budget > 0; got "
                        + warmup + ", " + minRuns + ", " + maxRuns + ", " + budgetSeconds);
        }
        /** GPU-like: many short runs. */
        public static Plan standard() { return new Plan(3, 10, 100, 2.0); }
        /** CPU / --quick: few runs so a whole workload finishes in minutes. */
        public static Plan quick() { return new Plan(1, 3, 20, 1.0); }
    }

    /** Runs {@code op} under {@code plan}; the backend is synchronized before each clock read. */
    public static Timing measure(Backend backend, Plan plan, Runnable op) {
        for (int i = 0; i < plan.warmup(); i++) {
            op.run();
            backend.synchronize();
        }
        double[] t = new double[plan.maxRuns()];
        int n = 0;
        double spent = 0;
        while (n < plan.maxRuns() && (n < plan.minRuns() || spent < plan.budgetSeconds() * 1e3)) {
            backend.synchronize();
            long t0 = System.nanoTime();
            op.run();
            backend.synchronize();
            t[n] = (System.nanoTime() - t0) / 1e6;
            spent += t[n];
            n++;
        }
        double[] s = Arrays.copyOf(t, n);
        Arrays.sort(s);
        double median = n % 2 == 1 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
        return new Timing(median, s[0], s[n - 1], n);
    }
}
