package dev.semihard.bench.jmh;

import dev.semihard.engine.backend.Buffer;
import dev.semihard.engine.backend.OptimizerParams;
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
 * Optimizer-update kernels (in place): {@code sgdUpdate}, {@code adamUpdate}, {@code adagradUpdate}.
 * Parameter {@code floats}: number of parameters updated per call.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xmx8g"})
public class OptimizerBench extends KernelBench {
    @Param({"reference", "opencl", "cuda"})
    public String backend;
    @Param({"4194304"})
    public String floats;

    private int n;
    private Buffer param, grad, s1, s2;
    private int step;
    private final OptimizerParams.Sgd sgd = new OptimizerParams.Sgd(1e-3f, 0.9f, false, 5e-4f);
    private final OptimizerParams.Adagrad adagrad = new OptimizerParams.Adagrad(1e-3f, 1e-10f, 0f);

    @Setup
    public void setup() {
        open(backend);
        n = Integer.parseInt(floats);
        param = uniform(n, -1f, 1f, 1);
        grad = uniform(n, -1f, 1f, 2);
        s1 = zeros(n);
        s2 = zeros(n);
        step = 0;
    }

    @TearDown
    public void tearDown() { closeAll(); }

    @Benchmark
    public void sgdUpdate() { be.sgdUpdate(n, sgd, param, grad, s1); be.synchronize(); }

    @Benchmark
    public void adamUpdate() {
        step = step == Integer.MAX_VALUE ? 1 : step + 1;
        be.adamUpdate(n, new OptimizerParams.Adam(1e-3f, 0.9f, 0.999f, 1e-8f, 0f, false, step), param, grad, s1, s2);
        be.synchronize();
    }

    @Benchmark
    public void adagradUpdate() { be.adagradUpdate(n, adagrad, param, grad, s1); be.synchronize(); }

    public static Work work(String method, Map<String, String> p) {
        double n = Double.parseDouble(param(p, "floats"));
        return switch (method) {
            case "sgdUpdate" -> Work.of(5 * n, 20 * n);       // read param, grad, v; write param, v
            case "adamUpdate" -> Work.of(12 * n, 28 * n);     // read param, grad, m, v; write param, m, v
            case "adagradUpdate" -> Work.of(7 * n, 20 * n);   // read param, grad, acc; write param, acc
            default -> throw new IllegalArgumentException("OptimizerBench: no work model for " + method);
        };
    }
}
