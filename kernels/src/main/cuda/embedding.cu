// embedding.cu: ops on embedding matrices E [B, d] (row-major): L2 normalization, pairwise
// distances, and the fused triplet loss (distances + online mining + loss + dL/dE in one call).
//
// The fused triplet loss (semantics: docs/benchmarks.md and ReferenceTriplet, ties included)
// runs as a short pipeline of kernels on one stream, O(B^2) memory, never B^3:
//   1, 2. tripletStats   (one launch) one warp per row: squared norms (double), norms, clamped norms, and
//                        for the cosine distance the unit rows Ehat = E / max(|e|, 1e-12); and column
//                        sums of E in chunks (for the SPREAD statistic).
//   3. pairwiseDistanceForward_*  D [A, B] (A = anchorRows) as a GEMM: from differences
//                        (sum (e_i - e_j)^2, exact 0 for duplicates) for B <= 4096, from norms and dot
//                        products beyond (half the arithmetic; the dot products on tensor cores in 3xTF32,
//                        _dot_x3). Either way D is bit-for-bit symmetric.
//   4. tripletMine       one block per anchor a: reads row a of D once per pass and finds the units of
//                        the strategy. semihard: a's positives (gathered in the first pass when there
//                        are at most CAP = 512, else in rounds in index order) are sorted by (d, index);
//                        each negative n falls into bucket b = #{positives p : d(a,p) < d(a,n)} (binary
//                        search) and keeps the per-bucket minimum of the key (d(a,n), n) with a 64-bit
//                        shared atomicMin (order-independent, so deterministic); a suffix minimum
//                        over buckets then gives every positive its n*: O(B log K) per anchor instead
//                        of O(B K). No n*: the farthest negative (fallback). Its first pass reads the
//                        labels and D only at the positives, so the row of D is read once.
//                        Positives sorted by one warp in registers when there are at most 64.
//                        batch-hard: one scan (max positive / min negative keys). With the sym
//                        backward, steps 3 and 4 are instead tripletHardMine_{diff,x3}: the distance
//                        tiles reduce those keys per row without storing D; then tripletHardFinish,
//                        one thread per anchor.
//                        batch-all: every (p, n) of the anchor, per-negative and per-positive sums.
//                        Output, G = dLoss/dD before the 1/units scale (divided by d for l2), in one of
//                        two forms (CudaBackend.TripletBackward):
//                          sym (semihard, batch-hard): added into S = G + G^T [B, B], all zero before
//                              (the backend keeps S, and tripletSymGather zeroes what it read);
//                              each element gets at most two adds, so S is deterministic;
//                          dense / split: row a of G [A, B] and its row sum grow[a].
//                        And the anchor's partial statistics.
//   5. tripletFinish     one block: sums the partials in anchor order, writes the statistics and the
//                        scale 1/units (batch-all: 1/active; 0 when degenerate) to device memory.
//                        Run by tripletMine's last block to finish (a counter), not launched.
//   6. T = S X and the row sums of S, X = E (Ehat for cosine):
//      sym:   tripletSymGather, one warp per row of S: only its ~4K nonzeros, accumulated in registers;
//             for d <= 256 the same warp then does step 7 for its row (no T, no tripletGrad launch).
//      split: tripletRowGather (one warp per row of G) and tripletColGather (8 warps per 32 columns,
//             each over a slice of the rows) add up the nonzeros of G and of G^T (the previous version).
//      dense (batch-all: S is dense): tripletColSum (column sums of G), then tripletBackward_*
//             computes T = S X as a GEMM, S read from G and G^T tiles.
//   7. tripletGrad       one warp per row: dE_i = scale * 2 (rs_i e_i - T_i) (squared-l2),
//                        scale * (rs_i e_i - T_i) (l2, S already divided by d), or
//                        scale / n_i * (-T_i + [|e_i| > eps] (ehat_i . T_i) ehat_i) (cosine).
// The distances of a square problem are computed for the upper triangle only and mirrored.
// Every sum is a fixed-order tree or loop: the result is reproducible bit for bit.
#include "gemm.cuh"

#define COSINE_EPS 1e-12f

typedef unsigned long long u64;

// ------------------------------------------------------------------ L2 normalization

// norms[i] = max(|x_i|, eps), y_i = x_i / norms[i]; one warp per row
extern "C" __global__ void l2NormalizeForward(const float* __restrict__ x, float* __restrict__ y, float* __restrict__ norms,
                                              int n, int d, float eps) {
    int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (row >= n) return;
    const float* xr = x + (size_t)row * d;
    double s = 0.0;
    for (int j = lane; j < d; j += 32) s += (double)xr[j] * xr[j];
    s = sh_warp_sum(s);
    s = __shfl_sync(0xffffffffu, s, 0);
    float norm = fmaxf((float)sqrt(s), eps);
    if (lane == 0) norms[row] = norm;
    for (int j = lane; j < d; j += 32) y[(size_t)row * d + j] = xr[j] / norm;
}

// dx_i = (dy_i - y_i (y_i . dy_i)) / norm_i, or dy_i / eps where the norm was clamped
extern "C" __global__ void l2NormalizeBackward(const float* __restrict__ y, const float* __restrict__ norms,
                                               const float* __restrict__ dy, float* __restrict__ dx, int n, int d, float eps) {
    int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (row >= n) return;
    size_t o = (size_t)row * d;
    float norm = norms[row];
    if (norm > eps) {
        double s = 0.0;
        for (int j = lane; j < d; j += 32) s += (double)y[o + j] * dy[o + j];
        s = sh_warp_sum(s);
        float dot = (float)__shfl_sync(0xffffffffu, s, 0);
        for (int j = lane; j < d; j += 32) dx[o + j] = (dy[o + j] - y[o + j] * dot) / norm;
    } else {
        for (int j = lane; j < d; j += 32) dx[o + j] = dy[o + j] / eps;
    }
}

// ------------------------------------------------------------------ pairwise distances as a GEMM

// dist[m * ld + n] for m < M (rows), n < N; e [*, K]. mode: 0 squared-l2 from differences, 1 l2 from
// differences, 2 cosine (dot / clamped norms), 3 squared-l2 from norms, 4 l2 from norms. dist[i,i] = 0.
// sym (M == N only): tiles below the diagonal exit at once and each upper value is also stored at
// its mirror position, so half the arithmetic and an exactly symmetric matrix.
struct DistP {
    int M, N, K, kChunk;
    const float* e; float* dist; const double* sq; const float* nc; int ld; int mode; int sym;
    static constexpr int A_MODE = 0, B_MODE = 1;
    __device__ float a(int m, int k) const { return e[(size_t)m * K + k]; }
    __device__ float b(int k, int n) const { return e[(size_t)n * K + k]; }
    // the distance from the tile's accumulated value v (a sum of squared differences, or a dot product)
    __device__ float value(int m, int n, float v) const {
        if (m == n) return 0.f;
        if (mode == 0) return v;
        if (mode == 1) return sqrtf(v);
        if (mode == 2) return 1.f - v / (nc[m] * nc[n]);
        float s = fmaxf((float)(sq[m] + sq[n]) - 2.f * v, 0.f);
        return mode == 3 ? s : sqrtf(s);
    }
    __device__ void store(int m, int n, float v, int) const {
        const float r = value(m, n, v);
        if (sym && m < n) dist[(size_t)n * ld + m] = r;   // the mirror of an upper-triangle value
        if (!sym || m <= n) dist[(size_t)m * ld + n] = r;
    }
};
#define DIST_PARAMS (int M, int N, int K, int kChunk, const float* e, float* dist, const double* sq, const float* nc, int ld, int mode, int sym)
extern "C" __global__ void __launch_bounds__(256) pairwiseDistanceForward_diff DIST_PARAMS {
    if (sym && blockIdx.y > blockIdx.x) return; DistP p{M, N, K, kChunk, e, dist, sq, nc, ld, mode, sym}; sh_gemm_body<DistP, 128, 128, 8, 8, true>(p); }
extern "C" __global__ void __launch_bounds__(256) pairwiseDistanceForward_diff_small DIST_PARAMS {
    if (sym && blockIdx.y > blockIdx.x) return; DistP p{M, N, K, kChunk, e, dist, sq, nc, ld, mode, sym}; sh_gemm_body<DistP, 64, 64, 4, 4, true>(p); }
