package dev.semihard.trainer.data;

import dev.semihard.engine.mining.Identities;

import java.util.AbstractList;
import java.util.List;

/** A view of some images of another data set, in a given order (no pixels copied). */
final class SubsetDataset implements Dataset {
    private final Dataset base;
    private final int[] idx;
    private final String name;
    private volatile Identities identities;

    SubsetDataset(Dataset base, int[] idx, String name) {
        for (int i : idx)
            if (i < 0 || i >= base.size()) throw new IllegalArgumentException("subset of " + base.name() + ": no image " + i);
        this.base = base;
        this.idx = idx.clone();
        this.name = name;
    }

    @Override public String name() { return name; }
    @Override public int size() { return idx.length; }
    @Override public int channels() { return base.channels(); }
    @Override public int height() { return base.height(); }
    @Override public int width() { return base.width(); }
    @Override public int label(int i) { return base.label(idx[i]); }
    @Override public List<String> classNames() { return base.classNames(); }
    @Override public float mean() { return base.mean(); }
    @Override public float std() { return base.std(); }
    @Override public void readImage(int i, byte[] dst, int off) { base.readImage(idx[i], dst, off); }

    @Override
    public void copyWindow(int i, int y0, int x0, int h, int w, boolean flip, float[] dst, int off) {
        base.copyWindow(idx[i], y0, x0, h, w, flip, dst, off);
    }

    @Override
    public List<String> paths() {
        List<String> p = base.paths();
        if (p == null) return null;
        return new AbstractList<>() {
            public String get(int i) { return p.get(idx[i]); }
            public int size() { return idx.length; }
        };
    }

    /**
     * When each label's images are consecutive here (a split by identity of a pack, or of any grouped set), the
     * identities are ranges: memory grows with the identities, not the images. Otherwise a per-image index. Both
     * list the identities in first-seen order, so they give the P x K sampler the same batches.
     */
    @Override
    public Identities identities() {
        Identities r = identities;
        if (r == null) identities = r = runs();
        return r;
    }

    private Identities runs() {
        java.util.Set<Integer> seen = new java.util.HashSet<>();
        long[] starts = new long[16];
        int[] labels = new int[16];
        int m = 0, prev = 0;
        for (int i = 0; i < idx.length; i++) {
            int l = label(i);
            if (i > 0 && l == prev) continue;
            if (!seen.add(l)) return Identities.fromLabels(labels());     // a label comes back: not runs
            if (m + 1 >= starts.length) { starts = java.util.Arrays.copyOf(starts, 2 * starts.length); labels = java.util.Arrays.copyOf(labels, 2 * labels.length); }
            starts[m] = i;
            labels[m++] = l;
            prev = l;
        }
        starts[m] = idx.length;
        return Identities.ranges(java.util.Arrays.copyOf(starts, m + 1), java.util.Arrays.copyOf(labels, m));
    }

    @Override public String toString() { return Dataset.describe(this); }
}
