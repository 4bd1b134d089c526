/*
 * triplet.cl -- the fused triplet loss: distances, online mining, loss, statistics and dL/dE without
 * ever materializing B x B x B (semantics: ReferenceTriplet and docs/benchmarks.md "Loss semantics").
 *
 * Shapes: e, dE [B, D]; labels [B] (int); dist, G [B, B]; part [B, 8]; stats [16] (TripletStats layout).
 * Rows [0, anchors) may be anchors and positives; rows [anchors, B) are extra negatives only.
 *
 * Version 1, five launches, O(B^2) memory, deterministic (each row owned by one work-item, every sum in a
 * fixed order, no atomics):
 *   1. pairwiseDistanceForward (embed.cl, tiled like a GEMM): the B x B distance matrix.
 *   2. tripletLossMine: one work-item per anchor row a scans row a of dist and writes row a of G =
 *      dLoss/ddist[a, *] before the 1/denominator scale, plus its partial sums part[a, 0..8).
 *      semihard: for every positive p the closest negative farther than d(a,p) (else the farthest), all
 *      positives (up to 64) in one pass over the row, O(K B) comparisons per anchor; batch-hard: one scan; batch-all: every (p, n), O(K B).
 *   3. tripletLossReduce: one work-group adds the partials in anchor order, computes the loss, the
 *      statistics, the embedding norm and spread, and the gradient scale 1/denominator (0 if none).
 *   4. symmetrizeInPlace (embed.cl): G becomes S = G + G^T, so the next step reads rows, not columns.
 *   5. tripletLossBackward: dE_i = scale * sum_j S[i,j] d dist(i,j)/d e_i (embed.cl's pairGradientRow,
 *      zero coefficients skipped), one work-item per row.
 * Ties: lowest row index wins (strict comparisons in index order); semihard needs d(a,n) > d(a,p) strictly;
 * a hinge term at exactly x + margin = 0 is inactive with gradient 0.
 */

/* semihard anchors with at most this many positives mine them all in one pass over their row */
#define SEMI_MAX_POS 64

#define STRAT_SEMIHARD 0
#define STRAT_BATCH_HARD 1
#define STRAT_BATCH_ALL 2

/* per-anchor partial sums (the reference's order) */
#define P_UNITS 0
#define P_PAIRS 1
#define P_FOUND 2
#define P_FALLBACK 3
#define P_ACTIVE 4
#define P_LOSS 5
#define P_DAP 6
#define P_DAN 7
#define P_N 8

/* TripletStats slots */
#define S_LOSS 0
#define S_UNITS 1
#define S_POSITIVE_PAIRS 2
#define S_SEMIHARD_FOUND 3
#define S_FALLBACKS 4
#define S_ACTIVE 5
#define S_ACTIVE_FRACTION 6
#define S_MEAN_DAP 7
#define S_MEAN_DAN 8
#define S_MEAN_NORM 9
#define S_SPREAD 10
#define S_DEGENERATE 11
#define S_SIZE 16

/* log(1 + exp(x)) without overflow or cancellation */
inline float softplusf(const float x) { return fmax(x, 0.0f) + log1p(exp(-fabs(x))); }

/* 1 / (1 + exp(-x)) without overflow */
inline float sigmoidf(const float x)
{
    if (x >= 0.0f) return 1.0f / (1.0f + exp(-x));
    const float z = exp(x);
    return z / (1.0f + z);
}

/* One (a, p, n) unit of semihard or batch-hard. */
inline void tripletUnit(float* acc, __global float* g, const int p, const int n, const float dap, const float dan,
                        const float margin, const int soft)
{
    const float x = dap - dan;
    const float h = soft ? softplusf(x) : fmax(x + margin, 0.0f);
    const float slope = soft ? sigmoidf(x) : (x + margin > 0.0f ? 1.0f : 0.0f);
    acc[P_UNITS] += 1.0f;
    acc[P_LOSS] += h;
    if (h > 0.0f) acc[P_ACTIVE] += 1.0f;
    acc[P_DAP] += dap;
    acc[P_DAN] += dan;
    g[p] += slope;
    g[n] -= slope;
}