extern "C" __global__ void __launch_bounds__(256) pairwiseDistanceForward_dot DIST_PARAMS {
    if (sym && blockIdx.y > blockIdx.x) return; DistP p{M, N, K, kChunk, e, dist, sq, nc, ld, mode, sym}; sh_gemm_body<DistP, 128, 128, 8, 8, false>(p); }
extern "C" __global__ void __launch_bounds__(256) pairwiseDistanceForward_dot_small DIST_PARAMS {
    if (sym && blockIdx.y > blockIdx.x) return; DistP p{M, N, K, kChunk, e, dist, sq, nc, ld, mode, sym}; sh_gemm_body<DistP, 64, 64, 4, 4, false>(p); }
// pipelined versions (sh_gemm_pf_body); the plain ones stay as a fallback (-Dsemihard.cuda.pipelinedGemm=false)
extern "C" __global__ void __launch_bounds__(256, 2) pairwiseDistanceForward_diff_pf DIST_PARAMS {
    if (sym && blockIdx.y > blockIdx.x) return; DistP p{M, N, K, kChunk, e, dist, sq, nc, ld, mode, sym}; sh_gemm_pf_body<DistP, 128, 128, 8, 8, true>(p); }
extern "C" __global__ void __launch_bounds__(256) pairwiseDistanceForward_diff_pf_small DIST_PARAMS {
    if (sym && blockIdx.y > blockIdx.x) return; DistP p{M, N, K, kChunk, e, dist, sq, nc, ld, mode, sym}; sh_gemm_pf_body<DistP, 64, 64, 4, 4, true>(p); }
extern "C" __global__ void __launch_bounds__(256) pairwiseDistanceForward_dot_pf DIST_PARAMS {
    if (sym && blockIdx.y > blockIdx.x) return; DistP p{M, N, K, kChunk, e, dist, sq, nc, ld, mode, sym}; sh_gemm_pf_body<DistP, 128, 128, 8, 8, false>(p); }
extern "C" __global__ void __launch_bounds__(256) pairwiseDistanceForward_dot_pf_small DIST_PARAMS {
    if (sym && blockIdx.y > blockIdx.x) return; DistP p{M, N, K, kChunk, e, dist, sq, nc, ld, mode, sym}; sh_gemm_pf_body<DistP, 64, 64, 4, 4, false>(p); }

// dot products on tensor cores in 3xTF32 (gemm.cuh: three TF32 products per pair, close to fp32
// accuracy; -Dsemihard.cuda.distanceTensorCores=false selects the fp32 FFMA tiles above)
extern "C" __global__ void __launch_bounds__(256) pairwiseDistanceForward_dot_x3 DIST_PARAMS {
    if (sym && blockIdx.y > blockIdx.x) return; DistP p{M, N, K, kChunk, e, dist, sq, nc, ld, mode, sym}; sh_gemm_tf32_body<DistP, 128, 128, 2, 4, 3>(p); }
extern "C" __global__ void __launch_bounds__(256) pairwiseDistanceForward_dot_x3_small DIST_PARAMS {
    if (sym && blockIdx.y > blockIdx.x) return; DistP p{M, N, K, kChunk, e, dist, sq, nc, ld, mode, sym}; sh_gemm_tf32_body<DistP, 64, 64, 2, 4, 3>(p); }

// ------------------------------------------------------------------ batch-hard mined in the distance tiles

// Batch-hard needs, per anchor a, only the farthest positive and the nearest negative of row a of D:
// key extrema that a distance tile can reduce in its registers. So the distance tiles (3xTF32, and fp32 from
// differences) reduce instead of storing: D [A, B] is never written nor read again
// (2 GiB of memory traffic less at B = 16384, and 1 GiB less memory). Per anchor row m (keys as tripletMine's):
//   hp[m]   = max over positives n (n < A, n != m, same label) of fkey(d) << 32 | (0xffffffff - n)
//   near[m] = min over negatives n (another label) of fkey(d) << 32 | n
//   cnt[m]  = the number of positives
// hp, cnt zero and near all ones before the launch (tripletHardFinish leaves them so). The distances are
// DistP::value's, so the keys, hence the triplets, are those tripletMine finds in the stored D.
struct DistMineP : DistP {
    const int* labels; int A; u64* hp; u64* near; unsigned* cnt;
    static constexpr bool FRAGMENT_EPILOGUE = true;
    // A thread's outputs (gemm.cuh, sh_fragment_epilogue): each row reduces over its columns in registers,
    // then over the lanes that hold the same rows (rowLanes); with sym each value is also element (n, m) of
    // the mirror, and each column reduces the same way over colLanes. Then one 64-bit red per row and warp.
    template <int R, int C>
    __device__ void fragment(const float (&v)[R][C], const int (&rows)[R], const int (&cols)[C], unsigned rowLanes,
                             unsigned colLanes) const {
        int yr[R], yc[C];
        #pragma unroll
        for (int r = 0; r < R; r++) yr[r] = rows[r] < M ? labels[rows[r]] : 0;
        #pragma unroll
        for (int c = 0; c < C; c++) yc[c] = cols[c] < N ? labels[cols[c]] : 0;
        #pragma unroll
        for (int r = 0; r < R; r++) line<false>(v, rows, cols, yr, yc, r, rowLanes);
        if (!sym) return;
        #pragma unroll
        for (int c = 0; c < C; c++) line<true>(v, rows, cols, yr, yc, c, colLanes);
    }
    // row rows[x] over the columns (MIRROR false), or row cols[x] over the rows (the mirror): its keys, reduced
    // over the lanes that hold the same line, then sent by the first of them
    template <bool MIRROR, int R, int C>
    __device__ __forceinline__ void line(const float (&v)[R][C], const int (&rows)[R], const int (&cols)[C],
                                         const int (&yr)[R], const int (&yc)[C], int x, unsigned lanes) const {
        u64 hpv = 0ull, nv = ~0ull;
        unsigned cn = 0u;
        #pragma unroll
        for (int y = 0; y < (MIRROR ? R : C); y++) {
            const int r = MIRROR ? y : x, c = MIRROR ? x : y;
            take(rows[r], cols[c], v[r][c], yr[r] == yc[c], MIRROR, hpv, nv, cn);
        }
        reduce(hpv, nv, cn, lanes);
        const int row = MIRROR ? cols[x] : rows[x];
        if ((threadIdx.x & lanes) == 0 && row < (MIRROR ? N : M)) emit(row, hpv, nv, cn);
    }
    // the keys of (m, n) for row m (mirror = false) or of (n, m) for row n (mirror = true), into hp / near / c
    __device__ __forceinline__ void take(int m, int n, float v, bool same, bool mirror, u64& hpv, u64& nv,
                                         unsigned& c) const {
        if (m >= M || n >= N || (sym && m >= n) || m == n) return;     // sym: the upper triangle only
        const u64 fk = (u64)sh_fkey(value(m, n, v)) << 32;
        const int other = mirror ? m : n;
        if (!same) nv = min(nv, fk | (unsigned)other);
        else if (other < A) { hpv = max(hpv, fk | (0xffffffffu - (unsigned)other)); c++; }
    }
    // over the lanes that differ from this one only in the bits of `lanes` (a warp-uniform mask)
    __device__ __forceinline__ static void reduce(u64& hpv, u64& nv, unsigned& c, unsigned lanes) {
        #pragma unroll
        for (int b = 0; b < 5; b++)
            if ((lanes >> b) & 1u) {
                hpv = max(hpv, __shfl_xor_sync(0xffffffffu, hpv, 1 << b));
                nv = min(nv, __shfl_xor_sync(0xffffffffu, nv, 1 << b));
                c += __shfl_xor_sync(0xffffffffu, c, 1 << b);
            }
    }
    __device__ __forceinline__ void emit(int row, u64 hpv, u64 nv, unsigned c) const {
        if (hpv) atomicMax(&hp[row], hpv);
        if (nv != ~0ull) atomicMin(&near[row], nv);
        if (c) atomicAdd(&cnt[row], c);
    }
};
#define MINE_PARAMS (int M, int N, int K, int kChunk, const float* e, const double* sq, const float* nc, int mode, int sym, \
                     const int* labels, int A, u64* hp, u64* near, unsigned* cnt)
