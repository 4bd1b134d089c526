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
// global loads are coalesced. Optional: split loaders (BCol / BRow / ARow, per-slice BTap, per-block
// BEnt tables; see sh_loader), which the pipelined tiles use to compute what depends only on a thread's
// fixed index once.
//
// Three versions (the pipelined two share sh_loader):
//  * sh_gemm_body<P, BM, BN, TM, TN, DIFF>: fp32 FFMA, BM x BN tile per 256-thread block, BK = 16,
//    TM x TN outputs per thread, tiles staged in shared memory. 128x128/8x8 for big problems,
//    64x64/4x4 for small ones, 32x256/4x8 when M <= 32 (the host picks). The 32-row tile exists
//    because convolutions with 32 channels (face-resnet10's stem and first block, W3's
//    256x32x48x48x32 layer, every backward-data of a 32-channel input) have M = 32: on the 64-row
//    tile half of every block's FFMAs multiplied padding (the H200 measured that layer at 6.6
//    TFLOP/s against 12.3 for M = 64).
//  * sh_gemm_pf_body<...>: the same fp32 tiles, software-pipelined (the default), and one more for
//    32 < M <= 64: 64x128/4x8 (NAME_pf_w64). On the 64x64 tile a 4x4 thread issues 2 shared loads per
//    16 FFMAs and its k-slice loop was half FFMAs; with 4x8 it issues 3 per 32.
//  * sh_gemm_tf32_body<P, BM, BN, WM, WN, PASSES>: the same three tiles on tensor cores (mma.sync m16n8k8,
//    inputs rounded to TF32 once on their way to shared memory, fp32 accumulation), pipelined like
//    the fp32 _pf tiles. Used for BackendOptions.precision() == "tf32" (convolutions and linear
//    layers). It replaced a wmma m16n16k8 version on a 64x64 tile (8 warps of 16x32, unpipelined,
//    fragments converted after every load), which the H200 measured slower than fp32 (W3: 9.5-11.0
//    TFLOP/s forward against 9.8-12.5). PASSES = 3: 3xTF32, near-fp32 products (the distances).
#pragma once
#include "common.cuh"
#include <type_traits>

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
// t * 4 .. t * 4 + 3; with T = 8 the two runs are BM/2 apart, so the 8 columns of a warp (sh_thread_xy)
// that read one row of Bs with float4 loads read 128 contiguous bytes instead of 16-byte pieces 32 bytes
// apart (a 2-way shared-memory bank conflict on every load of the inner loop).
template <int BM, int T>
__device__ __forceinline__ int sh_frag(int t, int i) { return (i >> 2) * (BM * 4 / T) + t * 4 + (i & 3); }

// Which outputs thread tid computes: rows sh_frag<BM, TM>(ty, i), columns sh_frag<BN, TN>(tx, j).
// A warp is a block of 4 thread rows x 8 thread columns, and the lanes are placed in it so that shared
// memory can pack its replies. Shared memory returns 128 bytes per cycle (one register per lane), so a
// float4 load by a whole warp takes 4 cycles, unless every lane pair (l, l ^ 1) or every pair (l, l ^ 2)
// reads the same address: then 2 (NVIDIA's rule for CC 7.x, forum thread 77228; an H100 measured in
// thread 373160 agrees: a warp whose lanes 0-15 and 16-31 each read one float4 took 2, and lanes l and
// l + 16 sharing addresses did not pack).
//   lane bits 1, 2 -> the row in the block (ty):    lanes l and l ^ 1 read the same A fragment
//   lane bits 0, 3, 4 -> the column (tx):           lanes l and l ^ 2 read the same B fragment
// so each fragment load takes 2 cycles: per k, 4 loads of A and B for an 8x8 thread (64 FFMAs, 16
// cycles of the SM's FMA units for a warp) take 8 cycles of shared memory, instead of 12 with the
// earlier placement (a warp of 2 rows x 16 columns: its B loads could not pack); a 4x4 thread's 2 loads
// take 4 cycles instead of 6, against its 4 cycles of FFMAs. Where a GPU packed only (l, l ^ 1) pairs,
// both placements would cost the same. The warps then tile the (BM/TM) x (BN/TN) threads.
template <int BN, int TN>
__device__ __forceinline__ void sh_thread_xy(int tid, int& tx, int& ty) {
    constexpr int WX = BN / TN / 8;   // warps across
    static_assert(WX * 8 == BN / TN, "thread columns in blocks of 8");
    const int lane = tid & 31, warp = tid >> 5;
    tx = (warp % WX) * 8 + ((lane & 1) | ((lane >> 2) & 6));
    ty = (warp / WX) * 4 + ((lane >> 1) & 3);
}

