package dev.semihard.cpu;

import dev.semihard.engine.backend.Distance;
import dev.semihard.engine.backend.Strategy;
import dev.semihard.engine.backend.TripletOptions;
import dev.semihard.engine.backend.TripletStats;

import java.util.Arrays;

/**
 * <b>Embeddings: {@code pairwiseDistanceForward}, {@code pairwiseDistanceBackward} and the fused
 * {@code tripletLoss}</b>, in float32. The algorithm, the tie rules and the statistics are exactly those
 * of {@code ReferenceTriplet} (the specification; read its class comment first); this class differs in
 * how it runs:
 * <ul>
 *   <li>Distances in float32, each pair from the difference of its rows with the SIMD
 *       {@link Kernels#squaredDistance} (or {@link Kernels#dot} for cosine), so D is exactly symmetric
 *       and exactly 0 for duplicate rows, as in the reference. The upper triangle is split into balanced
 *       thread chunks by pairing row q with row b-1-q, then mirrored.</li>
 *   <li>Mining per anchor as in the reference (semihard by buckets over the sorted positive distances,
 *       O(B log K) per anchor), on float distances, with per-thread scratch ({@link Scratch}) instead of
 *       per-anchor arrays; per-anchor partial sums in double, reduced in anchor order.</li>
 *   <li>The gradient dE_i = sum_j (G[i][j] + G[j][i]) dd(i,j)/de_i row by row with the SIMD
 *       {@link Kernels#addScaledDifference} / {@link Kernels#axpy}, skipping zero coefficients.</li>
 * </ul>
 * D and G (two B x B float matrices) are kept between calls and only grow. Every output element is
 * owned by one thread and summed in a fixed order: results are the same for any thread count.
 */
final class CpuTriplet {
    static final float COSINE_EPS = 1e-12f;

    private static final int P_UNITS = 0, P_PAIRS = 1, P_FOUND = 2, P_FALLBACK = 3, P_ACTIVE = 4,
            P_LOSS = 5, P_DAP = 6, P_DAN = 7, P_N = 8;

    private final CpuContext cx;
    private final Scratch[] scratch;
    private float[] dist = new float[0], g = new float[0], norms = new float[0];
    private double[] part = new double[0];

    CpuTriplet(CpuContext cx) {
        this.cx = cx;
        this.scratch = new Scratch[cx.ws.length];
        for (int t = 0; t < scratch.length; t++) scratch[t] = new Scratch();
    }

    /** Per-thread mining scratch, grown to the batch and reused. */
    private static final class Scratch {
        int[] pos = new int[0], neg = new int[0], best = new int[0];
        float[] sp = new float[0], dn = new float[0];
        double[] prefix = new double[0];

        void size(int b) {
            if (pos.length >= b + 2) return;
            pos = new int[b + 2]; neg = new int[b + 2]; best = new int[b + 2];
            sp = new float[b + 2 + Kernels.COUNT_PAD]; dn = new float[b + 2]; prefix = new double[b + 2];
        }
    }

    // ================================================================== distances

    /** norms[i] = max(||e_i||, COSINE_EPS). */
    private void rowNorms(int b, int d, float[] e, float[] out) {
        for (int i = 0; i < b; i++) out[i] = Math.max((float) Math.sqrt(cx.kernels.dot(e, i * d, e, i * d, d)), COSINE_EPS);
    }

    /** dist = the b x b distance matrix (diagonal 0), upper triangle computed, lower mirrored. */
    private void distances(int b, int d, Distance metric, float[] e, float[] nrm, float[] out) {
        int pairs = (b + 1) / 2;
        cx.par.range(pairs, (long) b * b * d / 2, (t, lo, hi) -> {
            for (int q = lo; q < hi; q++) {
                distanceRow(q, b, d, metric, e, nrm, out);
                if (b - 1 - q != q) distanceRow(b - 1 - q, b, d, metric, e, nrm, out);
            }
        });
        symmetric(out, b, false);
    }

