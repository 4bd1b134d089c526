package dev.semihard.engine.reference;

import dev.semihard.engine.backend.Distance;
import dev.semihard.engine.backend.Strategy;
import dev.semihard.engine.backend.TripletOptions;
import dev.semihard.engine.backend.TripletStats;

import java.util.Arrays;
import java.util.stream.IntStream;

/**
 * <b>The reference fused triplet-loss kernel</b>: pairwise distances, online mining, loss and
 * gradient in one call, in double precision. It is the specification every other backend's
 * {@code tripletLoss} kernel is checked against, and it is written to be read.
 *
 * <h2>What it computes (docs/benchmarks.md, "Loss semantics")</h2>
 * E holds B embeddings (rows), y their labels. Rows {@code [0, anchorRows)} are the P x K part of
 * the batch; rows {@code [anchorRows, B)} are FaceNet's extra random negatives.
 * <ul>
 *   <li>A <i>positive pair</i> is an ordered pair (a, p), a != p, y[a] == y[p], both below
 *       {@code anchorRows}.</li>
 *   <li>A <i>negative</i> of a is any row n (extra rows included) with y[n] != y[a]. An extra row
 *       that happens to share a's label is neither positive nor negative of a: it is ignored.</li>
 *   <li>h(x) = max(x + margin, 0), or with the soft margin h(x) = log(1 + exp(x)) (margin
 *       ignored), evaluated stably as {@code max(x,0) + log1p(exp(-|x|))}.</li>
 * </ul>
 * <table>
 *   <caption>strategies</caption>
 *   <tr><th>strategy</th><th>unit</th><th>loss</th></tr>
 *   <tr><td>semihard</td><td>positive pair (a,p): n* = the negative with the smallest d(a,n) among
 *       those with d(a,n) &gt; d(a,p) (strictly), else the negative with the largest d(a,n)
 *       ("fallback")</td><td>sum of h(d(a,p) - d(a,n*)) / number of positive pairs</td></tr>
 *   <tr><td>batch-hard</td><td>anchor with a positive and a negative: largest d(a,p), smallest
 *       d(a,n)</td><td>mean of h over those anchors</td></tr>
 *   <tr><td>batch-all</td><td>every (a,p,n)</td><td>sum of h / number of triplets with h &gt; 0
 *       (0 when there is none)</td></tr>
 * </table>
 *
 * <h2>Ties (defined here, followed by every backend)</h2>
 * <ul>
 *   <li>Among negatives (or positives) at exactly equal distance the <b>lowest row index</b> wins:
 *       semihard's n* and its fallback, batch-hard's hardest positive and negative. The loss value
 *       never depends on this rule, only on which row receives the gradient.
 *       (TF-Addons, whose semihard numbers we match, splits the gradient of a tie evenly instead.)</li>
 *   <li>Semihard uses d(a,n) &gt; d(a,p) <i>strictly</i>: a negative exactly as far as the positive
 *       is not semi-hard (TF-Addons' {@code tf.math.greater}).</li>
 *   <li>A hinge term is "active" when h &gt; 0; at exactly x + margin = 0 the term is inactive and its
 *       gradient is 0.</li>
 *   <li>The batch-all denominator (number of active triplets) is piecewise constant, so it is treated
 *       as a constant in the gradient.</li>
 * </ul>
 *
 * <h2>Algorithm and cost</h2>
 * <ol>
 *   <li><b>Distances</b>: the B x B matrix D (O(B<sup>2</sup>) memory, O(B<sup>2</sup>D) time), each
 *       pair computed once from the difference of the rows, so D is exactly symmetric and exactly 0 for
 *       duplicate rows.</li>
 *   <li><b>Mining, per anchor</b> a (anchors are independent, so they run in parallel): the loss only
 *       ever needs row a of D. The kernel records dLoss/dD[a][j] in row a of a second B x B matrix G.
 *       <ul>
 *         <li>semihard: sort a's k positive distances; each negative finds, by binary search, how many
 *             positives it is farther than (its "bucket"); the closest negative per bucket and suffix
 *             minima over the buckets give every positive its n* (and the farthest negative, the
 *             fallback, comes from the same pass). O(B log K) per anchor, O(B<sup>2</sup> log K) in
 *             total, instead of the O(B<sup>3</sup>) of the masked formulation (and no sort of the B
 *             negatives, which the simpler "sort the negatives, binary-search each positive" needs).</li>
 *         <li>batch-hard: one scan of the row, O(B<sup>2</sup>) in total.</li>
 *         <li>batch-all, hard margin: with a's negative distances sorted and prefix-summed, the active
 *             negatives of a positive form a prefix of the sorted list (found by binary search), so the
 *             sum of its hinge terms is c (d(a,p) + margin) - prefix[c]; symmetrically each negative
 *             counts its active positives by binary search in the sorted positive distances. Total
 *             O(B<sup>2</sup> log B).</li>
 *         <li>batch-all, soft margin: every triplet has a non-zero term and a different sigmoid weight,
 *             so the kernel visits every (a, p, n): O(B &middot; K &middot; B) time for K images per
 *             identity (cubic only when one identity fills the batch), still O(B<sup>2</sup>) memory.</li>
 *       </ul></li>
 *   <li><b>Gradient</b>: D is symmetric, so dE_i = sum_j (G[i][j] + G[j][i]) &part;d(e_i,e_j)/&part;e_i;
 *       G is made symmetric in place (G + G<sup>T</sup>, tile by tile), then each row i is one task
 *       with no write conflicts, O(B<sup>2</sup>D) time (pairs with a zero
 *       coefficient are skipped, which makes semihard and batch-hard cheap). Distance derivatives:
 *       squared-l2 2(e_i - e_j); l2 (e_i - e_j)/d, and 0 where d = 0; cosine with norms clamped at
 *       {@link #COSINE_EPS} like {@code l2Normalize} (a clamped norm is a constant).</li>
 * </ol>
 * Peak memory: two B x B double matrices (D and G) plus O(B) per thread; never B<sup>3</sup>.
 * Results are deterministic: each row is owned by one thread and sums are reduced in row order.
 *
 * <h2>Degenerate batches</h2>
 * No unit (no positive pair, or no negative, B = 0 or 1, one class): loss 0, dE = 0,
 * {@code DEGENERATE} = 1; {@code POSITIVE_PAIRS}, {@code MEAN_NORM} and {@code SPREAD} still describe the
 * batch, every other slot is 0 (so {@code UNITS} = 0 even when a one-class batch has positive pairs). Nothing can produce NaN from
 * finite input: l2 has gradient 0 at distance 0, cosine clamps norms, the soft margin is evaluated stably.
 */
