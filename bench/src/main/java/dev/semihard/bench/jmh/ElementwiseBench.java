package dev.semihard.bench.jmh;

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
 * Elementwise kernels: {@code axpy}, {@code scale}, {@code add}, {@code reluForward},
 * {@code reluBackward}, {@code sumSquares}, {@code sumSquaresMany} (the vector as 16 slices, like a
 * model's gradients checked with one read). Parameter {@code floats}: vector length.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xmx8g"})
public class ElementwiseBench extends KernelBench {
    @Param({"reference", "opencl", "cuda"})
    public String backend;
    @Param({"4194304"})
    public String floats;

    private int n;
    private Buffer x, y, z, out;
    private final float[] sums = new float[2];

    @Setup
    public void setup() {
        open(backend);
        n = Integer.parseInt(floats);
        x = uniform(n, -1f, 1f, 1);
        y = uniform(n, -1f, 1f, 2);
        z = uniform(n, -1f, 1f, 3);
        out = zeros(n);
    }

    @TearDown
    public void tearDown() { closeAll(); }

    @Benchmark
    public void axpy() { be.axpy(n, 1e-6f, x, y); be.synchronize(); }

    @Benchmark
    public void scale() { be.scale(n, 1f, z); be.synchronize(); }

    @Benchmark
    public void add() { be.add(n, x, y, out); be.synchronize(); }

    @Benchmark
    public void reluForward() { be.reluForward(n, x, out); be.synchronize(); }

    @Benchmark
    public void reluBackward() { be.reluBackward(n, x, y, out); be.synchronize(); }

    @Benchmark
    public float sumSquares() { be.sumSquares(n, x, sums); be.synchronize(); return sums[0]; }

    /** The 16 slices are 16 buffers of n / 16 floats, made at the first call (the x buffer stays whole). */
    private dev.semihard.engine.backend.Buffer[] slices;
    private long[] sliceSizes;
    private final float[] manySums = new float[32];

    @Benchmark
    public float sumSquaresMany() {
        if (slices == null) {
            slices = new dev.semihard.engine.backend.Buffer[16];
            sliceSizes = new long[16];
            for (int i = 0; i < 16; i++) { sliceSizes[i] = n / 16; slices[i] = uniform((int) (n / 16), -1f, 1f, 10 + i); }
        }
        be.sumSquaresMany(sliceSizes, slices, manySums);
        be.synchronize();
        return manySums[0];
    }

    public static Work work(String method, Map<String, String> p) {
        double n = Double.parseDouble(param(p, "floats"));
        return switch (method) {
            case "axpy" -> Work.of(2 * n, 12 * n);         // read x, y; write y
            case "scale" -> Work.of(n, 8 * n);             // read, write
            case "add", "reluBackward" -> Work.of(n, 12 * n); // two reads, one write
            case "reluForward" -> Work.of(n, 8 * n);
            case "sumSquares" -> Work.of(2 * n, 4 * n);    // one read
            case "sumSquaresMany" -> Work.of(2 * (n - n % 16), 4 * (n - n % 16));   // one read of the 16 slices
            default -> throw new IllegalArgumentException("ElementwiseBench: no work model for " + method);
        };
    }
}
