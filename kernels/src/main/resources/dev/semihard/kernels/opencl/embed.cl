/*
 * embed.cl -- embedding-space kernels: row-wise L2 normalization and pairwise distances.
 *
 * Shapes: x, y, dy, dx, e: [n, d] row-major; norms: [n]; dist, dDist: [n, n].
 * Distances (the reference's definitions): squared-l2 = sum (e_i - e_j)^2 computed from differences
 * (exactly 0 for duplicate rows, exactly symmetric); l2 = its square root; cosine = 1 - e_i.e_j /
 * (max(|e_i|, eps) max(|e_j|, eps)) with COSINE_EPS = 1e-12; dist[i, i] = 0.
 * Metric codes: 0 squared-l2, 1 l2, 2 cosine (Distance.ordinal()).
 * Version 1: one work-item per row (normalization, gradients: the row's accumulator is private and no
 * two work-items write the same row, so no atomics) or per (i, j) pair (distances).
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

/*
 * pairwiseDistanceForward: NDRange (n, n) over (j, i); dist[i, j] = distance(e_i, e_j), dist[i, i] = 0.
 * The pair is evaluated with the lower index first, so dist is exactly symmetric (as in the reference).
 * norms: rowNorms output (read only for the cosine distance).
 */
__kernel void pairwiseDistanceForward(const int n, const int d, const int metric, __global const float* e,
                                      __global const float* norms, __global float* dist)
{
    const int j = get_global_id(0), i = get_global_id(1);
    if (i >= n || j >= n) return;
    float v = 0.0f;
    if (i != j) {
        const int a = min(i, j), b = max(i, j);
        v = pairDistance(metric, d, e + (size_t)a * d, e + (size_t)b * d,
                         metric == METRIC_COSINE ? norms[a] : 0.0f, metric == METRIC_COSINE ? norms[b] : 0.0f);
    }
    dist[(size_t)i * n + j] = v;
}

/*
 * dE_i = scale * sum over j != i of (G[i, j] + G[j, i]) * d dist(e_i, e_j) / d e_i  (pairs with a zero
 * coefficient skipped), where
 *   squared-l2: 2 (e_i - e_j);  l2: (e_i - e_j) / dist, 0 where dist = 0 (G[i,j] and G[j,i] each divide
 *   by their own entry);  cosine, n_i = max(|e_i|, eps): -(e_j / (n_i n_j) - [|e_i| > eps] cos e_i / n_i^2).
 * One work-item per row i; the row is accumulated in place in dE.
 */
inline void pairGradientRow(const int i, const int n, const int d, const int metric, const float scale,
                            __global const float* e, __global const float* norms, __global const float* dist,
                            __global const float* G, __global float* dE)
{
    __global const float* ei = e + (size_t)i * d;
    __global float* out = dE + (size_t)i * d;
    for (int k = 0; k < d; ++k) out[k] = 0.0f;
    const float ni = metric == METRIC_COSINE ? norms[i] : 0.0f;
    const float nic = fmax(ni, COSINE_EPS);
    for (int j = 0; j < n; ++j) {
        if (j == i) continue;
        const float gij = G[(size_t)i * n + j], gji = G[(size_t)j * n + i];
        if (gij == 0.0f && gji == 0.0f) continue;
        __global const float* ej = e + (size_t)j * d;
        if (metric == METRIC_SQUARED_L2) {
            const float c = 2.0f * (gij + gji) * scale;
            for (int k = 0; k < d; ++k) out[k] = fma(c, ei[k] - ej[k], out[k]);
        } else if (metric == METRIC_L2) {
            const float dij = dist[(size_t)i * n + j], dji = dist[(size_t)j * n + i];
            const float c = ((dij > 0.0f ? gij / dij : 0.0f) + (dji > 0.0f ? gji / dji : 0.0f)) * scale;
            if (c != 0.0f) for (int k = 0; k < d; ++k) out[k] = fma(c, ei[k] - ej[k], out[k]);
        } else {
            const float njc = fmax(norms[j], COSINE_EPS);
            float dot = 0.0f;
            for (int k = 0; k < d; ++k) dot = fma(ei[k], ej[k], dot);
            const float cosv = dot / (nic * njc);
            const float g = (gij + gji) * scale;
            const float self = ni > COSINE_EPS ? cosv / (nic * nic) : 0.0f;
            const float cj = g / (nic * njc);
            for (int k = 0; k < d; ++k) out[k] -= cj * ej[k] - g * self * ei[k];
        }
    }
}

/* pairwiseDistanceBackward: dE from dDist (G = dDist, scale 1); one work-item per row. */
__kernel void pairwiseDistanceBackward(const int n, const int d, const int metric, __global const float* e,
                                       __global const float* norms, __global const float* dist,
                                       __global const float* dDist, __global float* dE)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    pairGradientRow(i, n, d, metric, 1.0f, e, norms, dist, dDist, dE);
}