    private void distanceRow(int i, int b, int d, Distance metric, float[] e, float[] nrm, float[] out) {
        Kernels k = cx.kernels;
        int row = i * b, ei = i * d;
        out[row + i] = 0f;
        for (int j = i + 1; j < b; j++) {
            float v;
            if (metric == Distance.COSINE) v = 1f - k.dot(e, ei, e, j * d, d) / (nrm[i] * nrm[j]);
            else {
                v = k.squaredDistance(e, ei, e, j * d, d);
                if (metric == Distance.L2) v = (float) Math.sqrt(v);
            }
            out[row + j] = v;
        }
    }

    /** Tile edge of {@link #symmetric}. */
    private static final int TILE = 64;

    /** add: m[i][j] = m[j][i] = m[i][j] + m[j][i]; else mirror the upper triangle. Tile row I owns tiles (I, J>=I), (J, I). */
    private void symmetric(float[] m, int b, boolean add) {
        int tiles = (b + TILE - 1) / TILE;
        cx.par.range(tiles, (long) b * b, (t, lo, hi) -> {
            for (int ti = lo; ti < hi; ti++) {
                int i0 = ti * TILE, i1 = Math.min(i0 + TILE, b);
                for (int j0 = i0; j0 < b; j0 += TILE) {
                    int j1 = Math.min(j0 + TILE, b);
                    for (int i = i0; i < i1; i++)
                        for (int j = Math.max(j0, i + 1); j < j1; j++) {
                            float v = add ? m[i * b + j] + m[j * b + i] : m[i * b + j];
                            m[i * b + j] = v;
                            m[j * b + i] = v;
                        }
                }
            }
        });
    }

    void pairwiseDistanceForward(int n, int d, Distance metric, float[] e, float[] out) {
        float[] nrm = norms(n);
        if (metric == Distance.COSINE) rowNorms(n, d, e, nrm);
        distances(n, d, metric, e, nrm, out);
    }

    /** The reference's formula (see {@code ReferenceBackend.pairwiseDistanceBackward}), one row of dE per task. */
    void pairwiseDistanceBackward(int n, int d, Distance metric, float[] e, float[] ds, float[] gs, float[] out) {
        float[] nrm = norms(n);
        if (metric == Distance.COSINE) rowNorms(n, d, e, nrm);
        cx.par.range(n, (long) n * n * d, (t, lo, hi) -> {
            for (int i = lo; i < hi; i++) {
                int a = i * d;
                Arrays.fill(out, a, a + d, 0f);
                for (int j = 0; j < n; j++) {
                    if (j == i) continue;
                    float gij = gs[i * n + j], gji = gs[j * n + i];
                    switch (metric) {
                        case SQUARED_L2 -> cx.kernels.addScaledDifference(2f * (gij + gji), e, a, j * d, out, a, d);
                        case L2 -> {
                            float dij = ds[i * n + j], dji = ds[j * n + i];
                            float coef = (dij > 0 ? gij / dij : 0f) + (dji > 0 ? gji / dji : 0f);
                            cx.kernels.addScaledDifference(coef, e, a, j * d, out, a, d);
                        }
                        case COSINE -> cosineTerm(i, j, d, gij + gji, e, nrm, out, Float.NaN);
                    }
                }
            }
        });
    }

    /**
     * dE_i -= s (e_j / (n_i n_j) - c e_i / n_i^2), c = cos(e_i, e_j) (computed here when {@code cos} is NaN),
     * the second term only where ||e_i|| > eps (a clamped norm is a constant).
     */
    private void cosineTerm(int i, int j, int d, float s, float[] e, float[] nrm, float[] out, float cos) {
        float ni = nrm[i], nj = nrm[j];
        int a = i * d;
        if (Float.isNaN(cos)) cos = cx.kernels.dot(e, a, e, j * d, d) / (ni * nj);
        boolean clamped = !(ni > COSINE_EPS);
        cx.kernels.axpy(-s / (ni * nj), e, j * d, out, a, d);
        if (!clamped) cx.kernels.axpy(s * cos / (ni * ni), e, a, out, a, d);
    }

