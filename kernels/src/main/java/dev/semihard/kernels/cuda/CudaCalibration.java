package dev.semihard.kernels.cuda;

import dev.semihard.engine.backend.Buffer;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * What the GPU gives the fp32 GEMM tiles, in pieces (the kernels of {@code calibrate.cu}): the FMA
 * units alone, then the 128 x 128 tile's inner loop (shared-memory fragment loads and FFMAs, nothing
 * from global memory) with each of two warp placements. Next to a plain GEMM and the convolutions in
 * {@link CudaSelfTest}'s table, they say which layer costs what: a tile core far below the FMA rate
 * means shared memory or issue limits; a GEMM far below the tile core, the global loads and barriers;
 * a convolution below the GEMM, its im2col addressing.
 */
public final class CudaCalibration {
    private CudaCalibration() {}

    /** The calibration kernels and their FLOPs per thread per iteration. */
    public static final String FFMA = "calibrateFfma", CORE_4X8 = "calibrateTileCore4x8", CORE_2X16 = "calibrateTileCore2x16";
    static final int FFMA_FLOPS = 64, CORE_FLOPS = 2048, THREADS = 256;
    /** calibrateFfma's two FMA operands. */
    public static final float FFMA_A = 0.999f, FFMA_B = 1e-3f;

    /** Runs {@code kernel} on {@code blocks} blocks of 256 threads for {@code iters}; returns every thread's output. */
    public static float[] run(CudaBackend cu, String kernel, int blocks, int iters) {
        int n = blocks * THREADS;
        try (Buffer out = cu.allocate(n)) {
            launch(cu, kernel, blocks, iters, out);
            float[] host = new float[n];
            cu.download(out, 0, host, 0, n);
            return host;
        }
    }

    private static void launch(CudaBackend cu, String kernel, int blocks, int iters, Buffer out) {
        if (kernel.equals(FFMA)) cu.launch(kernel, blocks, 1, 1, THREADS, out, iters, FFMA_A, FFMA_B);
        else cu.launch(kernel, blocks, 1, 1, THREADS, out, iters);
    }

    /**
     * The table rows: each kernel's rate in TFLOP/s, on 8 blocks per multiprocessor (the median of 5 runs;
     * about 1 ms each on an H200). {@code quick}: 64 times fewer iterations (an emulator's dry run).
     */
    static List<String> rows(CudaBackend cu, boolean quick) {
        List<String> rows = new ArrayList<>();
        int blocks = 8 * cu.smCount(), q = quick ? 64 : 1;
        Object[][] cases = {{FFMA, 4096 / q, FFMA_FLOPS, "FFMA alone"},
                {CORE_4X8, 128 / q, CORE_FLOPS, "128x128 tile core, warps of 4x8 threads (the tiles')"},
                {CORE_2X16, 128 / q, CORE_FLOPS, "128x128 tile core, warps of 2x16 threads (before)"}};
        try (Buffer out = cu.allocate((long) blocks * THREADS)) {
            for (Object[] c : cases) {
                String kernel = (String) c[0];
                int iters = (Integer) c[1];
                double ms = CudaSelfTest.time(cu, 2, 5, () -> launch(cu, kernel, blocks, iters, out));
                double flops = (double) blocks * THREADS * iters * (Integer) c[2];
                rows.add(String.format(Locale.ROOT, "| calibrate | %s | %.3f ms | %.1f TFLOP/s |", c[3], ms, flops / ms / 1e9));
            }
        }
        return rows;
    }
}
