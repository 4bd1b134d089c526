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
 * Data movement kernels: {@code upload}, {@code download}, {@code copy}, {@code fill}.
 * Parameter {@code floats}: elements moved per call (default 4 Mi floats = 16 MiB).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xmx8g"})
public class MemoryBench extends KernelBench {
    @Param({"reference", "opencl", "cuda"})
    public String backend;
    @Param({"4194304"})
    public String floats;

    private int n;
    private float[] host;
    private Buffer a, b;

    @Setup
    public void setup() {
        open(backend);
        n = Integer.parseInt(floats);
        host = new float[n];
        a = uniform(n, -1f, 1f, 1);
        b = zeros(n);
    }

    @TearDown
    public void tearDown() { closeAll(); }

    @Benchmark
    public void upload() { be.upload(host, 0, a, 0, n); be.synchronize(); }

    @Benchmark
    public void download() { be.download(a, 0, host, 0, n); be.synchronize(); }

    @Benchmark
    public void copy() { be.copy(a, 0, b, 0, n); be.synchronize(); }

    @Benchmark
    public void fill() { be.fill(b, 0, n, 1f); be.synchronize(); }

    public static Work work(String method, Map<String, String> p) {
        double n = Double.parseDouble(param(p, "floats"));
        return switch (method) {
            case "copy" -> Work.bytes(8 * n);   // read + write
            default -> Work.bytes(4 * n);       // upload, download: bytes across the link; fill: written
        };
    }
}
