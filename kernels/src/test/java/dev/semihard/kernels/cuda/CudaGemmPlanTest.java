package dev.semihard.kernels.cuda;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Which GEMM kernel and split {@link CudaBackend#plan} picks, for an H200 (132 multiprocessors),
 * without a GPU: the benchmark shapes of shared/BENCHMARKS.md land on the tiles they were made for.
 */
class CudaGemmPlanTest {
    static final int H200 = 132;

    static CudaBackend.GemmPlan fp32(boolean family, boolean upper, int m, int n, int k, int splits) {
        return CudaBackend.plan(H200, false, true, family, upper, m, n, k, splits, true);
    }

    @Test
    void symmetricDistancesCountOnlyTheTilesThatWork() {
        // FaceNet's batch: 15 x 15 big tiles, of which 120 on or above the diagonal do work: fewer
        // than the 132 SMs, so the 64 x 64 tiles (435 working ones) fill the GPU instead
        assertEquals("_pf_small", fp32(false, true, 1800, 1800, 128, 1).suffix());
        assertEquals("_pf", fp32(false, false, 1800, 1800, 128, 1).suffix(), "a full 15 x 15 grid fills it");
        CudaBackend.GemmPlan w1 = fp32(false, true, 16384, 16384, 128, 1);
        assertEquals("_pf", w1.suffix());
        assertEquals(128, w1.tileM());
        assertEquals(1, w1.splits());
    }

    @Test
    void thirtyTwoChannelConvolutionsTakeTheThinTiles() {
        // W3 256x32x48x48x32 forward: M = K = 32, N = 256*48*48, depth 32*9
        CudaBackend.GemmPlan p = fp32(true, false, 32, 256 * 48 * 48, 288, 1);
        assertEquals("_pf_m32", p.suffix());
        assertEquals(32, p.tileM());
        assertEquals(256, p.tileN());
        // the same with -Dsemihard.cuda.thinTiles=false
        assertEquals("_pf_small", CudaBackend.plan(H200, false, false, true, false, 32, 256 * 48 * 48, 288, 1, true).suffix());
        // not for the distances (their kernels have no thin version), nor where 64 x 64 pads less
        assertEquals("_pf_small", fp32(false, false, 32, 256 * 48 * 48, 288, 1).suffix());
        assertEquals("_pf_small", fp32(true, false, 32, 64, 288, 1).suffix());
        // 64 and 128 channels: the 64 x 64 and 128 x 128 tiles
        assertEquals("_pf_small", fp32(true, false, 64, 1024 * 14 * 14, 288, 1).suffix());
        assertEquals("_pf", fp32(true, false, 128, 1024 * 7 * 7, 576, 1).suffix());
        // TF32 asked for: the tensor-core kernel whatever the shape; plain tiles when not pipelined
        assertEquals("_tf32", CudaBackend.plan(H200, true, true, true, false, 32, 256 * 48 * 48, 288, 1, true).suffix());
        assertEquals("_m32", CudaBackend.plan(H200, false, true, true, false, 32, 256 * 48 * 48, 288, 1, false).suffix());
    }

    @Test
    void filterGradientsSplitTheBatchIntoWholeChunks() {
        // W3 256x32x48x48x32 filter gradient: M = 32, N = 288, depth 589,824 (the batch's pixels)
        int k = 256 * 48 * 48;
        CudaBackend.GemmPlan p = fp32(true, false, 32, 288, k, 64);
        assertEquals("_pf_m32", p.suffix());
        assertTrue(p.splits() > 1 && p.splits() <= 64, "splits " + p.splits());
        assertEquals(0, p.kChunk() % 16, "chunks are whole k-slices");
        assertTrue((long) p.kChunk() * p.splits() >= k && (long) p.kChunk() * (p.splits() - 1) < k,
                "the splits cover the depth exactly once: " + p);
        // a problem that fills the GPU by itself is not split
        assertEquals(1, fp32(true, false, 4096, 4096, 4096, 64).splits());
    }
}
