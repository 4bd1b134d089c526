package dev.semihard.engine.mining;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Which images belong to which identity: what a P x K sampler needs, without a per-image label
 * array when the images of each identity are contiguous (a packed dataset's index: identity
 * {@code m} owns images {@code start(m) .. start(m+1) - 1}).
 *
 * <p>Two implementations: {@link #fromLabels(int[])} (any labels, identities in first-seen order, the
 * in-memory data sets) and {@link #ranges(long[], int[])} (contiguous ranges, packs; the label of
 * an image is found by binary search, so memory grows with the identities, not the images).
 */
public interface Identities {
    /** Number of images. */
    int size();

    /** Number of identities (each with at least one image). */
    int identities();

    /** Images of identity {@code id} (0-based position, not its label). */
    int count(int id);

    /** Dataset index of the {@code j}-th image of identity {@code id}. */
    int image(int id, int j);

    /** Identity position of image {@code i}. */
    int identityOf(int i);

    /** The label value of identity {@code id} (what a batch reports). */
    int label(int id);

    /** Any labels: identities are the distinct values in first-seen order (CSR arrays). */
    static Identities fromLabels(int[] labels) {
        Map<Integer, Integer> pos = new LinkedHashMap<>();
        int[] idOf = new int[labels.length];
        int[] counts = new int[Math.max(16, labels.length)];
        for (int i = 0; i < labels.length; i++) {
            Integer p = pos.get(labels[i]);
            if (p == null) { p = pos.size(); pos.put(labels[i], p); }
            idOf[i] = p;
            counts[p]++;
        }
        int m = pos.size();
        int[] lab = new int[m], fill = new int[m], order = new int[labels.length];
        long[] start = new long[m + 1];
        for (Map.Entry<Integer, Integer> e : pos.entrySet()) lab[e.getValue()] = e.getKey();
        for (int id = 0; id < m; id++) start[id + 1] = start[id] + counts[id];
        for (int i = 0; i < labels.length; i++) order[(int) start[idOf[i]] + fill[idOf[i]]++] = i;
        return new Table(start, order, idOf, lab);
    }

    /**
     * Contiguous ranges: identity {@code m} owns images {@code starts[m] .. starts[m+1] - 1} ({@code starts} has
     * identities + 1 non-decreasing entries from 0) and reports label {@code labels[m]} (null: its position).
     */
    static Identities ranges(long[] starts, int[] labels) {
        int m = starts.length - 1;
        if (m < 0 || starts[0] != 0) throw new IllegalArgumentException("identity ranges must start at image 0");
        for (int i = 0; i < m; i++)
            if (starts[i + 1] < starts[i]) throw new IllegalArgumentException("identity ranges must not decrease (identity " + i + ")");
        if (starts[m] > Integer.MAX_VALUE) throw new IllegalArgumentException("more than 2^31 - 1 images");
        return new Table(starts, null, null, labels);
    }

    /**
     * Both implementations: identity {@code m}'s images are positions {@code starts[m] .. starts[m+1] - 1} of {@code order}
     * (null: the positions are the images), {@code idOf} gives an image's identity (null: binary search of the starts),
     * {@code labels} an identity's label (null: its position).
     */
    record Table(long[] starts, int[] order, int[] idOf, int[] labels) implements Identities {
        public int size() { return (int) starts[starts.length - 1]; }
        public int identities() { return starts.length - 1; }
        public int count(int id) { return (int) (starts[id + 1] - starts[id]); }
        public int image(int id, int j) { return order == null ? (int) starts[id] + j : order[(int) starts[id] + j]; }
        public int label(int id) { return labels == null ? id : labels[id]; }

        public int identityOf(int i) {
            if (idOf != null) return idOf[i];
            int k = Arrays.binarySearch(starts, i);
            if (k < 0) return -k - 2;
            while (k + 1 < starts.length && starts[k + 1] == i) k++;     // i starts a range: skip empty identities ending at i
            return k;
        }
    }
}
