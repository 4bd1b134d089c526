package dev.semihard.kernels.cuda;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Which GEMM kernel and split {@link CudaBackend#plan} picks, for an H200 (132 multiprocessors),
 * without a GPU: the benchmark shapes of docs/benchmarks.md land on the tiles they were made for.
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
        // 64 channels: the 64 x 128 tiles (fp32, pipelined, families), 64 x 64 otherwise; 128: 128 x 128
        CudaBackend.GemmPlan w = fp32(true, false, 64, 1024 * 14 * 14, 288, 1);
        assertEquals("_pf_w64", w.suffix());
        assertEquals(64, w.tileM());
        assertEquals(128, w.tileN());
        assertEquals("_pf_small", CudaBackend.plan(H200, false, false, true, false, 64, 1024 * 14 * 14, 288, 1, true).suffix());
        assertEquals("_small", CudaBackend.plan(H200, false, true, true, false, 64, 1024 * 14 * 14, 288, 1, false).suffix());
        assertEquals("_pf_small", fp32(false, false, 64, 1024 * 14 * 14, 288, 1).suffix(), "not for the distances");
        // filter gradients with 64 filters: N = 128 * 9 pads neither tile; N = 64 * 9 and 32 * 9 pad 64 x 128 more
        assertEquals("_pf_w64", fp32(true, false, 64, 128 * 9, 256 * 24 * 24, CudaBackend.weightGradSplits(H200)).suffix());
        assertEquals("_pf_small", fp32(true, false, 64, 64 * 9, 256 * 24 * 24, CudaBackend.weightGradSplits(H200)).suffix());
        assertEquals("_pf_small", fp32(true, false, 64, 32 * 9, 1024 * 14 * 14, CudaBackend.weightGradSplits(H200)).suffix());
        // too few 64 x 128 tiles to fill the GPU without split-K: 64 x 64
        assertEquals("_pf_small", fp32(true, false, 64, 128 * 100, 288, 1).suffix());
        assertEquals("_pf", fp32(true, false, 128, 1024 * 7 * 7, 576, 1).suffix());
        // plain tiles when not pipelined
        assertEquals("_m32", CudaBackend.plan(H200, false, true, true, false, 32, 256 * 48 * 48, 288, 1, false).suffix());
    }

    @Test
    void tf32TakesTheSameTilesOnTensorCores() {
        // the three W3 layer kinds: 32, 64 and 256 channels (forward)
        assertEquals("_tf32_m32", tf32(true, 32, 256 * 48 * 48, 288, 1).suffix());
        assertEquals("_tf32_small", tf32(true, 64, 256 * 24 * 24, 576, 1).suffix(), "no 64 x 128 TF32 tile");
        CudaBackend.GemmPlan big = tf32(true, 256, 256 * 6 * 6, 2304, 1);
        assertEquals("_tf32", big.suffix());
        assertEquals(128, big.tileM());
        // whether pipelined fp32 tiles are asked for or not (the TF32 ones are always pipelined)
        assertEquals("_tf32_m32", CudaBackend.plan(H200, true, true, true, false, 32, 256 * 48 * 48, 288, 1, false).suffix());
        // no 32 x 256 tiles without thinTiles; and the distances (not a family) stay fp32
        assertEquals("_tf32_small", CudaBackend.plan(H200, true, false, true, false, 32, 256 * 48 * 48, 288, 1, true).suffix());
        assertEquals("_pf_small", CudaBackend.plan(H200, true, true, false, true, 1800, 1800, 128, 1, true).suffix());
        // the filter gradient splits as in fp32
        int cap = CudaBackend.weightGradSplits(H200);
        CudaBackend.GemmPlan f = tf32(true, 32, 288, 256 * 48 * 48, cap);
        assertEquals(fp32(true, false, 32, 288, 256 * 48 * 48, cap).splits(), f.splits());
    }

    private static CudaBackend.GemmPlan tf32(boolean family, int m, int n, int k, int maxSplits) {
        return CudaBackend.plan(H200, true, true, family, false, m, n, k, maxSplits, true);
    }

    @Test
    void filterGradientsSplitTheBatchIntoWholeChunks() {
        // W3 256x32x48x48x32 filter gradient: M = 32, N = 288, depth 589,824 (the batch's pixels)
        int k = 256 * 48 * 48;
        int cap = CudaBackend.weightGradSplits(H200);
        CudaBackend.GemmPlan p = fp32(true, false, 32, 288, k, cap);
        assertEquals("_pf_m32", p.suffix());
        assertTrue(p.splits() > 1 && p.splits() <= cap, "splits " + p.splits());
        // two 32 x 256 tiles: the splits make two blocks per SM (a cap of 64 made 128 blocks for 132 SMs)
        assertTrue(2L * p.splits() >= 2 * H200, "blocks " + 2 * p.splits());
        assertEquals(0, p.kChunk() % 16, "chunks are whole k-slices");
        assertTrue((long) p.kChunk() * p.splits() >= k && (long) p.kChunk() * (p.splits() - 1) < k,
                "the splits cover the depth exactly once: " + p);
        // face-resnet10's stem (32 filters over 3 x 3 x 3 taps at 256 x 96 x 96 pixels): one 64 x 64 tile
        CudaBackend.GemmPlan stem = fp32(true, false, 32, 27, 256 * 96 * 96, cap);
        assertEquals("_pf_small", stem.suffix());
        assertEquals(2 * H200, stem.splits());
        assertEquals(64, CudaBackend.weightGradSplits(4), "a small GPU keeps 64");
        // a problem that fills the GPU by itself is not split
        assertEquals(1, fp32(true, false, 4096, 4096, 4096, 64).splits());
    }
}
