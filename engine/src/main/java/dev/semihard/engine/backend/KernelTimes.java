package dev.semihard.engine.backend;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The bookkeeping a native backend's {@link KernelProfile} shares with the others: launches wait in
 * order as device-specific handles of type {@code P} (an OpenCL event, a pair of CUDA events) until
 * the profile is read; at most {@code maxPending} wait, beyond that the oldest half is read, so a long
 * run keeps a bounded number of handles alive. The subclass says how to read a batch
 * ({@link #read}, calling {@link #add} per launch) and how to let go of handles. Not thread-safe.
 *
 * @param <P> one pending launch
 */
public abstract class KernelTimes<P> {
    private final int maxPending;
    private final ArrayDeque<P> pending = new ArrayDeque<>();
    private final Map<String, KernelProfile.Stat> totals = new HashMap<>();

    protected KernelTimes(int maxPending) {
        if (maxPending < 2) throw new IllegalArgumentException("KernelTimes: maxPending " + maxPending + " < 2");
        this.maxPending = maxPending;
    }

    /** Queues one launch; reads the oldest half when {@code maxPending} wait. */
    protected final void enqueue(P launch) {
        pending.add(launch);
        if (pending.size() >= maxPending) resolve(maxPending / 2);
    }

    /**
     * Waits for the launches of {@code batch} (oldest first; the queue is in order, so the newest
     * being complete means all are), {@link #add}s each one's time and lets go of their handles, also
     * when reading fails.
     */
    protected abstract void read(List<P> batch);

    /** Counts one launch of {@code kernel} that took {@code millis} of device time. */
    protected final void add(String kernel, double millis) {
        totals.merge(kernel, new KernelProfile.Stat(1, millis), (a, b) -> a.plus(b.launches(), b.totalMillis()));
    }

    private void resolve(int count) {
        if (count <= 0 || pending.isEmpty()) return;
        List<P> batch = new ArrayList<>(Math.min(count, pending.size()));
        for (int i = 0; i < count && !pending.isEmpty(); i++) batch.add(pending.poll());
        read(batch);
    }

    /** Every kernel's launches and device time so far, the slowest total first (waits for pending launches). */
    public final Map<String, KernelProfile.Stat> snapshot() {
        resolve(pending.size());
        return KernelProfile.slowestFirst(totals);
    }

    /** Forgets everything (pending launches are waited for and dropped). */
    public final void reset() {
        resolve(pending.size());
        totals.clear();
    }

    /** Forgets the totals and hands back the pending launches unread, for the subclass to release (closing). */
    protected final List<P> drain() {
        List<P> left = new ArrayList<>(pending);
        pending.clear();
        totals.clear();
        return left;
    }
}