#define MINE_P DistMineP p; p.M = M; p.N = N; p.K = K; p.kChunk = kChunk; p.e = e; p.dist = nullptr; p.sq = sq; p.nc = nc; \
               p.ld = N; p.mode = mode; p.sym = sym; p.labels = labels; p.A = A; p.hp = hp; p.near = near; p.cnt = cnt
extern "C" __global__ void __launch_bounds__(256) tripletHardMine_x3 MINE_PARAMS {
    if (sym && blockIdx.y > blockIdx.x) return; MINE_P; sh_gemm_tf32_body<DistMineP, 128, 128, 2, 4, 3>(p); }
extern "C" __global__ void __launch_bounds__(256) tripletHardMine_x3_small MINE_PARAMS {
    if (sym && blockIdx.y > blockIdx.x) return; MINE_P; sh_gemm_tf32_body<DistMineP, 64, 64, 2, 4, 3>(p); }
// the same from differences (squared-l2 and l2 up to 4096 rows): the fp32 tiles of pairwiseDistanceForward_diff*
extern "C" __global__ void __launch_bounds__(256) tripletHardMine_diff MINE_PARAMS {
    if (sym && blockIdx.y > blockIdx.x) return; MINE_P; sh_gemm_body<DistMineP, 128, 128, 8, 8, true>(p); }
extern "C" __global__ void __launch_bounds__(256) tripletHardMine_diff_small MINE_PARAMS {
    if (sym && blockIdx.y > blockIdx.x) return; MINE_P; sh_gemm_body<DistMineP, 64, 64, 4, 4, true>(p); }
extern "C" __global__ void __launch_bounds__(256, 2) tripletHardMine_diff_pf MINE_PARAMS {
    if (sym && blockIdx.y > blockIdx.x) return; MINE_P; sh_gemm_pf_body<DistMineP, 128, 128, 8, 8, true>(p); }
extern "C" __global__ void __launch_bounds__(256) tripletHardMine_diff_pf_small MINE_PARAMS {
    if (sym && blockIdx.y > blockIdx.x) return; MINE_P; sh_gemm_pf_body<DistMineP, 64, 64, 4, 4, true>(p); }

// Row statistics of row i, by one warp: sqd[i] = |e_i|^2 (double), nrm[i] = |e_i|, nc[i] = max(|e_i|, 1e-12),
// and ehat (when not null) = e_i / nc[i].
__device__ __forceinline__ void sh_row_stats(const float* __restrict__ e, int row, int d, double* __restrict__ sqd,
                                             float* __restrict__ nrm, float* __restrict__ nc, float* __restrict__ ehat) {
    const int lane = threadIdx.x & 31;
    const float* er = e + (size_t)row * d;
    double s = 0.0;
    for (int j = lane; j < d; j += 32) s += (double)er[j] * er[j];
    s = sh_warp_sum(s);
    s = __shfl_sync(0xffffffffu, s, 0);
    float n = (float)sqrt(s), c = fmaxf(n, COSINE_EPS);
    if (lane == 0) { sqd[row] = s; nrm[row] = n; nc[row] = c; }
    if (ehat) for (int j = lane; j < d; j += 32) ehat[(size_t)row * d + j] = er[j] / c;
}

// colp[z * d + c] = sum of e[i, c] over the rows i of chunk z (rowsPerChunk rows each), in row order; one block.
__device__ __forceinline__ void sh_col_partial(const float* __restrict__ e, int B, int d, int rowsPerChunk, int z,
                                               double* __restrict__ colp) {
    int beg = z * rowsPerChunk, end = min(B, beg + rowsPerChunk);
    for (int c = threadIdx.x; c < d; c += blockDim.x) {
        double s = 0.0;
        for (int i = beg; i < end; i++) s += e[(size_t)i * d + c];
        colp[(size_t)z * d + c] = s;
    }
}

// sh_row_stats, one warp per row (the cosine distances need the norms).
extern "C" __global__ void tripletRowStats(const float* __restrict__ e, int B, int d, double* __restrict__ sqd,
                                           float* __restrict__ nrm, float* __restrict__ nc, float* __restrict__ ehat) {
    int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (row < B) sh_row_stats(e, row, d, sqd, nrm, nc, ehat);
}

// Steps 1 and 2 of the fused loss in one launch (they only read E): blocks [0, rowBlocks) do the row
// statistics, one warp per row; the next colChunks blocks the column sums of chunk z = blockIdx.x - rowBlocks.
extern "C" __global__ void tripletStats(const float* __restrict__ e, int B, int d, double* __restrict__ sqd,
                                        float* __restrict__ nrm, float* __restrict__ nc, float* __restrict__ ehat,
                                        int rowBlocks, int rowsPerChunk, double* __restrict__ colp) {
    if ((int)blockIdx.x < rowBlocks) {
        int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
        if (row < B) sh_row_stats(e, row, d, sqd, nrm, nc, ehat);
    } else {
        sh_col_partial(e, B, d, rowsPerChunk, blockIdx.x - rowBlocks, colp);
    }
}

// Non-fused backward of pairwiseDistance (the reference's formula, one block per row i, threads over
// the d columns, j in order): dE_i = sum_j (dD[i,j] + dD[j,i]) dd(i,j)/de_i. For cosine, cosm holds
// the cosine distance matrix recomputed from e (cos = 1 - cosm) and nrm/nc the norms.
extern "C" __global__ void pairwiseDistanceBackward(const float* __restrict__ e, const float* __restrict__ dist,
                                                    const float* __restrict__ dD, float* __restrict__ dE, int n, int d,
                                                    int metric, const float* __restrict__ cosm,
                                                    const float* __restrict__ nrm, const float* __restrict__ nc) {
    int i = blockIdx.x;
    const float* ei = e + (size_t)i * d;
    for (int t = threadIdx.x; t < d; t += blockDim.x) {
        double acc = 0.0, eit = ei[t];
        for (int j = 0; j < n; j++) {
            if (j == i) continue;
            double gij = dD[(size_t)i * n + j], gji = dD[(size_t)j * n + i];
            double ejt = e[(size_t)j * d + t];
            if (metric == 0) {
                acc += 2.0 * (gij + gji) * (eit - ejt);
            } else if (metric == 1) {
                double dij = dist[(size_t)i * n + j], dji = dist[(size_t)j * n + i];
                double coef = (dij > 0 ? gij / dij : 0.0) + (dji > 0 ? gji / dji : 0.0);
                acc += coef * (eit - ejt);
            } else {
                double ni = nc[i], nj = nc[j];
                double cs = 1.0 - (double)cosm[(size_t)i * n + j];
                double cu = nrm[i] > COSINE_EPS ? cs / ni : 0.0;
                acc -= (gij + gji) / ni * (ejt / nj - cu * eit);
            }
        }
        dE[(size_t)i * d + t] = (float)acc;
    }
}

// ------------------------------------------------------------------ fused triplet loss

#define CAP 512          // positives handled per round in shared memory
#define P_UNITS 0
#define P_PAIRS 1
#define P_FOUND 2
#define P_FALLBACK 3
#define P_ACTIVE 4
#define P_LOSS 5
#define P_DAP 6
#define P_DAN 7
#define P_N 8
#define STRAT_SEMIHARD 0
#define STRAT_BATCH_HARD 1
#define STRAT_BATCH_ALL 2

__device__ __forceinline__ float sh_softplus(float x) { return fmaxf(x, 0.f) + log1pf(expf(-fabsf(x))); }
__device__ __forceinline__ float sh_sigmoid(float x) {
    if (x >= 0.f) return 1.f / (1.f + expf(-x));
    float z = expf(x);
    return z / (1.f + z);
}

// Bitonic sort of a[0..n) ascending, n a power of two; ends with __syncthreads.
__device__ void sh_bitonic(u64* a, int n) {
    for (int k = 2; k <= n; k <<= 1)
        for (int j = k >> 1; j > 0; j >>= 1) {
            for (int i = threadIdx.x; i < n; i += blockDim.x) {
                int ixj = i ^ j;
                if (ixj > i) {
                    bool up = (i & k) == 0;
                    u64 x = a[i], y = a[ixj];
                    if ((x > y) == up) { a[i] = y; a[ixj] = x; }
                }
            }
            __syncthreads();
        }
}

