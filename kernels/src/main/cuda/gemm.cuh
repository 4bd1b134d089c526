// gemm.cuh: one tiled matrix-product engine for every GEMM-shaped kernel (convolutions as
// implicit GEMM, linear layers, the triplet loss's distance and gradient products).
//
//   C[M, N] = sum over k of A(m, k) * B(k, n)        (or sum of (A - B)^2 with DIFF)
//
// A "problem" struct P says how to read A and B (it computes addresses, so im2col never exists in
// memory: implicit GEMM), and how to store each C element (the epilogue: bias, layout, split-K
// partials). Members every P has:
//   int M, N, K;                 sizes
//   int kChunk;                  k-range per blockIdx.z (split-K); >= K for no split
//   static constexpr int A_MODE; 0: A contiguous along k, 1: contiguous along m, 2: P::loadA fills the tile
//   static constexpr int B_MODE; 0: B contiguous along n, 1: contiguous along k
//   float a(int m, int k) const; float b(int k, int n) const;   (called only inside [0,M)x[0,K) etc.)
//   void store(int m, int n, float v, int split) const;
// The load order (which index runs fastest across threads) follows the memory layout so that
// global loads are coalesced.
//
// Two versions:
//  * sh_gemm<P, BM, BN, TM, TN, DIFF>: fp32 FFMA, BM x BN tile per 256-thread block, BK = 16,
//    TM x TN outputs per thread, tiles staged in shared memory. 128x128/8x8 for big problems,
//    64x64/4x4 for small ones, 32x256/4x8 when M <= 32 (the host picks). The 32-row tile exists
//    because convolutions with 32 channels (face-resnet10's stem and first block, W3's
//    256x32x48x48x32 layer, every backward-data of a 32-channel input) have M = 32: on the 64-row
//    tile half of every block's FFMAs multiplied padding (the H200 measured that layer at 6.6
//    TFLOP/s against 12.3 for M = 64).
//  * sh_gemm_tf32<P>: the same tiles fed to tensor cores (wmma m16n16k8, TF32 inputs with
//    round-to-nearest, fp32 accumulation); 64x64 tile, 8 warps of 16x32. Used for
//    BackendOptions.precision() == "tf32" (convolutions and linear layers).
#pragma once
#include "common.cuh"
#include <mma.h>

#define SH_BK 16

template <class P, int BM, int LD>
__device__ __forceinline__ void sh_load_a(const P& p, float (*As)[LD], int m0, int k0, int kEnd) {
    if constexpr (P::A_MODE == 0) {
        for (int i = threadIdx.x; i < BM * SH_BK; i += 256) {
            int kk = i % SH_BK, mm = i / SH_BK, m = m0 + mm, k = k0 + kk;
            As[kk][mm] = (m < p.M && k < kEnd) ? p.a(m, k) : 0.f;
        }
    } else if constexpr (P::A_MODE == 1) {
        for (int i = threadIdx.x; i < BM * SH_BK; i += 256) {
            int mm = i % BM, kk = i / BM, m = m0 + mm, k = k0 + kk;
            As[kk][mm] = (m < p.M && k < kEnd) ? p.a(m, k) : 0.f;
        }
    } else {
        p.template loadA<BM, LD>(As, m0, k0, kEnd);
    }
}

template <class P, int BN, int LD>
__device__ __forceinline__ void sh_load_b(const P& p, float (*Bs)[LD], int n0, int k0, int kEnd) {
    if constexpr (P::B_MODE == 0) {
        for (int i = threadIdx.x; i < BN * SH_BK; i += 256) {
            int nn = i % BN, kk = i / BN, n = n0 + nn, k = k0 + kk;
            Bs[kk][nn] = (n < p.N && k < kEnd) ? p.b(k, n) : 0.f;
        }
    } else {
        for (int i = threadIdx.x; i < BN * SH_BK; i += 256) {
            int kk = i % SH_BK, nn = i / SH_BK, n = n0 + nn, k = k0 + kk;
            Bs[kk][nn] = (n < p.N && k < kEnd) ? p.b(k, n) : 0.f;
        }
    }
}

// Where element i (0 <= i < T) of a thread's T rows (or columns) sits in a tile of size BM: the thread
// with index t owns T / 4 runs of 4, the run g at g * (BM * 4 / T) + t * 4. With T = 4 that is
// t * 4 .. t * 4 + 3; with T = 8 the two runs are BM/2 apart, so the 16 threads that read one row of
// Bs with float4 loads read 256 contiguous bytes instead of 16-byte pieces 32 bytes apart (a 2-way
// shared-memory bank conflict on every load of the inner loop).
template <int BM, int T>
__device__ __forceinline__ int sh_frag(int t, int i) { return (i >> 2) * (BM * 4 / T) + t * 4 + (i & 3); }

