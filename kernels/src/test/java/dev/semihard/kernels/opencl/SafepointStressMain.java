package dev.semihard.kernels.opencl;

import dev.semihard.engine.backend.BackendOptions;

/**
 * Run in a child JVM by {@link JvmSignalHandlersTest}: four threads spin in compiled loops (they poll for
 * safepoints) while the main thread makes the OpenCL driver compile {@code args[0]} new programs, each
 * followed by a GC (a safepoint). Each compile re-arms LLVM's crash handler when it is not kept out;
 * before {@link JvmSignalHandlers} this killed the JVM with SIGSEGV within 10 rounds, every time.
 * Prints "SURVIVED n" and exits 0.
 */
public final class SafepointStressMain {
    private static volatile boolean stop;

    private SafepointStressMain() {}

    public static void main(String[] args) throws InterruptedException {
        int rounds = Integer.parseInt(args[0]);
        Thread[] spinners = new Thread[4];
        double[] sink = new double[spinners.length];
        for (int t = 0; t < spinners.length; t++) {
            int id = t;
            spinners[t] = new Thread(() -> {
                double s = 0;
                while (!stop) for (int i = 0; i < 100_000; i++) s += Math.sqrt(i);
                sink[id] = s;
            });
            spinners[t].start();
        }
        try (OpenClBackend b = new OpenClBackend(BackendOptions.defaults())) {
            for (int k = 0; k < rounds; k++) {
                b.compileForTest("__kernel void stress" + System.nanoTime() + "(__global float* x) { x[get_global_id(0)] *= 2.0f; }");
                System.gc();
            }
        } finally {
            stop = true;
            for (Thread t : spinners) t.join();
        }
        System.out.println("SURVIVED " + rounds);
    }
}
