package dev.semihard.engine.reference;

import dev.semihard.engine.Rng;
import dev.semihard.engine.backend.Buffer;
import dev.semihard.engine.backend.Distance;
import dev.semihard.engine.backend.Strategy;
import dev.semihard.engine.backend.TripletOptions;
import dev.semihard.engine.backend.TripletStats;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The fused triplet kernel against a brute-force triple loop that transcribes docs/benchmarks.md
 * "Loss semantics" literally (plus the tie rules documented in {@link ReferenceTriplet}), over many
 * random label layouts; a finite-difference check of its gradient; degenerate batches.
 */
class ReferenceTripletTest {

    // ------------------------------------------------------------------ brute force (test-side spec)

    /** Loss, dE and stats by the most literal loops; O(B^3), test sizes only. */
    static double[] bruteForce(int b, int d, int[] y, TripletOptions o, double[] e, double[] dE) {
        int A = o.anchorRows();
        double[][] D = new double[b][b];
        for (int i = 0; i < b; i++) for (int j = 0; j < b; j++) D[i][j] = i == j ? 0 : dist(o.distance(), e, d, i, j);
        double[][] G = new double[b][b];      // dLoss/dD before dividing by the denominator
        double sum = 0, units = 0, pairs = 0, found = 0, fallbacks = 0, active = 0, dap = 0, dan = 0;
        for (int a = 0; a < A; a++) {
            boolean hasNeg = false;
            for (int n = 0; n < b; n++) if (y[n] != y[a]) hasNeg = true;
            if (o.strategy() == Strategy.BATCH_HARD) {
                int hp = -1, hn = -1;
                for (int p = 0; p < A; p++) if (p != a && y[p] == y[a]) { pairs++; if (hp < 0 || D[a][p] > D[a][hp]) hp = p; }
                for (int n = 0; n < b; n++) if (y[n] != y[a] && (hn < 0 || D[a][n] < D[a][hn])) hn = n;
                if (hp < 0 || hn < 0) continue;
                units++;
                double x = D[a][hp] - D[a][hn];
                double h = h(x, o), s = slope(x, o);
                sum += h; if (h > 0) active++; dap += D[a][hp]; dan += D[a][hn];
                G[a][hp] += s; G[a][hn] -= s;
                continue;
            }
            for (int p = 0; p < A; p++) {
                if (p == a || y[p] != y[a]) continue;
                pairs++;
                if (!hasNeg) continue;
                if (o.strategy() == Strategy.SEMIHARD) {
                    int semi = -1, far = -1;
                    for (int n = 0; n < b; n++) {
                        if (y[n] == y[a]) continue;
                        if (D[a][n] > D[a][p] && (semi < 0 || D[a][n] < D[a][semi])) semi = n;
                        if (far < 0 || D[a][n] > D[a][far]) far = n;
                    }
                    int n = semi >= 0 ? semi : far;
                    if (semi >= 0) found++; else fallbacks++;
                    units++;
                    double x = D[a][p] - D[a][n];
                    double h = h(x, o), s = slope(x, o);
                    sum += h; if (h > 0) active++; dap += D[a][p]; dan += D[a][n];
                    G[a][p] += s; G[a][n] -= s;
                } else {
                    for (int n = 0; n < b; n++) {
                        if (y[n] == y[a]) continue;
                        units++;
                        double x = D[a][p] - D[a][n];
                        double h = h(x, o), s = slope(x, o);
                        sum += h; if (h > 0) active++; dap += D[a][p]; dan += D[a][n];
                        G[a][p] += s; G[a][n] -= s;
                    }
                }
            }
        }
        double[] st = new double[TripletStats.SIZE];
        st[TripletStats.POSITIVE_PAIRS] = pairs;
        double norm = 0;
        double[] mean = new double[d];
        for (int i = 0; i < b; i++) {
            double s = 0;
            for (int c = 0; c < d; c++) { s += e[i * d + c] * e[i * d + c]; mean[c] += e[i * d + c] / b; }
            norm += Math.sqrt(s) / b;
        }
        double spread = 0;
        for (int i = 0; i < b; i++) for (int c = 0; c < d; c++) spread += Math.pow(e[i * d + c] - mean[c], 2) / b;
        st[TripletStats.MEAN_NORM] = norm;
        st[TripletStats.SPREAD] = Math.sqrt(spread);
        java.util.Arrays.fill(dE, 0);
        if (units == 0) { st[TripletStats.DEGENERATE] = 1; return st; }
        double denom = o.strategy() == Strategy.BATCH_ALL ? active : units;
        st[TripletStats.LOSS] = denom == 0 ? 0 : sum / denom;
        st[TripletStats.UNITS] = units;
        st[TripletStats.SEMIHARD_FOUND] = found;
        st[TripletStats.FALLBACKS] = fallbacks;
        st[TripletStats.ACTIVE] = active;
        st[TripletStats.ACTIVE_FRACTION] = active / units;
        st[TripletStats.MEAN_DAP] = dap / units;
        st[TripletStats.MEAN_DAN] = dan / units;
        if (denom == 0) return st;
        for (int i = 0; i < b; i++)
            for (int j = 0; j < b; j++)
                if (G[i][j] != 0) {
                    addDistGrad(o.distance(), e, d, i, j, D[i][j], G[i][j] / denom, dE);
                    addDistGrad(o.distance(), e, d, j, i, D[i][j], G[i][j] / denom, dE);
                }
        return st;
    }