    private float[] norms(int n) {
        if (norms.length < n) norms = new float[n];
        return norms;
    }

    // ================================================================== the fused triplet loss

    void tripletLoss(int b, int d, int[] labels, TripletOptions o, float[] e, float[] dE, float[] stats) {
        final int anchors = o.anchorRows();
        Arrays.fill(dE, 0, b * d, 0f);
        Arrays.fill(stats, 0, TripletStats.SIZE, 0f);
        embeddingStats(b, d, e, stats);
        if ((long) b * b > Integer.MAX_VALUE - 16)
            throw new IllegalArgumentException("tripletLoss: the cpu backend keeps a B x B matrix in one array; B = "
                    + b + " is too large (max 46340)");
        if (dist.length < b * b) { dist = new float[b * b]; g = new float[b * b]; }
        if (part.length < b * P_N) part = new double[b * P_N];
        final float[] D = dist, G = g;
        final float[] nrm = norms(b);
        rowNorms(b, d, e, nrm);
        distances(b, d, o.distance(), e, nrm, D);

        Arrays.fill(part, 0, b * P_N, 0.0);
        cx.par.range(b, (long) b * b, (t, lo, hi) -> {
            Scratch sc = scratch[t];
            sc.size(b);
            for (int a = lo; a < hi; a++) {
                Arrays.fill(G, a * b, a * b + b, 0f);
                if (a < anchors) mineAnchor(a, b, anchors, labels, o, D, G, sc);
            }
        });

        double units = 0, pairs = 0, found = 0, fallbacks = 0, active = 0, lossSum = 0, dap = 0, dan = 0;
        for (int a = 0; a < anchors; a++) {
            int q = a * P_N;
            units += part[q + P_UNITS]; pairs += part[q + P_PAIRS]; found += part[q + P_FOUND];
            fallbacks += part[q + P_FALLBACK]; active += part[q + P_ACTIVE]; lossSum += part[q + P_LOSS];
            dap += part[q + P_DAP]; dan += part[q + P_DAN];
        }
        stats[TripletStats.POSITIVE_PAIRS] = (float) pairs;
        if (units == 0) { stats[TripletStats.DEGENERATE] = 1; return; }
        double denom = o.strategy() == Strategy.BATCH_ALL ? active : units;
        stats[TripletStats.LOSS] = (float) (denom > 0 ? lossSum / denom : 0);
        stats[TripletStats.UNITS] = (float) units;
        stats[TripletStats.SEMIHARD_FOUND] = (float) found;
        stats[TripletStats.FALLBACKS] = (float) fallbacks;
        stats[TripletStats.ACTIVE] = (float) active;
        stats[TripletStats.ACTIVE_FRACTION] = (float) (active / units);
        stats[TripletStats.MEAN_DAP] = (float) (dap / units);
        stats[TripletStats.MEAN_DAN] = (float) (dan / units);
        if (denom == 0) return;

        symmetric(G, b, true);
        final float scale = (float) (1.0 / denom);
        final Distance metric = o.distance();
        cx.par.range(b, (long) b * d * 4, (t, lo, hi) -> {
            for (int i = lo; i < hi; i++) gradientRow(i, b, d, metric, scale, e, nrm, D, G, dE);
        });
    }

    private void gradientRow(int i, int b, int d, Distance metric, float scale, float[] e, float[] nrm, float[] D,
                             float[] G, float[] dE) {
        final int ei = i * d;
        for (int j = 0; j < b; j++) {
            float s = G[i * b + j];
            if (s == 0 || j == i) continue;
            s *= scale;
            switch (metric) {
                case SQUARED_L2 -> cx.kernels.addScaledDifference(2f * s, e, ei, j * d, dE, ei, d);
                case L2 -> {
                    float dij = D[i * b + j];
                    if (dij > 0) cx.kernels.addScaledDifference(s / dij, e, ei, j * d, dE, ei, d);
                }
                case COSINE -> cosineTerm(i, j, d, s, e, nrm, dE, 1f - D[i * b + j]);
            }
        }
    }