public final class ReferenceTriplet {
    private ReferenceTriplet() {}

    /** Norm clamp of the cosine distance (the same eps as {@code F.l2Normalize}). */
    public static final double COSINE_EPS = 1e-12;

    /** Batches at least this large use the common fork-join pool (results are identical either way). */
    private static final int PARALLEL_ROWS = 128;

    // per-anchor partial sums, reduced in anchor order at the end (deterministic)
    private static final int P_UNITS = 0, P_PAIRS = 1, P_FOUND = 2, P_FALLBACK = 3, P_ACTIVE = 4,
            P_LOSS = 5, P_DAP = 6, P_DAN = 7, P_N = 8;

    /**
     * The fused kernel.
     *
     * @param b      rows of e
     * @param d      embedding dimension
     * @param labels b labels (any int values)
     * @param o      strategy, distance, margin, soft margin, anchor rows (must be &lt;= b)
     * @param e      [b, d] embeddings, row-major (read)
     * @param dE     [b, d] overwritten with dLoss/dE
     * @param stats  {@link TripletStats#SIZE} slots, overwritten (layout in {@link TripletStats})
     */
    public static void tripletLoss(int b, int d, int[] labels, TripletOptions o, double[] e, double[] dE, double[] stats) {
        validate(b, d, labels, o, e, dE, stats);
        final int anchors = o.anchorRows();
        Arrays.fill(dE, 0, b * d, 0.0);
        Arrays.fill(stats, 0, TripletStats.SIZE, 0.0);
        embeddingStats(b, d, e, stats);

        // 1. distances
        final double[] norms = rowNorms(b, d, e);
        final double[] dist = distances(b, d, o.distance(), e, norms);

        // 2. mining: row a of g = dLoss/dD[a][*] (before the final 1/units scale); part = partial sums
        final double[] g = new double[b * b];
        final double[] part = new double[b * P_N];
        rows(anchors, a -> mineAnchor(a, b, anchors, labels, o, dist, g, part));

        double units = 0, pairs = 0, found = 0, fallbacks = 0, active = 0, lossSum = 0, dap = 0, dan = 0;
        for (int a = 0; a < anchors; a++) {
            int q = a * P_N;
            units += part[q + P_UNITS]; pairs += part[q + P_PAIRS]; found += part[q + P_FOUND];
            fallbacks += part[q + P_FALLBACK]; active += part[q + P_ACTIVE]; lossSum += part[q + P_LOSS];
            dap += part[q + P_DAP]; dan += part[q + P_DAN];
        }
        stats[TripletStats.POSITIVE_PAIRS] = pairs;
        if (units == 0) {                       // nothing to learn from: loss 0, dE 0, counted
            stats[TripletStats.DEGENERATE] = 1;
            return;
        }
        // batch-all averages over the active triplets, the others over every unit
        double denom = o.strategy() == Strategy.BATCH_ALL ? active : units;
        stats[TripletStats.LOSS] = denom > 0 ? lossSum / denom : 0;
        stats[TripletStats.UNITS] = units;
        stats[TripletStats.SEMIHARD_FOUND] = found;
        stats[TripletStats.FALLBACKS] = fallbacks;
        stats[TripletStats.ACTIVE] = active;
        stats[TripletStats.ACTIVE_FRACTION] = active / units;
        stats[TripletStats.MEAN_DAP] = dap / units;
        stats[TripletStats.MEAN_DAN] = dan / units;
        if (denom == 0) return;                 // batch-all with no active triplet: loss 0, dE 0

        // 3. gradient through the distances: dE_i = sum_j (G[i][j] + G[j][i]) * dd(i,j)/de_i
        symmetric(g, b, true);                  // g := G + G^T, so row i holds every coefficient of e_i
        final double scale = 1.0 / denom;
        rows(b, i -> gradientRow(i, b, d, o.distance(), scale, e, norms, dist, g, dE));
    }