    static double h(double x, TripletOptions o) {
        return o.softMargin() ? Math.log1p(Math.exp(x)) : Math.max(x + o.margin(), 0);
    }

    static double slope(double x, TripletOptions o) {
        return o.softMargin() ? 1 / (1 + Math.exp(-x)) : (x + o.margin() > 0 ? 1 : 0);
    }

    static double norm(double[] e, int d, int i) {
        double s = 0;
        for (int c = 0; c < d; c++) s += e[i * d + c] * e[i * d + c];
        return Math.sqrt(s);
    }

    static double dist(Distance m, double[] e, int d, int i, int j) {
        if (m == Distance.COSINE) {
            double dot = 0;
            for (int c = 0; c < d; c++) dot += e[i * d + c] * e[j * d + c];
            return 1 - dot / (Math.max(norm(e, d, i), 1e-12) * Math.max(norm(e, d, j), 1e-12));
        }
        double s = 0;
        for (int c = 0; c < d; c++) { double t = e[i * d + c] - e[j * d + c]; s += t * t; }
        return m == Distance.L2 ? Math.sqrt(s) : s;
    }

    /** dE_i += w * d dist(e_i, e_j) / d e_i. */
    static void addDistGrad(Distance m, double[] e, int d, int i, int j, double dij, double w, double[] dE) {
        for (int c = 0; c < d; c++) {
            double v;
            if (m == Distance.SQUARED_L2) v = 2 * (e[i * d + c] - e[j * d + c]);
            else if (m == Distance.L2) v = dij > 0 ? (e[i * d + c] - e[j * d + c]) / dij : 0;
            else {
                double ni = Math.max(norm(e, d, i), 1e-12), nj = Math.max(norm(e, d, j), 1e-12);
                double cos = 1 - dij;
                v = -(e[j * d + c] / (ni * nj) - (norm(e, d, i) > 1e-12 ? cos * e[i * d + c] / (ni * ni) : 0));
            }
            dE[i * d + c] += w * v;
        }
    }

    // ------------------------------------------------------------------ random layouts

    record Layout(String name, int b, int d, int[] labels, int anchorRows, double[] e) {}