// Whether P takes a thread's outputs whole (P::FRAGMENT_EPILOGUE: a template member
// fragment<R, C>(v, rows, cols, rowLanes, colLanes), v[r][c] the value at row rows[r] and column cols[c],
// rowLanes / colLanes the lane bits in which the lanes that hold the same rows / columns differ) instead of
// one store() per value: for epilogues that reduce, such as tripletHardMine's.
template <class P, class = void> struct sh_fragment_epilogue { static constexpr bool value = false; };
template <class P> struct sh_fragment_epilogue<P, decltype((void)P::FRAGMENT_EPILOGUE)> {
    static constexpr bool value = P::FRAGMENT_EPILOGUE;
};

// The fp32 tiles' epilogue: a store() per value, or the fragment (sh_thread_xy: the lanes of a thread row
// differ in lane bits 0, 3, 4, those of a thread column in bits 1, 2).
template <class P, int BM, int BN, int TM, int TN>
__device__ __forceinline__ void sh_fp32_epilogue(const P& p, float (&acc)[TM][TN], int m0, int n0, int tx, int ty) {
    if constexpr (sh_fragment_epilogue<P>::value) {
        int rows[TM], cols[TN];
        #pragma unroll
        for (int i = 0; i < TM; i++) rows[i] = m0 + sh_frag<BM, TM>(ty, i);
        #pragma unroll
        for (int j = 0; j < TN; j++) cols[j] = n0 + sh_frag<BN, TN>(tx, j);
        p.template fragment<TM, TN>(acc, rows, cols, 0x19u, 0x06u);
    } else {
        #pragma unroll
        for (int i = 0; i < TM; i++)
            #pragma unroll
            for (int j = 0; j < TN; j++) {
                int m = m0 + sh_frag<BM, TM>(ty, i), n = n0 + sh_frag<BN, TN>(tx, j);
                if (m < p.M && n < p.N) p.store(m, n, acc[i][j], blockIdx.z);
            }
    }
}

// One k-slice of the fp32 tiles from shared memory: per kk, the thread's TM values of A and TN of B as
// float4 runs (sh_frag), then TM x TN FFMAs (DIFF: (a - b)^2 instead of a * b). As[kk][m], Bs[kk][n].
template <int BM, int BN, int TM, int TN, bool DIFF, int LDA, int LDB>
__device__ __forceinline__ void sh_tile_slice(const float (*As)[LDA], const float (*Bs)[LDB], int tx, int ty,
                                              float (&acc)[TM][TN]) {
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
        sh_tile_slice<BM, BN, TM, TN, DIFF, LDA, LDB>(As, Bs, tx, ty, acc);
        __syncthreads();
    }
    sh_fp32_epilogue<P, BM, BN, TM, TN>(p, acc, m0, n0, tx, ty);
}

