package dev.semihard.trainer.data;

import dev.semihard.engine.Rng;

import java.util.ArrayDeque;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;

/**
 * Builds training batches on background threads, ahead of the training loop, through a bounded
 * queue: while the device runs step s, workers decode and augment steps s+1 .. s+prefetch.
 *
 * <p>Determinism: the sampler is called on the caller's thread in step order, and each batch is
 * augmented with its own generator seeded from (seed, step), so the batches do not depend on the
 * number of threads or on timing. Each batch carries the sampler state from right <em>after</em> it
 * was drawn, so a checkpoint taken after step s can restore the sampler exactly for step s + 1 even
 * though the loader has already drawn a few batches ahead.
 *
 * <p>A sampler whose next batch depends on the model as it will be at that step (the offline miner's
 * re-mining batches) says so with {@link IndexSampler#mayDrawAhead()}: the loader then draws that batch only
 * when the training loop asks for it, so the batch does not depend on the prefetch depth, and a resumed run
 * draws it from the same model as the uninterrupted one.
 *
 * @param <S> the sampler's state snapshot (immutable), carried by each batch for checkpoints
 */
public final class BatchLoader<S> implements AutoCloseable {

    /** Chooses the images of each batch; stateful, with a state a checkpoint can store. */
    public interface IndexSampler<S> {
        /** The next batch: image indices, the first {@code anchorRows} of which may be anchors. */
        Sampled next();

        /** An immutable snapshot of the state (restored with {@link #restore}). */
        S state();

        void restore(S state);

        /**
         * Whether the next batch may be drawn before the training loop asks for it (true unless drawing it
         * reads something that changes as training goes, such as the model).
         */
        default boolean mayDrawAhead() { return true; }
    }

    /** A P x K sampler as the loader's sampler (its state: the generator's). */
    public static IndexSampler<Long> of(dev.semihard.engine.mining.PKSampler s) {
        return new IndexSampler<>() {
            public Sampled next() {
                dev.semihard.engine.mining.PKSampler.Batch b = s.next();
                return new Sampled(b.indices(), b.anchorRows());
            }
            public Long state() { return s.state(); }
            public void restore(Long st) { s.setState(st); }
        };
    }

    /** Indices of one batch; rows {@code [anchorRows, n)} are extra negatives. */
    public record Sampled(int[] indices, int anchorRows) {}

    /** A ready batch: normalized pixels [n, C, H, W], labels, and the sampler state right after drawing it. */
    public record Batch<S>(long step, float[] x, int[] labels, int anchorRows, S samplerStateAfter) {
        public int size() { return labels.length; }
    }

    private final Dataset data;
    private final IndexSampler<S> sampler;
    private final Augment augment;
    private final long seed;
    private final int prefetch;
    private final ExecutorService pool;
    private final ArrayDeque<Future<Batch<S>>> queue = new ArrayDeque<>();
    private final LinkedBlockingQueue<float[]> free = new LinkedBlockingQueue<>();
    private long nextStep;
    private int outH, outW;
    private boolean recycle;
    private float[] lent;

