package dev.semihard.engine.mining;

import dev.semihard.engine.Rng;
import dev.semihard.engine.backend.Distance;
import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class OfflineMinerTest {
    static final int IDS = 6, PER = 6, D = 3;

    static int[] labels() {
        int[] y = new int[IDS * PER];
        for (int i = 0; i < y.length; i++) y[i] = i % IDS;
        return y;
    }

    /** A fake model: a fixed random vector per image, shifted a little after every embed call. */
    static final class FakeModel implements OfflineMiner.Embedder {
        final double[][] base = new double[IDS * PER][D];
        int calls;
        int[] lastIdx;
        float[] lastOut;

        FakeModel() {
            Rng r = new Rng(1);
            for (double[] v : base) for (int c = 0; c < D; c++) v[c] = r.nextGaussian();
        }

        @Override
        public float[] embed(int[] idx) {
            calls++;
            float[] out = new float[idx.length * D];
            for (int i = 0; i < idx.length; i++)
                for (int c = 0; c < D; c++) out[i * D + c] = (float) (base[idx[i]][c] + 0.1 * calls * (c == 0 ? 1 : 0) * idx[i] % 3);
            lastIdx = idx;
            lastOut = out;
            return out;
        }

        double dist(int a, int b) {
            int ra = row(a), rb = row(b);
            double s = 0;
            for (int c = 0; c < D; c++) { double t = (double) lastOut[ra * D + c] - lastOut[rb * D + c]; s += t * t; }
            return s;
        }

        int row(int datasetIndex) {
            for (int i = 0; i < lastIdx.length; i++) if (lastIdx[i] == datasetIndex) return i;
            throw new AssertionError("image " + datasetIndex + " not in the pool");
        }
    }

    @Test
    void refreshesEveryNSteps() {
        FakeModel model = new FakeModel();
        OfflineMiner m = new OfflineMiner(labels(), new OfflineMiner.Options(3, 4, 4, 5, OfflineMiner.Choice.SEMIHARD, 0, Distance.SQUARED_L2), model, 9);
        for (int s = 0; s < 10; s++) {
            OfflineMiner.TripletBatch b = m.next();
            assertEquals(s % 3 == 0, b.refreshed(), "step " + s);
            assertEquals(15, b.indices().length);
            for (int t = 0; t < 5; t++) {
                assertEquals(b.labels()[3 * t], b.labels()[3 * t + 1], "anchor and positive share a label");
                assertNotEquals(b.labels()[3 * t], b.labels()[3 * t + 2], "negative has another label");
                assertNotEquals(b.indices()[3 * t], b.indices()[3 * t + 1], "two different images");
            }
        }
        assertEquals(4, m.refreshes());   // steps 0, 3, 6, 9
        assertEquals(4, model.calls);
        assertEquals(D, m.dimension());
    }

    @Test
    void semihardNegativesAreSemihardWithRespectToThePool() {
        FakeModel model = new FakeModel();
        OfflineMiner m = new OfflineMiner(labels(), new OfflineMiner.Options(100, 4, 4, 8, OfflineMiner.Choice.SEMIHARD, 0, Distance.SQUARED_L2), model, 5);
        m.next();
        List<OfflineMiner.Triplet> ts = m.currentTriplets();
        assertEquals(4 * 4 * 3, ts.size(), "every ordered anchor-positive pair of the pool");
        int[] y = labels();
        int found = 0;
        for (OfflineMiner.Triplet t : ts) {
            assertFalse(t.random());
            assertEquals(model.dist(t.anchor(), t.positive()), t.dAp(), 1e-9);
            assertEquals(model.dist(t.anchor(), t.negative()), t.dAn(), 1e-9);
            double best = Double.POSITIVE_INFINITY, far = -1;
            for (int n : model.lastIdx) {
                if (y[n] == y[t.anchor()]) continue;
                double dn = model.dist(t.anchor(), n);
                if (dn > t.dAp()) best = Math.min(best, dn);
                far = Math.max(far, dn);
            }
            if (best < Double.POSITIVE_INFINITY) { assertEquals(best, t.dAn(), 1e-12); assertTrue(t.dAn() > t.dAp()); found++; }
            else assertEquals(far, t.dAn(), 1e-12);
        }
        assertTrue(found > 0);
    }

    @Test
    void hardestAndRandomShare() {
        FakeModel model = new FakeModel();
        OfflineMiner hard = new OfflineMiner(labels(), new OfflineMiner.Options(10, 5, 5, 4, OfflineMiner.Choice.HARDEST, 0, Distance.L2), model, 2);
        hard.next();
        int[] y = labels();
        for (OfflineMiner.Triplet t : hard.currentTriplets()) {
            double best = Double.POSITIVE_INFINITY;
            for (int n : model.lastIdx) if (y[n] != y[t.anchor()]) best = Math.min(best, Math.sqrt(model.dist(t.anchor(), n)));
            assertEquals(best, t.dAn(), 1e-6);
        }
        OfflineMiner half = new OfflineMiner(labels(), new OfflineMiner.Options(10, 6, 6, 4, OfflineMiner.Choice.HARDEST, 0.5, Distance.L2), model, 3);
        half.next();
        long random = half.currentTriplets().stream().filter(OfflineMiner.Triplet::random).count();
        int n = half.currentTriplets().size();   // 6 * 6 * 5 = 180
        assertTrue(random > 0.35 * n && random < 0.65 * n, random + " of " + n);
        Map<Integer, Integer> seen = new HashMap<>();
        for (OfflineMiner.Triplet t : half.currentTriplets()) seen.merge(t.negative(), 1, Integer::sum);
        assertTrue(seen.size() > 10, "random negatives spread over the pool");
    }

    @Test
    void restoredSnapshotServesExactlyWhatTheUninterruptedMinerServes() {
        // 3 x 3 pool: 18 triplets, 4 per step: the round wraps (reshuffles) within the 7 steps between re-mines
        OfflineMiner.Options opt = new OfflineMiner.Options(7, 3, 3, 4, OfflineMiner.Choice.SEMIHARD, 0.3, Distance.SQUARED_L2);
        FakeModel ma = new FakeModel(), mb = new FakeModel();
        OfflineMiner a = new OfflineMiner(labels(), opt, ma, 8);
        OfflineMiner.State saved = null;
        List<String> expected = new java.util.ArrayList<>();
        for (int s = 0; s < 16; s++) {
            OfflineMiner.TripletBatch t = a.next();
            if (s == 2) saved = a.snapshot();       // mid-round, before the wrap at step 4
            if (s > 2) expected.add(java.util.Arrays.toString(t.indices()) + t.refreshed());
            assertEquals(s % 7 == 0, t.refreshed(), "step " + s);
        }
        // the snapshot is not changed by what the miner served after it
        assertEquals(3, saved.step());
        assertFalse(saved.stale());
        assertEquals(12, saved.cursor());

        mb.calls = 1;                                // the restored model has been called as often as a's by then
        OfflineMiner b = new OfflineMiner(labels(), opt, mb, 123);
        b.restore(saved);
        assertEquals(3, b.steps());
        assertFalse(b.refreshesNext(), "a restored miner continues the round; it re-mines on the schedule");
        List<String> got = new java.util.ArrayList<>();
        for (int s = 3; s < 16; s++) {
            OfflineMiner.TripletBatch t = b.next();
            got.add(java.util.Arrays.toString(t.indices()) + t.refreshed());
        }
        assertEquals(expected, got);
        assertEquals(a.snapshot(), b.snapshot());
        assertTrue(b.refreshesNext() == a.refreshesNext());

        OfflineMiner small = new OfflineMiner(new int[] {0, 0, 1, 1, 2, 2}, opt, ma, 1);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> small.restore(a.snapshot()));
        assertTrue(e.getMessage().contains("training set has 6 images"), e.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> new OfflineMiner.State(0, 0, 1, 1, 3, false, a.currentTriplets(), a.currentTriplets().size() + 1));
    }

    @Test
    void badOptions() {
        assertThrows(IllegalArgumentException.class, () -> new OfflineMiner.Options(0, 2, 2, 1, OfflineMiner.Choice.HARDEST, 0, Distance.L2));
        assertThrows(IllegalArgumentException.class, () -> new OfflineMiner.Options(1, 2, 2, 1, OfflineMiner.Choice.HARDEST, 1.5, Distance.L2));
        assertThrows(IllegalArgumentException.class, () -> OfflineMiner.Choice.parse("medium"));
        assertThrows(IllegalArgumentException.class,
                () -> new OfflineMiner(labels(), new OfflineMiner.Options(1, 7, 2, 1, OfflineMiner.Choice.HARDEST, 0, Distance.L2), idx -> new float[0], 0));
        OfflineMiner broken = new OfflineMiner(labels(), new OfflineMiner.Options(1, 2, 2, 1, OfflineMiner.Choice.HARDEST, 0, Distance.L2), idx -> new float[5], 0);
        assertThrows(IllegalStateException.class, broken::next);
    }
}
