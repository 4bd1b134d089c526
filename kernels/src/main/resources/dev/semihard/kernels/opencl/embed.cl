/*
 * embed.cl -- embedding-space kernels: row-wise L2 normalization and pairwise distances.
 *
 * Shapes: x, y, dy, dx, e: [n, d] row-major; norms: [n]; dist, dDist: [n, n].
 * Distances (the reference's definitions): squared-l2 = sum (e_i - e_j)^2 computed from differences
 * (exactly 0 for duplicate rows, exactly symmetric); l2 = its square root; cosine = 1 - e_i.e_j /
 * (max(|e_i|, eps) max(|e_j|, eps)) with COSINE_EPS = 1e-12; dist[i, i] = 0.
 * Metric codes: 0 squared-l2, 1 l2, 2 cosine (Distance.ordinal()).
 * Normalization and gradients: one work-item per row (no two work-items write the same row, so no
 * atomics); distances: gemm.cl's tiles. Relies on gemm.cl (concatenated before this file).
 */

#define METRIC_SQUARED_L2 0
#define METRIC_L2 1
#define METRIC_COSINE 2
#define COSINE_EPS 1e-12f

/* l2NormalizeForward: norms[i] = max(||x_i||, eps); y_i = x_i / norms[i]. One work-item per row. */
__kernel void l2NormalizeForward(const int n, const int d, const float eps, __global const float* x,
                                 __global float* y, __global float* norms)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    __global const float* xi = x + (size_t)i * d;
    float s = 0.0f;
    for (int k = 0; k < d; ++k) s = fma(xi[k], xi[k], s);
    const float norm = fmax(sqrt(s), eps);
    norms[i] = norm;
    __global float* yi = y + (size_t)i * d;
    for (int k = 0; k < d; ++k) yi[k] = xi[k] / norm;
}

/*
 * l2NormalizeBackward: dx_i = (dy_i - y_i (y_i . dy_i)) / norms[i] where norms[i] > eps, else dy_i / eps.
 * One work-item per row.
 */
__kernel void l2NormalizeBackward(const int n, const int d, const float eps, __global const float* y,
                                  __global const float* norms, __global const float* dy, __global float* dx)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const size_t o = (size_t)i * d;
    const float norm = norms[i];
    if (norm > eps) {
        float dot = 0.0f;
        for (int k = 0; k < d; ++k) dot = fma(y[o + k], dy[o + k], dot);
        for (int k = 0; k < d; ++k) dx[o + k] = (dy[o + k] - y[o + k] * dot) / norm;
    } else {
        for (int k = 0; k < d; ++k) dx[o + k] = dy[o + k] / eps;
    }
}

/* rowNorms: norms[i] = ||e_i|| (unclamped; the distance kernels clamp). One work-item per row. */
__kernel void rowNorms(const int n, const int d, __global const float* e, __global float* norms)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    __global const float* ei = e + (size_t)i * d;
    float s = 0.0f;
    for (int k = 0; k < d; ++k) s = fma(ei[k], ei[k], s);
    norms[i] = sqrt(s);
}

/* The distance of rows i != j. norms is only read for the cosine distance. */
inline float pairDistance(const int metric, const int d, __global const float* ei, __global const float* ej,
                          const float ni, const float nj)
{
    if (metric == METRIC_COSINE) {
        float dot = 0.0f;
        for (int k = 0; k < d; ++k) dot = fma(ei[k], ej[k], dot);
        return 1.0f - dot / (fmax(ni, COSINE_EPS) * fmax(nj, COSINE_EPS));
    }
    float s = 0.0f;
    for (int k = 0; k < d; ++k) { const float t = ei[k] - ej[k]; s = fma(t, t, s); }
    return metric == METRIC_L2 ? sqrt(s) : s;
}

