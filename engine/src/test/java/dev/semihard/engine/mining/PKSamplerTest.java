package dev.semihard.engine.mining;

import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PKSamplerTest {
    /** identity i has sizes[i] images; images of identities are interleaved to make indices non-trivial. */
    static int[] dataset(int... sizes) {
        int n = 0;
        for (int s : sizes) n += s;
        int[] y = new int[n];
        int[] left = sizes.clone();
        int pos = 0;
        while (pos < n)
            for (int i = 0; i < sizes.length; i++) if (left[i] > 0) { y[pos++] = 100 + i; left[i]--; }
        return y;
    }

    @Test
    void batchesHavePTimesKPlusExtraNegatives() {
        int[] y = dataset(10, 10, 10, 10, 10, 3, 1, 1, 1);
        PKSampler s = new PKSampler(y, 3, 4, 5, 7);
        assertEquals(17, s.batchSize());
        for (int t = 0; t < 200; t++) {
            PKSampler.Batch b = s.next();
            assertEquals(12, b.anchorRows());
            Map<Integer, Integer> count = new HashMap<>();
            for (int r = 0; r < b.size(); r++) assertEquals(y[b.indices()[r]], b.labels()[r], "labels match the dataset");
            for (int r = 0; r < 12; r++) count.merge(b.labels()[r], 1, Integer::sum);
            assertEquals(3, count.size(), "P distinct identities");
            for (int c : count.values()) assertEquals(4, c, "K images each");
            for (int r = 0; r < 12; r += 4) for (int q = r; q < r + 4; q++) assertEquals(b.labels()[r], b.labels()[q], "grouped by identity");
            for (int r = 12; r < 17; r++) assertFalse(count.containsKey(b.labels()[r]), "extra negatives come from other identities");
        }
    }

    @Test
    void deterministicForASeedAndRestorable() {
        int[] y = dataset(6, 6, 6, 6, 2, 1);
        PKSampler a = new PKSampler(y, 2, 3, 2, 42), b = new PKSampler(y, 2, 3, 2, 42), c = new PKSampler(y, 2, 3, 2, 43);
        boolean differ = false;
        for (int i = 0; i < 20; i++) {
            PKSampler.Batch x = a.next(), z = c.next();
            assertArrayEquals(x.indices(), b.next().indices());
            differ |= !java.util.Arrays.equals(x.indices(), z.indices());
        }
        assertTrue(differ, "another seed gives other batches");
        long state = a.state();
        int[] expected = a.next().indices();
        a.next();
        a.setState(state);
        assertArrayEquals(expected, a.next().indices(), "restoring the state replays the batch");
    }

    @Test
    void smallIdentitiesAreSampledWithReplacementUsingEveryImage() {
        int[] y = dataset(3, 3);   // K = 5 > 3
        PKSampler s = new PKSampler(y, 2, 5, 0, 1);
        assertEquals(2, s.identitiesBelowK());
        for (int t = 0; t < 50; t++) {
            PKSampler.Batch b = s.next();
            for (int g = 0; g < 2; g++) {
                Set<Integer> distinct = new HashSet<>();
                for (int r = 5 * g; r < 5 * g + 5; r++) distinct.add(b.indices()[r]);
                assertEquals(3, distinct.size(), "every image of the identity appears, repeats fill the rest");
            }
        }
        // identities with >= K images never repeat an image
        PKSampler big = new PKSampler(dataset(8, 8, 8), 3, 8, 0, 2);
        PKSampler.Batch b = big.next();
        assertEquals(24, new HashSet<>(java.util.Arrays.stream(b.indices()).boxed().toList()).size());
    }

    @Test
    void singletonsAreOnlyNegatives() {
        int[] y = dataset(5, 5, 5, 1, 1, 1, 1);
        PKSampler s = new PKSampler(y, 2, 2, 4, 3);
        assertEquals(4, s.singletonIdentities());
        assertEquals(3, s.eligibleIdentities());
        assertTrue(s.describe().contains("4 with a single image"), s.describe());
        boolean seenSingletonAsExtra = false;
        for (int t = 0; t < 100; t++) {
            PKSampler.Batch b = s.next();
            for (int r = 0; r < b.anchorRows(); r++) assertTrue(b.labels()[r] < 103, "singleton used as anchor");
            for (int r = b.anchorRows(); r < b.size(); r++) seenSingletonAsExtra |= b.labels()[r] >= 103;
        }
        assertTrue(seenSingletonAsExtra);
    }

    @Test
    void errorsNameTheProblem() {
        int[] y = dataset(5, 5, 1, 1);
        var e = assertThrows(IllegalArgumentException.class, () -> new PKSampler(y, 3, 2, 0, 0));
        assertTrue(e.getMessage().contains("only 2 identities have at least 2 images") && e.getMessage().contains("2 have a single image"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new PKSampler(y, 2, 1, 0, 0));
        assertTrue(e.getMessage().contains("K"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new PKSampler(dataset(4, 4), 2, 2, 1, 0));
        assertTrue(e.getMessage().contains("outside the batch"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new PKSampler(new int[0], 1, 2, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> new PKSampler(y, 0, 2, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> new PKSampler(y, 1, 2, -1, 0));
        assertNotEquals(0, new PKSampler(y, 2, 2, 1, 0).next().size());
    }
}