    // ------------------------------------------------------------------ mining, one anchor

    private static void mineAnchor(int a, int b, int anchors, int[] labels, TripletOptions o,
                                   double[] dist, double[] g, double[] part) {
        final int row = a * b, q = a * P_N, ya = labels[a];
        // a's positives (anchor rows only) and negatives (any row with another label), in index order
        int[] pos = new int[anchors];
        int k = 0;
        for (int p = 0; p < anchors; p++) if (p != a && labels[p] == ya) pos[k++] = p;
        int[] neg = new int[b];
        int m = 0;
        for (int n = 0; n < b; n++) if (labels[n] != ya) neg[m++] = n;
        part[q + P_PAIRS] = k;
        if (k == 0 || m == 0) return;           // this anchor contributes no unit

        final double margin = o.margin();
        final boolean soft = o.softMargin();
        switch (o.strategy()) {
            case SEMIHARD -> {
                // n*(p) = the negative with the smallest (distance, index) among those with d(a,n) > d(a,p).
                // Sort a's k positive distances: sp[0] <= ... <= sp[k-1]. A negative at distance v is
                // farther than exactly the positives with sp < v; call their number its bucket t (binary
                // search). A positive with c = #{sp <= d(a,p)} accepts exactly the negatives with bucket >= c.
                // So: keep the closest negative of each bucket (one pass over the negatives), take suffix
                // minima over the buckets, and read n* of each positive at its c. O(m log k) per anchor.
                double[] sp = new double[k];
                for (int i = 0; i < k; i++) sp[i] = dist[row + pos[i]];
                Arrays.sort(sp);
                int[] best = new int[k + 2];              // best[t]: closest negative with bucket >= t (-1: none)
                Arrays.fill(best, -1);
                int farthest = neg[0];                    // fallback: largest distance, lowest index on ties
                for (int i = 0; i < m; i++) {             // index order + strict comparisons: lowest index wins ties
                    int n = neg[i];
                    double v = dist[row + n];
                    if (v > dist[row + farthest]) farthest = n;
                    int t = countBelow(sp, v);
                    if (t > 0 && (best[t] < 0 || v < dist[row + best[t]])) best[t] = n;
                }
                for (int t = k - 1; t >= 1; t--)          // suffix minimum over buckets t..k
                    if (best[t + 1] >= 0 && (best[t] < 0 || before(dist, row, best[t + 1], best[t]))) best[t] = best[t + 1];
                for (int i = 0; i < k; i++) {
                    int p = pos[i];
                    double dAp = dist[row + p];
                    int c = countAtMost(sp, dAp);         // >= 1: p itself
                    int n;
                    if (best[c] >= 0) { n = best[c]; part[q + P_FOUND]++; }
                    else { n = farthest; part[q + P_FALLBACK]++; }
                    unit(q, part, g, row, p, n, dAp, dist[row + n], margin, soft);
                }
            }
            case BATCH_HARD -> {
                int hp = pos[0], hn = neg[0];
                for (int i = 1; i < k; i++) if (dist[row + pos[i]] > dist[row + hp]) hp = pos[i];
                for (int i = 1; i < m; i++) if (dist[row + neg[i]] < dist[row + hn]) hn = neg[i];
                unit(q, part, g, row, hp, hn, dist[row + hp], dist[row + hn], margin, soft);
            }
            case BATCH_ALL -> {
                part[q + P_UNITS] = (double) k * m;
                double sumDan = 0;
                for (int i = 0; i < m; i++) sumDan += dist[row + neg[i]];
                double sumDap = 0;
                for (int i = 0; i < k; i++) sumDap += dist[row + pos[i]];
                part[q + P_DAP] = sumDap * m;
                part[q + P_DAN] = sumDan * k;
                if (soft) batchAllSoft(q, part, g, row, pos, k, neg, m, dist);
                else batchAllHinge(q, part, g, row, pos, k, neg, m, dist, margin);
            }
        }
    }

