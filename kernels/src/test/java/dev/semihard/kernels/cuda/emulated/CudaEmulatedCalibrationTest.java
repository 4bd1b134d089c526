package dev.semihard.kernels.cuda.emulated;

import dev.semihard.engine.backend.BackendOptions;
import dev.semihard.kernels.cuda.CudaBackend;
import dev.semihard.kernels.cuda.CudaCalibration;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The calibration kernels that cuda-selftest times ({@code calibrate.cu}) compute what they claim, so
 * their rates count the FLOPs they say: every thread's output equals the same FMAs done here, in the
 * same order. For the tile cores that also pins the warp placement: each thread must have multiplied
 * exactly the rows and columns that {@code sh_thread_xy} (4 x 8 warps) or the earlier 2 x 16 placement
 * gives it, and over a block the outputs cover all 128 x 128 products once.
 */
class CudaEmulatedCalibrationTest {
    static final int LD = 132, BK = 16;

    @BeforeAll
    static void emulator() {
        Shemu.openOrSkip().close();
    }

    @Test
    void ffmaChainsGiveTheSameValuesAsHere() {
        try (CudaBackend cu = new CudaBackend(new BackendOptions(null, "fp32", 0, Map.of()))) {
            int iters = 7;
            float[] got = CudaCalibration.run(cu, CudaCalibration.FFMA, 2, iters);
            for (int g = 0; g < got.length; g++) {
                int t = g % 256;
                float s = 0f;
                for (int j = 0; j < 16; j++) {
                    float acc = t * 1e-3f + j;
                    for (int it = 0; it < iters; it++) {
                        acc = Math.fma(acc, CudaCalibration.FFMA_A, CudaCalibration.FFMA_B);
                        acc = Math.fma(acc, CudaCalibration.FFMA_B, CudaCalibration.FFMA_A);
                    }
                    s += acc;
                }
                assertEquals(s, got[g], 0f, "thread " + g);
            }
        }
    }

    @Test
    void tileCoresMultiplyEachThreadsOwnRowsAndColumns() {
        try (CudaBackend cu = new CudaBackend(new BackendOptions(null, "fp32", 0, Map.of()))) {
            int iters = 3;
            for (boolean fourByEight : new boolean[]{true, false}) {
                float[] got = CudaCalibration.run(cu, fourByEight ? CudaCalibration.CORE_4X8 : CudaCalibration.CORE_2X16, 2, iters);
                boolean[][] seen = new boolean[128][128];
                for (int g = 0; g < got.length; g++) {
                    int t = g % 256, tx, ty;
                    if (fourByEight) {
                        int lane = t & 31, warp = t >> 5;
                        tx = (warp % 2) * 8 + ((lane & 1) | ((lane >> 2) & 6));
                        ty = (warp / 2) * 4 + ((lane >> 1) & 3);
                    } else {
                        tx = t % 16;
                        ty = t / 16;
                    }
                    float[][] acc = new float[8][8];
                    for (int it = 0; it < iters; it++)
                        for (int kk = 0; kk < BK; kk++)
                            for (int i = 0; i < 8; i++)
                                for (int j = 0; j < 8; j++)
                                    acc[i][j] = Math.fma(a(kk, frag(ty, i)), b(kk, frag(tx, j)), acc[i][j]);
                    float s = 0f;
                    for (int i = 0; i < 8; i++)
                        for (int j = 0; j < 8; j++) {
                            s += acc[i][j];
                            if (g < 256) seen[frag(ty, i)][frag(tx, j)] = true;
                        }
                    assertEquals(s, got[g], 0f, (fourByEight ? "4x8" : "2x16") + " thread " + g);
                }
                for (int m = 0; m < 128; m++)
                    for (int n = 0; n < 128; n++)
                        assertEquals(true, seen[m][n], "output (" + m + ", " + n + ") has no thread");
            }
        }
    }

    /** gemm.cuh's sh_frag<128, 8>: two runs of 4, 64 apart. */
    static int frag(int t, int i) { return (i >> 2) * 64 + t * 4 + (i & 3); }

    static float a(int kk, int m) { return 1e-3f * ((kk * LD + m) & 15); }

    static float b(int kk, int n) { return 1e-3f * ((kk * LD + n) & 7); }
}
