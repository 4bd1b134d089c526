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
 * Batch-norm kernels: {@code batchNormForwardTraining}, {@code batchNormForwardInference},
 * {@code batchNormBackward}, and the same three fused with ReLU ({@code batchNormRelu*}). Parameter {@code shape} = "NxCxHxW" (defaults: activations of
 * fmnist-cnn's first layer and face-resnet10's second block at a CPU-sized batch).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xmx8g"})
public class BatchNormBench extends KernelBench {
    @Param({"reference", "opencl", "cuda"})
    public String backend;
    @Param({"64x32x28x28", "16x64x24x24"})
    public String shape;

    private int n, c, hw;
    private Buffer x, y, yRelu, dy, dx, gamma, beta, mean, invStd, runMean, runVar, dgamma, dbeta;

    @Setup
    public void setup() {
        open(backend);
        int[] d = Shapes.dims("batch-norm shape NxCxHxW", shape, 4);
        n = d[0]; c = d[1]; hw = d[2] * d[3];
        long size = (long) n * c * hw;
        x = uniform(size, -1f, 1f, 1);
        y = zeros(size);
        yRelu = zeros(size);
        dy = uniform(size, -1f, 1f, 2);
        dx = zeros(size);
        gamma = uniform(c, 0.5f, 1.5f, 3);
        beta = uniform(c, -0.5f, 0.5f, 4);
        mean = zeros(c);
        invStd = zeros(c);
        runMean = zeros(c);
        runVar = uniform(c, 0.5f, 1.5f, 5);
        dgamma = zeros(c);
        dbeta = zeros(c);
        be.batchNormForwardTraining(n, c, hw, 1e-5f, 0.1f, x, gamma, beta, y, mean, invStd, runMean, runVar);
        be.batchNormReluForwardTraining(n, c, hw, 1e-5f, 0.1f, x, gamma, beta, yRelu, mean, invStd, runMean, runVar);
    }

    @TearDown
    public void tearDown() { closeAll(); }

    @Benchmark
    public void batchNormForwardTraining() {
        be.batchNormForwardTraining(n, c, hw, 1e-5f, 0.1f, x, gamma, beta, y, mean, invStd, runMean, runVar);
        be.synchronize();
    }

    @Benchmark
    public void batchNormForwardInference() {
        be.batchNormForwardInference(n, c, hw, 1e-5f, x, gamma, beta, runMean, runVar, y);
        be.synchronize();
    }

    @Benchmark
    public void batchNormBackward() {
        be.batchNormBackward(n, c, hw, x, dy, gamma, mean, invStd, dx, dgamma, dbeta);
        be.synchronize();
    }

    @Benchmark
    public void batchNormReluForwardTraining() {
        // rewrites yRelu with the same values (training mode uses the batch statistics only)
        be.batchNormReluForwardTraining(n, c, hw, 1e-5f, 0.1f, x, gamma, beta, yRelu, mean, invStd, runMean, runVar);
        be.synchronize();
    }

    @Benchmark
    public void batchNormReluForwardInference() {
        be.batchNormReluForwardInference(n, c, hw, 1e-5f, x, gamma, beta, runMean, runVar, y);
        be.synchronize();
    }

    @Benchmark
    public void batchNormReluBackward() {
        be.batchNormReluBackward(n, c, hw, x, yRelu, dy, gamma, mean, invStd, dx, dgamma, dbeta);
        be.synchronize();
    }

    public static Work work(String method, Map<String, String> p) {
        int[] d = Shapes.dims("batch-norm shape NxCxHxW", param(p, "shape"), 4);
        double size = (double) d[0] * d[1] * d[2] * d[3];
        return switch (method) {
            case "batchNormForwardTraining" -> Work.of(5 * size, 8 * size);   // statistics + normalize; read x, write y
            case "batchNormForwardInference" -> Work.of(2 * size, 8 * size);
            case "batchNormBackward" -> Work.of(8 * size, 12 * size);         // read x, dy; write dx
            case "batchNormReluForwardTraining" -> Work.of(6 * size, 8 * size);
            case "batchNormReluForwardInference" -> Work.of(3 * size, 8 * size);
            case "batchNormReluBackward" -> Work.of(9 * size, 16 * size);     // read x, y, dy; write dx
            default -> throw new IllegalArgumentException("BatchNormBench: no work model for " + method);
        };
    }
}