    /** One (a, p, n) unit of semihard or batch-hard: adds its loss, statistics and dLoss/dD entries. */
    private static void unit(int q, double[] part, double[] g, int row, int p, int n, double dAp, double dAn,
                             double margin, boolean soft) {
        double x = dAp - dAn;
        double h = soft ? softplus(x) : Math.max(x + margin, 0.0);
        double slope = soft ? sigmoid(x) : (x + margin > 0 ? 1.0 : 0.0);
        part[q + P_UNITS]++;
        part[q + P_LOSS] += h;
        if (h > 0) part[q + P_ACTIVE]++;
        part[q + P_DAP] += dAp;
        part[q + P_DAN] += dAn;
        g[row + p] += slope;
        g[row + n] -= slope;
    }

    /**
     * Batch-all with the hinge: the term of (p, n) is active iff (d(a,p) - d(a,n)) + margin &gt; 0, a
     * predicate that is monotone in each distance even in floating point, so binary searches over sorted
     * distances count exactly the triplets a triple loop would.
     */
    private static void batchAllHinge(int q, double[] part, double[] g, int row, int[] pos, int k, int[] neg, int m,
                                      double[] dist, double margin) {
        double[] dn = new double[m];
        for (int i = 0; i < m; i++) dn[i] = dist[row + neg[i]];
        Arrays.sort(dn);
        double[] prefix = new double[m + 1];
        for (int i = 0; i < m; i++) prefix[i + 1] = prefix[i] + dn[i];
        double[] dp = new double[k];
        for (int i = 0; i < k; i++) dp[i] = dist[row + pos[i]];
        Arrays.sort(dp);
        double loss = 0;
        long active = 0;
        for (int i = 0; i < k; i++) {
            int p = pos[i];
            double dAp = dist[row + p];
            // active negatives: the prefix of dn where (dAp - dn) + margin > 0
            int lo = 0, hi = m;
            while (lo < hi) { int mid = (lo + hi) >>> 1; if ((dAp - dn[mid]) + margin > 0) lo = mid + 1; else hi = mid; }
            int c = lo;
            active += c;
            loss += c * (dAp + margin) - prefix[c];
            g[row + p] += c;
        }
        for (int i = 0; i < m; i++) {
            int n = neg[i];
            double dAn = dist[row + n];
            // active positives: the suffix of dp where (dp - dAn) + margin > 0
            int lo = 0, hi = k;
            while (lo < hi) { int mid = (lo + hi) >>> 1; if ((dp[mid] - dAn) + margin > 0) hi = mid; else lo = mid + 1; }
            g[row + n] -= k - lo;
        }
        part[q + P_ACTIVE] = active;
        part[q + P_LOSS] = loss;
    }

