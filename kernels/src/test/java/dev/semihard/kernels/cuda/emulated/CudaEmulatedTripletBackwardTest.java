package dev.semihard.kernels.cuda.emulated;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.Distance;
import dev.semihard.engine.backend.Strategy;
import dev.semihard.engine.backend.TripletOptions;
import dev.semihard.engine.backend.TripletStats;
import dev.semihard.engine.conformance.Check;
import dev.semihard.engine.conformance.CheckResult;
import dev.semihard.engine.conformance.Conformance;
import dev.semihard.engine.reference.ReferenceBackend;
import dev.semihard.kernels.FullSuite;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Each of the CUDA backend's three triplet backward versions (-Dsemihard.cuda.tripletBackward =
 * sym, split, dense; see CudaBackend.TripletBackward) on the emulator: every fused triplet-loss
 * check of the conformance suite, and rows wider than tripletSymGather's 256-column register chunk.
 *
 * <p>The quick test tier runs the small cases (every backward version on rows wider than one register
 * chunk, the kept scratch); the full tier ({@link FullSuite}, {@code -Dsemihard.fullSuite=true}) adds
 * every conformance triplet check under each version and the large batches. The default version's
 * triplet checks also run in the quick tier, in {@code CudaEmulatedConformanceTest}.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class CudaEmulatedTripletBackwardTest {
    private static final String PROPERTY = "semihard.cuda.tripletBackward";
    private Backend cuda, reference;

    @BeforeAll
    void open() {
        cuda = Shemu.openOrSkip();
        reference = new ReferenceBackend(2);
    }

    @AfterAll
    void close() {
        System.clearProperty(PROPERTY);
        if (cuda != null) cuda.close();
        if (reference != null) reference.close();
    }

    @FullSuite
    @ParameterizedTest
    @ValueSource(strings = {"sym", "split", "dense"})
    void everyTripletCheckPasses(String version) {
        System.setProperty(PROPERTY, version);
        List<String> failed = new ArrayList<>();
        int n = 0;
        for (Check c : Conformance.checks()) {
            if (!c.name().startsWith("tripletLoss")) continue;
            n++;
            CheckResult r = c.run(reference, cuda);
            if (!r.passed()) failed.add(r.name() + ": " + r.detail());
        }
        assertTrue(n >= 100, "only " + n + " triplet checks");
        assertTrue(failed.isEmpty(), version + ": " + failed.size() + " of " + n + " failed:\n" + String.join("\n", failed));
    }

    @ParameterizedTest
    @ValueSource(strings = {"sym", "split", "dense"})
    void rowsWiderThanOneRegisterChunk(String version) {
        System.setProperty(PROPERTY, version);
        int p = 6, k = 4, b = p * k, d = 300;
        int[] labels = new int[b];
        for (int i = 0; i < b; i++) labels[i] = i % p;
        float[] e = new float[b * d];
        Random r = new Random(11);
        for (int i = 0; i < b; i++) {
            double s = 0;
            for (int j = 0; j < d; j++) { e[i * d + j] = (float) r.nextGaussian(); s += e[i * d + j] * e[i * d + j]; }
            for (int j = 0; j < d; j++) e[i * d + j] /= (float) Math.sqrt(s);
        }
        for (Strategy st : new Strategy[]{Strategy.SEMIHARD, Strategy.BATCH_HARD})
            for (Distance m : Distance.values()) {
                TripletOptions o = new TripletOptions(st, m, 0.2f, false, b);
                float[][] ref = run(reference, b, d, labels, o, e), got = run(cuda, b, d, labels, o, e);
                String what = version + " " + st.cliName + " " + m.cliName;
                assertEquals(ref[1][TripletStats.UNITS], got[1][TripletStats.UNITS], what + " units");
                assertEquals(ref[1][TripletStats.LOSS], got[1][TripletStats.LOSS], 1e-5, what + " loss");
                double scale = 0;
                for (float v : ref[0]) scale = Math.max(scale, Math.abs(v));
                assertTrue(scale > 0, what + ": zero gradient, nothing tested");
                for (int i = 0; i < ref[0].length; i++)
                    assertEquals(ref[0][i], got[0][i], 1e-6 + 1e-4 * scale, what + " dE[" + i / d + ", " + i % d + "]");
            }
    }

    /**
     * A batch wider than one column chunk of S's row masks (B = 360: three chunks of 128 columns), with
     * integer rows so that float32 and the double reference mine identical triplets (the self-test's
     * full-size check, CudaSelfTest.compareLoss): the gather reads only the marked chunks.
     */
    @FullSuite
    @ParameterizedTest
    @ValueSource(strings = {"sym", "split"})
    void batchesWiderThanOneMaskChunk(String version) {
        System.setProperty(PROPERTY, version);
        assertTrue(dev.semihard.kernels.cuda.CudaBackendAccess.symChunkCols(360) == 128, "three chunks at B = 360");
        for (Strategy st : new Strategy[]{Strategy.SEMIHARD, Strategy.BATCH_HARD}) {
            String verdict = dev.semihard.kernels.cuda.CudaSelfTest.compareLoss(reference, cuda, 360, 8, st);
            assertTrue(verdict.startsWith("PASS"), version + ": " + verdict);
        }
    }

    /** FaceNet's batch (P = 45, K = 40, B = 1800; 15 mask chunks) with the default version, integer rows. */
    @FullSuite
    @org.junit.jupiter.api.Test
    void faceNetBatchMatchesTheReference() {
        System.clearProperty(PROPERTY);
        for (Strategy st : new Strategy[]{Strategy.SEMIHARD, Strategy.BATCH_HARD}) {
            String verdict = dev.semihard.kernels.cuda.CudaSelfTest.compareLoss(reference, cuda, 1800, 40, st);
            assertTrue(verdict.startsWith("PASS"), verdict);
        }
    }

    /**
     * tripletMine sorts an anchor's positives in one warp when they fit in 64 slots (every other test here)
     * and with the whole block beyond: 99 positives per anchor are a 128-slot sort and a suffix minimum over
     * 4 warp-sized chunks. (More than CAP = 512 positives take rounds, sorted by the same block network;
     * B = 1200, K = 600 passes here too but takes over a minute on the emulator, so it is not kept.)
     */
    @FullSuite
    @org.junit.jupiter.api.Test
    void manyPositivesPerAnchor() {
        System.clearProperty(PROPERTY);
        for (Strategy st : new Strategy[]{Strategy.SEMIHARD, Strategy.BATCH_HARD}) {
            String verdict = dev.semihard.kernels.cuda.CudaSelfTest.compareLoss(reference, cuda, 200, 100, st);
            assertTrue(verdict.startsWith("PASS"), "K = 100: " + verdict);
        }
    }

    /**
     * The backend keeps S between calls and relies on tripletSymGather leaving it zero: calls of other
     * sizes in between, and a call with d = 0 (which adds to S and returns before any gather), must not
     * leak into the next call's gradient.
     */
    @org.junit.jupiter.api.Test
    void theKeptScratchIsZeroForEveryCall() {
        System.setProperty(PROPERTY, "sym");
        int p = 6, k = 4, b = p * k, d = 16;
        int[] labels = new int[b];
        for (int i = 0; i < b; i++) labels[i] = i % p;
        float[] e = new float[b * d];
        Random r = new Random(5);
        for (int i = 0; i < e.length; i++) e[i] = (float) r.nextGaussian() * 0.3f;
        TripletOptions o = new TripletOptions(Strategy.SEMIHARD, Distance.SQUARED_L2, 0.2f, false, b);
        float[][] ref = run(reference, b, d, labels, o, e);
        float[][] first = run(cuda, b, d, labels, o, e);
        int[] small = java.util.Arrays.copyOf(labels, 12);
        run(cuda, 12, 0, small, new TripletOptions(Strategy.SEMIHARD, Distance.SQUARED_L2, 0.2f, false, 12), new float[0]);
        run(cuda, 12, d, small, new TripletOptions(Strategy.BATCH_HARD, Distance.L2, 0.2f, false, 12),
                java.util.Arrays.copyOf(e, 12 * d));
        float[][] again = run(cuda, b, d, labels, o, e);
        org.junit.jupiter.api.Assertions.assertArrayEquals(first[0], again[0], "the same call after others must give the same bits");
        double scale = 0;
        for (float v : ref[0]) scale = Math.max(scale, Math.abs(v));
        for (int i = 0; i < ref[0].length; i++) assertEquals(ref[0][i], again[0][i], 1e-6 + 1e-4 * scale, "dE[" + i + "]");
    }

    /**
     * Batch-hard mined in the distance tiles (tripletHardMine_diff / _x3: D never stored) against the stored D
     * and tripletMine (-Dsemihard.cuda.fusedHardMining=false): the same bits of dE and of every statistic.
     * diffDistanceMaxRows=0: squared-l2 and l2 from norms on the 3xTF32 tiles, as beyond 4096 rows; 4096 (the
     * default): from differences on the fp32 tiles. Cosine is on the 3xTF32 tiles either way. Layouts: square (upper-triangle tiles, mirrored keys), extra
     * negatives (A < B: no mirror; a same-label extra is neither positive nor negative), duplicate rows (ties:
     * the smallest index wins), one class and all-distinct (no unit), several tiles of 64 and of 128.
     */
    @FullSuite
    @ParameterizedTest
    @ValueSource(strings = {"0", "4096"})
    void batchHardMinedInTheDistanceTilesEqualsTheStoredDistances(String diffMaxRows) {
        System.clearProperty(PROPERTY);
        String maxRows = "semihard.cuda.diffDistanceMaxRows", fused = "semihard.cuda.fusedHardMining";
        System.setProperty(maxRows, diffMaxRows);
        try {
            Random r = new Random(3);
            List<int[]> layouts = new ArrayList<>();
            List<Integer> anchors = new ArrayList<>();
            layouts.add(new int[]{0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3}); anchors.add(12);
            layouts.add(new int[]{0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 10, 11, 0, 10}); anchors.add(12);
            layouts.add(new int[]{1, 1, 1, 1, 7, 8}); anchors.add(4);
            layouts.add(new int[]{5, 5, 5, 5, 5, 5}); anchors.add(6);
            layouts.add(new int[]{0, 1, 2, 3, 4, 5, 6}); anchors.add(7);
            int[] big = new int[300];
            for (int i = 0; i < big.length; i++) big[i] = (i * 7) % 30;
            layouts.add(big); anchors.add(300);
            int[] rect = new int[200];
            for (int i = 0; i < rect.length; i++) rect[i] = i < 150 ? i % 15 : 100 + i % 7;
            layouts.add(rect); anchors.add(150);
            int d = 16, checked = 0;
            for (int li = 0; li < layouts.size(); li++) {
                int[] labels = layouts.get(li);
                int b = labels.length;
                float[] e = new float[b * d];
                for (int i = 0; i < e.length; i++) e[i] = (float) r.nextGaussian();
                if (li == 0) System.arraycopy(e, 0, e, 4 * d, d);        // row 4 duplicates row 0 (same label)
                if (li == 5) System.arraycopy(e, 3 * d, e, 40 * d, d);   // rows 3 and 40: another label
                for (Distance m : Distance.values())
                    for (boolean soft : new boolean[]{false, true}) {
                        TripletOptions o = new TripletOptions(Strategy.BATCH_HARD, m, 0.2f, soft, anchors.get(li));
                        float[][] inTiles = run(cuda, b, d, labels, o, e);
                        System.setProperty(fused, "false");
                        float[][] stored;
                        try {
                            stored = run(cuda, b, d, labels, o, e);
                        } finally {
                            System.clearProperty(fused);
                        }
                        String what = "B = " + b + " A = " + anchors.get(li) + " " + m.cliName + (soft ? " soft" : "");
                        org.junit.jupiter.api.Assertions.assertArrayEquals(stored[1], inTiles[1], what + ": statistics");
                        org.junit.jupiter.api.Assertions.assertArrayEquals(stored[0], inTiles[0], what + ": dE");
                        if (stored[1][TripletStats.UNITS] > 0) checked++;
                    }
            }
            assertTrue(checked >= 24, "only " + checked + " cases had a unit");
        } finally {
            System.clearProperty(maxRows);
        }
    }

    private static float[][] run(Backend be, int b, int d, int[] labels, TripletOptions o, float[] e) {
        try (var eb = be.allocate((long) b * d); var dE = be.allocate((long) b * d); var st = be.allocate(TripletStats.SIZE)) {
            be.upload(e, 0, eb, 0, e.length);
            be.tripletLoss(b, d, labels, o, eb, dE, st);
            float[] g = new float[b * d], s = new float[TripletStats.SIZE];
            be.download(dE, 0, g, 0, g.length);
            be.download(st, 0, s, 0, s.length);
            return new float[][]{g, s};
        }
    }
}