    static List<Layout> layouts(long seed) {
        Rng r = new Rng(seed);
        List<Layout> out = new ArrayList<>();
        for (int t = 0; t < 40; t++) {
            int p = 1 + r.nextInt(5), kMax = 1 + r.nextInt(5), extra = r.nextInt(3) == 0 ? 0 : r.nextInt(5);
            int d = 1 + r.nextInt(5);
            List<Integer> lab = new ArrayList<>();
            for (int i = 0; i < p; i++) { int k = 1 + r.nextInt(kMax); for (int j = 0; j < k; j++) lab.add(i); }
            int[] anchorsLab = lab.stream().mapToInt(Integer::intValue).toArray();
            r.shuffle(anchorsLab);
            int A = anchorsLab.length, b = A + extra;
            int[] y = new int[b];
            System.arraycopy(anchorsLab, 0, y, 0, A);
            // extra negatives: new identities, sometimes an anchor identity (then ignored for that anchor)
            for (int i = A; i < b; i++) y[i] = r.nextInt(4) == 0 ? r.nextInt(p) : 100 + r.nextInt(3);
            int mode = t % 4;   // 0 continuous, 1 quantized (ties), 2 duplicate rows, 3 quantized + duplicates
            double[] e = new double[b * d];
            for (int i = 0; i < e.length; i++)
                e[i] = mode % 2 == 1 ? (r.nextInt(5) - 2) * 0.5 : r.nextGaussian();
            if (mode >= 2 && b > 1)
                for (int k = 0; k < 1 + b / 3; k++) {
                    int src = r.nextInt(b), dst = r.nextInt(b);
                    System.arraycopy(e, src * d, e, dst * d, d);
                }
            out.add(new Layout("random#" + t + "(mode " + mode + ")", b, d, y, A, e));
        }
        Rng q = new Rng(seed + 1);
        out.add(new Layout("B=0", 0, 3, new int[0], 0, new double[0]));
        out.add(new Layout("B=1", 1, 3, new int[] {7}, 1, gauss(q, 3)));
        out.add(new Layout("B=2 same", 2, 3, new int[] {7, 7}, 2, gauss(q, 6)));
        out.add(new Layout("B=2 distinct", 2, 3, new int[] {7, 8}, 2, gauss(q, 6)));
        out.add(new Layout("one class", 6, 4, new int[] {1, 1, 1, 1, 1, 1}, 6, gauss(q, 24)));
        out.add(new Layout("all distinct", 6, 4, new int[] {1, 2, 3, 4, 5, 6}, 6, gauss(q, 24)));
        out.add(new Layout("pair + extra negative", 3, 2, new int[] {1, 1, 2}, 2, gauss(q, 6)));
        out.add(new Layout("all identical rows", 6, 3, new int[] {1, 1, 2, 2, 3, 3}, 6, new double[18]));
        out.add(new Layout("extras share anchor label", 4, 2, new int[] {1, 1, 1, 1}, 2, gauss(q, 8)));
        double[] tie = {0, 0, 1, 0, 0, 1, 1, 0, -1, 0, 0, -1};   // every negative at the same distance
        out.add(new Layout("all ties", 6, 2, new int[] {1, 1, 2, 2, 3, 3}, 6, tie));
        return out;
    }

    static double[] gauss(Rng r, int n) {
        double[] v = new double[n];
        for (int i = 0; i < n; i++) v[i] = r.nextGaussian();
        return v;
    }

    static List<TripletOptions> allOptions(int anchorRows) {
        List<TripletOptions> o = new ArrayList<>();
        for (Strategy s : Strategy.values())
            for (Distance dist : Distance.values()) {
                o.add(new TripletOptions(s, dist, 0.2f, false, anchorRows));
                o.add(new TripletOptions(s, dist, 0.5f, true, anchorRows));
                o.add(new TripletOptions(s, dist, 0f, false, anchorRows));
            }
        return o;
    }

    // ------------------------------------------------------------------ tests