// ------------------------------------------------------------------ the pipelined loader
//
// sh_loader<P, BM, BN>: what the pipelined tiles (sh_gemm_pf_body, sh_gemm_tf32_body) load from global
// memory for one k-slice, NA values of A and NB of B per thread, into registers (fetch), and where each
// goes in the tile (aIdx / bIdx: the index that runs fastest across threads follows the memory layout,
// so the loads are coalesced).
//
// In that order one of each thread's two indices is the same for all its loads: n for B_MODE 0 (for the
// whole kernel), k for A_MODE 0 and B_MODE 1 (for one k-slice). A problem type may split its loader at
// that index, so that the work that depends only on it (a convolution's image, output pixel and base
// pointer: two of the four divisions per element) is done once instead of per element:
//   B_MODE 0: struct BCol; BCol bcol(int n) const; float bc(int k, const BCol&) const;   (once per kernel)
//   B_MODE 1: struct BRow; BRow brow(int k) const; float br(const BRow&, int n) const;   (once per slice)
//   A_MODE 0: struct ARow; ARow arow(int k) const; float ar(const ARow&, int m) const;   (once per slice)
// With BCol, a problem may also refine a column's state once per k-slice (a convolution whose reduction
// runs over filter taps, then channels: the whole slice is one tap, so the pixel's bounds check and address
// are per slice, and an element is one load at a channel stride):
//   B_MODE 0: struct BTap; BTap btap(int k0, const BCol&) const; float bt(const BTap&, int kk) const;
//             (k0: the slice's first k, a multiple of SH_BK; kk: the element's k - k0)
// With BRow, what depends only on a column n can be computed once per block for each of its BN columns,
// into a table in shared memory (a convolution's filter gradient: a column is a (c, r, s), its offset
// and tap; an element then reads its column's entry instead of dividing):
//   B_MODE 1: struct BEnt; BEnt bent(int n) const; float bre(const BRow&, const BEnt&) const;
//             (bent(n) for n >= N must make bre return 0: the loader does not check n itself)
// The state may be computed for an index out of range (k >= kEnd, n >= N); only in-range values are read.
template <class P, class = void> struct sh_has_bcol : std::false_type {};
template <class P> struct sh_has_bcol<P, std::void_t<typename P::BCol>> : std::true_type {};
template <class P, class = void> struct sh_has_brow : std::false_type {};
template <class P> struct sh_has_brow<P, std::void_t<typename P::BRow>> : std::true_type {};
template <class P, class = void> struct sh_has_arow : std::false_type {};
template <class P> struct sh_has_arow<P, std::void_t<typename P::ARow>> : std::true_type {};
template <class P, class = void> struct sh_has_btap : std::false_type {};
template <class P> struct sh_has_btap<P, std::void_t<typename P::BTap>> : std::true_type {};
template <class P, class = void> struct sh_has_bent : std::false_type {};
template <class P> struct sh_has_bent<P, std::void_t<typename P::BEnt>> : std::true_type {};
template <class P, bool = sh_has_bcol<P>::value> struct sh_bcol_of { using type = int; };
template <class P, bool = sh_has_bent<P>::value> struct sh_bent_of { using type = int; };
template <class P> struct sh_bent_of<P, true> { using type = typename P::BEnt; };
template <class P> struct sh_bcol_of<P, true> { using type = typename P::BCol; };

template <class P, int BM, int BN>
struct sh_loader {
    static_assert(P::A_MODE != 2, "custom A loaders are not pipelined");
    static_assert(256 % BN == 0, "a thread's n (B_MODE 0) is the same for all its loads");
    static constexpr int NA = BM * SH_BK / 256, NB = BN * SH_BK / 256;
    static constexpr bool BCOL = P::B_MODE == 0 && sh_has_bcol<P>::value;
    static constexpr bool BROW = P::B_MODE == 1 && sh_has_brow<P>::value;
    static constexpr bool AROW = P::A_MODE == 0 && sh_has_arow<P>::value;
    static constexpr bool BTAP = BCOL && sh_has_btap<P>::value;
    static constexpr bool BTAB = BROW && sh_has_bent<P>::value;
    float ra[NA], rb[NB];
    // BTAB: the block's column entries (a static shared array, so that its address is a constant, not a
    // generic pointer converted before every read)
    __device__ __forceinline__ static typename sh_bent_of<P>::type (&tab())[BN] {
        __shared__ __align__(8) typename sh_bent_of<P>::type entries[BN];
        return entries;
    }
    typename sh_bcol_of<P>::type col;   // BCOL: the state of this thread's n
    bool colOk;