// Which outputs thread tid computes: rows sh_frag<BM, TM>(ty, i), columns sh_frag<BN, TN>(tx, j).
// With 16 thread columns (the 128 and 64 tiles) a warp is 2 thread rows x 16 thread columns. With 32
// (the 32 x 256 tile) a warp would be one row of 32: its B fragments would span 1 KB of shared memory
// per load (8 wavefronts for 32 FFMAs, shared memory as the limit), so a warp is 4 rows x 8 columns
// instead: 1 wavefront for A and 2 for B per k.
template <int BN, int TN>
__device__ __forceinline__ void sh_thread_xy(int tid, int& tx, int& ty) {
    if constexpr (BN / TN == 32) {
        const int lane = tid & 31, warp = tid >> 5;
        tx = (warp & 3) * 8 + (lane & 7);
        ty = (warp >> 2) * 4 + (lane >> 3);
    } else {
        tx = tid % (BN / TN);
        ty = tid / (BN / TN);
    }
}

// grid: (ceil(N/BN), ceil(M/BM), splits), block 256
template <class P, int BM, int BN, int TM, int TN, bool DIFF>
__device__ __forceinline__ void sh_gemm_body(const P& p) {
    static_assert((BM / TM) * (BN / TN) == 256, "256 threads per tile");
    constexpr int LDA = BM + 4, LDB = BN + 4;
    __shared__ __align__(16) float As[SH_BK][LDA];
    __shared__ __align__(16) float Bs[SH_BK][LDB];
    const int tid = threadIdx.x;
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    const int kBeg = blockIdx.z * p.kChunk;
    const int kEnd = min(p.K, kBeg + p.kChunk);
    int tx, ty;
    sh_thread_xy<BN, TN>(tid, tx, ty);
    float acc[TM][TN];
    #pragma unroll
    for (int i = 0; i < TM; i++)
        #pragma unroll
        for (int j = 0; j < TN; j++) acc[i][j] = 0.f;

    for (int k0 = kBeg; k0 < kEnd; k0 += SH_BK) {
        sh_load_a<P, BM, LDA>(p, As, m0, k0, kEnd);
        sh_load_b<P, BN, LDB>(p, Bs, n0, k0, kEnd);
        __syncthreads();
        #pragma unroll
        for (int kk = 0; kk < SH_BK; kk++) {
            float av[TM], bv[TN];
            #pragma unroll
            for (int i = 0; i < TM; i += 4) {
                float4 t = *reinterpret_cast<const float4*>(&As[kk][sh_frag<BM, TM>(ty, i)]);
                av[i] = t.x; av[i + 1] = t.y; av[i + 2] = t.z; av[i + 3] = t.w;
            }
            #pragma unroll
            for (int j = 0; j < TN; j += 4) {
                float4 t = *reinterpret_cast<const float4*>(&Bs[kk][sh_frag<BN, TN>(tx, j)]);
                bv[j] = t.x; bv[j + 1] = t.y; bv[j + 2] = t.z; bv[j + 3] = t.w;
            }
            #pragma unroll
            for (int i = 0; i < TM; i++)
                #pragma unroll
                for (int j = 0; j < TN; j++) {
                    if (DIFF) { float t = av[i] - bv[j]; acc[i][j] = fmaf(t, t, acc[i][j]); }
                    else acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
                }
        }
        __syncthreads();
    }
    #pragma unroll
    for (int i = 0; i < TM; i++)
        #pragma unroll
        for (int j = 0; j < TN; j++) {
            int m = m0 + sh_frag<BM, TM>(ty, i), n = n0 + sh_frag<BN, TN>(tx, j);
            if (m < p.M && n < p.N) p.store(m, n, acc[i][j], blockIdx.z);
        }
}