    @Test
    void matchesBruteForceOnManyLayouts() {
        int checked = 0, degenerate = 0, fallback = 0, ties = 0;
        for (Layout l : layouts(11)) {
            for (TripletOptions o : allOptions(l.anchorRows())) {
                double[] dE = new double[l.b() * l.d()], st = new double[TripletStats.SIZE];
                ReferenceTriplet.tripletLoss(l.b(), l.d(), l.labels(), o, l.e(), dE, st);
                double[] bdE = new double[l.b() * l.d()];
                double[] bst = bruteForce(l.b(), l.d(), l.labels(), o, l.e(), bdE);
                String where = l.name() + " " + o;
                for (int k = 0; k < TripletStats.SIZE; k++)
                    assertEquals(bst[k], st[k], 1e-12 * (1 + Math.abs(bst[k])), where + " stat " + k);
                for (int i = 0; i < dE.length; i++) {
                    assertTrue(Double.isFinite(dE[i]), where + " dE not finite");
                    assertEquals(bdE[i], dE[i], 1e-12 * (1 + Math.abs(bdE[i])), where + " dE[" + i + "]");
                }
                checked++;
                if (st[TripletStats.DEGENERATE] == 1) degenerate++;
                if (st[TripletStats.FALLBACKS] > 0) fallback++;
                if (l.name().contains("mode 1") || l.name().contains("mode 3") || l.name().equals("all ties")) ties++;
            }
        }
        // the layouts really exercise the interesting cases
        assertTrue(degenerate > 20, "degenerate cases: " + degenerate);
        assertTrue(fallback > 50, "fallback cases: " + fallback);
        assertTrue(ties > 100 && checked > 1000, "checked " + checked);
    }

    @Test
    void degenerateBatchesGiveZeroLossAndGradient() {
        for (Layout l : layouts(3)) {
            if (!(l.name().startsWith("B=") || l.name().equals("one class") || l.name().equals("all distinct"))) continue;
            for (TripletOptions o : allOptions(l.anchorRows())) {
                double[] dE = new double[l.b() * l.d()], st = new double[TripletStats.SIZE];
                java.util.Arrays.fill(dE, 42);   // must be overwritten
                ReferenceTriplet.tripletLoss(l.b(), l.d(), l.labels(), o, l.e(), dE, st);
                assertEquals(1.0, st[TripletStats.DEGENERATE], l.name() + " " + o);
                assertEquals(0.0, st[TripletStats.LOSS]);
                for (double v : dE) assertEquals(0.0, v);
            }
        }
        // one class still counts its positive pairs
        double[] st = new double[TripletStats.SIZE];
        ReferenceTriplet.tripletLoss(3, 1, new int[] {5, 5, 5}, TripletOptions.facenet(3), new double[] {0, 1, 2}, new double[3], st);
        assertEquals(6.0, st[TripletStats.POSITIVE_PAIRS]);
        assertEquals(1.0, st[TripletStats.DEGENERATE]);
    }

    @Test
    void semihardPicksClosestFartherNegativeAndLowestIndexOnTies() {
        // 1-d embeddings: anchor 0 at 0, positive 1 at 1; negatives at 0.5 (row 2), 2 (rows 3 and 4), 3 (row 5)
        double[] e = {0, 1, 0.5, 2, 2, 3};
        int[] y = {0, 0, 1, 1, 2, 3};
        TripletOptions o = new TripletOptions(Strategy.SEMIHARD, Distance.L2, 0.2f, false, 2);
        double[] dE = new double[6], st = new double[TripletStats.SIZE];
        ReferenceTriplet.tripletLoss(6, 1, y, o, e, dE, st);
        // pair (0,1): d_ap = 1, n* = row 3 (d = 2, lowest index of the tie with row 4): h = max(1 - 2 + 0.2, 0) = 0
        // pair (1,0): d_ap = 1, negatives from 1: 0.5, 1, 1, 2 -> strictly greater than 1: row 5 (2): h = 0
        assertEquals(2.0, st[TripletStats.SEMIHARD_FOUND]);
        assertEquals(0.0, st[TripletStats.LOSS], 1e-15);
        // move the positive out to 1.9: pair (0,1) gets n* = row 3 (d 2): h = 1.9 - 2 + 0.2 = 0.1
        e[1] = 1.9;
        ReferenceTriplet.tripletLoss(6, 1, y, o, e, dE, st);
        // pair (1,0): d(1,·): row 2 1.4, rows 3,4 0.1, row 5 1.1; greater than 1.9: none -> fallback farthest = row 2
        assertEquals(1.0, st[TripletStats.FALLBACKS]);
        double m = 0.2f, h1 = 1.9 - 2 + m, h2 = 1.9 - 1.4 + m;   // the margin is a float
        assertEquals((h1 + h2) / 2, st[TripletStats.LOSS], 1e-12);
        assertEquals(0.0, dE[4], "row 4 ties with row 3 and must not receive gradient");
        assertTrue(dE[3] != 0);
    }

