package dev.semihard.trainer.data;

import dev.semihard.engine.Rng;
import dev.semihard.engine.mining.PKSampler;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class BatchLoaderTest {
    static MemoryDataset data() {
        int n = 60;
        byte[] px = new byte[n * 4 * 4];
        for (int i = 0; i < px.length; i++) px[i] = (byte) (i * 31);
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) labels[i] = i % 6;
        return new MemoryDataset("t", 1, 4, 4, px, labels, List.of("0", "1", "2", "3", "4", "5"), null, 0.5f, 0.25f);
    }

    static BatchLoader.IndexSampler<Long> adapter(PKSampler s) { return BatchLoader.of(s); }

    private List<BatchLoader.Batch<Long>> take(int threads, int prefetch, long first, Long samplerState, int n) {
        MemoryDataset d = data();
        PKSampler s = new PKSampler(d.labels(), 3, 4, 2, 9);
        if (samplerState != null) s.setState(samplerState);
        List<BatchLoader.Batch<Long>> out = new ArrayList<>();
        try (BatchLoader<Long> l = new BatchLoader<>(d, adapter(s), new Augment(true, 1), 5, first, threads, prefetch)) {
            for (int i = 0; i < n; i++) out.add(l.next());
        }
        return out;
    }

    @Test
    void batchesDoNotDependOnThreadsOrPrefetch() {
        List<BatchLoader.Batch<Long>> a = take(1, 1, 0, null, 6), b = take(4, 7, 0, null, 6);
        for (int i = 0; i < 6; i++) {
            assertEquals(i, a.get(i).step());
            assertArrayEquals(a.get(i).x(), b.get(i).x());
            assertArrayEquals(a.get(i).labels(), b.get(i).labels());
            assertEquals(14, a.get(i).size());
            assertEquals(12, a.get(i).anchorRows());
        }
    }

    @Test
    void samplerStateAfterABatchResumesTheSequence() {
        List<BatchLoader.Batch<Long>> full = take(2, 3, 0, null, 6);
        long st = full.get(2).samplerStateAfter();
        List<BatchLoader.Batch<Long>> resumed = take(2, 3, 3, st, 3);
        for (int i = 0; i < 3; i++) {
            assertEquals(full.get(3 + i).step(), resumed.get(i).step());
            assertArrayEquals(full.get(3 + i).labels(), resumed.get(i).labels());
            assertArrayEquals(full.get(3 + i).x(), resumed.get(i).x());
        }
    }

    /** A sampler that forbids drawing ahead every third batch: those are drawn only when asked for. */
    @Test
    void aBatchThatMayNotBeDrawnAheadIsDrawnWhenAskedFor() {
        MemoryDataset d = data();
        int[] drawn = {0};
        int[] asked = {0};
        List<String> violations = new ArrayList<>();
        BatchLoader.IndexSampler<Integer> s = new BatchLoader.IndexSampler<>() {
            public BatchLoader.Sampled next() {
                int i = drawn[0]++;
                if (i % 3 == 0 && i > asked[0]) violations.add("batch " + i + " drawn while step " + asked[0] + " was asked for");
                return new BatchLoader.Sampled(new int[] {i, i + 1}, 2);
            }
            public Integer state() { return drawn[0]; }
            public void restore(Integer st) { drawn[0] = st; }
            public boolean mayDrawAhead() { return drawn[0] % 3 != 0; }
        };
        try (BatchLoader<Integer> l = new BatchLoader<>(d, s, null, 5, 0, 2, 4)) {
            for (int i = 0; i < 10; i++) {
                asked[0] = i;
                BatchLoader.Batch<Integer> b = l.next();
                assertEquals(i, b.step());
                assertEquals(i + 1, b.samplerStateAfter(), "the state right after drawing batch " + i);
                assertEquals(i % 6, b.labels()[0]);
                assertTrue(drawn[0] <= i + 4, "at most the prefetch depth ahead");
                if (i % 3 == 2) assertEquals(i + 1, drawn[0], "nothing drawn past a batch that may not be drawn ahead");
            }
        }
        assertEquals(List.of(), violations);
    }

    @Test
    void normalizationIsApplied() {
        MemoryDataset d = data();
        float[] x = new float[16];
        d.copyNormalized(0, x, 0);
        assertEquals(((d.rawPixels()[1] & 0xff) / 255f - 0.5f) / 0.25f, x[1], 1e-5);
    }

    @Test
    void flipAndCrop() {
        float[] img = {1, 2, 3, 4, 5, 6, 7, 8, 9};
        // find a seed that flips without shifting
        for (long seed = 0; seed < 200; seed++) {
            float[] x = img.clone();
            new Augment(true, 0).apply(x, 0, 1, 3, 3, -9f, new Rng(seed));
            if (x[0] == 3) {
                assertArrayEquals(new float[] {3, 2, 1, 6, 5, 4, 9, 8, 7}, x);
                break;
            }
        }
        boolean sawShift = false;
        for (long seed = 0; seed < 50; seed++) {
            float[] x = img.clone();
            new Augment(false, 1).apply(x, 0, 1, 3, 3, -9f, new Rng(seed));
            int fills = 0;
            for (float v : x) if (v == -9f) fills++;
            assertTrue(fills == 0 || fills == 3 || fills == 5, "a 1-pixel shift fills a row and/or a column");
            if (fills > 0) sawShift = true;
        }
        assertTrue(sawShift);
        assertNull(Augment.parse("none"));
        assertEquals(new Augment(true, 2), Augment.parse("flip+crop:2"));
        assertThrows(IllegalArgumentException.class, () -> Augment.parse("rotate"));
    }
}