// The same fp32 tile with software pipelining: the next k-slice is loaded from global memory into
// registers while the current one is multiplied from shared memory (two shared buffers, one
// barrier per slice), so load latency hides behind arithmetic. For A_MODE / B_MODE 0 and 1.
template <class P, int BM, int BN, int TM, int TN, bool DIFF>
__device__ __forceinline__ void sh_gemm_pf_body(const P& p) {
    static_assert((BM / TM) * (BN / TN) == 256, "256 threads per tile");
    static_assert(P::A_MODE != 2, "custom A loaders are not pipelined");
    constexpr int LDA = BM + 4, LDB = BN + 4, NA = BM * SH_BK / 256, NB = BN * SH_BK / 256;
    __shared__ __align__(16) float As[2][SH_BK][LDA];
    __shared__ __align__(16) float Bs[2][SH_BK][LDB];
    const int tid = threadIdx.x;
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    const int kBeg = blockIdx.z * p.kChunk;
    const int kEnd = min(p.K, kBeg + p.kChunk);
    int tx, ty;
    sh_thread_xy<BN, TN>(tid, tx, ty);
    float ra[NA], rb[NB];
    auto aIdx = [&](int u, int& mm, int& kk) {
        int i = tid + u * 256;
        if (P::A_MODE == 0) { kk = i % SH_BK; mm = i / SH_BK; } else { mm = i % BM; kk = i / BM; }
    };
    auto bIdx = [&](int u, int& nn, int& kk) {
        int i = tid + u * 256;
        if (P::B_MODE == 0) { nn = i % BN; kk = i / BN; } else { kk = i % SH_BK; nn = i / SH_BK; }
    };
    auto fetch = [&](int k0) {
        #pragma unroll
        for (int u = 0; u < NA; u++) {
            int mm, kk; aIdx(u, mm, kk);
            int m = m0 + mm, k = k0 + kk;
            ra[u] = (m < p.M && k < kEnd) ? p.a(m, k) : 0.f;
        }
        #pragma unroll
        for (int u = 0; u < NB; u++) {
            int nn, kk; bIdx(u, nn, kk);
            int n = n0 + nn, k = k0 + kk;
            rb[u] = (n < p.N && k < kEnd) ? p.b(k, n) : 0.f;
        }
    };
    auto put = [&](int buf) {
        #pragma unroll
        for (int u = 0; u < NA; u++) { int mm, kk; aIdx(u, mm, kk); As[buf][kk][mm] = ra[u]; }
        #pragma unroll
        for (int u = 0; u < NB; u++) { int nn, kk; bIdx(u, nn, kk); Bs[buf][kk][nn] = rb[u]; }
    };
    float acc[TM][TN];
    #pragma unroll
    for (int i = 0; i < TM; i++)
        #pragma unroll
        for (int j = 0; j < TN; j++) acc[i][j] = 0.f;

    if (kBeg < kEnd) {
        fetch(kBeg);
        put(0);
        __syncthreads();
    }
    int cur = 0;
    for (int k0 = kBeg; k0 < kEnd; k0 += SH_BK) {
        const bool more = k0 + SH_BK < kEnd;
        if (more) fetch(k0 + SH_BK);
        #pragma unroll
        for (int kk = 0; kk < SH_BK; kk++) {
            float av[TM], bv[TN];
            #pragma unroll
            for (int i = 0; i < TM; i += 4) {
                float4 t = *reinterpret_cast<const float4*>(&As[cur][kk][sh_frag<BM, TM>(ty, i)]);
                av[i] = t.x; av[i + 1] = t.y; av[i + 2] = t.z; av[i + 3] = t.w;
            }
            #pragma unroll
            for (int j = 0; j < TN; j += 4) {
                float4 t = *reinterpret_cast<const float4*>(&Bs[cur][kk][sh_frag<BN, TN>(tx, j)]);
                bv[j] = t.x; bv[j + 1] = t.y; bv[j + 2] = t.z; bv[j + 3] = t.w;
            }
            #pragma unroll
            for (int i = 0; i < TM; i++)
                #pragma unroll
                for (int j = 0; j < TN; j++) {
                    if (DIFF) { float t = av[i] - bv[j]; acc[i][j] = fmaf(t, t, acc[i][j]); }
                    else acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
                }
        }
        if (more) put(cur ^ 1);   // the other buffer was last read before the previous barrier
        __syncthreads();
        cur ^= 1;
    }
    #pragma unroll
    for (int i = 0; i < TM; i++)
        #pragma unroll
        for (int j = 0; j < TN; j++) {
            int m = m0 + sh_frag<BM, TM>(ty, i), n = n0 + sh_frag<BN, TN>(tx, j);
            if (m < p.M && n < p.N) p.store(m, n, acc[i][j], blockIdx.z);
        }
}