    /**
     * @param firstStep step number of the first batch (the resumed step after a checkpoint)
     * @param threads   worker threads (>= 1)
     * @param prefetch  batches prepared ahead (>= 1)
     */
    public BatchLoader(Dataset data, IndexSampler<S> sampler, Augment augment, long seed, long firstStep, int threads, int prefetch) {
        if (threads < 1 || prefetch < 1) throw new IllegalArgumentException("threads and prefetch must be >= 1");
        this.data = data;
        this.sampler = sampler;
        this.augment = augment;
        this.seed = seed;
        this.prefetch = prefetch;
        this.nextStep = firstStep;
        this.outH = data.height();
        this.outW = data.width();
        this.pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "batch-loader");
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * Batches of {@code h x w} windows of the stored images (a pack stored with a margin: the model's input is
     * smaller). With crop augmentation each image gets a uniformly random window, otherwise the centered one;
     * the flip of the augmentation mirrors it. Call before the first {@link #next()}.
     */
    public BatchLoader<S> outputSize(int h, int w) {
        if (h > data.height() || w > data.width())
            throw new DataException(data.name() + " stores " + data.height() + "x" + data.width() + " images, smaller than the "
                    + h + "x" + w + " input of the model: re-pack it with --size " + Math.max(h, w) + " or more");
        outH = h;
        outW = w;
        return this;
    }

    /**
     * Reuse the batch buffers ({@code prefetch + 1} of them): a batch's {@code x} is valid only until the next
     * {@link #next()} call. No pixel array is allocated per batch. Call before the first {@link #next()}.
     */
    public BatchLoader<S> recycleBuffers() {
        recycle = true;
        return this;
    }

    /**
     * The next batch in step order; blocks only when the workers are behind (or when the sampler did not
     * allow this batch to be drawn ahead: then it is drawn now, on the caller's thread).
     */
    public Batch<S> next() {
        if (lent != null) { free.add(lent); lent = null; }
        if (queue.isEmpty()) submit();
        Future<Batch<S>> f = queue.poll();
        while (queue.size() < prefetch && sampler.mayDrawAhead()) submit();
        try {
            Batch<S> b = f.get();
            if (recycle) lent = b.x();
            return b;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for a batch", e);
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof RuntimeException re) throw re;
            throw new IllegalStateException("batch loader failed: " + c, c);
        }
    }

    private void submit() {
        long step = nextStep++;
        Sampled s = sampler.next();
        S after = sampler.state();
        queue.add(pool.submit(() -> build(step, s, after)));
    }

    private Batch<S> build(long step, Sampled s, S after) throws InterruptedException {
        int c = data.channels(), per = c * outH * outW, n = s.indices().length;
        float[] x = buffer(n * per);
        int[] labels = new int[n];
        Rng rng = new Rng(mix(seed, step));
        boolean margin = outH != data.height() || outW != data.width();
        for (int i = 0; i < n; i++) {
            int idx = s.indices()[i];
            labels[i] = data.label(idx);
            if (margin) {
                // the window inside the stored margin: random with crop augmentation, else centered; then the flip
                boolean flip = augment != null && augment.flip() && rng.nextInt(2) == 1;
                int y0 = (data.height() - outH) / 2, x0 = (data.width() - outW) / 2;
                if (augment != null && augment.pad() > 0) {
                    y0 = rng.nextInt(data.height() - outH + 1);
                    x0 = rng.nextInt(data.width() - outW + 1);
                }
                data.copyWindow(idx, y0, x0, outH, outW, flip, x, i * per);
            } else {
                data.copyNormalized(idx, x, i * per);
                if (augment != null) augment.apply(x, i * per, c, outH, outW, -data.mean() / data.std(), rng);
            }
        }
        return new Batch<>(step, x, labels, s.anchorRows(), after);
    }

    /** A batch buffer: a free one when recycling (waits for the caller to give one back), else a new one. */
    private float[] buffer(int n) throws InterruptedException {
        if (!recycle) return new float[n];
        float[] b;
        synchronized (free) {
            b = free.poll();
            if (b == null && made < prefetch + 1) { made++; return new float[n]; }
        }
        if (b == null) b = free.take();
        return b.length == n ? b : new float[n];
    }

    private int made;

    /** A well-mixed seed for (seed, step). */
    public static long mix(long seed, long step) {
        long z = seed * 0x9E3779B97F4A7C15L + step * 0xC2B2AE3D27D4EB4FL + 0x165667B19E3779F9L;
        z = (z ^ (z >>> 33)) * 0xFF51AFD7ED558CCDL;
        z = (z ^ (z >>> 33)) * 0xC4CEB9FE1A85EC53L;
        return z ^ (z >>> 33);
    }

    @Override
    public void close() {
        pool.shutdownNow();
        queue.clear();
    }
}