    // Element u of the thread's loads is element i = tid + 256 u of the tile in load order. The tile sizes
    // divide 256 (or 256 divides them), so i's two indices are the thread's own plus a constant per u: the
    // compiler folds that constant into addresses instead of keeping a divided index per u in a register.
    static_assert(256 % BM == 0 && 256 % BN == 0, "tiles of 32, 64, 128 or 256");
    __device__ __forceinline__ static void aIdx(int u, int& mm, int& kk) {
        const unsigned t = threadIdx.x;
        if (P::A_MODE == 0) { kk = t % SH_BK; mm = t / SH_BK + u * (256 / SH_BK); }
        else { mm = t % BM; kk = t / BM + u * (256 / BM); }
    }
    __device__ __forceinline__ static void bIdx(int u, int& nn, int& kk) {
        const unsigned t = threadIdx.x;
        if (P::B_MODE == 0) { nn = t % BN; kk = t / BN + u * (256 / BN); }
        else { kk = t % SH_BK; nn = t / SH_BK + u * (256 / SH_BK); }
    }
    // An operand whose k is this thread's own for the whole slice (A: A_MODE 0, B: B_MODE 1): the state of
    // that k once (rowOf(k)), then one value per u along m (A) or n (B), at(state, m or n), 0 outside
    // (CHECK_LIM false: at() itself gives 0 beyond lim, as BEnt tables do).
    template <bool IS_A, bool CHECK_LIM = true, int NU, class RowOf, class At>
    __device__ __forceinline__ static void sliceRow(float (&r)[NU], int k0, int kEnd, int base, int lim, RowOf rowOf, At at) {
        int x, kk;
        if (IS_A) aIdx(0, x, kk); else bIdx(0, x, kk);
        const int k = k0 + kk;
        const bool kOk = k < kEnd;
        const auto row = rowOf(k);
        #pragma unroll
        for (int u = 0; u < NU; u++) {
            if (IS_A) aIdx(u, x, kk); else bIdx(u, x, kk);
            r[u] = (kOk && (!CHECK_LIM || base + x < lim)) ? at(row, base + x) : 0.f;
        }
    }
    // before the first fetch, by every thread of the block (BTAB ends with a barrier)
    __device__ __forceinline__ void begin(const P& p, int n0) {
        if constexpr (BTAB) {
            for (int i = threadIdx.x; i < BN; i += 256) tab()[i] = p.bent(n0 + i);
            __syncthreads();
        }
        if constexpr (BCOL) {
            int nn, kk; bIdx(0, nn, kk);
            col = p.bcol(n0 + nn);
            colOk = n0 + nn < p.N;
        }
    }
    __device__ __forceinline__ void fetch(const P& p, int m0, int n0, int k0, int kEnd) {
        if constexpr (AROW) {
            sliceRow<true>(ra, k0, kEnd, m0, p.M, [&](int k) { return p.arow(k); },
                           [&](const auto& row, int m) { return p.ar(row, m); });
        } else {
            #pragma unroll
            for (int u = 0; u < NA; u++) {
                int mm, kk; aIdx(u, mm, kk);
                int m = m0 + mm, k = k0 + kk;
                ra[u] = (m < p.M && k < kEnd) ? p.a(m, k) : 0.f;
            }
        }
        if constexpr (BTAP) {
            const auto tap = p.btap(k0, col);
            #pragma unroll
            for (int u = 0; u < NB; u++) {
                int nn, kk; bIdx(u, nn, kk);
                rb[u] = (colOk && k0 + kk < kEnd) ? p.bt(tap, kk) : 0.f;
            }
        } else if constexpr (BCOL) {
            #pragma unroll
            for (int u = 0; u < NB; u++) {
                int nn, kk; bIdx(u, nn, kk);
                int k = k0 + kk;
                rb[u] = (colOk && k < kEnd) ? p.bc(k, col) : 0.f;
            }
        } else if constexpr (BTAB) {
            sliceRow<false, false>(rb, k0, kEnd, n0, p.N, [&](int k) { return p.brow(k); },
                                   [&](const auto& row, int n) { return p.bre(row, tab()[n - n0]); });
        } else if constexpr (BROW) {
            sliceRow<false>(rb, k0, kEnd, n0, p.N, [&](int k) { return p.brow(k); },
                            [&](const auto& row, int n) { return p.br(row, n); });
        } else {
            #pragma unroll
            for (int u = 0; u < NB; u++) {
                int nn, kk; bIdx(u, nn, kk);
                int n = n0 + nn, k = k0 + kk;
                rb[u] = (n < p.N && k < kEnd) ? p.b(k, n) : 0.f;
            }
        }
    }
};

