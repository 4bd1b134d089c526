package dev.semihard.bench.jmh;

import dev.semihard.bench.Shapes;
import dev.semihard.engine.backend.Buffer;
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
 * Linear-layer kernels: {@code linearForward}, {@code linearBackwardData}, {@code linearBackwardWeight}.
 * Parameter {@code shape} = "NxINxOUT" (default: both models' 256 -> 128 embedding layer, B = 1024).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xmx8g"})
public class LinearBench extends KernelBench {
    @Param({"reference", "opencl", "cuda"})
    public String backend;
    @Param({"1024x256x128"})
    public String shape;

    private int n, in, out;
    private Buffer x, w, b, y, dy, dx, dw, db;

    @Setup
    public void setup() {
        open(backend);
        int[] d = Shapes.dims("linear shape NxINxOUT", shape, 3);
        n = d[0]; in = d[1]; out = d[2];
        x = uniform((long) n * in, -1f, 1f, 1);
        w = uniform((long) out * in, -0.1f, 0.1f, 2);
        b = uniform(out, -0.1f, 0.1f, 3);
        y = zeros((long) n * out);
        dy = uniform((long) n * out, -1f, 1f, 4);
        dx = zeros((long) n * in);
        dw = zeros((long) out * in);
        db = zeros(out);
    }

    @TearDown
    public void tearDown() { closeAll(); }

    @Benchmark
    public void linearForward() { be.linearForward(n, in, out, x, w, b, y); be.synchronize(); }

    @Benchmark
    public void linearBackwardData() { be.linearBackwardData(n, in, out, dy, w, dx); be.synchronize(); }

    @Benchmark
    public void linearBackwardWeight() { be.linearBackwardWeight(n, in, out, x, dy, dw, db); be.synchronize(); }

    public static Work work(String method, Map<String, String> p) {
        int[] d = Shapes.dims("linear shape NxINxOUT", param(p, "shape"), 3);
        double n = d[0], in = d[1], out = d[2];
        return Work.of(2 * n * in * out, 4 * (n * in + in * out + n * out));
    }
}