/* tripletLossMine: NDRange (B); work-item a owns row a of G and part. */
__kernel void tripletLossMine(const int b, const int anchors, __global const int* labels, const int strategy,
                              const float margin, const int soft, __global const float* dist,
                              __global float* G, __global float* part)
{
    const int a = get_global_id(0);
    if (a >= b) return;
    __global const float* row = dist + (size_t)a * b;
    __global float* g = G + (size_t)a * b;
    for (int j = 0; j < b; ++j) g[j] = 0.0f;
    float acc[P_N];
    for (int t = 0; t < P_N; ++t) acc[t] = 0.0f;

    if (a < anchors) {
        const int ya = labels[a];
        int k = 0, m = 0;
        for (int p = 0; p < anchors; ++p) if (p != a && labels[p] == ya) k++;
        for (int n = 0; n < b; ++n) if (labels[n] != ya) m++;
        acc[P_PAIRS] = (float)k;
        if (k > 0 && m > 0) {
            if (strategy == STRAT_SEMIHARD) {
                int far = -1;
                float farD = 0.0f;
                for (int n = 0; n < b; ++n)
                    if (labels[n] != ya && (far < 0 || row[n] > farD)) { far = n; farD = row[n]; }
                if (k <= SEMI_MAX_POS) {
                    /* one pass over the row for all positives at once (version 2; version 1 rescanned the row
                       and the labels once per positive, which dominated at B >= 1024) */
                    int pidx[SEMI_MAX_POS], best[SEMI_MAX_POS];
                    float pd[SEMI_MAX_POS], bestD[SEMI_MAX_POS];
                    int t = 0;
                    for (int p = 0; p < anchors; ++p)
                        if (p != a && labels[p] == ya) { pidx[t] = p; pd[t] = row[p]; best[t] = -1; bestD[t] = INFINITY; t++; }
                    for (int n = 0; n < b; ++n) {
                        if (labels[n] == ya) continue;
                        const float dn = row[n];
                        for (int q = 0; q < k; ++q)
                            if (dn > pd[q] && dn < bestD[q]) { best[q] = n; bestD[q] = dn; }
                    }
                    for (int q = 0; q < k; ++q) {
                        int n = best[q];
                        if (n >= 0) acc[P_FOUND] += 1.0f; else { n = far; acc[P_FALLBACK] += 1.0f; }
                        tripletUnit(acc, g, pidx[q], n, pd[q], row[n], margin, soft);
                    }
                } else {
                    for (int p = 0; p < anchors; ++p) {
                        if (p == a || labels[p] != ya) continue;
                        const float dap = row[p];
                        int best = -1;
                        float bestD = INFINITY;
                        for (int n = 0; n < b; ++n) {
                            const float dn = row[n];
                            if (dn > dap && dn < bestD && labels[n] != ya) { best = n; bestD = dn; }
                        }
                        if (best >= 0) acc[P_FOUND] += 1.0f; else { best = far; acc[P_FALLBACK] += 1.0f; }
                        tripletUnit(acc, g, p, best, dap, row[best], margin, soft);
                    }
                }
            } else if (strategy == STRAT_BATCH_HARD) {
                int hp = -1, hn = -1;
                for (int p = 0; p < anchors; ++p)
                    if (p != a && labels[p] == ya && (hp < 0 || row[p] > row[hp])) hp = p;
                for (int n = 0; n < b; ++n)
                    if (labels[n] != ya && (hn < 0 || row[n] < row[hn])) hn = n;
                tripletUnit(acc, g, hp, hn, row[hp], row[hn], margin, soft);
            } else {
                float sumDan = 0.0f, sumDap = 0.0f;
                for (int n = 0; n < b; ++n) if (labels[n] != ya) sumDan += row[n];
                for (int p = 0; p < anchors; ++p) if (p != a && labels[p] == ya) sumDap += row[p];
                acc[P_UNITS] = (float)k * (float)m;
                acc[P_DAP] = sumDap * (float)m;
                acc[P_DAN] = sumDan * (float)k;
                float loss = 0.0f, active = 0.0f;
                for (int p = 0; p < anchors; ++p) {
                    if (p == a || labels[p] != ya) continue;
                    const float dap = row[p];
                    float wp = 0.0f;
                    for (int n = 0; n < b; ++n) {
                        if (labels[n] == ya) continue;
                        const float x = dap - row[n];
                        if (soft) {
                            const float h = softplusf(x);
                            if (h > 0.0f) active += 1.0f;
                            loss += h;
                            const float s = sigmoidf(x);
                            wp += s;
                            g[n] -= s;
                        } else if (x + margin > 0.0f) {
                            active += 1.0f;
                            loss += x + margin;
                            wp += 1.0f;
                            g[n] -= 1.0f;
                        }
                    }
                    g[p] += wp;
                }
                acc[P_ACTIVE] = active;
                acc[P_LOSS] = loss;
            }
        }
    }
    for (int t = 0; t < P_N; ++t) part[(size_t)a * P_N + t] = acc[t];
}