// The same fp32 tile with software pipelining: the next k-slice is loaded from global memory into
// registers while the current one is multiplied from shared memory (two shared buffers, one
// barrier per slice), so load latency hides behind arithmetic. For A_MODE / B_MODE 0 and 1.
template <class P, int BM, int BN, int TM, int TN, bool DIFF>
__device__ __forceinline__ void sh_gemm_pf_body(const P& p) {
    static_assert((BM / TM) * (BN / TN) == 256, "256 threads per tile");
    using L = sh_loader<P, BM, BN>;
    constexpr int LDA = BM + 4, LDB = BN + 4;
    __shared__ __align__(16) float As[2][SH_BK][LDA];
    __shared__ __align__(16) float Bs[2][SH_BK][LDB];
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    const int kBeg = blockIdx.z * p.kChunk;
    const int kEnd = min(p.K, kBeg + p.kChunk);
    int tx, ty;
    sh_thread_xy<BN, TN>(threadIdx.x, tx, ty);
    L ld;
    ld.begin(p, n0);
    auto fetch = [&](int k0) { ld.fetch(p, m0, n0, k0, kEnd); };
    auto put = [&](int buf) {
        #pragma unroll
        for (int u = 0; u < L::NA; u++) { int mm, kk; L::aIdx(u, mm, kk); As[buf][kk][mm] = ld.ra[u]; }
        #pragma unroll
        for (int u = 0; u < L::NB; u++) { int nn, kk; L::bIdx(u, nn, kk); Bs[buf][kk][nn] = ld.rb[u]; }
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
        sh_tile_slice<BM, BN, TM, TN, DIFF, LDA, LDB>(As[cur], Bs[cur], tx, ty, acc);
        if (more) put(cur ^ 1);   // the other buffer was last read before the previous barrier
        __syncthreads();
        cur ^= 1;
    }
    sh_fp32_epilogue<P, BM, BN, TM, TN>(p, acc, m0, n0, tx, ty);
}

