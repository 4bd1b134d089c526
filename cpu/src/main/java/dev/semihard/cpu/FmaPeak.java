package dev.semihard.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * The machine's measured float32 FMA peak, the denominator of the "share of peak" that bench/RESULTS.md
 * gives each convolution: every thread runs 12 independent chains of vector FMAs on registers only (no
 * loads, so nothing but the FMA units limits it), and the rate is 2 flops x lanes x FMAs per second, summed
 * over the threads. Also the micro-kernel's own rate on L1-resident panels (the ceiling of {@link Gemm}).
 *
 * <pre>java --add-modules jdk.incubator.vector -cp 'trainer/target/lib/*' dev.semihard.cpu.FmaPeak [THREADS]</pre>
 */
public final class FmaPeak {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    private FmaPeak() {}

    public static void main(String[] args) throws Exception {
        int threads = args.length > 0 ? Integer.parseInt(args[0]) : Runtime.getRuntime().availableProcessors();
        double peak = 0, kernel = 0;
        for (int round = 0; round < 5; round++) {           // the best of 5 rounds (JIT warm-up, noise)
            peak = Math.max(peak, parallel(threads, FmaPeak::fmaChains));
            kernel = Math.max(kernel, parallel(threads, FmaPeak::microKernel));
        }
        System.out.printf(Locale.ROOT, "FMA peak (measured): %.1f GFLOP/s on %d threads, %d-bit vectors (%.1f per thread)%n",
                peak, threads, S.vectorBitSize(), peak / threads);
        System.out.printf(Locale.ROOT, "GEMM micro-kernel on L1-resident panels: %.1f GFLOP/s (%.0f%% of the peak)%n",
                kernel, 100 * kernel / peak);
    }

    private interface Rate { double gflops(); }

    private static double parallel(int threads, Rate r) throws Exception {
        ExecutorService ex = Executors.newFixedThreadPool(threads);
        try {
            Future<?>[] fs = new Future<?>[threads];
            double[] out = new double[threads];
            for (int t = 0; t < threads; t++) { int id = t; fs[t] = ex.submit(() -> { out[id] = r.gflops(); }); }
            double sum = 0;
            for (int t = 0; t < threads; t++) { fs[t].get(); sum += out[t]; }
            return sum;
        } finally {
            ex.shutdown();
        }
    }

    /** 12 independent FMA chains on registers, 1M steps. */
    private static double fmaChains() {
        FloatVector a = FloatVector.broadcast(S, 0.999f), b = FloatVector.broadcast(S, 1e-4f);
        FloatVector c0 = FloatVector.zero(S), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0,
                c9 = c0, c10 = c0, c11 = c0;
        int steps = 2_000_000;
        long t0 = System.nanoTime();
        for (int i = 0; i < steps; i++) {
            c0 = c0.fma(a, b); c1 = c1.fma(a, b); c2 = c2.fma(a, b); c3 = c3.fma(a, b); c4 = c4.fma(a, b); c5 = c5.fma(a, b);
            c6 = c6.fma(a, b); c7 = c7.fma(a, b); c8 = c8.fma(a, b); c9 = c9.fma(a, b); c10 = c10.fma(a, b); c11 = c11.fma(a, b);
        }
        long dt = System.nanoTime() - t0;
        float sink = c0.add(c1).add(c2).add(c3).add(c4).add(c5).add(c6).add(c7).add(c8).add(c9).add(c10).add(c11).reduceLanes(
                jdk.incubator.vector.VectorOperators.ADD);
        if (sink == 42.4242f) System.out.print("");
        return 12.0 * steps * S.length() * 2 / dt;
    }

    /** The GEMM micro-kernel over one 6 x 256 A panel and one 256 x NR B panel (L1), repeatedly. */
    private static double microKernel() {
        VectorKernels k = new VectorKernels();
        int kc = 256, nr = k.nr();
        float[] a = new float[Kernels.MR * kc], b = new float[kc * nr], c = new float[Kernels.MR * nr];
        java.util.Arrays.fill(a, 0.5f);
        java.util.Arrays.fill(b, 0.25f);
        int reps = 20_000;
        long t0 = System.nanoTime();
        for (int i = 0; i < reps; i++) k.microKernel(kc, a, 0, b, 0, c, 0, nr, true);
        long dt = System.nanoTime() - t0;
        return 2.0 * Kernels.MR * nr * kc * reps / dt;
    }
}
