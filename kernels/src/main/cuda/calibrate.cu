// calibrate.cu: what the GPU gives the GEMM tiles, measured in pieces (cuda-selftest runs these; the
// backend never does). When a convolution runs at a fraction of the GPU's FP32 rate, they tell which
// layer is the limit:
//   calibrateFfma            the FMA units alone at the clock of the moment (no memory at all)
//   calibrateTileCore4x8     the 128x128 fp32 tile's inner loop alone: shared-memory fragment loads
//   calibrateTileCore2x16    and FFMAs, no global loads, no barriers; with the warp placement of
//                            sh_thread_xy (warps of 4 x 8 threads) and with the earlier one (2 x 16)
// The rest of a real tile (global loads, im2col addresses, the barrier per k-slice, the epilogue) is
// what a plain GEMM (linearForward) and then a convolution add on top.
#include "gemm.cuh"

// out[blockIdx.x * blockDim.x + threadIdx.x] = a value that depends on every FMA (so none is removed).
// Each thread runs 16 independent chains of 2 * iters FMAs: 64 * iters FLOPs per thread.
// grid: any (a few blocks per SM), block 256
extern "C" __global__ void __launch_bounds__(256) calibrateFfma(float* __restrict__ out, int iters, float a, float b) {
    float acc[16];
    #pragma unroll
    for (int j = 0; j < 16; j++) acc[j] = threadIdx.x * 1e-3f + j;
    for (int it = 0; it < iters; it++) {
        #pragma unroll
        for (int j = 0; j < 16; j++) { acc[j] = fmaf(acc[j], a, b); acc[j] = fmaf(acc[j], b, a); }
    }
    float s = 0.f;
    #pragma unroll
    for (int j = 0; j < 16; j++) s += acc[j];
    out[blockIdx.x * blockDim.x + threadIdx.x] = s;
}

// The inner loop of sh_gemm_pf_body<P, 128, 128, 8, 8> (sh_tile_slice itself) over resident shared tiles,
// iters k-slices of 16:
// per thread and slice 16 x (2 float4 loads of A + 2 of B + 64 FFMAs): 2048 * iters FLOPs per thread.
// PLACE4X8: thread (tx, ty) from sh_thread_xy; else tx = tid % 16, ty = tid / 16 (warps of 2 x 16).
// The empty asm with a "memory" clobber ends each slice: the compiler must load the fragments again,
// as the real loop must after its barrier. grid: any, block 256; out as calibrateFfma.
template <bool PLACE4X8>
__device__ __forceinline__ void calibrate_tile_core(float* out, int iters) {
    constexpr int BM = 128, BN = 128, TM = 8, TN = 8, LD = BM + 4;
    __shared__ __align__(16) float As[SH_BK][LD];
    __shared__ __align__(16) float Bs[SH_BK][LD];
    for (int i = threadIdx.x; i < SH_BK * LD; i += 256) {
        (&As[0][0])[i] = 1e-3f * (i & 15);
        (&Bs[0][0])[i] = 1e-3f * (i & 7);
    }
    __syncthreads();
    int tx, ty;
    if (PLACE4X8) sh_thread_xy<BN, TN>(threadIdx.x, tx, ty);
    else { tx = threadIdx.x % 16; ty = threadIdx.x / 16; }
    float acc[TM][TN];
    #pragma unroll
    for (int i = 0; i < TM; i++)
        #pragma unroll
        for (int j = 0; j < TN; j++) acc[i][j] = 0.f;
    for (int it = 0; it < iters; it++) {
        sh_tile_slice<BM, BN, TM, TN, false, LD, LD>(As, Bs, tx, ty, acc);
        asm volatile("" ::: "memory");
    }
    float s = 0.f;
    #pragma unroll
    for (int i = 0; i < TM; i++)
        #pragma unroll
        for (int j = 0; j < TN; j++) s += acc[i][j];
    out[blockIdx.x * blockDim.x + threadIdx.x] = s;
}

extern "C" __global__ void __launch_bounds__(256, 2) calibrateTileCore4x8(float* __restrict__ out, int iters) {
    calibrate_tile_core<true>(out, iters);
}

extern "C" __global__ void __launch_bounds__(256, 2) calibrateTileCore2x16(float* __restrict__ out, int iters) {
    calibrate_tile_core<false>(out, iters);
}
