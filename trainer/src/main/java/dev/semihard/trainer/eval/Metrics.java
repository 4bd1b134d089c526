package dev.semihard.trainer.eval;

import dev.semihard.engine.backend.Distance;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;

/**
 * Retrieval and verification metrics on embeddings, computed on the host in double precision.
 *
 * <ul>
 *   <li><b>Recall@K</b>: share of queries whose K nearest neighbours (itself excluded) contain an
 *       image of the same identity. Queries whose identity has no other image are left out.</li>
 *   <li><b>MAP@R</b> (Musgrave et al. 2020): with R = the number of other images of the query's
 *       identity, the mean over queries of (1/R) * sum over the R nearest of precision@i at each
 *       relevant position i.</li>
 *   <li><b>Verification accuracy</b>: for each of the folds, the threshold that maximizes accuracy
 *       on the other folds, chosen among the sorted distances (midpoints between consecutive
 *       distinct values), is applied to the held-out fold; mean and standard deviation.</li>
 *   <li><b>VAL@FAR</b>: share of same pairs accepted at the largest threshold that accepts at most
 *       FAR x (different pairs) different pairs (FaceNet).</li>
 *   <li><b>ROC AUC</b>: probability that a random same pair is closer than a random different pair
 *       (ties count 1/2). <b>EER</b>: the rate where false accepts equal false rejects, interpolated.</li>
 * </ul>
 * A pair is accepted as "same" when its distance is {@code <=} the threshold.
 */
public final class Metrics {
    private Metrics() {}

    /** Distance between rows i and j of e ([n, d] row-major). */
    public static double distance(float[] e, int d, int i, int j, Distance metric) {
        int a = i * d, b = j * d;
        switch (metric) {
            case SQUARED_L2, L2 -> {
                double s = 0;
                for (int k = 0; k < d; k++) { double t = (double) e[a + k] - e[b + k]; s += t * t; }
                return metric == Distance.L2 ? Math.sqrt(s) : s;
            }
            default -> {
                double dot = 0, na = 0, nb = 0;
                for (int k = 0; k < d; k++) { dot += (double) e[a + k] * e[b + k]; na += (double) e[a + k] * e[a + k]; nb += (double) e[b + k] * e[b + k]; }
                double den = Math.sqrt(na) * Math.sqrt(nb);
                return den == 0 ? 1.0 : 1.0 - dot / den;
            }
        }
    }

    /** Retrieval results. */
    public record Retrieval(int[] ks, double[] recall, double mapAtR, int queries) {
        public double recallAt(int k) {
            for (int i = 0; i < ks.length; i++) if (ks[i] == k) return recall[i];
            throw new IllegalArgumentException("Recall@" + k + " was not computed");
        }
    }

    /**
     * Recall@K for each K in {@code ks} and MAP@R over all n rows of {@code e} ([n, d]); each row is a
     * query against all the others. Ties in distance are broken by index.
     */
    public static Retrieval retrieval(float[] e, int n, int d, int[] labels, int[] ks, Distance metric) {
        int maxLabel = 0;
        for (int l : labels) maxLabel = Math.max(maxLabel, l);
        int[] count = new int[maxLabel + 1];
        for (int l : labels) count[l]++;
        int kmax = 0;
        for (int k : ks) kmax = Math.max(kmax, k);
        final int kMax = kmax;
        double[][] perQuery = new double[n][];
        IntStream.range(0, n).parallel().forEach(q -> {
            int r = count[labels[q]] - 1;
            if (r <= 0) return;
            int want = Math.min(n - 1, Math.max(kMax, r));
            double[] dist = new double[n];
            for (int j = 0; j < n; j++) dist[j] = j == q ? Double.POSITIVE_INFINITY : distance(e, d, q, j, metric);
            Integer[] order = nearest(dist, want, q);
            double[] res = new double[ks.length + 1];
            for (int t = 0; t < ks.length; t++) {
                int kk = Math.min(ks[t], order.length);
                for (int i = 0; i < kk; i++) if (labels[order[i]] == labels[q]) { res[t] = 1; break; }
            }
            double ap = 0;
            int hits = 0;
            for (int i = 0; i < Math.min(r, order.length); i++) {
                if (labels[order[i]] == labels[q]) { hits++; ap += (double) hits / (i + 1); }
            }
            res[ks.length] = ap / r;
            perQuery[q] = res;
        });
        double[] recall = new double[ks.length];
        double map = 0;
        int queries = 0;
        for (double[] res : perQuery) {
            if (res == null) continue;
            queries++;
            for (int t = 0; t < ks.length; t++) recall[t] += res[t];
            map += res[ks.length];
        }
        if (queries > 0) {
            for (int t = 0; t < ks.length; t++) recall[t] /= queries;
            map /= queries;
        }
        return new Retrieval(ks.clone(), recall, map, queries);
    }