// ------------------------------------------------------------------ TF32 tensor cores
//
// sh_tf32(x): x rounded to TF32 (10-bit mantissa, round to nearest, ties away: cvt.rna), as fp32 bits.
// sh_mma_tf32(d, a, b): one warp-wide mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32,
// D[16 x 8] += A[16 x 8] B[8 x 8], fp32 accumulation. Lane l = 4 g + t holds (PTX ISA, "matrix
// fragments for mma.m16n8k8"):
//   a[0] = A[g][t], a[1] = A[g+8][t], a[2] = A[g][t+4], a[3] = A[g+8][t+4]   (A: m x k)
//   b[0] = B[t][g], b[1] = B[t+4][g]                                         (B: k x n)
//   d[0] = D[g][2t], d[1] = D[g][2t+1], d[2] = D[g+8][2t], d[3] = D[g+8][2t+1]
// The emulator (shemu) runs the same instruction through its warp (shemu::mmaTf32).
#ifdef SHEMU
__device__ __forceinline__ unsigned sh_tf32(float x) { return __float_as_uint(shemu::tf32Round(x)); }
__device__ __forceinline__ void sh_mma_tf32(float (&d)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
    shemu::mmaTf32(d, a, b);
}
#else
__device__ __forceinline__ unsigned sh_tf32(float x) {
    unsigned r;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
    return r;
}
__device__ __forceinline__ void sh_mma_tf32(float (&d)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
    asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
#endif

// x (fp32 bits) = hi + lo, both TF32: hi = x rounded, lo = the rest (exact in fp32) rounded
__device__ __forceinline__ void sh_split_tf32(unsigned x, unsigned& hi, unsigned& lo) {
    hi = sh_tf32(__uint_as_float(x));
    lo = sh_tf32(__uint_as_float(x) - __uint_as_float(hi));
}

// The TF32 tile: BM x BN per 256-thread block, 8 warps as WM (m) x WN (n), each warp a
// (BM/WM) x (BN/WN) piece made of MI x NI mma tiles of 16 x 8, all accumulated in registers.
// The same software pipeline as sh_gemm_pf_body (the next k-slice comes from global memory into
// registers while the tensor cores work on the current one from shared memory; two buffers, one
// barrier per slice); values are rounded to TF32 once, when stored to shared memory.
//
// Shared-memory layout, chosen so that both the stores and the fragment reads are free of bank
// conflicts: an operand that is contiguous along m (n) in global memory is stored k-major,
// [k][m] with a row of BM + 8 floats (the 8 lanes g of a fragment read 8 consecutive words, the 4
// lanes t rows 8 banks apart); one contiguous along k is stored m-major, [m][k] with a row of
// BK + 4 = 20 floats (g * 20 + t covers all 32 banks).
//
// PASSES = 3 (3xTF32, the pairwise distances' dot products): near-fp32 accuracy from three TF32 products
// per pair of fragments (see the loop); the staged values keep all 32 bits.
//
// Tiles (host: CudaBackend.plan, the same choice as the fp32 ones):
//   128 x 128, warps 2 x 4 of 64 x 32 (MI = 4, NI = 4: 16 mma per 24 shared loads per k-step of 8)
//    64 x  64, warps 2 x 4 of 32 x 16 (MI = 2, NI = 2)
//    32 x 256, warps 1 x 8 of 32 x 32 (MI = 2, NI = 4), for M <= 32
template <class P, int BM, int BN, int WM, int WN, int PASSES = 1>
__device__ __forceinline__ void sh_gemm_tf32_body(const P& p) {
    static_assert(PASSES == 1 || PASSES == 3, "TF32 (1 pass) or 3xTF32 (3)");
    static_assert(WM * WN == 8, "8 warps");
    using L = sh_loader<P, BM, BN>;
    constexpr int WTM = BM / WM, WTN = BN / WN, MI = WTM / 16, NI = WTN / 8;
    static_assert(MI * 16 == WTM && NI * 8 == WTN, "warp tiles of whole mma tiles");
    constexpr bool A_KMAJOR = P::A_MODE == 1, B_KMAJOR = P::B_MODE == 0;
    constexpr int LDAK = BM + 8, LDBK = BN + 8, LDMK = SH_BK + 4;
    constexpr int A_SIZE = A_KMAJOR ? SH_BK * LDAK : BM * LDMK, B_SIZE = B_KMAJOR ? SH_BK * LDBK : BN * LDMK;
    __shared__ __align__(16) unsigned As[2][A_SIZE];
    __shared__ __align__(16) unsigned Bs[2][B_SIZE];
    auto ai = [](int k, int m) { return A_KMAJOR ? k * LDAK + m : m * LDMK + k; };
    auto bi = [](int k, int n) { return B_KMAJOR ? k * LDBK + n : n * LDMK + k; };
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
    const int wm = warp % WM, wn = warp / WM;
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    const int kBeg = blockIdx.z * p.kChunk;
    const int kEnd = min(p.K, kBeg + p.kChunk);
    L ld;
    ld.begin(p, n0);
    auto fetch = [&](int k0) { ld.fetch(p, m0, n0, k0, kEnd); };
    // TF32: rounded once here; 3xTF32: the fp32 bits, split into hi + lo when the fragments are read
    auto stage = [](float x) { return PASSES == 1 ? sh_tf32(x) : __float_as_uint(x); };
    auto put = [&](int buf) {
        #pragma unroll
        for (int u = 0; u < L::NA; u++) { int mm, kk; L::aIdx(u, mm, kk); As[buf][ai(kk, mm)] = stage(ld.ra[u]); }
        #pragma unroll
        for (int u = 0; u < L::NB; u++) { int nn, kk; L::bIdx(u, nn, kk); Bs[buf][bi(kk, nn)] = stage(ld.rb[u]); }
    };
    float acc[MI][NI][4];
    #pragma unroll
    for (int i = 0; i < MI; i++)
        #pragma unroll
        for (int j = 0; j < NI; j++)
            #pragma unroll
            for (int q = 0; q < 4; q++) acc[i][j][q] = 0.f;

    if (kBeg < kEnd) {
        fetch(kBeg);
        put(0);
        __syncthreads();
    }
    int cur = 0;
    for (int k0 = kBeg; k0 < kEnd; k0 += SH_BK) {
        const bool more = k0 + SH_BK < kEnd;
        if (more) fetch(k0 + SH_BK);
        const unsigned* as = As[cur];
        const unsigned* bs = Bs[cur];
        #pragma unroll
        for (int ks = 0; ks < SH_BK; ks += 8) {
            unsigned af[MI][4], bf[NI][2];
            #pragma unroll
            for (int i = 0; i < MI; i++) {
                const int r = wm * WTM + i * 16 + g;
                af[i][0] = as[ai(ks + t, r)];
                af[i][1] = as[ai(ks + t, r + 8)];
                af[i][2] = as[ai(ks + t + 4, r)];
                af[i][3] = as[ai(ks + t + 4, r + 8)];
            }
            #pragma unroll
            for (int j = 0; j < NI; j++) {
                const int c = wn * WTN + j * 8 + g;
                bf[j][0] = bs[bi(ks + t, c)];
                bf[j][1] = bs[bi(ks + t + 4, c)];
            }
            if constexpr (PASSES == 1) {
                #pragma unroll
                for (int i = 0; i < MI; i++)
                    #pragma unroll
                    for (int j = 0; j < NI; j++) sh_mma_tf32(acc[i][j], af[i], bf[j]);
            } else {
                // 3xTF32: x = hi + lo with hi = tf32(x), lo = tf32(x - hi) (x - hi is exact); a b is then
                // a_hi b_hi + a_hi b_lo + a_lo b_hi up to a_lo b_lo (about 2^-22 relative), small terms first
                unsigned bhi[NI][2], blo[NI][2];
                #pragma unroll
                for (int j = 0; j < NI; j++)
                    #pragma unroll
                    for (int e = 0; e < 2; e++) sh_split_tf32(bf[j][e], bhi[j][e], blo[j][e]);
                #pragma unroll
                for (int i = 0; i < MI; i++) {
                    unsigned ahi[4], alo[4];
                    #pragma unroll
                    for (int e = 0; e < 4; e++) sh_split_tf32(af[i][e], ahi[e], alo[e]);
                    #pragma unroll
                    for (int j = 0; j < NI; j++) {
                        sh_mma_tf32(acc[i][j], alo, bhi[j]);
                        sh_mma_tf32(acc[i][j], ahi, blo[j]);
                        sh_mma_tf32(acc[i][j], ahi, bhi[j]);
                    }
                }
            }
        }
        if (more) put(cur ^ 1);   // the other buffer was last read before the previous barrier
        __syncthreads();
        cur ^= 1;
    }
    if constexpr (sh_fragment_epilogue<P>::value) {
        // acc[i][j][q] is at row 16 i + g + 8 (q >> 1), column 8 j + 2 t + (q & 1) of the warp's tile: the
        // quad (t, lane bits 0, 1) shares rows, the 8 lanes of one t (bits 2-4) share columns
        float v[2 * MI][2 * NI];
        int rows[2 * MI], cols[2 * NI];
        #pragma unroll
        for (int i = 0; i < 2 * MI; i++) rows[i] = m0 + wm * WTM + 16 * (i >> 1) + g + 8 * (i & 1);
        #pragma unroll
        for (int j = 0; j < 2 * NI; j++) cols[j] = n0 + wn * WTN + 8 * (j >> 1) + 2 * t + (j & 1);
        #pragma unroll
        for (int i = 0; i < MI; i++)
            #pragma unroll
            for (int j = 0; j < NI; j++)
                #pragma unroll
                for (int q = 0; q < 4; q++) v[2 * i + (q >> 1)][2 * j + (q & 1)] = acc[i][j][q];
        p.template fragment<2 * MI, 2 * NI>(v, rows, cols, 0x03u, 0x1cu);
    } else {
        #pragma unroll
        for (int i = 0; i < MI; i++)
            #pragma unroll
            for (int j = 0; j < NI; j++) {
                const int m = m0 + wm * WTM + i * 16 + g, n = n0 + wn * WTN + j * 8 + 2 * t;
                // written out, not a loop over the 4 values: with a large store() (the distances') nvcc left a
                // third loop level rolled and kept acc in local memory
                if (m < p.M && n < p.N) p.store(m, n, acc[i][j][0], blockIdx.z);
                if (m < p.M && n + 1 < p.N) p.store(m, n + 1, acc[i][j][1], blockIdx.z);
                if (m + 8 < p.M && n < p.N) p.store(m + 8, n, acc[i][j][2], blockIdx.z);
                if (m + 8 < p.M && n + 1 < p.N) p.store(m + 8, n + 1, acc[i][j][3], blockIdx.z);
            }
    }
}

// Split-K partials: out[i] = sum over z < splits of part[z * count + i]. part: [splits, count].
// Block: 256 threads = 8 warps over 32 outputs (one per lane, so each load is one coalesced 128-byte
// line). Warp w adds z = w, w + 8, w + 16, ... in that order; then warp 0 adds the 8 warp sums in warp
// order: a fixed order, so the same bits every run. Why not one thread per output: a weight gradient
// has few outputs and up to 2 x SMs splits (a stem's 32 x 27 over 264 splits: 864 threads, each with 264
// dependent-latency loads in a row); here each thread has splits / 8. Grid: ceil(count / 32) blocks,
// striding when capped.
extern "C" __global__ void __launch_bounds__(256) splitKReduce(const float* __restrict__ part,
                                                               float* __restrict__ out,
                                                               long long count, int splits) {
    __shared__ float sums[8][32];
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    for (long long base = (long long)blockIdx.x * 32; base < count; base += (long long)gridDim.x * 32) {
        const long long i = base + lane;
        float s = 0.f;
        if (i < count)
            for (int z = w; z < splits; z += 8) s += part[z * count + i];
        sums[w][lane] = s;
        __syncthreads();
        if (w == 0 && i < count) {
            float t = sums[0][lane];
            #pragma unroll
            for (int k = 1; k < 8; k++) t += sums[k][lane];
            out[i] = t;
        }
        __syncthreads();
    }
}

// Instantiates the kernels of one problem type from scalar parameters (JCuda passes only scalars and
// pointers): NAME (fp32, 128x128 tiles), NAME_small (fp32, 64x64 tiles), NAME_m32 (fp32, 32x256
// tiles, for M <= 32), NAME_pf / NAME_pf_small / NAME_pf_m32 (the fp32 tiles with register
// prefetching: the default; -Dsemihard.cuda.pipelinedGemm=false selects the plain ones), NAME_pf_w64
// (pipelined fp32 64x128 tiles, for 32 < M <= 64), and
// NAME_tf32 / NAME_tf32_small / NAME_tf32_m32 (the same three tiles on tensor cores, for
// --precision tf32). PARAMS is the parenthesized parameter list; the rest initializes P in order.
// P::init() runs once per thread before the tiles (precomputed divisors and the like).
#define SH_GEMM3(NAME, P, PARAMS, ...)                                                                          \
    extern "C" __global__ void __launch_bounds__(256) NAME PARAMS {                                             \
        P p{__VA_ARGS__}; p.init(); sh_gemm_body<P, 128, 128, 8, 8, false>(p); }                                \
    extern "C" __global__ void __launch_bounds__(256) NAME##_small PARAMS {                                     \
        P p{__VA_ARGS__}; p.init(); sh_gemm_body<P, 64, 64, 4, 4, false>(p); }                                  \
    extern "C" __global__ void __launch_bounds__(256) NAME##_m32 PARAMS {                                       \
        P p{__VA_ARGS__}; p.init(); sh_gemm_body<P, 32, 256, 4, 8, false>(p); }                                 \
    SH_GEMM3_PIPELINED(NAME, P, PARAMS, __VA_ARGS__)

