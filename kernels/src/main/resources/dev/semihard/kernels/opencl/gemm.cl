/*
 * gemm.cl -- the tiled matrix product every linear layer and every convolution pass runs on.
 *
 * Each GEMM kernel computes C[M, N] = A[M, Kd] * B[Kd, N] (float32, row-major C) in tiles:
 *
 *   work-group (WX, WY) = (8, 8) work-items owns a TM x TN = 64 x 64 tile of C;
 *   it walks the reduction Kd in slices of TK = 16, staging
 *       As[TM][TK + 1]   (A rows, +1 column of padding)      and
 *       Bs[TK][TN]       (B rows, contiguous in N)
 *   in local memory; work-item (tx, ty) owns rows ty*8 .. ty*8+7 and columns tx*8 .. tx*8+7 of the
 *   tile as eight float8 accumulators (64 outputs in registers).
 *
 * Why this shape: PoCL's CPU device runs the 64 work-items of a group in a loop on one core, so
 * explicit float8 arithmetic gives AVX code whether or not PoCL vectorizes across work-items, each
 * staged element is reused 64 times from L1, and a work-item's tile of C stays in registers.
 * Measured on the fmnist-cnn layers (PoCL 3.1, 2 cores): about 45-55 GFLOP/s per CPU-second forward,
 * PyTorch's level; float16 vectors with 64 x 128 tiles (-DGEMM_VN=16) were slower (about 30).
 * On a GPU the same kernel gives 64-thread groups with 64 outputs per thread.
 *
 * A kernel only says how tiles are fetched: it defines GEMM_LOAD_TILES (fill As and Bs for the
 * reduction slice starting at k0) before expanding GEMM_MAIN_LOOP, then stores C with GEMM_ACC.
 * Every output is the same fixed-order sum on every run: no atomics, results are reproducible.
 * Tile loads index with 32-bit ints (the host checks every operand has < 2^31 elements): 64-bit index
 * products became vpmullq instructions in PoCL's vectorized loops, 12% of the convolution time.
 */

#ifndef GEMM_VN
#define GEMM_VN 8           /* columns per work-item = vector width along N */
#endif
#define RM 8                /* rows per work-item */
#define WX 8                /* work-group shape; conv.cl redefines WY as 4 for its "M32" kernels */
#define WY 8
#define WG (WX * WY)
#define TM (WY * RM)        /* 64 rows of C per work-group */
#define TN (WX * GEMM_VN)   /* 64 columns of C per work-group */
#define TK 16               /* reduction slice staged in local memory (the A loads use vload16) */
#define BCOLS (TN / WG)     /* B columns each work-item stages */

#if GEMM_VN == 16
#define VTYPE float16
#define VLOAD vload16
#define VSTORE vstore16
#else
#define VTYPE float8
#define VLOAD vload8
#define VSTORE vstore8
#endif

/* Declarations shared by every GEMM kernel; n0/m0 = first column/row of this group's tile. */
#define GEMM_DECLARE                                                          \
    __local float As[TM][TK + 1];                                             \
    __local float Bs[TK][TN];                                                 \
    const int tx = get_local_id(0), ty = get_local_id(1);                     \
    const int lid = ty * WX + tx;                                             \
    const int n0 = get_group_id(0) * TN, m0 = get_group_id(1) * TM;           \
    VTYPE acc0 = (VTYPE)(0.0f), acc1 = (VTYPE)(0.0f), acc2 = (VTYPE)(0.0f),   \
          acc3 = (VTYPE)(0.0f), acc4 = (VTYPE)(0.0f), acc5 = (VTYPE)(0.0f),   \
          acc6 = (VTYPE)(0.0f), acc7 = (VTYPE)(0.0f);

