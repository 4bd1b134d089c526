package dev.semihard.engine.mining;

import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The sampler on a packed dataset's index of a million identities: a batch touches O(P x K), not every identity. */
class PKSamplerScaleTest {
    /** Counts every call into the index. */
    static final class Counting implements Identities {
        final Identities in;
        final AtomicLong calls = new AtomicLong();
        Counting(Identities in) { this.in = in; }
        public int size() { calls.incrementAndGet(); return in.size(); }
        public int identities() { calls.incrementAndGet(); return in.identities(); }
        public int count(int id) { calls.incrementAndGet(); return in.count(id); }
        public int image(int id, int j) { calls.incrementAndGet(); return in.image(id, j); }
        public int identityOf(int i) { calls.incrementAndGet(); return in.identityOf(i); }
        public int label(int id) { calls.incrementAndGet(); return in.label(id); }
    }

    @Test
    void aBatchFromAMillionIdentitiesTouchesOnlyItsOwnRows() {
        int m = 1_000_000;
        long[] starts = new long[m + 1];
        for (int i = 0; i < m; i++) starts[i + 1] = starts[i] + (i % 10 == 9 ? 1 : 2 + i % 7);   // every tenth: one image
        Counting idx = new Counting(Identities.ranges(starts, null));
        int p = 64, k = 4, extra = 32;
        PKSampler s = new PKSampler(idx, p, k, extra, 1);
        assertEquals(900_000, s.eligibleIdentities());
        assertEquals(100_000, s.singletonIdentities());
        for (int t = 0; t < 20; t++) {
            idx.calls.set(0);
            PKSampler.Batch b = s.next();
            long calls = idx.calls.get();
            // per identity: count + label + up to max(K, images) image lookups; per extra negative a few identityOf + label
            assertTrue(calls <= p * (2 + 8) + extra * 4L, "a batch made " + calls + " index calls for " + m + " identities");
            Set<Integer> ids = new HashSet<>();
            for (int r = 0; r < p * k; r++) {
                int id = b.labels()[r];
                ids.add(id);
                assertTrue(b.indices()[r] >= starts[id] && b.indices()[r] < starts[id + 1], "row " + r + " is an image of its identity");
            }
            assertEquals(p, ids.size());
            for (int r = p * k; r < b.size(); r++) assertTrue(!ids.contains(b.labels()[r]), "extra negatives are outside the batch");
        }
    }

    @Test
    void rangesAndLabelsGiveTheSameBatches() {
        // images of identity i are contiguous: the label array and the ranges describe the same data
        int[] sizes = {5, 2, 1, 7, 3, 4, 1, 6};
        long[] starts = new long[sizes.length + 1];
        for (int i = 0; i < sizes.length; i++) starts[i + 1] = starts[i] + sizes[i];
        int[] labels = new int[(int) starts[sizes.length]];
        for (int i = 0; i < sizes.length; i++) for (long j = starts[i]; j < starts[i + 1]; j++) labels[(int) j] = i;
        PKSampler a = new PKSampler(labels, 3, 4, 3, 9), b = new PKSampler(Identities.ranges(starts, null), 3, 4, 3, 9);
        for (int t = 0; t < 50; t++) {
            PKSampler.Batch x = a.next(), y = b.next();
            assertArrayEquals(x.indices(), y.indices());
            assertArrayEquals(x.labels(), y.labels());
        }
    }

    @Test
    void identityOfSkipsEmptyRanges() {
        Identities r = Identities.ranges(new long[] {0, 2, 2, 5}, null);
        assertEquals(0, r.identityOf(0));
        assertEquals(0, r.identityOf(1));
        assertEquals(2, r.identityOf(2));
        assertEquals(2, r.identityOf(4));
    }
}