    // ------------------------------------------------------------------ mining, one anchor (as ReferenceTriplet)

    private void mineAnchor(int a, int b, int anchors, int[] labels, TripletOptions o, float[] D, float[] G, Scratch sc) {
        final int row = a * b, q = a * P_N, ya = labels[a];
        int[] pos = sc.pos, neg = sc.neg;
        int k = 0;
        for (int p = 0; p < anchors; p++) if (p != a && labels[p] == ya) pos[k++] = p;
        int m = 0;
        for (int n = 0; n < b; n++) if (labels[n] != ya) neg[m++] = n;
        part[q + P_PAIRS] = k;
        if (k == 0 || m == 0) return;
        final float margin = o.margin();
        final boolean soft = o.softMargin();
        switch (o.strategy()) {
            case SEMIHARD -> {
                float[] sp = sc.sp;
                for (int i = 0; i < k; i++) sp[i] = D[row + pos[i]];
                Arrays.sort(sp, 0, k);
                Arrays.fill(sp, k, k + Kernels.COUNT_PAD, Float.POSITIVE_INFINITY);   // whole vectors for countBelow
                int[] best = sc.best;                      // best[t]: closest negative with bucket >= t (-1: none)
                Arrays.fill(best, 0, k + 2, -1);
                int farthest = neg[0];
                for (int i = 0; i < m; i++) {
                    int n = neg[i];
                    float v = D[row + n];
                    if (v > D[row + farthest]) farthest = n;
                    int t = cx.kernels.countBelow(sp, k, v);
                    if (t > 0 && (best[t] < 0 || v < D[row + best[t]])) best[t] = n;
                }
                for (int t = k - 1; t >= 1; t--)
                    if (best[t + 1] >= 0 && (best[t] < 0 || before(D, row, best[t + 1], best[t]))) best[t] = best[t + 1];
                for (int i = 0; i < k; i++) {
                    int p = pos[i];
                    float dAp = D[row + p];
                    int c = countAtMost(sp, k, dAp);
                    int n;
                    if (best[c] >= 0) { n = best[c]; part[q + P_FOUND]++; }
                    else { n = farthest; part[q + P_FALLBACK]++; }
                    unit(q, G, row, p, n, dAp, D[row + n], margin, soft);
                }
            }
            case BATCH_HARD -> {
                int hp = pos[0], hn = neg[0];
                for (int i = 1; i < k; i++) if (D[row + pos[i]] > D[row + hp]) hp = pos[i];
                for (int i = 1; i < m; i++) if (D[row + neg[i]] < D[row + hn]) hn = neg[i];
                unit(q, G, row, hp, hn, D[row + hp], D[row + hn], margin, soft);
            }
            case BATCH_ALL -> {
                part[q + P_UNITS] = (double) k * m;
                double sumDan = 0, sumDap = 0;
                for (int i = 0; i < m; i++) sumDan += D[row + neg[i]];
                for (int i = 0; i < k; i++) sumDap += D[row + pos[i]];
                part[q + P_DAP] = sumDap * m;
                part[q + P_DAN] = sumDan * k;
                if (soft) batchAllSoft(q, G, row, pos, k, neg, m, D);
                else batchAllHinge(q, G, row, pos, k, neg, m, D, margin, sc);
            }
        }
    }

    private void unit(int q, float[] G, int row, int p, int n, float dAp, float dAn, float margin, boolean soft) {
        float x = dAp - dAn;
        double h = soft ? softplus(x) : Math.max(x + margin, 0f);
        double slope = soft ? sigmoid(x) : (x + margin > 0 ? 1.0 : 0.0);
        part[q + P_UNITS]++;
        part[q + P_LOSS] += h;
        if (h > 0) part[q + P_ACTIVE]++;
        part[q + P_DAP] += dAp;
        part[q + P_DAN] += dAn;
        G[row + p] += (float) slope;
        G[row + n] -= (float) slope;
    }

