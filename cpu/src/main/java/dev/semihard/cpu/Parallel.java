package dev.semihard.cpu;

import dev.semihard.engine.util.Tasks;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ForkJoinPool;

/**
 * The CPU backend's worker threads, with <b>static</b> partitioning: a call splits its work into
 * {@link #threads()} contiguous chunks, chunk t always the same range for the same thread count, so
 * every partial sum (a filter gradient split over images, say) is formed and reduced in the same
 * order on every run. Chunk t also owns workspace t ({@link Workspace}), reused from call to call.
 *
 * <p>Small calls run on the calling thread as one chunk (no hand-off costs more than the work).
 */
final class Parallel implements AutoCloseable {
    /** Below this many multiply-adds (or element operations) a call runs as one chunk on the caller. */
    static final long MIN_PARALLEL_WORK = 1 << 16;

    /** The body of one chunk: chunk index t (the workspace to use) and its range [lo, hi). */
    @FunctionalInterface
    interface Chunk {
        void run(int t, int lo, int hi);
    }

    private final int threads;
    private final ForkJoinPool pool;

    Parallel(int threads) {
        this.threads = threads;
        this.pool = threads > 1 ? new ForkJoinPool(threads) : null;
    }

    int threads() { return threads; }

    /** Chunks a call of {@code count} items and {@code work} operations is split into. */
    int chunksFor(int count, long work) {
        return pool == null || count < 2 || work < MIN_PARALLEL_WORK ? 1 : Math.min(threads, count);
    }

    /**
     * Runs body over [0, count) in {@link #chunksFor} contiguous chunks: chunk t is
     * [t * count / chunks, (t + 1) * count / chunks). Returns the number of chunks used.
     */
    int range(int count, long work, Chunk body) {
        int chunks = chunksFor(count, work);
        return split(count, chunks, body);
    }

    /** As {@link #range}, with the number of chunks given (1 <= chunks <= threads). */
    int split(int count, int chunks, Chunk body) {
        if (chunks <= 1 || pool == null) {
            body.run(0, 0, count);
            return 1;
        }
        List<Callable<Void>> tasks = new ArrayList<>(chunks);
        for (int t = 0; t < chunks; t++) {
            final int id = t, lo = (int) ((long) t * count / chunks), hi = (int) ((long) (t + 1) * count / chunks);
            tasks.add(() -> { body.run(id, lo, hi); return null; });
        }
        Tasks.invokeAll(pool, tasks, "cpu backend");
        return chunks;
    }

    @Override
    public void close() {
        if (pool != null) pool.shutdown();
    }
}
