package dev.semihard.bench.jmh;

import dev.semihard.bench.BenchBackends;
import dev.semihard.bench.Shapes;
import dev.semihard.engine.backend.Buffer;
import dev.semihard.engine.backend.Distance;
import dev.semihard.engine.backend.Strategy;
import dev.semihard.engine.backend.TripletOptions;
import dev.semihard.engine.backend.TripletStats;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The fused {@code tripletLoss} kernel (distances + mining + loss + dL/dE in one call) on the W1
 * layouts: parameter {@code pk} = "PxK" (B = P * K, D = 128, unit-norm rows), {@code strategy},
 * {@code distance}. The CPU defaults stop at B = 1024; the full W1 list for a GPU:
 * {@code -p pk=32x8,128x8,45x40,128x32,256x32,512x32}.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xmx8g"})
public class TripletBench extends KernelBench {
    @Param({"reference", "opencl", "cuda"})
    public String backend;
    @Param({"32x8", "128x8"})
    public String pk;
    @Param({"semihard", "batch-hard", "batch-all"})
    public String strategy;
    @Param({"squared-l2"})
    public String distance;

    private int b;
    private int[] labels;
    private TripletOptions options;
    private Buffer e, dE, stats;

    @Setup
    public void setup() {
        open(backend);
        int[] s = Shapes.dims("triplet layout PxK", pk, 2);
        b = s[0] * s[1];
        labels = Shapes.pkLabels(s[0], s[1]);
        options = new TripletOptions(Strategy.parse(strategy), Distance.parse(distance), 0.2f, false, b);
        e = upload(BenchBackends.unitRows(b, Shapes.D, 1));
        dE = zeros((long) b * Shapes.D);
        stats = zeros(TripletStats.SIZE);
    }

    @TearDown
    public void tearDown() { closeAll(); }

    @Benchmark
    public void tripletLoss() {
        be.tripletLoss(b, Shapes.D, labels, options, e, dE, stats);
        be.synchronize();
    }

    public static Work work(String method, Map<String, String> p) {
        int[] s = Shapes.dims("triplet layout PxK", param(p, "pk"), 2);
        double b = (double) s[0] * s[1], d = Shapes.D;
        // nominal: the distance matrix (2 B^2 D) and the gradient through it (2 B^2 D)
        return Work.of(4 * b * b * d, 4 * (2 * b * d + b * b));
    }
}