    /** Batch-all with the soft margin: every (p, n) visited, weight sigmoid(d(a,p) - d(a,n)). */
    private static void batchAllSoft(int q, double[] part, double[] g, int row, int[] pos, int k, int[] neg, int m,
                                     double[] dist) {
        double loss = 0;
        long active = 0;
        for (int i = 0; i < k; i++) {
            int p = pos[i];
            double dAp = dist[row + p], wp = 0;
            for (int j = 0; j < m; j++) {
                int n = neg[j];
                double x = dAp - dist[row + n];
                double z = Math.exp(-Math.abs(x));        // shared by softplus and sigmoid
                double h = Math.max(x, 0) + Math.log1p(z);
                if (h > 0) active++;
                loss += h;
                double s = x >= 0 ? 1 / (1 + z) : z / (1 + z);
                wp += s;
                g[row + n] -= s;
            }
            g[row + p] += wp;
        }
        part[q + P_ACTIVE] = active;
        part[q + P_LOSS] = loss;
    }

    // ------------------------------------------------------------------ gradient, one row

    private static void gradientRow(int i, int b, int d, Distance metric, double scale, double[] e, double[] norms,
                                    double[] dist, double[] g, double[] dE) {
        final int ei = i * d;
        for (int j = 0; j < b; j++) {
            double s = g[i * b + j];            // already G[i][j] + G[j][i]
            if (s == 0 || j == i) continue;
            s *= scale;
            final int ej = j * d;
            switch (metric) {
                case SQUARED_L2 -> {
                    for (int c = 0; c < d; c++) dE[ei + c] += 2 * s * (e[ei + c] - e[ej + c]);
                }
                case L2 -> {
                    double dij = dist[i * b + j];
                    if (dij > 0) for (int c = 0; c < d; c++) dE[ei + c] += s * (e[ei + c] - e[ej + c]) / dij;
                }
                case COSINE -> {
                    // d = 1 - dot / (ni nj): dd/de_i = -(e_j / (ni nj) - cos * e_i / ni^2), the second term
                    // only where ||e_i|| > eps (a clamped norm is a constant)
                    double ni = norms[i], nj = norms[j];
                    double cos = 1 - dist[i * b + j];
                    double self = ni > COSINE_EPS ? cos / (ni * ni) : 0;
                    for (int c = 0; c < d; c++) dE[ei + c] -= s * (e[ej + c] / (ni * nj) - self * e[ei + c]);
                }
            }
        }
    }

    // ------------------------------------------------------------------ distances and statistics

    /** ||e_i|| clamped below at {@link #COSINE_EPS} (only the cosine distance uses the clamp). */
    private static double[] rowNorms(int b, int d, double[] e) {
        double[] n = new double[b];
        for (int i = 0; i < b; i++) {
            double s = 0;
            for (int c = 0; c < d; c++) s += e[i * d + c] * e[i * d + c];
            n[i] = Math.max(Math.sqrt(s), COSINE_EPS);
        }
        return n;
    }

    /**
     * The B x B distance matrix; each unordered pair is computed once and mirrored, the diagonal is 0.
     * Public because tests and the documentation example print it.
     */
    public static double[] distances(int b, int d, Distance metric, double[] e) {
        return distances(b, d, metric, e, rowNorms(b, d, e));
    }

    private static double[] distances(int b, int d, Distance metric, double[] e, double[] norms) {
        double[] dist = new double[b * b];
        rows(b, i -> {
            for (int j = i + 1; j < b; j++) dist[i * b + j] = pair(i, j, d, metric, e, norms);
        });
        symmetric(dist, b, false);             // copy the upper triangle into the lower one
        return dist;
    }

    /** Tile edge of {@link #symmetric}: two 64 x 64 double tiles fit in the L1/L2 cache. */
    private static final int TILE = 64;

