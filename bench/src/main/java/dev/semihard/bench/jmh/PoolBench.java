package dev.semihard.bench.jmh;

import dev.semihard.bench.Shapes;
import dev.semihard.engine.backend.Buffer;
import dev.semihard.engine.backend.PoolGeometry;
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
 * Pooling kernels: {@code maxPool2dForward}, {@code maxPool2dBackward} (2x2, stride 2, as in both
 * models) and {@code globalAvgPoolForward}, {@code globalAvgPoolBackward} over the whole H x W.
 * Parameter {@code shape} = "NxCxHxW" of the input: defaults are fmnist-cnn's first pooling and
 * face-resnet10's stem pooling at a CPU-sized batch.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xmx8g"})
public class PoolBench extends KernelBench {
    @Param({"reference", "opencl", "cuda"})
    public String backend;
    @Param({"64x32x28x28", "16x32x96x96"})
    public String shape;

    private PoolGeometry g;
    private int n, c, hw;
    private Buffer x, y, dy, dx, gy, gdy;

    @Setup
    public void setup() {
        open(backend);
        int[] d = Shapes.dims("pool shape NxCxHxW", shape, 4);
        g = new PoolGeometry(d[0], d[1], d[2], d[3], 2, 2);
        n = d[0]; c = d[1]; hw = d[2] * d[3];
        x = uniform(g.inputSize(), -1f, 1f, 1);
        y = zeros(g.outputSize());
        dy = uniform(g.outputSize(), -1f, 1f, 2);
        dx = zeros(g.inputSize());
        gy = zeros((long) n * c);
        gdy = uniform((long) n * c, -1f, 1f, 3);
    }

    @TearDown
    public void tearDown() { closeAll(); }

    @Benchmark
    public void maxPool2dForward() { be.maxPool2dForward(g, x, y); be.synchronize(); }

    @Benchmark
    public void maxPool2dBackward() { be.maxPool2dBackward(g, x, dy, dx); be.synchronize(); }

    @Benchmark
    public void globalAvgPoolForward() { be.globalAvgPoolForward(n, c, hw, x, gy); be.synchronize(); }

    @Benchmark
    public void globalAvgPoolBackward() { be.globalAvgPoolBackward(n, c, hw, gdy, dx); be.synchronize(); }

    public static Work work(String method, Map<String, String> p) {
        int[] d = Shapes.dims("pool shape NxCxHxW", param(p, "shape"), 4);
        double in = (double) d[0] * d[1] * d[2] * d[3];
        double pooled = (double) d[0] * d[1] * (d[2] / 2) * (d[3] / 2);
        double nc = (double) d[0] * d[1];
        return switch (method) {
            case "maxPool2dForward" -> Work.bytes(4 * (in + pooled));
            case "maxPool2dBackward" -> Work.bytes(4 * (2 * in + pooled));   // read x, dy; write dx
            case "globalAvgPoolForward" -> Work.of(in, 4 * (in + nc));
            case "globalAvgPoolBackward" -> Work.bytes(4 * (in + nc));
            default -> throw new IllegalArgumentException("PoolBench: no work model for " + method);
        };
    }
}