// The pipelined half of SH_GEMM3 alone (NAME_pf, _pf_small, _pf_m32, _pf_w64, _tf32, _tf32_small, _tf32_m32): for
// problem types whose split loaders need the pipelined tiles (BTap).
#define SH_GEMM3_PIPELINED(NAME, P, PARAMS, ...)                                                                \
    extern "C" __global__ void __launch_bounds__(256, 2) NAME##_pf PARAMS {                                     \
        P p{__VA_ARGS__}; p.init(); sh_gemm_pf_body<P, 128, 128, 8, 8, false>(p); }                             \
    extern "C" __global__ void __launch_bounds__(256) NAME##_pf_small PARAMS {                                  \
        P p{__VA_ARGS__}; p.init(); sh_gemm_pf_body<P, 64, 64, 4, 4, false>(p); }                               \
    extern "C" __global__ void __launch_bounds__(256) NAME##_pf_m32 PARAMS {                                    \
        P p{__VA_ARGS__}; p.init(); sh_gemm_pf_body<P, 32, 256, 4, 8, false>(p); }                              \
    extern "C" __global__ void __launch_bounds__(256, 3) NAME##_pf_w64 PARAMS {                                 \
        P p{__VA_ARGS__}; p.init(); sh_gemm_pf_body<P, 64, 128, 4, 8, false>(p); }                              \
    extern "C" __global__ void __launch_bounds__(256, 2) NAME##_tf32 PARAMS {                                   \
        P p{__VA_ARGS__}; p.init(); sh_gemm_tf32_body<P, 128, 128, 2, 4>(p); }                                  \
    extern "C" __global__ void __launch_bounds__(256) NAME##_tf32_small PARAMS {                                \
        P p{__VA_ARGS__}; p.init(); sh_gemm_tf32_body<P, 64, 64, 2, 4>(p); }                                    \
    extern "C" __global__ void __launch_bounds__(256) NAME##_tf32_m32 PARAMS {                                  \
        P p{__VA_ARGS__}; p.init(); sh_gemm_tf32_body<P, 32, 256, 1, 8>(p); }