// TF32 tensor-core version: 64 x 64 tile, 8 warps as 4 (m) x 2 (n), each warp 16 x 32 (two 16x16
// accumulators). A sits in shared memory as As[k][m] (column-major for wmma), B as Bs[k][n].
template <class P>
__device__ __forceinline__ void sh_gemm_tf32_body(const P& p) {
    using namespace nvcuda;
    constexpr int BM = 64, BN = 64, LD = 72;   // LD: 32-byte aligned rows for wmma
    __shared__ __align__(32) float As[SH_BK][LD];
    __shared__ __align__(32) float Bs[SH_BK][LD];
    __shared__ __align__(32) float Cs[BM][LD];
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    const int kBeg = blockIdx.z * p.kChunk;
    const int kEnd = min(p.K, kBeg + p.kChunk);
    const int warp = threadIdx.x >> 5, wm = warp & 3, wn = warp >> 2;
    wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[2];
    wmma::fill_fragment(acc[0], 0.f);
    wmma::fill_fragment(acc[1], 0.f);
    for (int k0 = kBeg; k0 < kEnd; k0 += SH_BK) {
        sh_load_a<P, BM, LD>(p, As, m0, k0, kEnd);
        sh_load_b<P, BN, LD>(p, Bs, n0, k0, kEnd);
        __syncthreads();
        #pragma unroll
        for (int ks = 0; ks < SH_BK; ks += 8) {
            wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::col_major> fa;
            wmma::load_matrix_sync(fa, &As[ks][wm * 16], LD);
            #pragma unroll
            for (int t = 0; t < fa.num_elements; t++) fa.x[t] = wmma::__float_to_tf32(fa.x[t]);
            #pragma unroll
            for (int f = 0; f < 2; f++) {
                wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fb;
                wmma::load_matrix_sync(fb, &Bs[ks][wn * 32 + f * 16], LD);
                #pragma unroll
                for (int t = 0; t < fb.num_elements; t++) fb.x[t] = wmma::__float_to_tf32(fb.x[t]);
                wmma::mma_sync(acc[f], fa, fb, acc[f]);
            }
        }
        __syncthreads();
    }
    wmma::store_matrix_sync(&Cs[wm * 16][wn * 32], acc[0], LD, wmma::mem_row_major);
    wmma::store_matrix_sync(&Cs[wm * 16][wn * 32 + 16], acc[1], LD, wmma::mem_row_major);
    __syncthreads();
    for (int i = threadIdx.x; i < BM * BN; i += 256) {
        int mm = i / BN, nn = i % BN, m = m0 + mm, n = n0 + nn;
        if (m < p.M && n < p.N) p.store(m, n, Cs[mm][nn], blockIdx.z);
    }
}

// Split-K partials: out[i] = sum over s < splits of part[s * count + i], in s order (deterministic).
extern "C" __global__ void splitKReduce(const float* __restrict__ part, float* __restrict__ out,
                                        long long count, int splits) {
    SH_FOR(i, count) {
        float s = 0.f;
        for (int z = 0; z < splits; z++) s += part[z * count + i];
        out[i] = s;
    }
}

// Instantiates the kernels of one problem type from scalar parameters (JCuda passes only scalars and
// pointers): NAME (fp32, 128x128 tiles), NAME_small (fp32, 64x64 tiles), NAME_m32 (fp32, 32x256
// tiles, for M <= 32) and NAME_tf32 (tensor cores), plus NAME_pf / NAME_pf_small / NAME_pf_m32, the
// fp32 tiles with register prefetching (the default; -Dsemihard.cuda.pipelinedGemm=false selects the
// plain ones). PARAMS is the parenthesized parameter list; the rest initializes P in order. P::init()
// runs once per thread before the tiles (precomputed divisors and the like).
#define SH_GEMM3(NAME, P, PARAMS, ...)                                                                          \
    extern "C" __global__ void __launch_bounds__(256) NAME PARAMS {                                             \
        P p{__VA_ARGS__}; p.init(); sh_gemm_body<P, 128, 128, 8, 8, false>(p); }                                \
    extern "C" __global__ void __launch_bounds__(256) NAME##_small PARAMS {                                     \
        P p{__VA_ARGS__}; p.init(); sh_gemm_body<P, 64, 64, 4, 4, false>(p); }                                  \
    extern "C" __global__ void __launch_bounds__(256) NAME##_tf32 PARAMS {                                      \
        P p{__VA_ARGS__}; p.init(); sh_gemm_tf32_body<P>(p); }                                                  \
    extern "C" __global__ void __launch_bounds__(256, 2) NAME##_pf PARAMS {                                     \
        P p{__VA_ARGS__}; p.init(); sh_gemm_pf_body<P, 128, 128, 8, 8, false>(p); }                             \
    extern "C" __global__ void __launch_bounds__(256) NAME##_pf_small PARAMS {                                  \
        P p{__VA_ARGS__}; p.init(); sh_gemm_pf_body<P, 64, 64, 4, 4, false>(p); }                               \
    extern "C" __global__ void __launch_bounds__(256) NAME##_m32 PARAMS {                                       \
        P p{__VA_ARGS__}; p.init(); sh_gemm_body<P, 32, 256, 4, 8, false>(p); }                                 \
    extern "C" __global__ void __launch_bounds__(256) NAME##_pf_m32 PARAMS {                                    \
        P p{__VA_ARGS__}; p.init(); sh_gemm_pf_body<P, 32, 256, 4, 8, false>(p); }