#define RED_LOCAL 64

/*
 * tripletLossReduce: a single work-group of RED_LOCAL work-items. Sums part over anchors in a fixed order,
 * writes stats (the reference's rules, incl. degenerate batches) and scaleOut[0] = 1/denominator
 * (denominator = active triplets for batch-all, units otherwise; 0 when there is nothing to learn).
 */
__kernel void tripletLossReduce(const int b, const int d, const int anchors, const int strategy,
                                __global const float* e, __global const float* part,
                                __global float* stats, __global float* scaleOut)
{
    __local float red[P_N + 2][RED_LOCAL];
    const int lid = get_local_id(0);
    float acc[P_N + 2];
    for (int t = 0; t < P_N + 2; ++t) acc[t] = 0.0f;
    for (int a = lid; a < anchors; a += RED_LOCAL)
        for (int t = 0; t < P_N; ++t) acc[t] += part[(size_t)a * P_N + t];
    /* embedding statistics: sum of row norms, and sum over columns of squared deviations from the column mean */
    for (int i = lid; i < b; i += RED_LOCAL) {
        float s = 0.0f;
        for (int c = 0; c < d; ++c) { const float v = e[(size_t)i * d + c]; s = fma(v, v, s); }
        acc[P_N] += sqrt(s);
    }
    for (int c = lid; c < d; c += RED_LOCAL) {
        float mean = 0.0f;
        for (int i = 0; i < b; ++i) mean += e[(size_t)i * d + c];
        mean /= (float)b;
        float q = 0.0f;
        for (int i = 0; i < b; ++i) { const float t = e[(size_t)i * d + c] - mean; q = fma(t, t, q); }
        acc[P_N + 1] += q;
    }
    for (int t = 0; t < P_N + 2; ++t) red[t][lid] = acc[t];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = RED_LOCAL / 2; h > 0; h >>= 1) {
        if (lid < h) for (int t = 0; t < P_N + 2; ++t) red[t][lid] += red[t][lid + h];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid != 0) return;
    for (int t = 0; t < S_SIZE; ++t) stats[t] = 0.0f;
    if (b > 0) {
        stats[S_MEAN_NORM] = red[P_N][0] / (float)b;
        stats[S_SPREAD] = sqrt(red[P_N + 1][0] / (float)b);
    }
    const float units = red[P_UNITS][0], active = red[P_ACTIVE][0];
    stats[S_POSITIVE_PAIRS] = red[P_PAIRS][0];
    scaleOut[0] = 0.0f;
    if (units == 0.0f) { stats[S_DEGENERATE] = 1.0f; return; }
    const float denom = strategy == STRAT_BATCH_ALL ? active : units;
    stats[S_LOSS] = denom > 0.0f ? red[P_LOSS][0] / denom : 0.0f;
    stats[S_UNITS] = units;
    stats[S_SEMIHARD_FOUND] = red[P_FOUND][0];
    stats[S_FALLBACKS] = red[P_FALLBACK][0];
    stats[S_ACTIVE] = active;
    stats[S_ACTIVE_FRACTION] = active / units;
    stats[S_MEAN_DAP] = red[P_DAP][0] / units;
    stats[S_MEAN_DAN] = red[P_DAN][0] / units;
    if (denom > 0.0f) scaleOut[0] = 1.0f / denom;
}

/* tripletLossBackward: NDRange (B); dE_i = scale[0] * sum_j S[i,j] d dist(i,j)/d e_i, S = G + G^T (symmetrizeInPlace). */
__kernel void tripletLossBackward(const int b, const int d, const int metric, __global const float* e,
                                  __global const float* norms, __global const float* dist,
                                  __global const float* S, __global const float* scale, __global float* dE)
{
    const int i = get_global_id(0);
    if (i >= b) return;
    const float s = scale[0];
    if (s == 0.0f) {
        for (int k = 0; k < d; ++k) dE[(size_t)i * d + k] = 0.0f;
        return;
    }
    pairGradientRow(i, b, d, metric, s, e, norms, dist, S, dE);
}
