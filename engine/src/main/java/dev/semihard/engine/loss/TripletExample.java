package dev.semihard.engine.loss;

import dev.semihard.engine.Arena;
import dev.semihard.engine.Tensor;
import dev.semihard.engine.backend.Distance;
import dev.semihard.engine.backend.Strategy;
import dev.semihard.engine.backend.TripletOptions;
import dev.semihard.engine.backend.TripletStats;
import dev.semihard.engine.reference.ReferenceBackend;
import dev.semihard.engine.reference.ReferenceTriplet;

import java.util.Locale;

/**
 * The worked example of docs/online-triplet-mining.md: a batch of 7 two-dimensional unit embeddings
 * (3 identities x 2 images + 1 extra negative), its distance matrix, and for each strategy which
 * triplets are mined, their hinge terms, the loss, the statistics and dLoss/dE.
 *
 * <p>The mining decisions are printed by small literal loops written here for reading; the loss,
 * statistics and gradient come from {@link TripletLoss#compute} (the backend's fused kernel), and the
 * program checks that both agree.
 *
 * <pre>  java -cp engine/target/classes dev.semihard.engine.loss.TripletExample</pre>
 */
public final class TripletExample {
    private TripletExample() {}

    static final String[] NAMES = {"A1", "A2", "B1", "B2", "C1", "C2", "X"};
    static final int[] LABELS = {0, 0, 1, 1, 2, 2, 3};
    static final double[] ANGLES = {0, 40, 25, 205, 180, 150, 60};   // degrees on the unit circle
    static final int B = 7, D = 2, ANCHOR_ROWS = 6;                   // row 6 (X) is an extra negative
    static final float MARGIN = 0.2f;

