package dev.semihard.bench.jmh;

import dev.semihard.bench.Shapes;
import dev.semihard.engine.backend.Buffer;
import dev.semihard.engine.backend.Distance;
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
 * Embedding kernels: {@code l2NormalizeForward}, {@code l2NormalizeBackward},
 * {@code pairwiseDistanceForward}, {@code pairwiseDistanceBackward}. Parameters {@code shape} =
 * "BxD" and {@code distance} (squared-l2, l2, cosine; the l2-normalize kernels ignore it).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xmx8g"})
public class EmbeddingBench extends KernelBench {
    @Param({"reference", "opencl", "cuda"})
    public String backend;
    @Param({"1024x128"})
    public String shape;
    @Param({"squared-l2", "l2", "cosine"})
    public String distance;

    private int b, d;
    private Distance metric;
    private Buffer x, y, norms, dy, dx, dist, dDist, dE;

    @Setup
    public void setup() {
        open(backend);
        int[] s = Shapes.dims("embedding shape BxD", shape, 2);
        b = s[0]; d = s[1];
        metric = Distance.parse(distance);
        x = uniform((long) b * d, -1f, 1f, 1);
        y = zeros((long) b * d);
        norms = zeros(b);
        dy = uniform((long) b * d, -1f, 1f, 2);
        dx = zeros((long) b * d);
        dist = zeros((long) b * b);
        dDist = uniform((long) b * b, -1f, 1f, 3);
        dE = zeros((long) b * d);
        be.l2NormalizeForward(b, d, 1e-12f, x, y, norms);
        be.pairwiseDistanceForward(b, d, metric, y, dist);
    }

    @TearDown
    public void tearDown() { closeAll(); }

    @Benchmark
    public void l2NormalizeForward() { be.l2NormalizeForward(b, d, 1e-12f, x, y, norms); be.synchronize(); }

    @Benchmark
    public void l2NormalizeBackward() { be.l2NormalizeBackward(b, d, 1e-12f, y, norms, dy, dx); be.synchronize(); }

    @Benchmark
    public void pairwiseDistanceForward() { be.pairwiseDistanceForward(b, d, metric, y, dist); be.synchronize(); }

    @Benchmark
    public void pairwiseDistanceBackward() {
        be.pairwiseDistanceBackward(b, d, metric, y, dist, dDist, dE);
        be.synchronize();
    }

    public static Work work(String method, Map<String, String> p) {
        int[] s = Shapes.dims("embedding shape BxD", param(p, "shape"), 2);
        double b = s[0], d = s[1];
        return switch (method) {
            case "l2NormalizeForward" -> Work.of(3 * b * d, 8 * b * d);
            case "l2NormalizeBackward" -> Work.of(5 * b * d, 12 * b * d);
            case "pairwiseDistanceForward" -> Work.of(2 * b * b * d, 4 * (b * d + b * b));   // the Gram matrix
            case "pairwiseDistanceBackward" -> Work.of(4 * b * b * d, 4 * (2 * b * d + 2 * b * b));
            default -> throw new IllegalArgumentException("EmbeddingBench: no work model for " + method);
        };
    }
}
