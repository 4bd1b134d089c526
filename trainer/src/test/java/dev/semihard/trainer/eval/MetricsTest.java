package dev.semihard.trainer.eval;

import dev.semihard.engine.backend.Distance;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** Each metric on tiny hand-computed cases. */
class MetricsTest {
    private static final double EPS = 1e-12;

    @Test
    void recallAndMapPerfect() {
        float[] e = {0f, 0.1f, 1f, 1.1f};
        Metrics.Retrieval r = Metrics.retrieval(e, 4, 1, new int[] {0, 0, 1, 1}, new int[] {1, 2}, Distance.SQUARED_L2);
        assertEquals(1.0, r.recallAt(1), EPS);
        assertEquals(1.0, r.mapAtR(), EPS);
        assertEquals(4, r.queries());
    }

    @Test
    void recallAndMapHandComputed() {
        // 1-D points; labels 0,0,0,1,1. Worked out by hand (squared L2):
        // q0 (0):   nearest 3(.04,L1) 1(.25,L0) 2(9,L0)   R=2 -> AP = (1/2)(1/2) = .25, R@1 miss, R@2 hit
        // q1 (.5):  nearest 3(.09) 0(.25) ...            R=2 -> .25, miss, hit
        // q2 (3):   nearest 4(4,L1) 1(6.25,L0)            R=2 -> .25, miss, hit
        // q3 (.2):  nearest 0(.04,L0) 1(.09,L0)           R=1 -> 0, miss, miss
        // q4 (5):   nearest 2(4,L0) 1(20.25,L0)           R=1 -> 0, miss, miss
        float[] e = {0f, 0.5f, 3f, 0.2f, 5f};
        Metrics.Retrieval r = Metrics.retrieval(e, 5, 1, new int[] {0, 0, 0, 1, 1}, new int[] {1, 2}, Distance.SQUARED_L2);
        assertEquals(0.0, r.recallAt(1), EPS);
        assertEquals(0.6, r.recallAt(2), EPS);
        assertEquals(0.15, r.mapAtR(), 1e-9);
    }

    @Test
    void queriesWithoutAnotherImageOfTheirIdentityAreLeftOut() {
        float[] e = {0f, 0.1f, 5f};
        Metrics.Retrieval r = Metrics.retrieval(e, 3, 1, new int[] {0, 0, 1}, new int[] {1}, Distance.L2);
        assertEquals(2, r.queries());
        assertEquals(1.0, r.recallAt(1), EPS);
    }

    @Test
    void cosineDistance() {
        float[] e = {1, 0, 0, 2, 1, 1};
        assertEquals(1.0, Metrics.distance(e, 2, 0, 1, Distance.COSINE), 1e-12);
        assertEquals(1 - 1 / Math.sqrt(2), Metrics.distance(e, 2, 0, 2, Distance.COSINE), 1e-12);
        assertEquals(5.0, Metrics.distance(e, 2, 0, 1, Distance.SQUARED_L2), 1e-12);
        assertEquals(Math.sqrt(5), Metrics.distance(e, 2, 0, 1, Distance.L2), 1e-12);
    }

    @Test
    void bestThresholdIsAMidpointOfSortedDistances() {
        assertEquals(0.25, Metrics.bestThreshold(new double[] {0.4, 0.1, 0.3, 0.2}, new boolean[] {false, true, false, true}), EPS);
        // irregular values: the threshold lies between two observed distances, not on a grid
        assertEquals((0.137 + 0.52) / 2, Metrics.bestThreshold(new double[] {0.01, 0.137, 0.52, 0.9}, new boolean[] {true, true, false, false}), EPS);
        // everything different: accept nothing (threshold below the smallest distance)
        assertTrue(Metrics.bestThreshold(new double[] {0.3, 0.5}, new boolean[] {false, false}) < 0.3);
        // everything same: accept everything
        assertTrue(Metrics.bestThreshold(new double[] {0.3, 0.5}, new boolean[] {true, true}) >= 0.5);
    }

    @Test
    void tenFoldVerification() {
        int n = 40;
        double[] d = new double[n];
        boolean[] s = new boolean[n];
        int[] f = new int[n];
        for (int i = 0; i < n; i++) {
            f[i] = i / 4;
            s[i] = i % 4 < 2;
            d[i] = s[i] ? 0.1 + 0.1 * (i % 2) : 0.8 + 0.1 * (i % 2);
        }
        // fold 3: one different pair closer than every threshold a same pair needs -> 3 of 4 right in that fold
        d[14] = 0.05;
        Metrics.Verification v = Metrics.verification(d, s, f, 10);
        assertEquals(0.75, v.foldAccuracy()[3], EPS);
        for (int k = 0; k < 10; k++) if (k != 3) assertEquals(1.0, v.foldAccuracy()[k], EPS, "fold " + k);
        assertEquals(0.975, v.accuracy(), EPS);
        assertEquals(0.5, v.foldThreshold()[0], EPS); // midpoint of 0.2 and 0.8
        assertEquals(20, v.same());
        assertEquals(20, v.diff());
    }

    @Test
    void valAtFar() {
        double[] d = {0.1, 0.2, 0.3, 0.4};
        boolean[] s = {true, false, true, false};
        assertEquals(1.0, Metrics.valAtFar(d, s, 0.5), EPS);   // 1 false accept allowed: accept d < 0.4
        assertEquals(0.5, Metrics.valAtFar(d, s, 0.1), EPS);   // none allowed: accept d < 0.2
        // 1000 different pairs, FAR 1e-3: one false accept allowed -> accept below the 2nd smallest different distance
        double[] d2 = new double[1002];
        boolean[] s2 = new boolean[1002];
        for (int i = 0; i < 1000; i++) d2[i] = 1 + i;
        d2[1000] = 1.5; s2[1000] = true;   // between the 1st and 2nd different pair: accepted
        d2[1001] = 2.5; s2[1001] = true;   // above the 2nd: rejected
        assertEquals(0.5, Metrics.valAtFar(d2, s2, 1e-3), EPS);
    }

    @Test
    void aucAndEer() {
        assertEquals(1.0, Metrics.auc(new double[] {0.1, 0.2, 0.8, 0.9}, new boolean[] {true, true, false, false}), EPS);
        assertEquals(0.75, Metrics.auc(new double[] {0.1, 0.2, 0.3, 0.4}, new boolean[] {true, false, true, false}), EPS);
        assertEquals(0.5, Metrics.auc(new double[] {0.5, 0.5}, new boolean[] {true, false}), EPS);
        assertEquals(0.0, Metrics.auc(new double[] {0.9, 0.1}, new boolean[] {true, false}), EPS);
        assertEquals(0.0, Metrics.eer(new double[] {0.1, 0.2, 0.8, 0.9}, new boolean[] {true, true, false, false}), EPS);
        assertEquals(0.5, Metrics.eer(new double[] {0.1, 0.2, 0.3, 0.4}, new boolean[] {true, false, true, false}), EPS);
        double[][] roc = Metrics.roc(new double[] {0.1, 0.2, 0.3, 0.4}, new boolean[] {true, false, true, false});
        assertArrayEquals(new double[] {0, 0, 0.5, 0.5, 1}, roc[0], EPS);
        assertArrayEquals(new double[] {0, 0.5, 0.5, 1, 1}, roc[1], EPS);
    }
}