    @Test
    void finiteDifferenceGradient() {
        Rng r = new Rng(5);
        int b = 9, d = 3;
        int[] y = {0, 0, 0, 1, 1, 2, 2, 3, 4};
        for (TripletOptions o : allOptions(7)) {
            double[] e = gauss(r, b * d);
            double[] dE = new double[b * d], st = new double[TripletStats.SIZE];
            ReferenceTriplet.tripletLoss(b, d, y, o, e, dE, st);
            double eps = 1e-6;
            for (int i = 0; i < e.length; i++) {
                double[] ep = e.clone(), em = e.clone();
                ep[i] += eps; em[i] -= eps;
                double lp = loss(b, d, y, o, ep), lm = loss(b, d, y, o, em);
                double fd = (lp - lm) / (2 * eps);
                assertEquals(fd, dE[i], 1e-5 * (1 + Math.abs(fd)), o + " element " + i);
            }
        }
    }

    @Test
    void throughTheReferenceBackendBuffers() {
        try (ReferenceBackend be = new ReferenceBackend(1)) {
            int b = 6, d = 2;
            int[] y = {0, 0, 1, 1, 2, 2};
            double[] e = gauss(new Rng(9), b * d);
            Buffer eb = be.allocate(b * d), gb = be.allocate(b * d), sb = be.allocate(TripletStats.SIZE);
            be.uploadDouble(e, eb);
            TripletOptions o = TripletOptions.facenet(b);
            be.tripletLoss(b, d, y, o, eb, gb, sb);
            double[] dE = be.downloadDouble(gb), st = be.downloadDouble(sb);
            double[] bdE = new double[b * d];
            double[] bst = bruteForce(b, d, y, o, e, bdE);
            assertEquals(bst[TripletStats.LOSS], st[TripletStats.LOSS], 1e-12);
            for (int i = 0; i < dE.length; i++) assertEquals(bdE[i], dE[i], 1e-12);
            // finite differences through uploadDouble / downloadDouble
            for (int i = 0; i < e.length; i++) {
                double[] ep = e.clone(), em = e.clone();
                ep[i] += 1e-6; em[i] -= 1e-6;
                be.uploadDouble(ep, eb); be.tripletLoss(b, d, y, o, eb, gb, sb);
                double lp = be.downloadDouble(sb)[TripletStats.LOSS];
                be.uploadDouble(em, eb); be.tripletLoss(b, d, y, o, eb, gb, sb);
                double lm = be.downloadDouble(sb)[TripletStats.LOSS];
                assertEquals((lp - lm) / 2e-6, dE[i], 1e-6);
            }
        }
    }

    @Test
    void zeroDistancesGiveFiniteGradients() {
        // duplicates across classes and within a class, every distance
        double[] e = {1, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0};
        int[] y = {0, 0, 1, 1, 2, 2};
        for (TripletOptions o : allOptions(6)) {
            double[] dE = new double[12], st = new double[TripletStats.SIZE];
            ReferenceTriplet.tripletLoss(6, 2, y, o, e, dE, st);
            assertTrue(Double.isFinite(st[TripletStats.LOSS]), o.toString());
            for (double v : dE) assertTrue(Double.isFinite(v), o.toString());
        }
    }