    /** Indices of the {@code want} smallest entries of dist (excluding {@code self}), nearest first, ties by index. */
    private static Integer[] nearest(double[] dist, int want, int self) {
        int n = dist.length;
        // select with a bounded max-heap on (dist, index), then sort
        java.util.PriorityQueue<Integer> heap = new java.util.PriorityQueue<>(want + 1, (x, y) -> {
            int c = Double.compare(dist[y], dist[x]);
            return c != 0 ? c : Integer.compare(y, x);
        });
        for (int j = 0; j < n; j++) {
            if (j == self) continue;
            if (heap.size() < want) heap.add(j);
            else {
                int top = heap.peek();
                if (dist[j] < dist[top] || (dist[j] == dist[top] && j < top)) { heap.poll(); heap.add(j); }
            }
        }
        Integer[] out = heap.toArray(new Integer[0]);
        Arrays.sort(out, (x, y) -> {
            int c = Double.compare(dist[x], dist[y]);
            return c != 0 ? c : Integer.compare(x, y);
        });
        return out;
    }

    // ------------------------------------------------------------------ verification

    /** Verification results on pairs. */
    public record Verification(double accuracy, double accuracyStd, double[] foldAccuracy, double[] foldThreshold,
                               double valAt1e3, double valAt1e2, double auc, double eer, int same, int diff) {}

    /**
     * All pair metrics: {@code dist[i]} is pair i's distance, {@code same[i]} whether it is a
     * same-identity pair, {@code fold[i]} its fold in [0, folds).
     */
    public static Verification verification(double[] dist, boolean[] same, int[] fold, int folds) {
        int n = dist.length;
        double[] acc = new double[folds], thr = new double[folds];
        for (int f = 0; f < folds; f++) {
            List<Integer> tr = new ArrayList<>(), te = new ArrayList<>();
            for (int i = 0; i < n; i++) (fold[i] == f ? te : tr).add(i);
            double t = bestThreshold(select(dist, tr), selectB(same, tr));
            thr[f] = t;
            int ok = 0;
            for (int i : te) if ((dist[i] <= t) == same[i]) ok++;
            acc[f] = te.isEmpty() ? Double.NaN : (double) ok / te.size();
        }
        double mean = 0;
        int m = 0;
        for (double a : acc) if (!Double.isNaN(a)) { mean += a; m++; }
        mean = m == 0 ? Double.NaN : mean / m;
        double var = 0;
        for (double a : acc) if (!Double.isNaN(a)) var += (a - mean) * (a - mean);
        double std = m == 0 ? Double.NaN : Math.sqrt(var / m);
        int ns = 0;
        for (boolean s : same) if (s) ns++;
        return new Verification(mean, std, acc, thr, valAtFar(dist, same, 1e-3), valAtFar(dist, same, 1e-2),
                auc(dist, same), eer(dist, same), ns, n - ns);
    }

    private static double[] select(double[] a, List<Integer> idx) {
        double[] o = new double[idx.size()];
        for (int i = 0; i < o.length; i++) o[i] = a[idx.get(i)];
        return o;
    }

    private static boolean[] selectB(boolean[] a, List<Integer> idx) {
        boolean[] o = new boolean[idx.size()];
        for (int i = 0; i < o.length; i++) o[i] = a[idx.get(i)];
        return o;
    }

    /**
     * The threshold with the highest accuracy on (dist, same), searched over the sorted distances:
     * accepting nothing, or everything up to and including each distinct distance. The returned value
     * is the midpoint between that distance and the next distinct one (or the distance itself for
     * the largest), so it generalizes to unseen pairs; below the smallest distance when accepting
     * nothing is best. Ties in accuracy keep the smallest threshold.
     */
    public static double bestThreshold(double[] dist, boolean[] same) {
        int n = dist.length;
        if (n == 0) return 0;
        Integer[] ord = order(dist);
        int nDiff = 0;
        for (boolean s : same) if (!s) nDiff++;
        // accept nothing: correct = every different pair
        int best = nDiff, bestEnd = -1, correct = nDiff;
        int i = 0;
        while (i < n) {
            int j = i;
            while (j < n && dist[ord[j]] == dist[ord[i]]) {
                correct += same[ord[j]] ? 1 : -1;
                j++;
            }
            if (correct > best) { best = correct; bestEnd = j - 1; }
            i = j;
        }
        if (bestEnd < 0) return dist[ord[0]] - 1e-6 * Math.max(1, Math.abs(dist[ord[0]]));
        double lo = dist[ord[bestEnd]];
        return bestEnd + 1 < n ? 0.5 * (lo + dist[ord[bestEnd + 1]]) : lo;
    }