/* Squared differences (or products, for the cosine's dot products) of one staged slice, GEMM-style. */
#define DIST_MULTIPLY_TILE(COSINE)                                            \
    for (int kk = 0; kk < TK; ++kk) {                                         \
        const float8 b = vload8(tx, Bs[kk]);                                  \
        const int r0 = ty * 8;                                                \
        if (COSINE) {                                                         \
            acc0 = fma((float8)(As[r0 + 0][kk]), b, acc0);                    \
            acc1 = fma((float8)(As[r0 + 1][kk]), b, acc1);                    \
            acc2 = fma((float8)(As[r0 + 2][kk]), b, acc2);                    \
            acc3 = fma((float8)(As[r0 + 3][kk]), b, acc3);                    \
            acc4 = fma((float8)(As[r0 + 4][kk]), b, acc4);                    \
            acc5 = fma((float8)(As[r0 + 5][kk]), b, acc5);                    \
            acc6 = fma((float8)(As[r0 + 6][kk]), b, acc6);                    \
            acc7 = fma((float8)(As[r0 + 7][kk]), b, acc7);                    \
        } else {                                                              \
            float8 t;                                                         \
            t = (float8)(As[r0 + 0][kk]) - b; acc0 = fma(t, t, acc0);         \
            t = (float8)(As[r0 + 1][kk]) - b; acc1 = fma(t, t, acc1);         \
            t = (float8)(As[r0 + 2][kk]) - b; acc2 = fma(t, t, acc2);         \
            t = (float8)(As[r0 + 3][kk]) - b; acc3 = fma(t, t, acc3);         \
            t = (float8)(As[r0 + 4][kk]) - b; acc4 = fma(t, t, acc4);         \
            t = (float8)(As[r0 + 5][kk]) - b; acc5 = fma(t, t, acc5);         \
            t = (float8)(As[r0 + 6][kk]) - b; acc6 = fma(t, t, acc6);         \
            t = (float8)(As[r0 + 7][kk]) - b; acc7 = fma(t, t, acc7);         \
        }                                                                     \
    }

/*
 * pairwiseDistanceForward: dist[i, j] = distance(e_i, e_j), dist[i, i] = 0, as a GEMM-shaped tiled kernel
 * (gemm.cl's tiles, NDRange (ceil(n/64)*8, ceil(n/64)*8), groups (8, 8)) whose inner product is
 * sum_k (e_ik - e_jk)^2 (squared-l2, l2) or sum_k e_ik e_jk (cosine). Version 2: version 1 gave each pair
 * its own work-item and was 10x slower at B = 2048. dist is exactly symmetric: (a - b)^2 = (b - a)^2 and
 * both orders sum k in the same order. norms: rowNorms output (read only for the cosine distance).
 */
