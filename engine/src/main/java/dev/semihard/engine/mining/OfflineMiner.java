package dev.semihard.engine.mining;

import dev.semihard.engine.Rng;
import dev.semihard.engine.backend.Distance;
import dev.semihard.engine.reference.ReferenceTriplet;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * <b>Offline re-mining</b>: the approach of the answer to "Facenet online triplet generation"
 * (the question docs/online-triplet-mining.md answers): every N steps, embed a pool of images with the <i>current</i> model,
 * choose triplets from those embeddings, and train on them until the next refresh.
 *
 * <p>One refresh:
 * <ol>
 *   <li>draw a pool with a {@link PKSampler} (P identities x K images, so every anchor has positives and
 *       many negatives);</li>
 *   <li>embed it with the {@link Embedder} (the trainer passes one that runs the model in eval mode
 *       without a graph) and compute the pool's distance matrix;</li>
 *   <li>for every anchor-positive pair (a, p) of the pool (two different images of one identity), pick a
 *       negative: with probability {@code randomShare} a uniformly random negative of the pool (FaceNet:
 *       "a portion ... by randomly selected negatives ... to keep the embedding space intact"), otherwise
 *       {@link Choice#HARDEST} (the closest negative) or {@link Choice#SEMIHARD} (the closest negative
 *       farther than the positive, d(a,n) &gt; d(a,p); when there is none the farthest negative, exactly the
 *       rule of the online semihard kernel, lowest index on ties);</li>
 *   <li>shuffle the triplets; {@link #next()} serves them {@code tripletsPerBatch} at a time, starting again
 *       (reshuffled) if they run out before the next refresh.</li>
 * </ol>
 * The loss of a served batch is {@link dev.semihard.engine.loss.TripletLoss#explicitTriplets}: its rows are
 * (anchor, positive, negative) triples, and the loss is the mean of h(d(a,p) - d(a,n)) over them, with no
 * further mining (re-mining inside such a batch would mix unrelated triplets).
 *
 * <p>Compared with online mining, the triplets get stale between refreshes (the model moves, the
 * "hard" ones become easy): the more often the refresh, the more "online" it is, at the price of an extra
 * forward pass over the pool.
 *
 * <p>Determinism: everything comes from the seed. {@link #snapshot()} captures the whole state (both
 * generators, the steps served, the triplets of the current round and the position in them) as an
 * immutable {@link State}, and {@link #restore(State)} puts it back, so a miner restored from a checkpoint
 * serves exactly the batches the uninterrupted one would have: the rest of the current round first, and
 * the next re-mine on the same step. (The re-mine itself depends on the model the embedder sees; a caller
 * that draws batches ahead must not draw a re-mining batch before the model has reached that step:
 * {@link #refreshesNext()} says when.)
 */
public final class OfflineMiner {
    /** How the mined (non-random) negative is chosen. */
    public enum Choice {
        HARDEST, SEMIHARD;

        public static Choice parse(String s) {
            return switch (s.toLowerCase(Locale.ROOT)) {
                case "hardest", "hard" -> HARDEST;
                case "semihard", "semi-hard" -> SEMIHARD;
                default -> throw new IllegalArgumentException("unknown offline negative choice '" + s + "': use hardest or semihard");
            };
        }
    }

    /** Embeds dataset images with the current model: returns n x D floats, row-major, for n indices. */
    @FunctionalInterface
    public interface Embedder {
        float[] embed(int[] datasetIndices);
    }

    /**
     * @param refreshEvery      re-mine every N steps (&gt;= 1)
     * @param poolP             identities in the pool
     * @param poolK             images per identity in the pool (&gt;= 2)
     * @param tripletsPerBatch  triplets per served batch (3 rows each)
     * @param choice            hardest or semi-hard negatives
     * @param randomShare       probability in [0, 1] that a triplet gets a random negative instead
     * @param distance          distance used for mining (the loss should use the same)
     */
    public record Options(int refreshEvery, int poolP, int poolK, int tripletsPerBatch, Choice choice, double randomShare,
                          Distance distance) {
        public Options {
            if (refreshEvery < 1) throw new IllegalArgumentException("offline mining: refresh interval must be >= 1 step, got " + refreshEvery);
            if (tripletsPerBatch < 1) throw new IllegalArgumentException("offline mining: triplets per batch must be >= 1, got " + tripletsPerBatch);
            if (!(randomShare >= 0 && randomShare <= 1))
                throw new IllegalArgumentException("offline mining: random negative share must be in [0, 1], got " + randomShare);
            if (choice == null || distance == null) throw new IllegalArgumentException("offline mining: choice and distance are required");
        }
    }

    /**
     * A served batch: 3T dataset indices (anchor, positive, negative, anchor, ...), their labels, and
     * whether this call re-mined first.
     */
    public record TripletBatch(int[] indices, int[] labels, boolean refreshed) {
        public int triplets() { return indices.length / 3; }
    }

    /** One mined triplet, in dataset indices, with its pool distances (for inspection and tests). */
    public record Triplet(int anchor, int positive, int negative, double dAp, double dAn, boolean random) {}

    /**
     * Everything a miner needs to continue exactly where it was (for checkpoints): its generator
     * and the pool sampler's, the steps served, the refresh count, the embedding dimension seen, whether
     * the next step must re-mine regardless of the schedule ({@code stale}), and the triplets of the current
     * round in serving order with the position of the next one ({@code cursor}). Immutable: the miner never
     * changes a triplet list once it has served from it (a reshuffle makes a new list).
     */
    public record State(long rng, long poolSampler, long step, int refreshes, int dimension, boolean stale,
                        List<Triplet> triplets, int cursor) {
        public State {
            triplets = List.copyOf(triplets);
            if (step < 0 || refreshes < 0 || dimension < 0)
                throw new IllegalArgumentException("offline mining: a saved state has a negative step, refresh count or dimension");
            if (cursor < 0 || cursor > triplets.size())
                throw new IllegalArgumentException("offline mining: a saved state's cursor " + cursor + " is outside its "
                        + triplets.size() + " triplets");
            if (!stale && triplets.isEmpty())
                throw new IllegalArgumentException("offline mining: a saved state that is not due for a re-mine must hold triplets");
        }
    }

    private final int[] labels;
    private final Options o;
    private final Embedder embedder;
    private final PKSampler poolSampler;
    private final Rng rng;
    private List<Triplet> triplets = List.of();
    private int cursor;
    private long step;
    private int refreshes;
    private int dimension;
    private boolean stale = true;

    public OfflineMiner(int[] labels, Options options, Embedder embedder, long seed) {
        if (embedder == null) throw new IllegalArgumentException("offline mining: an embedder is required");
        this.labels = labels.clone();
        this.o = options;
        this.embedder = embedder;
        this.rng = new Rng(seed);
        this.poolSampler = new PKSampler(labels, options.poolP(), options.poolK(), 0, rng.nextLong());
    }

    /** The next batch of triplets; re-mines first on steps 0, N, 2N, ... */
    public TripletBatch next() {
        boolean refreshed = false;
        if (stale || step % o.refreshEvery() == 0) { refresh(); refreshed = true; }
        step++;
        int t = o.tripletsPerBatch();
        int[] idx = new int[3 * t], lab = new int[3 * t];
        for (int i = 0; i < t; i++) {
            if (cursor == triplets.size()) {
                // a new list, so that snapshots holding the old one stay valid
                List<Triplet> again = new ArrayList<>(triplets);
                shuffle(again);
                triplets = List.copyOf(again);
                cursor = 0;
            }
            Triplet tr = triplets.get(cursor++);
            idx[3 * i] = tr.anchor(); idx[3 * i + 1] = tr.positive(); idx[3 * i + 2] = tr.negative();
            lab[3 * i] = labels[tr.anchor()]; lab[3 * i + 1] = labels[tr.positive()]; lab[3 * i + 2] = labels[tr.negative()];
        }
        return new TripletBatch(idx, lab, refreshed);
    }

    /** Embeds a fresh pool with the current model and mines its triplets (called by {@link #next()}). */
    public void refresh() {
        PKSampler.Batch pool = poolSampler.next();
        int n = pool.size();
        float[] ef = embedder.embed(pool.indices());
        if (ef == null || ef.length == 0 || ef.length % n != 0)
            throw new IllegalStateException("offline mining: the embedder returned " + (ef == null ? "null" : ef.length + " floats")
                    + " for " + n + " images; expected n * D");
        int d = ef.length / n;
        dimension = d;
        double[] e = new double[ef.length];
        for (int i = 0; i < e.length; i++) e[i] = ef[i];
        double[] dist = ReferenceTriplet.distances(n, d, o.distance(), e);
        int[] y = pool.labels(), ix = pool.indices();
        List<Triplet> out = new ArrayList<>();
        for (int a = 0; a < n; a++) {
            List<Integer> negs = new ArrayList<>();
            for (int j = 0; j < n; j++) if (y[j] != y[a]) negs.add(j);
            if (negs.isEmpty()) continue;
            for (int p = 0; p < n; p++) {
                if (p == a || y[p] != y[a] || ix[p] == ix[a]) continue;   // two different images of one identity
                double dAp = dist[a * n + p];
                boolean random = o.randomShare() > 0 && rng.nextDouble() < o.randomShare();
                int neg;
                if (random) neg = negs.get(rng.nextInt(negs.size()));
                else neg = choose(dist, a * n, negs, dAp);
                out.add(new Triplet(ix[a], ix[p], ix[neg], dAp, dist[a * n + neg], random));
            }
        }
        if (out.isEmpty())
            throw new IllegalStateException("offline mining: the pool of " + n + " images has no anchor-positive pair of two different"
                    + " images; raise the pool's K or use identities with more images");
        shuffle(out);
        triplets = List.copyOf(out);
        cursor = 0;
        refreshes++;
        stale = false;
    }

    private int choose(double[] dist, int row, List<Integer> negs, double dAp) {
        int best = -1, far = -1;
        for (int n : negs) {
            double v = dist[row + n];
            if (o.choice() == Choice.HARDEST) {
                if (best < 0 || v < dist[row + best]) best = n;
            } else {
                if (v > dAp && (best < 0 || v < dist[row + best])) best = n;
                if (far < 0 || v > dist[row + far]) far = n;
            }
        }
        return best >= 0 ? best : far;
    }

    private void shuffle(List<Triplet> list) {
        for (int i = list.size() - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            Triplet t = list.get(i); list.set(i, list.get(j)); list.set(j, t);
        }
    }

    /** The triplets of the current round, in serving order (immutable). */
    public List<Triplet> currentTriplets() { return triplets; }

    /** How many times the pool has been embedded and mined. */
    public int refreshes() { return refreshes; }

    /** Steps served so far. */
    public long steps() { return step; }

    /** Embedding dimension seen at the last refresh (0 before the first). */
    public int dimension() { return dimension; }

    /** The miner's own generator state (for logs; checkpoints use {@link #snapshot()}). */
    public long state() { return rng.state(); }

    /** Whether the next {@link #next()} re-mines (and so embeds a pool with the model as it is then). */
    public boolean refreshesNext() { return stale || step % o.refreshEvery() == 0; }

    /** The whole state, for checkpoints; cheap (the triplet list is shared, not copied). */
    public State snapshot() {
        return new State(rng.state(), poolSampler.state(), step, refreshes, dimension, stale, triplets, cursor);
    }

    /**
     * Restores a {@link #snapshot()}: the next {@link #next()} serves what the snapshotted miner's would
     * have. The options and labels must be the ones it was taken with; triplets naming images outside the
     * labels are refused.
     */
    public void restore(State s) {
        if (s == null) throw new IllegalArgumentException("offline mining: no state to restore");
        for (Triplet t : s.triplets())
            for (int i : new int[] {t.anchor(), t.positive(), t.negative()})
                if (i < 0 || i >= labels.length)
                    throw new IllegalArgumentException("offline mining: a saved triplet names image " + i + " but the training set has "
                            + labels.length + " images (was the state saved with other data or --train-limit?)");
        rng.setState(s.rng());
        poolSampler.setState(s.poolSampler());
        step = s.step();
        refreshes = s.refreshes();
        dimension = s.dimension();
        stale = s.stale();
        triplets = s.triplets();
        cursor = s.cursor();
    }

    /** One line for the log. */
    public String describe() {
        return String.format(Locale.ROOT, "offline mining: every %d steps, pool %d x %d, %s negatives, %.0f%% random, %d triplets per batch",
                o.refreshEvery(), o.poolP(), o.poolK(), o.choice().name().toLowerCase(Locale.ROOT), 100 * o.randomShare(), o.tripletsPerBatch());
    }
}
