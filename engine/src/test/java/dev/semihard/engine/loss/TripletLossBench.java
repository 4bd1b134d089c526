package dev.semihard.engine.loss;

import dev.semihard.engine.Rng;
import dev.semihard.engine.backend.Buffer;
import dev.semihard.engine.backend.Distance;
import dev.semihard.engine.backend.Strategy;
import dev.semihard.engine.backend.TripletOptions;
import dev.semihard.engine.backend.TripletStats;
import dev.semihard.engine.reference.ReferenceBackend;

import java.util.Arrays;
import java.util.Locale;

/**
 * Workload W1 (docs/benchmarks.md) on the reference backend: the fused triplet kernel (loss and dE in
 * one call, i.e. forward + backward), D = 128, unit rows, P x K labels. Not a test (no timing asserts):
 * <pre>
 *   mvn -q -pl engine test-compile
 *   java -cp engine/target/classes:engine/target/test-classes dev.semihard.engine.loss.TripletLossBench [P,K ...]
 * </pre>
 * Prints the median wall time of several runs after a warm-up, the median process CPU time per call
 * (all threads; on a busy machine the steadier figure of the two), and the kernel's working set (two
 * B x B double matrices: distances and dLoss/dD).
 */
public final class TripletLossBench {
    public static void main(String[] args) {
        int[][] shapes = {{32, 8}, {128, 8}, {45, 40}, {128, 32}};
        if (args.length > 0) {
            shapes = new int[args.length][];
            for (int i = 0; i < args.length; i++) shapes[i] = Arrays.stream(args[i].split(",")).mapToInt(Integer::parseInt).toArray();
        }
        int d = 128;
        try (ReferenceBackend be = new ReferenceBackend()) {
            System.out.println("W1 on " + be.deviceDescription() + ", D = " + d + ", squared-l2, margin 0.2");
            System.out.printf(Locale.ROOT, "%-10s %6s %-20s %10s %10s %12s%n", "P x K", "B", "strategy", "wall ms", "CPU ms", "working set");
            var os = (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();
            for (int[] pk : shapes) {
                int b = pk[0] * pk[1];
                Rng r = new Rng(b);
                float[] e = new float[b * d];
                for (int i = 0; i < b; i++) {
                    double n = 0;
                    for (int c = 0; c < d; c++) { e[i * d + c] = (float) r.nextGaussian(); n += e[i * d + c] * e[i * d + c]; }
                    for (int c = 0; c < d; c++) e[i * d + c] /= (float) Math.sqrt(n);
                }
                int[] labels = new int[b];
                for (int i = 0; i < b; i++) labels[i] = i / pk[1];
                Buffer eb = be.allocate((long) b * d), gb = be.allocate((long) b * d), sb = be.allocate(TripletStats.SIZE);
                be.upload(e, 0, eb, 0, e.length);
                for (Object[] v : new Object[][] {{Strategy.SEMIHARD, false}, {Strategy.BATCH_HARD, false}, {Strategy.BATCH_ALL, false},
                        {Strategy.BATCH_ALL, true}}) {
                    if ((Boolean) v[1] && b > 2048 && !Boolean.getBoolean("bench.soft")) {
                        System.out.printf(Locale.ROOT, "%-10s %6d %-20s  skipped above B = 2048 (O(B K B) time; -Dbench.soft=true runs it)%n",
                                pk[0] + " x " + pk[1], b, "batch-all (soft)");
                        continue;
                    }
                    TripletOptions o = new TripletOptions((Strategy) v[0], Distance.SQUARED_L2, 0.2f, (Boolean) v[1], b);
                    be.tripletLoss(b, d, labels, o, eb, gb, sb);   // warm-up
                    int runs = b <= 1024 ? 7 : 3;
                    double[] ms = new double[runs], cpu = new double[runs];
                    for (int i = 0; i < runs; i++) {
                        long c0 = os.getProcessCpuTime(), t0 = System.nanoTime();
                        be.tripletLoss(b, d, labels, o, eb, gb, sb);
                        be.synchronize();
                        ms[i] = (System.nanoTime() - t0) / 1e6;
                        cpu[i] = (os.getProcessCpuTime() - c0) / 1e6;
                    }
                    Arrays.sort(ms);
                    Arrays.sort(cpu);
                    System.out.printf(Locale.ROOT, "%-10s %6d %-20s %10.1f %10.1f %9.0f MB%n", pk[0] + " x " + pk[1], b,
                            o.strategy().cliName + (o.softMargin() ? " (soft)" : ""), ms[runs / 2], cpu[runs / 2], 16.0 * b * b / 1e6);
                }
                eb.close(); gb.close(); sb.close();
            }
        }
    }
}