/* Multiply the staged slice into the accumulators: TK x RM rank-1 updates of one vector each. */
#define GEMM_MULTIPLY_TILE                                                    \
    for (int kk = 0; kk < TK; ++kk) {                                         \
        const VTYPE b = VLOAD(tx, Bs[kk]);                                    \
        const int r0 = ty * RM;                                               \
        acc0 = fma((VTYPE)(As[r0 + 0][kk]), b, acc0);                         \
        acc1 = fma((VTYPE)(As[r0 + 1][kk]), b, acc1);                         \
        acc2 = fma((VTYPE)(As[r0 + 2][kk]), b, acc2);                         \
        acc3 = fma((VTYPE)(As[r0 + 3][kk]), b, acc3);                         \
        acc4 = fma((VTYPE)(As[r0 + 4][kk]), b, acc4);                         \
        acc5 = fma((VTYPE)(As[r0 + 5][kk]), b, acc5);                         \
        acc6 = fma((VTYPE)(As[r0 + 6][kk]), b, acc6);                         \
        acc7 = fma((VTYPE)(As[r0 + 7][kk]), b, acc7);                         \
    }

/* The reduction over [KBEGIN, KEND) in slices of TK; GEMM_LOAD_TILES must be defined. */
#define GEMM_MAIN_LOOP(KBEGIN, KEND)                                          \
    for (int k0 = (KBEGIN); k0 < (KEND); k0 += TK) {                          \
        GEMM_LOAD_TILES                                                       \
        barrier(CLK_LOCAL_MEM_FENCE);                                         \
        GEMM_MULTIPLY_TILE                                                    \
        barrier(CLK_LOCAL_MEM_FENCE);                                         \
    }

/* Copies the accumulators to a private array: c[i*VN + j] = C[m0 + ty*RM + i][n0 + tx*VN + j]. */
#define GEMM_ACC_TO_ARRAY(c)                                                  \
    float c[RM * GEMM_VN];                                                    \
    VSTORE(acc0, 0, c); VSTORE(acc1, 1, c); VSTORE(acc2, 2, c); VSTORE(acc3, 3, c); \
    VSTORE(acc4, 4, c); VSTORE(acc5, 5, c); VSTORE(acc6, 6, c); VSTORE(acc7, 7, c);

/*
 * A slice: work-item lid stages row lid of the tile (TM == WG for both tile shapes), TK values.
 * Version 2: version 1 had each work-item stage one column (k) of 16 rows, which PoCL vectorized into
 * gathers and scatters that took a fifth of the convolution time; a contiguous row is one vector load.
 */
#if TM != WG
#error "the A-slice loads assume one row per work-item"
#endif

/* Stages A row (m0 + lid), columns [k0, k0 + TK) of a row-major [M, KD] matrix A with row stride KD. */
#define GEMM_LOAD_A_ROWMAJOR(M, KD, A)                                        \
    {                                                                         \
        const int gm = m0 + lid;                                              \
        if (gm < (M) && k0 + TK <= (KD)) {                                    \
            vstore16(vload16(0, (A) + gm * (KD) + k0), 0, &As[lid][0]);       \
        } else {                                                              \
            for (int kk = 0; kk < TK; ++kk)                                   \
                As[lid][kk] = (gm < (M) && k0 + kk < (KD)) ? (A)[gm * (KD) + k0 + kk] : 0.0f; \
        }                                                                     \
    }

/*
 * Strided tile loads for plain matrices: A(m, k) = A[m*sam + k*sak], B(k, n) = B[k*sbk + n*sbn].
 * Used by the three linear kernels (transposes are just strides). Out-of-range elements load 0.
 * B slice: work-item lid stages columns lid + WG*q, rows 0..TK-1.
 */
#define GEMM_LOAD_STRIDED(M, N, KD, A, sam, sak, B, sbk, sbn)                 \
    {                                                                         \
        const int gm = m0 + lid;                                              \
        for (int kk = 0; kk < TK; ++kk) {                                     \
            const int gk = k0 + kk;                                           \
            As[lid][kk] = (gm < (M) && gk < (KD)) ? A[gm * (sam) + gk * (sak)] : 0.0f; \
        }                                                                     \
        for (int q = 0; q < BCOLS; ++q) {                                     \
            const int cc = lid + WG * q;                                      \
            const int gn = n0 + cc;                                           \
            for (int r = 0; r < TK; ++r) {                                    \
                const int gkb = k0 + r;                                       \
                Bs[r][cc] = (gn < (N) && gkb < (KD)) ? B[gkb * (sbk) + gn * (sbn)] : 0.0f; \
            }                                                                 \
        }                                                                     \
    }