__kernel void pairwiseDistanceForward(const int n, const int d, const int metric, __global const float* e,
                                      __global const float* norms, __global float* dist)
{
    GEMM_DECLARE
    const int cosine = metric == METRIC_COSINE;
    for (int k0 = 0; k0 < d; k0 += TK) {
        GEMM_LOAD_STRIDED(n, n, d, e, d, 1, e, 1, d)
        barrier(CLK_LOCAL_MEM_FENCE);
        DIST_MULTIPLY_TILE(cosine)
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    GEMM_ACC_TO_ARRAY(c)
    for (int i = 0; i < RM; ++i) {
        const int row = m0 + ty * RM + i;
        if (row >= n) break;
        for (int j = 0; j < GEMM_VN; ++j) {
            const int col = n0 + tx * GEMM_VN + j;
            if (col >= n) break;
            const float v = c[i * GEMM_VN + j];
            float out;
            if (row == col) out = 0.0f;
            else if (metric == METRIC_SQUARED_L2) out = v;
            else if (metric == METRIC_L2) out = sqrt(v);
            else out = 1.0f - v / (fmax(norms[row], COSINE_EPS) * fmax(norms[col], COSINE_EPS));
            dist[(size_t)row * n + col] = out;
        }
    }
}

/*
 * symmetrizeInPlace: S = G + G^T in place, for the gradient kernels (a row of S is contiguous, where
 * a column of G is not). NDRange (ceil(n/16)*16, ceil(n/16)*16), groups (16, 16): the group of tile
 * pair (I, J), I <= J, stages both tiles and writes both; groups with I > J do nothing.
 */
__kernel void symmetrizeInPlace(const int n, __global float* G)
{
    __local float t1[16][17];
    __local float t2[16][17];
    const int I = get_group_id(1), J = get_group_id(0);
    if (I > J) return;
    const int lx = get_local_id(0), ly = get_local_id(1);
    const int r1 = I * 16 + ly, c1 = J * 16 + lx;      /* element of tile (I, J) */
    const int r2 = J * 16 + ly, c2 = I * 16 + lx;      /* element of tile (J, I) */
    t1[ly][lx] = (r1 < n && c1 < n) ? G[(size_t)r1 * n + c1] : 0.0f;
    t2[ly][lx] = (r2 < n && c2 < n) ? G[(size_t)r2 * n + c2] : 0.0f;
    barrier(CLK_LOCAL_MEM_FENCE);
    /* S(I,J)[ly][lx] = G(I,J)[ly][lx] + G(J,I)[lx][ly];  S(J,I)[ly][lx] = G(J,I)[ly][lx] + G(I,J)[lx][ly] */
    const float s1 = t1[ly][lx] + t2[lx][ly];
    const float s2 = t2[ly][lx] + t1[lx][ly];
    barrier(CLK_LOCAL_MEM_FENCE);
    if (r1 < n && c1 < n) G[(size_t)r1 * n + c1] = s1;
    if (I != J && r2 < n && c2 < n) G[(size_t)r2 * n + c2] = s2;
}

/*
 * dE_i = scale * sum over j != i of S[i, j] * d dist(e_i, e_j) / d e_i, with S = G + G^T (symmetrizeInPlace),
 * skipping zero coefficients, where
 *   squared-l2: 2 (e_i - e_j);  l2: (e_i - e_j) / dist, 0 where dist = 0;
 *   cosine, n_i = max(|e_i|, eps): -(e_j / (n_i n_j) - [|e_i| > eps] cos e_i / n_i^2).
 * One work-item per row i; the row is accumulated in place in dE, in j order.
 */
inline void pairGradientRow(const int i, const int n, const int d, const int metric, const float scale,
                            __global const float* e, __global const float* norms, __global const float* dist,
                            __global const float* S, __global float* dE)
{
    __global const float* ei = e + (size_t)i * d;
    __global float* out = dE + (size_t)i * d;
    for (int k = 0; k < d; ++k) out[k] = 0.0f;
    const float ni = metric == METRIC_COSINE ? norms[i] : 0.0f;
    const float nic = fmax(ni, COSINE_EPS);
    __global const float* srow = S + (size_t)i * n;
    __global const float* drow = dist + (size_t)i * n;
    for (int j = 0; j < n; ++j) {
        const float sij = srow[j];
        if (j == i || sij == 0.0f) continue;
        __global const float* ej = e + (size_t)j * d;
        if (metric == METRIC_SQUARED_L2) {
            const float c = 2.0f * sij * scale;
            for (int k = 0; k < d; ++k) out[k] = fma(c, ei[k] - ej[k], out[k]);
        } else if (metric == METRIC_L2) {
            const float dij = drow[j];
            if (dij > 0.0f) {
                const float c = sij / dij * scale;
                for (int k = 0; k < d; ++k) out[k] = fma(c, ei[k] - ej[k], out[k]);
            }
        } else {
            const float njc = fmax(norms[j], COSINE_EPS);
            float dot = 0.0f;
            for (int k = 0; k < d; ++k) dot = fma(ei[k], ej[k], dot);
            const float cosv = dot / (nic * njc);
            const float g = sij * scale;
            const float self = ni > COSINE_EPS ? cosv / (nic * nic) : 0.0f;
            const float cj = g / (nic * njc);
            for (int k = 0; k < d; ++k) out[k] -= cj * ej[k] - g * self * ei[k];
        }
    }
}

/* pairwiseDistanceBackward: dE from S = dDist + dDist^T (symmetrizeInPlace on a copy), scale 1; one work-item per row. */
__kernel void pairwiseDistanceBackward(const int n, const int d, const int metric, __global const float* e,
                                       __global const float* norms, __global const float* dist,
                                       __global const float* S, __global float* dE)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    pairGradientRow(i, n, d, metric, 1.0f, e, norms, dist, S, dE);
}