    @Test
    void largeBatchUsesParallelPathWithSameResult() {
        // B >= 128 runs the per-anchor loops on the fork-join pool; the brute force stays the judge
        Rng r = new Rng(21);
        int b = 160, d = 4;
        int[] y = new int[b];
        for (int i = 0; i < b; i++) y[i] = i / 8;
        double[] e = new double[b * d];
        for (int i = 0; i < e.length; i++) e[i] = (r.nextInt(9) - 4) * 0.25;
        for (TripletOptions o : List.of(TripletOptions.facenet(150),
                new TripletOptions(Strategy.BATCH_ALL, Distance.L2, 0.2f, false, 150),
                new TripletOptions(Strategy.BATCH_HARD, Distance.COSINE, 0.1f, true, 150))) {
            double[] dE = new double[b * d], st = new double[TripletStats.SIZE];
            ReferenceTriplet.tripletLoss(b, d, y, o, e, dE, st);
            double[] bdE = new double[b * d];
            double[] bst = bruteForce(b, d, y, o, e, bdE);
            for (int k = 0; k < TripletStats.SIZE; k++) assertEquals(bst[k], st[k], 1e-11 * (1 + Math.abs(bst[k])), o + " stat " + k);
            for (int i = 0; i < dE.length; i++) assertEquals(bdE[i], dE[i], 1e-12, o + " dE " + i);
        }
    }

    @Test
    void badInputIsAClearError() {
        var ex = assertThrows(IllegalArgumentException.class, () -> ReferenceTriplet.tripletLoss(2, 1, new int[] {1, 2},
                TripletOptions.facenet(3), new double[2], new double[2], new double[TripletStats.SIZE]));
        assertTrue(ex.getMessage().contains("anchorRows"));
        assertThrows(IllegalArgumentException.class, () -> ReferenceTriplet.tripletLoss(3, 1, new int[] {1, 2},
                TripletOptions.facenet(3), new double[3], new double[3], new double[TripletStats.SIZE]));
    }

    @Test
    void explicitTripletsMatchTheirDefinition() {
        Rng r = new Rng(4);
        int t = 5, d = 3;
        double[] e = gauss(r, 3 * t * d);
        for (TripletOptions o : allOptions(0)) {
            if (o.strategy() != Strategy.SEMIHARD) continue;
            double[] dE = new double[e.length], st = new double[TripletStats.SIZE];
            ReferenceTriplet.explicitTriplets(t, d, o, e, dE, st);
            double want = 0;
            for (int i = 0; i < t; i++) want += h(dist(o.distance(), e, d, 3 * i, 3 * i + 1) - dist(o.distance(), e, d, 3 * i, 3 * i + 2), o) / t;
            assertEquals(want, st[TripletStats.LOSS], 1e-12);
            for (int i = 0; i < e.length; i++) {
                double[] ep = e.clone(), em = e.clone();
                ep[i] += 1e-6; em[i] -= 1e-6;
                double[] s1 = new double[TripletStats.SIZE], s2 = new double[TripletStats.SIZE];
                ReferenceTriplet.explicitTriplets(t, d, o, ep, new double[e.length], s1);
                ReferenceTriplet.explicitTriplets(t, d, o, em, new double[e.length], s2);
                assertEquals((s1[0] - s2[0]) / 2e-6, dE[i], 1e-5, o + " " + i);
            }
        }
    }

    static double loss(int b, int d, int[] y, TripletOptions o, double[] e) {
        double[] st = new double[TripletStats.SIZE];
        ReferenceTriplet.tripletLoss(b, d, y, o, e, new double[b * d], st);
        return st[TripletStats.LOSS];
    }
}