    public static void main(String[] args) {
        float[] e = new float[B * D];
        for (int i = 0; i < B; i++) {
            e[2 * i] = (float) Math.cos(Math.toRadians(ANGLES[i]));
            e[2 * i + 1] = (float) Math.sin(Math.toRadians(ANGLES[i]));
        }
        double[] ed = new double[e.length];
        for (int i = 0; i < e.length; i++) ed[i] = e[i];
        double[] dist = ReferenceTriplet.distances(B, D, Distance.SQUARED_L2, ed);

        System.out.println("Batch: 3 identities x 2 images (rows 0-5, anchors) + 1 extra negative (row 6)");
        for (int i = 0; i < B; i++)
            System.out.printf(Locale.ROOT, "  row %d %-2s label %d  angle %5.0f deg  e = (%7.4f, %7.4f)%s%n", i, NAMES[i], LABELS[i],
                    ANGLES[i], e[2 * i], e[2 * i + 1], i >= ANCHOR_ROWS ? "  [negative only]" : "");
        System.out.println();
        System.out.println("Squared L2 distances d(i, j):");
        System.out.print("       ");
        for (int j = 0; j < B; j++) System.out.printf(Locale.ROOT, "%7s", NAMES[j]);
        System.out.println();
        for (int i = 0; i < B; i++) {
            System.out.printf(Locale.ROOT, "  %-4s ", NAMES[i]);
            for (int j = 0; j < B; j++) System.out.printf(Locale.ROOT, "%7.3f", dist[i * B + j]);
            System.out.println();
        }

        try (ReferenceBackend be = new ReferenceBackend(1)) {
            for (Strategy s : Strategy.values()) {
                System.out.println();
                System.out.println("== " + s.cliName + ", squared-l2, margin " + MARGIN + " ==");
                double sum = 0;
                int units = 0, active = 0;
                for (int a = 0; a < ANCHOR_ROWS; a++) {
                    if (s == Strategy.BATCH_HARD) {
                        int p = -1, n = -1;
                        for (int j = 0; j < ANCHOR_ROWS; j++) if (j != a && LABELS[j] == LABELS[a] && (p < 0 || dist[a * B + j] > dist[a * B + p])) p = j;
                        for (int j = 0; j < B; j++) if (LABELS[j] != LABELS[a] && (n < 0 || dist[a * B + j] < dist[a * B + n])) n = j;
                        double h = hinge(dist, a, p, n);
                        sum += h; units++; if (h > 0) active++;
                        line(a, p, n, dist, h, "hardest positive, hardest negative");
                        continue;
                    }
                    for (int p = 0; p < ANCHOR_ROWS; p++) {
                        if (p == a || LABELS[p] != LABELS[a]) continue;
                        double dap = dist[a * B + p];
                        if (s == Strategy.SEMIHARD) {
                            int semi = -1, far = -1;
                            for (int n = 0; n < B; n++) {
                                if (LABELS[n] == LABELS[a]) continue;
                                if (dist[a * B + n] > dap && (semi < 0 || dist[a * B + n] < dist[a * B + semi])) semi = n;
                                if (far < 0 || dist[a * B + n] > dist[a * B + far]) far = n;
                            }
                            int n = semi >= 0 ? semi : far;
                            double h = hinge(dist, a, p, n);
                            sum += h; units++; if (h > 0) active++;
                            line(a, p, n, dist, h, semi >= 0 ? "closest negative farther than the positive" : "none farther: fallback to the farthest");
                        } else {
                            for (int n = 0; n < B; n++) {
                                if (LABELS[n] == LABELS[a]) continue;
                                double h = hinge(dist, a, p, n);
                                sum += h; units++; if (h > 0) active++;
                                if (h > 0) line(a, p, n, dist, h, "");
                            }
                        }
                    }
                }
                double loss = s == Strategy.BATCH_ALL ? (active > 0 ? sum / active : 0) : sum / units;
                if (s == Strategy.BATCH_ALL)
                    System.out.printf(Locale.ROOT, "  (the other %d of %d valid triplets have h = 0)%n", units - active, units);
                System.out.printf(Locale.ROOT, "  loss by hand = %.6f / %d = %.6f%n", sum, s == Strategy.BATCH_ALL ? active : units, loss);

                TripletOptions o = new TripletOptions(s, Distance.SQUARED_L2, MARGIN, false, ANCHOR_ROWS);
                try (Arena step = Arena.open()) {
                    Tensor emb = Tensor.of(be, e, B, D).requiresGrad(true);
                    TripletLoss.Result r = TripletLoss.compute(emb, LABELS, o);
                    r.loss().backward();
                    TripletStats st = r.stats();
                    System.out.printf(Locale.ROOT, "  fused kernel: loss %.6f (%s)%n", r.loss().item(),
                            Math.abs(r.loss().item() - loss) < 1e-6 ? "matches" : "DIFFERS");
                    System.out.printf(Locale.ROOT, "  stats: units %.0f, positive pairs %.0f, semi-hard found %.0f, fallbacks %.0f, active %.0f (%.0f%%),%n"
                                    + "         mean d(a,p) %.3f, mean d(a,n) %.3f, mean norm %.3f, spread %.3f, degenerate %s%n",
                            st.units(), st.positivePairs(), st.semihardFound(), st.fallbacks(), st.active(), 100 * st.activeFraction(),
                            st.meanDap(), st.meanDan(), st.meanNorm(), st.spread(), st.degenerate());
                    float[] g = emb.grad().toArray();
                    System.out.print("  dLoss/dE:");
                    for (int i = 0; i < B; i++) System.out.printf(Locale.ROOT, " %s(%.3f, %.3f)", NAMES[i], g[2 * i], g[2 * i + 1]);
                    System.out.println();
                }
            }
        }
    }

    static double hinge(double[] dist, int a, int p, int n) {
        return Math.max(dist[a * B + p] - dist[a * B + n] + MARGIN, 0);
    }

    static void line(int a, int p, int n, double[] dist, double h, String why) {
        System.out.printf(Locale.ROOT, "  a=%-2s p=%-2s n=%-2s  d(a,p)=%.3f d(a,n)=%.3f  h=%.3f  %s%n", NAMES[a], NAMES[p], NAMES[n],
                dist[a * B + p], dist[a * B + n], h, why);
    }
}