// The same sorting network for n <= 64, run by one warp in registers: element i is lane (i & 31)'s
// v[i >> 5]; a partner at distance j < 32 is one shuffle away, at 32 in the same lane. The sorted
// order is the same as sh_bitonic's (the keys are distinct, or equal only where equal keys are
// interchangeable). 21 compare-exchange steps for n = 64 without a block barrier between them: with
// sh_bitonic each was a __syncthreads of the whole block.
__device__ void sh_warp_bitonic64(u64* a, int n) {
    const int lane = threadIdx.x & 31;
    u64 v0 = lane < n ? a[lane] : ~0ull, v1 = lane + 32 < n ? a[lane + 32] : ~0ull;
    for (int k = 2; k <= n; k <<= 1)
        for (int j = k >> 1; j > 0; j >>= 1) {
            if (j == 32) {                          // k = 64: i = lane against i + 32, ascending
                u64 lo = min(v0, v1), hi = max(v0, v1);
                v0 = lo;
                v1 = hi;
            } else {
                u64 p0 = __shfl_xor_sync(0xffffffffu, v0, j), p1 = __shfl_xor_sync(0xffffffffu, v1, j);
                const bool lower = (lane & j) == 0;                 // i < its partner
                const bool up0 = (lane & k) == 0, up1 = ((lane + 32) & k) == 0;
                v0 = lower == up0 ? min(v0, p0) : max(v0, p0);      // the lower index of an ascending
                v1 = lower == up1 ? min(v1, p1) : max(v1, p1);      // pair keeps the minimum
            }
        }
    if (lane < n) a[lane] = v0;
    if (lane + 32 < n) a[lane + 32] = v1;
}

// Sorts a[0..n) ascending (n a power of two) with the block; ends with __syncthreads.
__device__ void sh_sort(u64* a, int n) {
    if (n <= 64) {
        if (threadIdx.x < 32) sh_warp_bitonic64(a, n);
        __syncthreads();
    } else {
        sh_bitonic(a, n);
    }
}

// m[r] = min(m[r], m[r + 1], ..., m[n]) for 1 <= r < n (m[n] unchanged), by warp 0 in chunks of 32 from the
// top (a shuffle scan each, carrying the minimum so far), instead of one thread walking down the n
// entries; min is exact, so the result is the walk's. Ends with __syncthreads.
__device__ void sh_suffix_min(u64* m, int n) {
    if (threadIdx.x < 32) {
        const int lane = threadIdx.x;
        u64 carry = m[n];
        for (int top = n - 1; top >= 1; top -= 32) {
            const int r = top - lane;
            u64 v = r >= 1 ? m[r] : ~0ull;
            #pragma unroll
            for (int o = 1; o < 32; o <<= 1) {
                u64 t = __shfl_up_sync(0xffffffffu, v, o);
                if (lane >= o) v = min(v, t);
            }
            v = min(v, carry);
            if (r >= 1) m[r] = v;
            carry = __shfl_sync(0xffffffffu, v, 31);
        }
    }
    __syncthreads();
}

