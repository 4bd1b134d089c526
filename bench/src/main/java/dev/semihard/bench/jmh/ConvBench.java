package dev.semihard.bench.jmh;

import dev.semihard.bench.Shapes;
import dev.semihard.engine.backend.Buffer;
import dev.semihard.engine.backend.ConvGeometry;
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
 * Convolution kernels {@code conv2dForward}, {@code conv2dBackwardData}, {@code conv2dBackwardFilter}
 * on the W3 layers (3x3, pad 1, stride 1). Parameter {@code shape} = "NxCxHxWxK". The defaults are
 * the six W3 layers with a CPU-sized batch (N = 8 or 4); the full W3 shapes for a GPU:
 * {@code -p shape=1024x32x14x14x64,1024x64x7x7x128,256x32x48x48x32,256x64x24x24x64,256x128x12x12x128,256x256x6x6x256}.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xmx8g"})
public class ConvBench extends KernelBench {
    @Param({"reference", "opencl", "cuda"})
    public String backend;
    @Param({"8x32x14x14x64", "8x64x7x7x128", "4x32x48x48x32", "4x64x24x24x64", "4x128x12x12x128", "4x256x6x6x256"})
    public String shape;

    private ConvGeometry g;
    private Buffer x, w, y, dy, dx, dw;

    @Setup
    public void setup() {
        open(backend);
        g = Shapes.conv(shape);
        x = uniform(g.inputSize(), -1f, 1f, 1);
        w = uniform(g.weightSize(), -0.1f, 0.1f, 2);
        y = zeros(g.outputSize());
        dy = uniform(g.outputSize(), -1f, 1f, 3);
        dx = zeros(g.inputSize());
        dw = zeros(g.weightSize());
    }

    @TearDown
    public void tearDown() { closeAll(); }

    @Benchmark
    public void conv2dForward() { be.conv2dForward(g, x, w, null, y); be.synchronize(); }

    @Benchmark
    public void conv2dBackwardData() { be.conv2dBackwardData(g, dy, w, dx); be.synchronize(); }

    @Benchmark
    public void conv2dBackwardFilter() { be.conv2dBackwardFilter(g, x, dy, dw, null); be.synchronize(); }

    public static Work work(String method, Map<String, String> p) {
        ConvGeometry g = Shapes.conv(param(p, "shape"));
        // each of the three is one implicit GEMM of the same size
        return Work.of(g.forwardFlops(), 4.0 * (g.inputSize() + g.weightSize() + g.outputSize()));
    }
}