    /**
     * Makes the b x b matrix m symmetric, tile by tile so that both the row-wise and the column-wise
     * accesses stay in cache: {@code add} true: m[i][j] = m[j][i] = m[i][j] + m[j][i] (i != j);
     * false: m[j][i] = m[i][j] for i &lt; j (mirror the upper triangle). Tile row I owns the tiles
     * (I, J) and (J, I) for J &gt;= I, so tile rows run in parallel without conflicts.
     */
    private static void symmetric(double[] m, int b, boolean add) {
        int tiles = (b + TILE - 1) / TILE;
        java.util.function.IntConsumer tileRow = ti -> {
            int i0 = ti * TILE, i1 = Math.min(i0 + TILE, b);
            for (int j0 = i0; j0 < b; j0 += TILE) {
                int j1 = Math.min(j0 + TILE, b);
                for (int i = i0; i < i1; i++)
                    for (int j = Math.max(j0, i + 1); j < j1; j++) {
                        double v = add ? m[i * b + j] + m[j * b + i] : m[i * b + j];
                        m[i * b + j] = v;
                        m[j * b + i] = v;
                    }
            }
        };
        if (b >= PARALLEL_ROWS) IntStream.range(0, tiles).parallel().forEach(tileRow);
        else for (int t = 0; t < tiles; t++) tileRow.accept(t);
    }

    private static double pair(int i, int j, int d, Distance metric, double[] e, double[] norms) {
        int ei = i * d, ej = j * d;
        if (metric == Distance.COSINE) {
            double dot = 0;
            for (int c = 0; c < d; c++) dot += e[ei + c] * e[ej + c];
            return 1 - dot / (norms[i] * norms[j]);
        }
        double s = 0;
        for (int c = 0; c < d; c++) { double t = e[ei + c] - e[ej + c]; s += t * t; }
        return metric == Distance.L2 ? Math.sqrt(s) : s;
    }

    /** MEAN_NORM and SPREAD over all b rows. */
    private static void embeddingStats(int b, int d, double[] e, double[] stats) {
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
        stats[TripletStats.MEAN_NORM] = normSum / b;
        stats[TripletStats.SPREAD] = Math.sqrt(spread / b);
    }

    // ------------------------------------------------------------------ the explicit-triplet loss

    /**
     * Loss over explicit triplets (used by offline mining, where the triplets were chosen beforehand):
     * rows come in threes (anchor, positive, negative), loss = mean over the t triplets of
     * h(d(a,p) - d(a,n)), no mining. Statistics: UNITS = POSITIVE_PAIRS = t, ACTIVE, ACTIVE_FRACTION,
     * MEAN_DAP, MEAN_DAN, MEAN_NORM, SPREAD; DEGENERATE when t = 0.
     *
     * @param t  number of triplets; e and dE hold 3t rows of d values
     */
    public static void explicitTriplets(int t, int d, TripletOptions o, double[] e, double[] dE, double[] stats) {
        if (t < 0 || d < 0) throw new IllegalArgumentException("explicit triplets: negative size t=" + t + ", d=" + d);
        int b = 3 * t;
        if (e.length < (long) b * d || dE.length < (long) b * d || stats.length < TripletStats.SIZE)
            throw new IllegalArgumentException("explicit triplets: arrays too small for " + t + " triplets of dimension " + d);
        Arrays.fill(dE, 0, b * d, 0.0);
        Arrays.fill(stats, 0, TripletStats.SIZE, 0.0);
        embeddingStats(b, d, e, stats);
        if (t == 0) { stats[TripletStats.DEGENERATE] = 1; return; }
        double[] norms = rowNorms(b, d, e);
        double loss = 0, dapSum = 0, danSum = 0, active = 0;
        for (int i = 0; i < t; i++) {
            int a = 3 * i, p = a + 1, n = a + 2;
            double dAp = pair(a, p, d, o.distance(), e, norms), dAn = pair(a, n, d, o.distance(), e, norms);
            double x = dAp - dAn;
            double h = o.softMargin() ? softplus(x) : Math.max(x + o.margin(), 0.0);
            double slope = (o.softMargin() ? sigmoid(x) : (x + o.margin() > 0 ? 1.0 : 0.0)) / t;
            loss += h; dapSum += dAp; danSum += dAn;
            if (h > 0) active++;
            if (slope == 0) continue;
            // dL/dd(a,p) = slope, dL/dd(a,n) = -slope; each distance feeds both of its rows
            addPairGrad(a, p, dAp, slope, d, o.distance(), e, norms, dE);
            addPairGrad(p, a, dAp, slope, d, o.distance(), e, norms, dE);
            addPairGrad(a, n, dAn, -slope, d, o.distance(), e, norms, dE);
            addPairGrad(n, a, dAn, -slope, d, o.distance(), e, norms, dE);
        }
        stats[TripletStats.LOSS] = loss / t;
        stats[TripletStats.UNITS] = t;
        stats[TripletStats.POSITIVE_PAIRS] = t;
        stats[TripletStats.ACTIVE] = active;
        stats[TripletStats.ACTIVE_FRACTION] = active / t;
        stats[TripletStats.MEAN_DAP] = dapSum / t;
        stats[TripletStats.MEAN_DAN] = danSum / t;
    }