/*
 * linearForward: y[n, out] = x[n, in] * w[out, in]^T + b[out]
 *   GEMM M = n (rows of x), N = out, Kd = in; A = x (strides in, 1), B(k, o) = w[o*in + k] (strides 1, in).
 *   hasBias = 0: b is ignored.
 */
__kernel void linearForward(const int n, const int in, const int out,
                            __global const float* x, __global const float* w,
                            __global const float* b, const int hasBias, __global float* y)
{
    GEMM_DECLARE
#define GEMM_LOAD_TILES GEMM_LOAD_STRIDED(n, out, in, x, in, 1, w, 1, in)
    GEMM_MAIN_LOOP(0, in)
#undef GEMM_LOAD_TILES
    GEMM_ACC_TO_ARRAY(c)
    for (int i = 0; i < 8; ++i) {
        const int row = m0 + ty * RM + i;
        if (row >= n) break;
        for (int j = 0; j < GEMM_VN; ++j) {
            const int col = n0 + tx * GEMM_VN + j;
            if (col < out) y[(size_t)row * out + col] = c[i * GEMM_VN + j] + (hasBias ? b[col] : 0.0f);
        }
    }
}

/*
 * linearBackwardData: dx[n, in] = dy[n, out] * w[out, in]
 *   GEMM M = n, N = in, Kd = out; A = dy (strides out, 1), B = w (strides in, 1).
 */
__kernel void linearBackwardData(const int n, const int in, const int out,
                                 __global const float* dy, __global const float* w, __global float* dx)
{
    GEMM_DECLARE
#define GEMM_LOAD_TILES GEMM_LOAD_STRIDED(n, in, out, dy, out, 1, w, in, 1)
    GEMM_MAIN_LOOP(0, out)
#undef GEMM_LOAD_TILES
    GEMM_ACC_TO_ARRAY(c)
    for (int i = 0; i < 8; ++i) {
        const int row = m0 + ty * RM + i;
        if (row >= n) break;
        for (int j = 0; j < GEMM_VN; ++j) {
            const int col = n0 + tx * GEMM_VN + j;
            if (col < in) dx[(size_t)row * in + col] = c[i * GEMM_VN + j];
        }
    }
}

/*
 * linearBackwardWeight: dw[out, in] = dy[n, out]^T * x[n, in]
 *   GEMM M = out, N = in, Kd = n; A(o, r) = dy[r*out + o] (strides 1, out), B = x (strides in, 1).
 *   The bias gradient is linearBackwardBias.
 */
__kernel void linearBackwardWeight(const int n, const int in, const int out,
                                   __global const float* x, __global const float* dy, __global float* dw)
{
    GEMM_DECLARE
#define GEMM_LOAD_TILES GEMM_LOAD_STRIDED(out, in, n, dy, 1, out, x, in, 1)
    GEMM_MAIN_LOOP(0, n)
#undef GEMM_LOAD_TILES
    GEMM_ACC_TO_ARRAY(c)
    for (int i = 0; i < 8; ++i) {
        const int row = m0 + ty * RM + i;
        if (row >= out) break;
        for (int j = 0; j < GEMM_VN; ++j) {
            const int col = n0 + tx * GEMM_VN + j;
            if (col < in) dw[(size_t)row * in + col] = c[i * GEMM_VN + j];
        }
    }
}

/* linearBackwardBias: db[o] = sum over rows r of dy[r, o], in row order; one work-item per o. */
__kernel void linearBackwardBias(const int n, const int out, __global const float* dy, __global float* db)
{
    const int o = get_global_id(0);
    if (o >= out) return;
    float s = 0.0f;
    for (int r = 0; r < n; ++r) s += dy[(size_t)r * out + o];
    db[o] = s;
}