    private void batchAllHinge(int q, float[] G, int row, int[] pos, int k, int[] neg, int m, float[] D, float margin,
                               Scratch sc) {
        float[] dn = sc.dn, dp = sc.sp;
        double[] prefix = sc.prefix;
        for (int i = 0; i < m; i++) dn[i] = D[row + neg[i]];
        Arrays.sort(dn, 0, m);
        prefix[0] = 0;
        for (int i = 0; i < m; i++) prefix[i + 1] = prefix[i] + dn[i];
        for (int i = 0; i < k; i++) dp[i] = D[row + pos[i]];
        Arrays.sort(dp, 0, k);
        double loss = 0;
        long active = 0;
        for (int i = 0; i < k; i++) {
            int p = pos[i];
            float dAp = D[row + p];
            int lo = 0, hi = m;
            while (lo < hi) { int mid = (lo + hi) >>> 1; if ((dAp - dn[mid]) + margin > 0) lo = mid + 1; else hi = mid; }
            active += lo;
            loss += lo * ((double) dAp + margin) - prefix[lo];
            G[row + p] += lo;
        }
        for (int i = 0; i < m; i++) {
            int n = neg[i];
            float dAn = D[row + n];
            int lo = 0, hi = k;
            while (lo < hi) { int mid = (lo + hi) >>> 1; if ((dp[mid] - dAn) + margin > 0) hi = mid; else lo = mid + 1; }
            G[row + n] -= k - lo;
        }
        part[q + P_ACTIVE] = active;
        part[q + P_LOSS] = loss;
    }

    private void batchAllSoft(int q, float[] G, int row, int[] pos, int k, int[] neg, int m, float[] D) {
        double loss = 0;
        long active = 0;
        for (int i = 0; i < k; i++) {
            int p = pos[i];
            float dAp = D[row + p];
            double wp = 0;
            for (int j = 0; j < m; j++) {
                int n = neg[j];
                double x = dAp - D[row + n];
                double z = Math.exp(-Math.abs(x));
                double h = Math.max(x, 0) + Math.log1p(z);
                if (h > 0) active++;
                loss += h;
                double s = x >= 0 ? 1 / (1 + z) : z / (1 + z);
                wp += s;
                G[row + n] -= (float) s;
            }
            G[row + p] += (float) wp;
        }
        part[q + P_ACTIVE] = active;
        part[q + P_LOSS] = loss;
    }

    // ------------------------------------------------------------------ statistics and small helpers

    /** MEAN_NORM and SPREAD over all b rows (double sums, fixed order). */
    private static void embeddingStats(int b, int d, float[] e, float[] stats) {
        if (b == 0) return;
        double[] mean = new double[d];
        double normSum = 0;
        for (int i = 0; i < b; i++) {
            double s = 0;
            for (int c = 0; c < d; c++) { double v = e[i * d + c]; s += v * v; mean[c] += v; }
            normSum += Math.sqrt(s);
        }
        for (int c = 0; c < d; c++) mean[c] /= b;
        double spread = 0;
        for (int i = 0; i < b; i++)
            for (int c = 0; c < d; c++) { double t = e[i * d + c] - mean[c]; spread += t * t; }
        stats[TripletStats.MEAN_NORM] = (float) (normSum / b);
        stats[TripletStats.SPREAD] = (float) Math.sqrt(spread / b);
    }

    private static double softplus(double x) { return Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x))); }

    private static double sigmoid(double x) {
        if (x >= 0) return 1 / (1 + Math.exp(-x));
        double z = Math.exp(x);
        return z / (1 + z);
    }

    private static int countAtMost(float[] a, int len, float x) {
        int lo = 0, hi = len;
        while (lo < hi) { int mid = (lo + hi) >>> 1; if (a[mid] <= x) lo = mid + 1; else hi = mid; }
        return lo;
    }

    private static boolean before(float[] D, int row, int x, int y) {
        float dx = D[row + x], dy = D[row + y];
        return dx < dy || (dx == dy && x < y);
    }
}