__device__ __forceinline__ u64 sh_warp_max64(u64 v) {
    #pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = max(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
__device__ __forceinline__ u64 sh_warp_min64(u64 v) {
    #pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = min(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Stores the keys (fkey(d(a,j)) << 32 | j) of a's positives whose rank (in index order) lies in
// [base, base + CAP) into out[rank - base]. Uses warp ballots, so the order is the index order.
__device__ void sh_collect_positives(const float* drow, const int* labels, int a, int ya, int A, int base, u64* out,
                                     int* warpCnt, int* run) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    if (threadIdx.x == 0) *run = 0;
    __syncthreads();
    for (int j0 = 0; j0 < A; j0 += blockDim.x) {
        int j = j0 + threadIdx.x;
        bool pred = j < A && j != a && labels[j] == ya;
        unsigned ballot = __ballot_sync(0xffffffffu, pred);
        if (lane == 0) warpCnt[warp] = __popc(ballot);
        __syncthreads();
        int rank = *run + __popc(ballot & ((1u << lane) - 1u));
        for (int w = 0; w < warp; w++) rank += warpCnt[w];
        if (pred && rank >= base && rank < base + CAP) out[rank - base] = ((u64)sh_fkey(drow[j]) << 32) | (unsigned)j;
        __syncthreads();
        if (threadIdx.x == 0) for (int w = 0; w < warps; w++) *run += warpCnt[w];
        __syncthreads();
    }
}

// Adds the final value v of G[a, j] (divided by d(a, j) for l2) to S[a, j] and to its mirror
// S[j, a]. Every element of S receives at most two such adds (block a's row and block j's mirror),
// and a float sum of two addends onto zero does not depend on their order: S is deterministic.
// It also sets the bits of the touched column chunks (chunkCols columns each, at most 64 chunks) in
// the row masks smask[a] and smask[j], so tripletSymGather reads only those parts of a row.
__device__ __forceinline__ void sh_emit_sym(float* S, u64* smask, int chunkCols, int B, int a, int j, float v, float dj,
                                            int l2) {
    if (l2) v = dj > 0.f ? v / dj : 0.f;
    if (v == 0.f) return;
    atomicAdd(&S[(size_t)a * B + j], v);
    atomicAdd(&S[(size_t)j * B + a], v);
    atomicOr(&smask[a], 1ull << (j / chunkCols));
    atomicOr(&smask[j], 1ull << (a / chunkCols));
}

// f(j, labels[j], drow[j]) for this thread's share of a row (j = tid, tid + blockDim.x, ... < B), in j
// order. MINE_BATCH elements are loaded together, so their memory latencies overlap instead of adding
// up (at B = 16384 a thread has 64 per pass); as they are used in j order, every sum keeps its order.
#define MINE_BATCH 4
template <class F, bool LOAD_D = true>
__device__ __forceinline__ void sh_mine_scan(const float* __restrict__ drow, const int* __restrict__ labels, int B, F f) {
    for (int j0 = threadIdx.x; j0 < B; j0 += MINE_BATCH * blockDim.x) {
        int yv[MINE_BATCH];
        float dv[MINE_BATCH];
        #pragma unroll
        for (int z = 0; z < MINE_BATCH; z++) {
            const int j = j0 + z * blockDim.x;
            yv[z] = j < B ? labels[j] : 0;
            dv[z] = LOAD_D && j < B ? drow[j] : 0.f;
        }
        #pragma unroll
        for (int z = 0; z < MINE_BATCH; z++) {
            const int j = j0 + z * blockDim.x;
            if (j < B) f(j, yv[z], dv[z]);
        }
    }
}

// f(j, labels[j]) for this thread's share of the labels, in j order: sh_mine_scan without reading D.
template <class F>
__device__ __forceinline__ void sh_label_scan(const int* __restrict__ labels, int B, F f) {
    sh_mine_scan<F, false>(nullptr, labels, B, f);
}

// The statistics (TripletStats layout) and ws[0] = the gradient scale, from the anchors' partials, by one
// block: the body of tripletFinish, and what tripletMine's last block runs when it is given a counter.
// scratch: 33 doubles, scratchN: 33 * P_N. part is read through L2 (__ldcg): in tripletMine the other
// blocks wrote it during the same launch.
__device__ void sh_triplet_finish(const double* part, int A, int B, int d, const double* __restrict__ sqd,
                                  const float* __restrict__ nrm, const double* __restrict__ colp, int colChunks,
                                  int strategy, float* __restrict__ stats, float* __restrict__ ws,
                                  double* scratch, double* scratchN) {
    // one pass over the partials (each thread's anchors in order, all fields at once: the loads of a
    // field no longer wait for the previous field's block sum), then the P_N block sums
    double acc[P_N];
    #pragma unroll
    for (int f = 0; f < P_N; f++) acc[f] = 0.0;
    for (int a = threadIdx.x; a < A; a += blockDim.x) {
        #pragma unroll
        for (int f = 0; f < P_N; f++) acc[f] += __ldcg(part + (size_t)a * P_N + f);
    }
    sh_block_sum_n<P_N>(acc, scratchN);
    double normSum = 0.0, sqSum = 0.0, meanSq = 0.0;
    for (int i = threadIdx.x; i < B; i += blockDim.x) { normSum += nrm[i]; sqSum += sqd[i]; }
    for (int c = threadIdx.x; c < d; c += blockDim.x) {
        double s = 0.0;
        for (int z = 0; z < colChunks; z++) s += colp[(size_t)z * d + c];
        double mc = s / B;
        meanSq += mc * mc;
    }
    normSum = sh_block_sum(normSum, scratch);
    sqSum = sh_block_sum(sqSum, scratch);
    meanSq = sh_block_sum(meanSq, scratch);
    if (threadIdx.x == 0) {
        for (int i = 0; i < 16; i++) stats[i] = 0.f;
        stats[9] = B > 0 ? (float)(normSum / B) : 0.f;                          // MEAN_NORM
        stats[10] = B > 0 ? (float)sqrt(fmax(sqSum / B - meanSq, 0.0)) : 0.f;    // SPREAD
        stats[2] = (float)acc[P_PAIRS];                                          // POSITIVE_PAIRS
        double units = acc[P_UNITS], active = acc[P_ACTIVE];
        float scale = 0.f;
        if (units == 0) {
            stats[11] = 1.f;                                                     // DEGENERATE
        } else {
            double denom = strategy == STRAT_BATCH_ALL ? active : units;
            stats[0] = denom > 0 ? (float)(acc[P_LOSS] / denom) : 0.f;           // LOSS
            stats[1] = (float)units;
            stats[3] = (float)acc[P_FOUND];
            stats[4] = (float)acc[P_FALLBACK];
            stats[5] = (float)active;
            stats[6] = (float)(active / units);
            stats[7] = (float)(acc[P_DAP] / units);
            stats[8] = (float)(acc[P_DAN] / units);
            scale = denom > 0 ? (float)(1.0 / denom) : 0.f;
        }
        ws[0] = scale;
    }
}

// tripletFinish's work by the last block of a launch to get here (sh_last_block), without a launch of its
// own; that block sets the counter back to 0. Call from every thread.
__device__ __forceinline__ void sh_finish_by_last_block(unsigned* done, const double* part, int A, int B, int d,
                                                        const double* __restrict__ sqd, const float* __restrict__ nrm,
                                                        const double* __restrict__ colp, int colChunks, int strategy,
                                                        float* __restrict__ stats, float* __restrict__ ws,
                                                        double* scratch, double* scratchN) {
    if (!sh_last_block(done)) return;
    sh_triplet_finish(part, A, B, d, sqd, nrm, colp, colChunks, strategy, stats, ws, scratch, scratchN);
    if (threadIdx.x == 0) *done = 0u;
}

// One block (256 threads) per anchor a < A. D: [A, B]; part: [A, P_N] doubles.
// Without S (batch-all, or the "split" backward): G: [A, B], row a fully overwritten, and
// grow[a] = sum of G row a (after the l2 division).
// With S (semihard and batch-hard, at most CAP positives per anchor: the "sym" backward): G and grow
// are not touched; S: [B, B], all zero before the launch, receives S = G + G^T through sh_emit_sym, and
// smask: [B], zero before, the chunk bits of each row's nonzeros.
// done: null, or a counter that is 0 before the launch (and after it): then the last block to finish
// also does tripletFinish's work (sqd, nrm, colp, colChunks, d, stats, ws are its inputs and outputs).
extern "C" __global__ void __launch_bounds__(256, 4) tripletMine(const float* __restrict__ D, const int* __restrict__ labels,
                                                              float* __restrict__ G, double* __restrict__ part,
                                                              double* __restrict__ grow, int A, int B, int strategy,
                                                              int l2, float margin, int soft, float* __restrict__ S,
                                                              u64* __restrict__ smask, int chunkCols,
                                                              const double* __restrict__ sqd, const float* __restrict__ nrm,
                                                              const double* __restrict__ colp, int colChunks, int d,
                                                              float* __restrict__ stats, float* __restrict__ ws,
                                                              unsigned* __restrict__ done) {
    __shared__ u64 sk[CAP];
    __shared__ u64 sn[CAP];
    __shared__ u64 bmin[CAP + 1];
    __shared__ float sl[CAP];
    __shared__ double scratch[33];
    __shared__ double scratch8[33 * 8];
    __shared__ int warpCnt[32];
    __shared__ int run, s_neg, s_pos;
    __shared__ u64 s_far, s_near, s_hp;
    const int a = blockIdx.x, tid = threadIdx.x;
    const float* drow = D + (size_t)a * B;
    const bool sym = S != nullptr;
    float* g = sym ? nullptr : G + (size_t)a * B;
    const int ya = labels[a];
    if (tid == 0) { s_neg = 0; s_pos = 0; s_far = 0ull; s_near = ~0ull; s_hp = 0ull; }
    __syncthreads();

    // pass 1: zero the G row; count negatives and positives; farthest / nearest negative, farthest positive.
    // semihard needs D here only at the positives (its fallback, the farthest negative, comes out of the
    // bucket pass): it scans the labels, which every block shares, and reads the row of D once in all.
    int negC = 0;
    u64 far = 0ull, near = ~0ull, hp = 0ull;
    double negSum = 0.0, posSum = 0.0;
    if (strategy == STRAT_SEMIHARD) {
        sh_label_scan(labels, B, [&](int j, int yj, float) {
            if (!sym) g[j] = 0.f;
            if (yj != ya) {
                negC++;
            } else if (j < A && j != a) {
                // positives land in sk in arbitrary order; they are sorted by (d, index) before use
                int slot = atomicAdd(&s_pos, 1);
                if (slot < CAP) sk[slot] = ((u64)sh_fkey(drow[j]) << 32) | (unsigned)j;
            }
        });
    } else {
        sh_mine_scan(drow, labels, B, [&](int j, int yj, float dj) {
            if (!sym) g[j] = 0.f;
            u64 fk = (u64)sh_fkey(dj) << 32;
            if (yj != ya) {
                negC++; negSum += dj;
                far = max(far, fk | (0xffffffffu - (unsigned)j));
                near = min(near, fk | (unsigned)j);
            } else if (j < A && j != a) {
                int slot = atomicAdd(&s_pos, 1);
                if (slot < CAP) sk[slot] = fk | (unsigned)j;
                posSum += dj;
                hp = max(hp, fk | (0xffffffffu - (unsigned)j));
            }
        });
    }
    // one shared atomic per warp and value: the 64-bit ones are compare-and-swap loops on shared memory,
    // where 256 threads on one address retried each other
    #pragma unroll
    for (int o = 16; o > 0; o >>= 1) negC += __shfl_down_sync(0xffffffffu, negC, o);
    far = sh_warp_max64(far);
    near = sh_warp_min64(near);
    hp = sh_warp_max64(hp);
    if ((tid & 31) == 0) {
        atomicAdd(&s_neg, negC);
        atomicMax(&s_far, far);
        atomicMin(&s_near, near);
        atomicMax(&s_hp, hp);
    }
    __syncthreads();
    if (strategy == STRAT_BATCH_ALL) {            // its statistics need the sums of d(a, p) and d(a, n)
        negSum = sh_block_sum(negSum, scratch);
        posSum = sh_block_sum(posSum, scratch);
    }
    const int k = s_pos, m = s_neg;

    double units = 0, loss = 0, active = 0, found = 0, fallback = 0, dap = 0, dan = 0;
    if (k > 0 && m > 0) {
        if (strategy == STRAT_BATCH_HARD) {
            if (tid == 0) {
                int p = (int)(0xffffffffu - (unsigned)(s_hp & 0xffffffffu)), n = (int)(unsigned)(s_near & 0xffffffffu);
                float dp = drow[p], dn = drow[n], x = dp - dn;
                float h = soft ? sh_softplus(x) : fmaxf(x + margin, 0.f);
                float slope = soft ? sh_sigmoid(x) : (x + margin > 0.f ? 1.f : 0.f);
                units = 1; loss = h; active = h > 0.f; dap = dp; dan = dn;
                if (sym) {
                    sh_emit_sym(S, smask, chunkCols, B, a, p, slope, dp, l2);
                    sh_emit_sym(S, smask, chunkCols, B, a, n, -slope, dn, l2);
                } else {
                    g[p] = slope;
                    g[n] = -slope;
                }
            }
        } else if (strategy == STRAT_SEMIHARD) {
            int farIdx = 0;                         // the farthest negative (fallback), from the first round
            for (int base = 0; base < k; base += CAP) {
                const int cnt = min(CAP, k - base);
                int p2 = 1;
                while (p2 < cnt) p2 <<= 1;
                if (k > CAP) sh_collect_positives(drow, labels, a, ya, A, base, sk, warpCnt, &run);
                for (int i = cnt + tid; i < p2; i += blockDim.x) sk[i] = ~0ull;
                for (int i = tid; i <= cnt; i += blockDim.x) bmin[i] = ~0ull;
                __syncthreads();
                sh_sort(sk, p2);
                // bucket minimum of (d(a,n), n) by the number of positives strictly closer than n. The last
                // bucket (farther than every positive) is where most negatives fall once the embedding has
                // learned something: all of them contending for one shared address would serialize, so each
                // thread keeps that bucket's minimum in a register and each warp sends one atomic.
                u64 lastMin = ~0ull;
                sh_mine_scan(drow, labels, B, [&](int j, int yj, float dj) {
                    if (yj == ya) return;                  // a positive
                    int lo = 0, hi = cnt;
                    while (lo < hi) {
                        int mid = (lo + hi) >> 1;
                        if (sh_funkey((unsigned)(sk[mid] >> 32)) < dj) lo = mid + 1; else hi = mid;
                    }
                    const u64 fk = (u64)sh_fkey(dj) << 32, key = fk | (unsigned)j;
                    far = max(far, fk | (0xffffffffu - (unsigned)j));
                    if (lo == cnt) lastMin = min(lastMin, key);
                    else if (lo > 0) atomicMin(&bmin[lo], key);
                });
                lastMin = sh_warp_min64(lastMin);
                if ((tid & 31) == 0 && lastMin != ~0ull) atomicMin(&bmin[cnt], lastMin);
                if (base == 0) {
                    far = sh_warp_max64(far);
                    if ((tid & 31) == 0) atomicMax(&s_far, far);
                }
                __syncthreads();
                if (base == 0) farIdx = (int)(0xffffffffu - (unsigned)(s_far & 0xffffffffu));
                sh_suffix_min(bmin, cnt);
                for (int r = tid; r < p2; r += blockDim.x) {
                    if (r < cnt) {
                        int p = (int)(unsigned)(sk[r] & 0xffffffffu);
                        float dp = sh_funkey((unsigned)(sk[r] >> 32));
                        u64 key = bmin[r + 1];
                        int n;
                        if (key != ~0ull) { n = (int)(unsigned)(key & 0xffffffffu); found += 1; }
                        else { n = farIdx; fallback += 1; }
                        float dn = drow[n], x = dp - dn;
                        float h = soft ? sh_softplus(x) : fmaxf(x + margin, 0.f);
                        float slope = soft ? sh_sigmoid(x) : (x + margin > 0.f ? 1.f : 0.f);
                        units += 1; loss += h; active += h > 0.f; dap += dp; dan += dn;
                        if (sym) sh_emit_sym(S, smask, chunkCols, B, a, p, slope, dp, l2);
                        else g[p] = slope;
                        sl[r] = slope;
                        sn[r] = ((u64)(unsigned)n << 32) | (unsigned)r;
                    } else {
                        sn[r] = ~0ull;
                    }
                }
                __syncthreads();
                sh_sort(sn, p2);
                // each n* gets minus the sum of the slopes of its pairs, in rank order
                for (int r = tid; r < cnt; r += blockDim.x) {
                    unsigned n = (unsigned)(sn[r] >> 32);
                    if (r == 0 || (unsigned)(sn[r - 1] >> 32) != n) {
                        float s = 0.f;
                        for (int q = r; q < cnt && (unsigned)(sn[q] >> 32) == n; q++) s += sl[(unsigned)(sn[q] & 0xffffffffu)];
                        if (sym) sh_emit_sym(S, smask, chunkCols, B, a, (int)n, -s, drow[n], l2);
                        else g[n] -= s;
                    }
                }
                __syncthreads();
            }
        } else {  // batch-all
            if (tid == 0) { units = (double)k * m; dap = posSum * m; dan = negSum * k; }
            for (int base = 0; base < k; base += CAP) {
                const int cnt = min(CAP, k - base);
                int p2 = 1;
                while (p2 < cnt) p2 <<= 1;
                if (k > CAP) sh_collect_positives(drow, labels, a, ya, A, base, sk, warpCnt, &run);
                for (int i = cnt + tid; i < p2; i += blockDim.x) sk[i] = ~0ull;
                __syncthreads();
                sh_sort(sk, p2);         // a fixed order, so the float sums below are reproducible
                for (int r = tid; r < cnt; r += blockDim.x) sl[r] = sh_funkey((unsigned)(sk[r] >> 32));
                __syncthreads();
                // per negative: minus the sum of slopes over the positives; loss and active count
                for (int j = tid; j < B; j += blockDim.x) {
                    if (labels[j] == ya) continue;
                    float dj = drow[j], cn = 0.f;
                    for (int r = 0; r < cnt; r++) {
                        float x = sl[r] - dj;
                        if (soft) {
                            float h = sh_softplus(x);
                            loss += h; active += h > 0.f; cn += sh_sigmoid(x);
                        } else {
                            float t = x + margin;
                            if (t > 0.f) { loss += t; active += 1; cn += 1.f; }
                        }
                    }
                    g[j] -= cn;
                }
                // per positive: the sum of slopes over the negatives, one warp per positive
                const int lane = tid & 31, warp = tid >> 5, warps = blockDim.x >> 5;
                for (int r = warp; r < cnt; r += warps) {
                    float dp = sl[r], s = 0.f;
                    for (int j = lane; j < B; j += 32) {
                        if (labels[j] == ya) continue;
                        float x = dp - drow[j];
                        s += soft ? sh_sigmoid(x) : (x + margin > 0.f ? 1.f : 0.f);
                    }
                    s = sh_warp_sumf(s);
                    if (lane == 0) g[(unsigned)(sk[r] & 0xffffffffu)] += s;
                }
                __syncthreads();
            }
        }
    }
    __syncthreads();
    // l2: the GEMM backward multiplies by (e_i - e_j), so store dLoss/dD / d (0 where d = 0)
    double rs = 0.0;
    if (!sym) for (int j = tid; j < B; j += blockDim.x) {
        float v = g[j];
        if (l2 && v != 0.f) { float dj = drow[j]; v = dj > 0.f ? v / dj : 0.f; g[j] = v; }
        rs += v;
    }
    double sums[8] = {rs, units, loss, active, found, fallback, dap, dan};
    sh_block_sum_n<8>(sums, scratch8);
    rs = sums[0]; units = sums[1]; loss = sums[2]; active = sums[3];
    found = sums[4]; fallback = sums[5]; dap = sums[6]; dan = sums[7];
    if (tid == 0) {
        double* q = part + (size_t)a * P_N;
        q[P_UNITS] = units; q[P_PAIRS] = k; q[P_FOUND] = found; q[P_FALLBACK] = fallback;
        q[P_ACTIVE] = active; q[P_LOSS] = loss; q[P_DAP] = dap; q[P_DAN] = dan;
        if (!sym) grow[a] = rs;
    }
    if (done == nullptr) return;            // the backend launches tripletFinish
    sh_finish_by_last_block(done, part, A, B, d, sqd, nrm, colp, colChunks, strategy, stats, ws, scratch, scratch8);
}

// One block: statistics (TripletStats layout) and ws[0] = the gradient scale (when no tripletMine ran).
extern "C" __global__ void tripletFinish(const double* __restrict__ part, int A, int B, int d,
                                         const double* __restrict__ sqd, const float* __restrict__ nrm,
                                         const double* __restrict__ colp, int colChunks, int strategy,
                                         float* __restrict__ stats, float* __restrict__ ws) {
    __shared__ double scratch[33];
    __shared__ double scratchN[33 * P_N];
    sh_triplet_finish(part, A, B, d, sqd, nrm, colp, colChunks, strategy, stats, ws, scratch, scratchN);
}

// After tripletHardMine: one thread per anchor a < A turns its keys into the batch-hard unit, exactly as
// tripletMine's batch-hard branch does from the stored row (the keys hold the distances: sh_funkey inverts
// sh_fkey), adds it to S (sym) and writes the anchor's partials; then sets the keys back (hp, cnt 0, near
// all ones) for the next call. The last block to finish does tripletFinish's work (done: a counter, 0
// before and after).
extern "C" __global__ void __launch_bounds__(256) tripletHardFinish(u64* __restrict__ hp, u64* __restrict__ near,
                                                                    unsigned* __restrict__ cnt, int A, int B, int l2,
                                                                    float margin, int soft, float* __restrict__ S,
                                                                    u64* __restrict__ smask, int chunkCols,
                                                                    double* __restrict__ part,
                                                                    const double* __restrict__ sqd, const float* __restrict__ nrm,
                                                                    const double* __restrict__ colp, int colChunks, int d,
                                                                    float* __restrict__ stats, float* __restrict__ ws,
                                                                    unsigned* __restrict__ done) {
    __shared__ double scratch[33];
    __shared__ double scratchN[33 * P_N];
    const int a = blockIdx.x * blockDim.x + threadIdx.x;
    if (a < A) {
        const u64 h = hp[a], nr = near[a];
        const unsigned k = cnt[a];
        hp[a] = 0ull;
        near[a] = ~0ull;
        cnt[a] = 0u;
        double q[P_N];
        #pragma unroll
        for (int f = 0; f < P_N; f++) q[f] = 0.0;
        q[P_PAIRS] = k;
        if (k > 0 && nr != ~0ull) {               // a positive and a negative
            const int p = (int)(0xffffffffu - (unsigned)(h & 0xffffffffu)), n = (int)(unsigned)(nr & 0xffffffffu);
            const float dp = sh_funkey((unsigned)(h >> 32)), dn = sh_funkey((unsigned)(nr >> 32)), x = dp - dn;
            const float loss = soft ? sh_softplus(x) : fmaxf(x + margin, 0.f);
            const float slope = soft ? sh_sigmoid(x) : (x + margin > 0.f ? 1.f : 0.f);
            q[P_UNITS] = 1; q[P_LOSS] = loss; q[P_ACTIVE] = loss > 0.f; q[P_DAP] = dp; q[P_DAN] = dn;
            sh_emit_sym(S, smask, chunkCols, B, a, p, slope, dp, l2);
            sh_emit_sym(S, smask, chunkCols, B, a, n, -slope, dn, l2);
        }
        #pragma unroll
        for (int f = 0; f < P_N; f++) part[(size_t)a * P_N + f] = q[f];
    }
    sh_finish_by_last_block(done, part, A, B, d, sqd, nrm, colp, colChunks, STRAT_BATCH_HARD, stats, ws, scratch, scratchN);
}

// gcol[z * B + i] = sum over anchor rows a of chunk z of G[a, i]; grid (ceil(B/256), chunks)
extern "C" __global__ void tripletColSum(const float* __restrict__ G, int A, int B, int rowsPerChunk,
                                         double* __restrict__ gcol) {
    int i = blockIdx.x * blockDim.x + threadIdx.x, z = blockIdx.y;
    if (i >= B) return;
    int beg = z * rowsPerChunk, end = min(A, beg + rowsPerChunk);
    double s = 0.0;
    for (int a = beg; a < end; a++) s += G[(size_t)a * B + i];
    gcol[(size_t)z * B + i] = s;
}

// T[i, c] = sum_j S[i, j] X[j, c] with S = G + G^T (G zero below row A), split over j into partials
struct TripBwd {
    int M, N, K, kChunk;          // M = B, N = d, K = B
    const float* G; const float* X; float* part; int A; int B;
    static constexpr int A_MODE = 2, B_MODE = 0;
    __device__ float a(int, int) const { return 0.f; }
    __device__ float b(int k, int n) const { return X[(size_t)k * N + n]; }
    template <int BM, int LD>
    __device__ void loadA(float (*As)[LD], int m0, int k0, int kEnd) const {
        for (int i = threadIdx.x; i < BM * SH_BK; i += 256) {          // G[i, j]: contiguous along j
            int kk = i % SH_BK, mm = i / SH_BK, m = m0 + mm, k = k0 + kk;
            As[kk][mm] = (m < M && m < A && k < kEnd) ? G[(size_t)m * B + k] : 0.f;
        }
        __syncthreads();
        for (int i = threadIdx.x; i < BM * SH_BK; i += 256) {          // G[j, i]: contiguous along i
            int mm = i % BM, kk = i / BM, m = m0 + mm, k = k0 + kk;
            if (m < M && k < kEnd && k < A) As[kk][mm] += G[(size_t)k * B + m];
        }
    }
    __device__ void store(int m, int n, float v, int split) const { part[(size_t)split * M * N + (size_t)m * N + n] = v; }
};
#define TB_PARAMS (int M, int N, int K, int kChunk, const float* G, const float* X, float* part, int A, int B)
extern "C" __global__ void __launch_bounds__(256) tripletBackward TB_PARAMS {
    TripBwd p{M, N, K, kChunk, G, X, part, A, B}; sh_gemm_body<TripBwd, 128, 128, 8, 8, false>(p); }
extern "C" __global__ void __launch_bounds__(256) tripletBackward_small TB_PARAMS {
    TripBwd p{M, N, K, kChunk, G, X, part, A, B}; sh_gemm_body<TripBwd, 64, 64, 4, 4, false>(p); }

// ---- sparse backward (semihard, batch-hard: G has about 2K nonzeros per row) -------------------
// T_i = sum_j G[i, j] X_j + sum_a G[a, i] X_a without a B x B x d product: one pass over G by rows
// and one by columns, accumulating only the nonzeros, each output owned by one warp (race-free,
// in a fixed order, so deterministic).

// Trow[i, :] = sum_j G[i, j] X_j for i < A (0 for the extra rows); one warp per row
extern "C" __global__ void tripletRowGather(const float* __restrict__ G, const float* __restrict__ X,
                                            float* __restrict__ Trow, int A, int B, int d) {
    int i = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (i >= B) return;
    float* t = Trow + (size_t)i * d;
    for (int c = lane; c < d; c += 32) t[c] = 0.f;
    __syncwarp();
    if (i >= A) return;
    const float* g = G + (size_t)i * B;
    for (int j0 = 0; j0 < B; j0 += 128) {
        float v[4];
        #pragma unroll
        for (int u = 0; u < 4; u++) { int j = j0 + u * 32 + lane; v[u] = j < B ? g[j] : 0.f; }
        #pragma unroll
        for (int u = 0; u < 4; u++) {
            unsigned mask = __ballot_sync(0xffffffffu, v[u] != 0.f);
            while (mask) {
                int l = __ffs(mask) - 1;
                mask &= mask - 1;
                float cf = __shfl_sync(0xffffffffu, v[u], l);
                const float* x = X + (size_t)(j0 + u * 32 + l) * d;
                for (int c = lane; c < d; c += 32) t[c] = fmaf(cf, x[c], t[c]);
            }
        }
    }
}

#define COL_WARPS 8
// Block of 8 warps per 32 columns i0..i0+31 (lane = column); warp w scans the anchor rows of its
// slice [w*A/8, (w+1)*A/8) in order: Tcol[w, i, :] = sum_a G[a, i] X_a, csum[w * B + i] = sum_a G[a, i].
extern "C" __global__ void tripletColGather(const float* __restrict__ G, const float* __restrict__ X,
                                            float* __restrict__ Tcol, double* __restrict__ csum, int A, int B, int d) {
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    const int i0 = blockIdx.x * 32, col = i0 + lane;
    float* tw = Tcol + (size_t)w * B * d;
    for (int l = 0; l < 32 && i0 + l < B; l++)
        for (int c = lane; c < d; c += 32) tw[(size_t)(i0 + l) * d + c] = 0.f;
    __syncwarp();
    const int chunk = (A + COL_WARPS - 1) / COL_WARPS, aBeg = w * chunk, aEnd = min(A, aBeg + chunk);
    double s = 0.0;
    for (int a0 = aBeg; a0 < aEnd; a0 += 8) {
        float v[8];
        #pragma unroll
        for (int u = 0; u < 8; u++) { int a = a0 + u; v[u] = (a < aEnd && col < B) ? G[(size_t)a * B + col] : 0.f; }
        #pragma unroll
        for (int u = 0; u < 8; u++) {
            s += v[u];
            unsigned mask = __ballot_sync(0xffffffffu, v[u] != 0.f);
            while (mask) {
                int l = __ffs(mask) - 1;
                mask &= mask - 1;
                float cf = __shfl_sync(0xffffffffu, v[u], l);
                const float* x = X + (size_t)(a0 + u) * d;
                float* t = tw + (size_t)(i0 + l) * d;
                for (int c = lane; c < d; c += 32) t[c] = fmaf(cf, x[c], t[c]);
                __syncwarp();
            }
        }
    }
    if (col < B) csum[(size_t)w * B + col] = s;
}

// ---- symmetric sparse backward (semihard, batch-hard: S = G + G^T built by tripletMine) ---------
#define SYM_CHUNK 256      // columns of X held in registers per pass (8 per lane)
#define SYM_BATCH 4        // nonzeros whose X rows are loaded at once
// T[i, :] = sum_j S[i, j] X_j and rs[i] = sum_j S[i, j], one warp per row i < B: reads the column
// chunks of row i that smask[i] marks (the rest is zero; chunkCols is a multiple of 128), 4 loads of 32
// in flight, and for each nonzero adds coefficient * X_j into registers, in j order (the X rows of
// SYM_BATCH nonzeros are loaded together: a semihard row has ~100 nonzeros, and one L2 round trip
// each made the warp wait ~100 times). Skipping zeros
// changes no sum. d > SYM_CHUNK takes several passes over the row. The last pass writes 0 over every
// nonzero it read and clears smask[i], so both are zero again for the next call (CudaBackend keeps
// them: no B x B memset per call). batch-hard touches ~4 chunks of 64 per row: 1/16 of the row is read.
//
// With dE (d <= SYM_CHUNK: one pass), the row's gradient is computed from the registers, as tripletGrad
// would from T and rs (the same operations in the same order, so the same bits), and T and rs are not
// written: one launch and a B x d round trip less. e, ehat, nrm, nc, ws and metric are tripletGrad's.
extern "C" __global__ void tripletSymGather(float* __restrict__ S, u64* __restrict__ smask, int chunkCols,
                                           const float* __restrict__ X, float* __restrict__ T,
                                           double* __restrict__ rs, int B, int d,
                                           const float* __restrict__ e, const float* __restrict__ ehat,
                                           const float* __restrict__ nrm, const float* __restrict__ nc,
                                           const float* __restrict__ ws, float* __restrict__ dE, int metric) {
    int i = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (i >= B) return;
    float* srow = S + (size_t)i * B;
    const u64 chunks = smask[i];
    for (int c0 = 0; c0 < d; c0 += SYM_CHUNK) {
        const bool last = c0 + SYM_CHUNK >= d;
        float acc[SYM_CHUNK / 32];
        #pragma unroll
        for (int u = 0; u < SYM_CHUNK / 32; u++) acc[u] = 0.f;
        double sum = 0.0;
        for (u64 left = chunks; left; left &= left - 1) {           // the marked chunks, in column order
            const int cb = __ffsll((long long)left) - 1;
            const int jEnd = min(B, (cb + 1) * chunkCols);
            for (int j0 = cb * chunkCols; j0 < jEnd; j0 += 128) {
                float v[4];
                #pragma unroll
                for (int q = 0; q < 4; q++) { int j = j0 + q * 32 + lane; v[q] = j < jEnd ? srow[j] : 0.f; }
                #pragma unroll
                for (int q = 0; q < 4; q++) {
                    sum += v[q];
                    if (last && v[q] != 0.f) srow[j0 + q * 32 + lane] = 0.f;
                    unsigned mask = __ballot_sync(0xffffffffu, v[q] != 0.f);   // the same in every lane
                    while (mask) {
                        // SYM_BATCH nonzeros at a time: their X rows are loaded together (one memory round
                        // trip instead of one each), then added in the same order as one at a time
                        int l[SYM_BATCH];
                        float cf[SYM_BATCH], xv[SYM_BATCH][SYM_CHUNK / 32];
                        #pragma unroll
                        for (int z = 0; z < SYM_BATCH; z++) {
                            l[z] = mask ? __ffs(mask) - 1 : -1;
                            mask &= mask - 1;
                        }
                        #pragma unroll
                        for (int z = 0; z < SYM_BATCH; z++) {
                            if (l[z] < 0) continue;
                            cf[z] = __shfl_sync(0xffffffffu, v[q], l[z]);
                            const float* x = X + (size_t)(j0 + q * 32 + l[z]) * d + c0;
                            #pragma unroll
                            for (int u = 0; u < SYM_CHUNK / 32; u++) {
                                int c = lane + 32 * u;
                                xv[z][u] = c0 + c < d ? x[c] : 0.f;
                            }
                        }
                        #pragma unroll
                        for (int z = 0; z < SYM_BATCH; z++) {
                            if (l[z] < 0) continue;
                            #pragma unroll
                            for (int u = 0; u < SYM_CHUNK / 32; u++)
                                if (c0 + lane + 32 * u < d) acc[u] = fmaf(cf[z], xv[z][u], acc[u]);
                        }
                    }
                }
            }
        }
        if (dE != nullptr) {                       // c0 == 0 and last: dE from registers (see tripletGrad)
            const size_t o = (size_t)i * d;
            const float scale = ws[0];
            if (metric == 2) {
                double dsum = 0.0;
                #pragma unroll
                for (int u = 0; u < SYM_CHUNK / 32; u++) {
                    int c = lane + 32 * u;
                    if (c < d) dsum += (double)ehat[o + c] * acc[u];
                }
                dsum = sh_warp_sum(dsum);
                const float dot = (float)__shfl_sync(0xffffffffu, dsum, 0);
                const float self = nrm[i] > COSINE_EPS ? dot : 0.f, f = scale / nc[i];
                #pragma unroll
                for (int u = 0; u < SYM_CHUNK / 32; u++) {
                    int c = lane + 32 * u;
                    if (c < d) dE[o + c] = f * (self * ehat[o + c] - acc[u]);
                }
            } else {
                sum = sh_warp_sum(sum);
                const float r = (float)__shfl_sync(0xffffffffu, sum, 0), f = scale * (metric == 0 ? 2.f : 1.f);
                #pragma unroll
                for (int u = 0; u < SYM_CHUNK / 32; u++) {
                    int c = lane + 32 * u;
                    if (c < d) dE[o + c] = f * (r * e[o + c] - acc[u]);
                }
            }
            break;
        }
        #pragma unroll
        for (int u = 0; u < SYM_CHUNK / 32; u++) {
            int c = c0 + lane + 32 * u;
            if (c < d) T[(size_t)i * d + c] = acc[u];
        }
        if (c0 == 0) {
            sum = sh_warp_sum(sum);
            if (lane == 0) rs[i] = sum;
        }
    }
    __syncwarp();                      // every lane has read smask[i]
    if (lane == 0) smask[i] = 0ull;
}

// dE from T (see the file header); one warp per row. ws[0] = scale.
extern "C" __global__ void tripletGrad(float* T, const float* __restrict__ e,
                                       const float* __restrict__ ehat, const double* __restrict__ grow,
                                       const double* __restrict__ gcol, int colChunks, const float* __restrict__ nrm,
                                       const float* __restrict__ nc, const float* __restrict__ ws,
                                       float* __restrict__ dE, int B, int A, int d, int metric,
                                       const float* __restrict__ Tcol, int tcolSlices) {
    int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (row >= B) return;
    const float scale = ws[0];
    size_t o = (size_t)row * d;
    if (tcolSlices > 0) {   // sparse path: T = Trow + sum of the column slices, in slice order
        for (int j = lane; j < d; j += 32) {
            float v = T[o + j];
            for (int w = 0; w < tcolSlices; w++) v += Tcol[(size_t)w * B * d + o + j];
            T[o + j] = v;      // each element is read back by the lane that wrote it
        }
        __syncwarp();
    }
    if (metric == 2) {
        double s = 0.0;
        for (int j = lane; j < d; j += 32) s += (double)ehat[o + j] * T[o + j];
        s = sh_warp_sum(s);
        float dot = (float)__shfl_sync(0xffffffffu, s, 0);
        float self = nrm[row] > COSINE_EPS ? dot : 0.f;
        float f = scale / nc[row];
        for (int j = lane; j < d; j += 32) dE[o + j] = f * (self * ehat[o + j] - T[o + j]);
    } else {
        double rs = row < A ? grow[row] : 0.0;
        for (int z = 0; z < colChunks; z++) rs += gcol[(size_t)z * B + row];
        float r = (float)rs, f = scale * (metric == 0 ? 2.f : 1.f);
        for (int j = lane; j < d; j += 32) dE[o + j] = f * (r * e[o + j] - T[o + j]);
    }
}