    /** dE_i += s * dd(i,j)/de_i. */
    private static void addPairGrad(int i, int j, double dij, double s, int d, Distance metric, double[] e,
                                    double[] norms, double[] dE) {
        int ei = i * d, ej = j * d;
        switch (metric) {
            case SQUARED_L2 -> { for (int c = 0; c < d; c++) dE[ei + c] += 2 * s * (e[ei + c] - e[ej + c]); }
            case L2 -> { if (dij > 0) for (int c = 0; c < d; c++) dE[ei + c] += s * (e[ei + c] - e[ej + c]) / dij; }
            case COSINE -> {
                double ni = norms[i], nj = norms[j], cos = 1 - dij;
                double self = ni > COSINE_EPS ? cos / (ni * ni) : 0;
                for (int c = 0; c < d; c++) dE[ei + c] -= s * (e[ej + c] / (ni * nj) - self * e[ei + c]);
            }
        }
    }

    // ------------------------------------------------------------------ small helpers

    /** log(1 + exp(x)) without overflow or cancellation. */
    static double softplus(double x) {
        return Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
    }

    /** 1 / (1 + exp(-x)) without overflow. */
    static double sigmoid(double x) {
        if (x >= 0) return 1 / (1 + Math.exp(-x));
        double z = Math.exp(x);
        return z / (1 + z);
    }

    /** Number of values of the ascending array a that are strictly less than x. */
    private static int countBelow(double[] a, double x) {
        int lo = 0, hi = a.length;
        while (lo < hi) { int mid = (lo + hi) >>> 1; if (a[mid] < x) lo = mid + 1; else hi = mid; }
        return lo;
    }

    /** Number of values of the ascending array a that are &lt;= x. */
    private static int countAtMost(double[] a, double x) {
        int lo = 0, hi = a.length;
        while (lo < hi) { int mid = (lo + hi) >>> 1; if (a[mid] <= x) lo = mid + 1; else hi = mid; }
        return lo;
    }

    /** Whether row x comes before row y in (distance from the anchor, index) order. */
    private static boolean before(double[] dist, int row, int x, int y) {
        double dx = dist[row + x], dy = dist[row + y];
        return dx < dy || (dx == dy && x < y);
    }

    private static void rows(int n, java.util.function.IntConsumer body) {
        if (n >= PARALLEL_ROWS) IntStream.range(0, n).parallel().forEach(body);
        else for (int i = 0; i < n; i++) body.accept(i);
    }

    private static void validate(int b, int d, int[] labels, TripletOptions o, double[] e, double[] dE, double[] stats) {
        if (b < 0 || d < 0) throw new IllegalArgumentException("tripletLoss: negative size b=" + b + ", d=" + d);
        if (o == null) throw new IllegalArgumentException("tripletLoss: options are required");
        if (labels == null || labels.length < b)
            throw new IllegalArgumentException("tripletLoss: need " + b + " labels, got " + (labels == null ? "null" : labels.length));
        if (o.anchorRows() > b)
            throw new IllegalArgumentException("tripletLoss: anchorRows " + o.anchorRows() + " exceeds the batch of " + b
                    + " rows; use TripletOptions.withAnchorRows(B) when the batch has no extra negatives");
        if ((long) b * b > Integer.MAX_VALUE)
            throw new IllegalArgumentException("tripletLoss: the reference kernel keeps a B x B matrix in one array; B = "
                    + b + " is too large (max 46340)");
        long n = (long) b * d;
        if (e.length < n || dE.length < n)
            throw new IllegalArgumentException("tripletLoss: e and dE need " + n + " elements, got " + e.length + " and " + dE.length);
        if (stats.length < TripletStats.SIZE)
            throw new IllegalArgumentException("tripletLoss: stats needs " + TripletStats.SIZE + " slots, got " + stats.length);
    }
}
