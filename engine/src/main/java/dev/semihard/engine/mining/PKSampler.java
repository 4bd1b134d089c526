package dev.semihard.engine.mining;

import dev.semihard.engine.Rng;

import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * <b>P x K batches</b> for online triplet mining: P identities, K images of each, plus FaceNet's M
 * extra random negatives.
 *
 * <p>Why: online mining can only find triplets inside the batch, so every anchor needs positives
 * (K &gt;= 2 images of its identity) and many negatives (the other P - 1 identities). FaceNet used about
 * 40 faces per identity and added randomly sampled negative faces; P x K sampling (Hermans et al.
 * 2017) is the standard way to get both.
 *
 * <p>Each {@link #next()} batch:
 * <ol>
 *   <li>draws P distinct identities uniformly among the <i>eligible</i> ones (at least two images);</li>
 *   <li>for each, K images: without replacement when it has at least K, otherwise every one of its
 *       images once and the remaining slots drawn with replacement (so duplicates appear only when
 *       unavoidable);</li>
 *   <li>then M extra images drawn uniformly from the images whose identity is not among the P (single-image
 *       identities included: this is the only place they are used). They go last, so
 *       {@link Batch#anchorRows()} = P * K tells the loss they are negatives only.</li>
 * </ol>
 * Rows are grouped by identity (K consecutive rows each), which makes batches easy to read; the loss does
 * not care about the order.
 *
 * <p>Determinism: everything comes from one {@link Rng}; {@link #state()} / {@link #setState(long)} save
 * and restore it (one long) for checkpoints, and batches are drawn independently of each other, so a
 * resumed run continues with exactly the batches an uninterrupted run would have drawn.
 */
public final class PKSampler {
    /**
     * One batch: dataset indices of its images, their labels, and how many leading rows are the P x K part.
     */
    public record Batch(int[] indices, int[] labels, int anchorRows) {
        public int size() { return indices.length; }
    }

    private final int p, k, extra;
    private final Identities index;
    private final int[] eligible;            // identities (positions) with >= 2 images
    private final int singletons;
    private final int datasetSize;
    private final Rng rng;

    /**
     * @param labels          identity of each dataset image (any ints)
     * @param p               identities per batch (&gt;= 1)
     * @param k               images per identity (&gt;= 2: an anchor needs a positive)
     * @param extraNegatives  M &gt;= 0 extra images from identities not in the batch
     * @param seed            seed of the sampler's generator
     */
    public PKSampler(int[] labels, int p, int k, int extraNegatives, long seed) {
        this(checked(labels), p, k, extraNegatives, seed);
    }

    private static Identities checked(int[] labels) {
        if (labels == null || labels.length == 0) throw new IllegalArgumentException("P x K sampler: the dataset is empty");
        return Identities.fromLabels(labels);
    }

    /**
     * A sampler over identity ranges (a packed dataset's index). Drawing a batch touches O(P x K + M) entries
     * whatever the number of identities: the identity draw and each identity's image draw are partial
     * Fisher-Yates shuffles kept sparse (only the swapped positions are stored), giving exactly the draws of
     * a shuffle of a full copy. Built from labels, it yields the same batches as before the index existed.
     */
    public PKSampler(Identities identities, int p, int k, int extraNegatives, long seed) {
        if (identities == null || identities.size() == 0) throw new IllegalArgumentException("P x K sampler: the dataset is empty");
        if (p < 1) throw new IllegalArgumentException("P x K sampler: P (identities per batch) must be >= 1, got " + p);
        if (k < 2)
            throw new IllegalArgumentException("P x K sampler: K (images per identity) must be >= 2 so every anchor has a positive, got " + k);
        if (extraNegatives < 0) throw new IllegalArgumentException("P x K sampler: extra negatives must be >= 0, got " + extraNegatives);
        this.p = p;
        this.k = k;
        this.extra = extraNegatives;
        this.index = identities;
        this.datasetSize = identities.size();
        int m = identities.identities(), single = 0, ne = 0;
        int[] elig = new int[m];
        for (int id = 0; id < m; id++) {
            int c = identities.count(id);
            if (c >= 2) elig[ne++] = id; else if (c == 1) single++;
        }
        eligible = Arrays.copyOf(elig, ne);
        singletons = single;
        if (eligible.length < p)
            throw new IllegalArgumentException("P x K sampler: P = " + p + " identities per batch, but only " + eligible.length
                    + " identities have at least 2 images (" + single + " have a single image and serve only as extra negatives);"
                    + " lower P to at most " + eligible.length + " or add data");
        if (extra > 0 && m == p)
            throw new IllegalArgumentException("P x K sampler: " + extra + " extra negatives need identities outside the batch, but"
                    + " P = " + p + " is the number of identities in the data; lower P or set extra negatives to 0");
        this.rng = new Rng(seed);
    }

    /** The next batch: P * K + M rows. */
    public Batch next() {
        int b = p * k + extra;
        int[] idx = new int[b], lab = new int[b];
        // 1. P distinct eligible identities: a partial Fisher-Yates shuffle (sparse: only swapped slots are stored)
        Map<Integer, Integer> swapped = new HashMap<>();
        Set<Integer> chosen = new HashSet<>();
        for (int i = 0; i < p; i++) {
            int j = i + rng.nextInt(eligible.length - i);
            int vi = swapped.getOrDefault(i, eligible[i]), vj = swapped.getOrDefault(j, eligible[j]);
            swapped.put(j, vi);
            swapped.put(i, vj);
            int id = vj;
            chosen.add(id);
            int[] imgs = drawK(id);
            int l = index.label(id);
            for (int r = 0; r < k; r++) { idx[i * k + r] = imgs[r]; lab[i * k + r] = l; }
        }
        // 2. M extra negatives: images of identities not in the batch (rejection sampling, then a scan)
        for (int r = p * k; r < b; r++) {
            int img = -1;
            for (int tries = 0; tries < 64 && img < 0; tries++) {
                int c = rng.nextInt(datasetSize);
                if (!chosen.contains(index.identityOf(c))) img = c;
            }
            if (img < 0) img = uniformOutside(chosen);
            idx[r] = img;
            lab[r] = index.label(index.identityOf(img));
        }
        return new Batch(idx, lab, p * k);
    }

    /** K images of one identity: without replacement when possible, else all once plus draws with replacement. */
    private int[] drawK(int id) {
        int n = index.count(id);
        int[] out = new int[k];
        if (n >= k) {
            Map<Integer, Integer> swapped = new HashMap<>();
            for (int i = 0; i < k; i++) {
                int j = i + rng.nextInt(n - i);
                int vi = swapped.getOrDefault(i, i), vj = swapped.getOrDefault(j, j);
                swapped.put(j, vi);
                swapped.put(i, vj);
                out[i] = index.image(id, vj);
            }
        } else {
            int[] a = new int[n];
            for (int j = 0; j < n; j++) a[j] = index.image(id, j);
            rng.shuffle(a);
            System.arraycopy(a, 0, out, 0, n);
            for (int i = n; i < k; i++) out[i] = a[rng.nextInt(n)];
        }
        return out;
    }

    /** Uniform over the images outside {@code chosen} (slow path when almost every image is inside). */
    private int uniformOutside(Set<Integer> chosen) {
        int count = 0;
        for (int i = 0; i < datasetSize; i++) if (!chosen.contains(index.identityOf(i))) count++;
        int pick = rng.nextInt(count);
        for (int i = 0; i < datasetSize; i++) if (!chosen.contains(index.identityOf(i)) && pick-- == 0) return i;
        throw new IllegalStateException("unreachable");
    }

    /** Rows per batch: P * K + M. */
    public int batchSize() { return p * k + extra; }

    public int p() { return p; }

    public int k() { return k; }

    public int extraNegatives() { return extra; }

    /** Identities with at least two images (the ones that can be anchors). */
    public int eligibleIdentities() { return eligible.length; }

    /** Identities with a single image: never anchors or positives, only extra negatives. */
    public int singletonIdentities() { return singletons; }

    /** Identities with fewer than K images (their images repeat within a batch). */
    public int identitiesBelowK() {
        int n = 0;
        for (int id : eligible) if (index.count(id) < k) n++;
        return n;
    }

    /** One line for the log, e.g. "P x K = 32 x 8 + 16 extra negatives (B = 272); 5749 identities: ...". */
    public String describe() {
        return "P x K = " + p + " x " + k + (extra > 0 ? " + " + extra + " extra negatives" : "") + " (B = " + batchSize() + "); "
                + index.identities() + " identities: " + eligible.length + " with >= 2 images (" + identitiesBelowK()
                + " with fewer than K, sampled with replacement), " + singletons + " with a single image (used only as extra negatives)";
    }

    /** The generator state, for checkpoints. */
    public long state() { return rng.state(); }

    /** Restores a state saved by {@link #state()}. */
    public void setState(long s) { rng.setState(s); }

    @Override
    public String toString() { return describe(); }
}