    /**
     * VAL at the given FAR: with the different-pair distances sorted ascending (D), k = floor(far * |D|)
     * false accepts are allowed, so the largest admissible threshold accepts exactly the pairs with
     * distance strictly below D[k]; VAL is the share of same pairs below it (1 when k >= |D|).
     */
    public static double valAtFar(double[] dist, boolean[] same, double far) {
        List<Double> diff = new ArrayList<>();
        List<Double> sm = new ArrayList<>();
        for (int i = 0; i < dist.length; i++) (same[i] ? sm : diff).add(dist[i]);
        if (sm.isEmpty()) return Double.NaN;
        if (diff.isEmpty()) return 1.0;
        double[] d = diff.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        int k = (int) Math.floor(far * d.length + 1e-9);
        if (k >= d.length) return 1.0;
        double limit = d[k];
        int acc = 0;
        for (double s : sm) if (s < limit) acc++;
        return (double) acc / sm.size();
    }

    /** ROC area: P(d_same < d_diff) + 0.5 P(d_same == d_diff), from ranks (Mann-Whitney U). */
    public static double auc(double[] dist, boolean[] same) {
        int n = dist.length;
        Integer[] ord = order(dist);
        double rankSumSame = 0;
        long ns = 0;
        int i = 0;
        while (i < n) {
            int j = i;
            while (j < n && dist[ord[j]] == dist[ord[i]]) j++;
            double avgRank = (i + 1 + j) / 2.0; // ranks i+1 .. j
            for (int k = i; k < j; k++) if (same[ord[k]]) { rankSumSame += avgRank; ns++; }
            i = j;
        }
        long nd = n - ns;
        if (ns == 0 || nd == 0) return Double.NaN;
        // U counts pairs (same, diff) with d_same > d_diff; we want the opposite (same closer)
        double uSameGreater = rankSumSame - ns * (ns + 1) / 2.0;
        return 1.0 - uSameGreater / ((double) ns * nd);
    }

    /** ROC points (FAR, TAR) for thresholds at every distinct distance, from (0,0) to (1,1). */
    public static double[][] roc(double[] dist, boolean[] same) {
        int n = dist.length;
        Integer[] ord = order(dist);
        int ns = 0;
        for (boolean s : same) if (s) ns++;
        int nd = n - ns;
        List<double[]> pts = new ArrayList<>();
        pts.add(new double[] {0, 0});
        int tp = 0, fp = 0, i = 0;
        while (i < n) {
            int j = i;
            while (j < n && dist[ord[j]] == dist[ord[i]]) { if (same[ord[j]]) tp++; else fp++; j++; }
            pts.add(new double[] {nd == 0 ? 0 : (double) fp / nd, ns == 0 ? 0 : (double) tp / ns});
            i = j;
        }
        double[][] out = new double[2][pts.size()];
        for (int k = 0; k < pts.size(); k++) { out[0][k] = pts.get(k)[0]; out[1][k] = pts.get(k)[1]; }
        return out;
    }

    /**
     * Equal error rate: walking the ROC points, the first segment where FAR (false accepts) rises to
     * or above FRR = 1 - TAR; EER is where the two lines cross, linearly interpolated.
     */
    public static double eer(double[] dist, boolean[] same) {
        double[][] r = roc(dist, same);
        double[] far = r[0], tar = r[1];
        double prevF = far[0], prevR = 1 - tar[0];
        for (int k = 1; k < far.length; k++) {
            double f = far[k], fr = 1 - tar[k];
            if (f >= fr) {
                // g(t) = far - frr goes from (prevF - prevR) < 0 to (f - fr) >= 0
                double g0 = prevF - prevR, g1 = f - fr;
                double t = g1 == g0 ? 0 : -g0 / (g1 - g0);
                return prevF + t * (f - prevF);
            }
            prevF = f;
            prevR = fr;
        }
        return 0.5;
    }

    private static Integer[] order(double[] dist) {
        Integer[] ord = new Integer[dist.length];
        for (int i = 0; i < ord.length; i++) ord[i] = i;
        Arrays.sort(ord, (x, y) -> Double.compare(dist[x], dist[y]));
        return ord;
    }
}
