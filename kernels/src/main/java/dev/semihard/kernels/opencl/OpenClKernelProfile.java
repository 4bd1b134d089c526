package dev.semihard.kernels.opencl;

import dev.semihard.engine.backend.KernelProfile;
import org.lwjgl.PointerBuffer;
import org.lwjgl.system.MemoryStack;

import java.nio.LongBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.lwjgl.opencl.CL10.*;

/**
 * The OpenCL backend's {@link KernelProfile} bookkeeping: each launch's {@code cl_event} (the queue was
 * created with {@code CL_QUEUE_PROFILING_ENABLE}) waits in a list until the profile is read; then its
 * {@code CL_PROFILING_COMMAND_START/END} give the device time and the event is released. At most
 * {@link #MAX_PENDING} events wait: beyond that, the oldest half is waited for and read, so a long run
 * keeps a bounded number of events alive. Not thread-safe: the backend calls it under its own lock.
 */
final class OpenClKernelProfile {
    /** Pending events before the oldest half is resolved. */
    static final int MAX_PENDING = 4096;

    private record Pending(String name, long event) {}

    private final ArrayDeque<Pending> pending = new ArrayDeque<>();
    private final Map<String, KernelProfile.Stat> totals = new HashMap<>();

    /** Takes ownership of {@code event}, the event of one launch of kernel {@code name}. */
    void add(String name, long event) {
        pending.add(new Pending(name, event));
        if (pending.size() >= MAX_PENDING) resolve(MAX_PENDING / 2);
    }

    /** Waits for the oldest {@code count} pending launches, adds their times, releases their events. */
    private void resolve(int count) {
        if (count <= 0) return;
        List<Pending> batch = new ArrayList<>(count);
        for (int i = 0; i < count && !pending.isEmpty(); i++) batch.add(pending.poll());
        try (MemoryStack st = MemoryStack.stackPush()) {
            PointerBuffer last = st.mallocPointer(1).put(0, batch.get(batch.size() - 1).event());
            // the queue is in order: when the newest of the batch is complete, all of it is
            OpenClRuntime.check(clWaitForEvents(last), "clWaitForEvents");
            LongBuffer t = st.mallocLong(1);
            for (Pending p : batch) {
                OpenClRuntime.check(clGetEventProfilingInfo(p.event(), CL_PROFILING_COMMAND_START, t, null),
                        "clGetEventProfilingInfo(" + p.name() + ")");
                long start = t.get(0);
                OpenClRuntime.check(clGetEventProfilingInfo(p.event(), CL_PROFILING_COMMAND_END, t, null),
                        "clGetEventProfilingInfo(" + p.name() + ")");
                long end = t.get(0);
                double ms = Math.max(0, end - start) / 1e6;
                totals.merge(p.name(), new KernelProfile.Stat(1, ms), (a, b) -> a.plus(b.launches(), b.totalMillis()));
            }
        } finally {
            for (Pending p : batch) clReleaseEvent(p.event());
        }
    }

    /** Every kernel's launches and device time so far, the slowest total first (waits for pending launches). */
    Map<String, KernelProfile.Stat> snapshot() {
        resolve(pending.size());
        return KernelProfile.slowestFirst(totals);
    }

    /** Forgets everything (pending launches are waited for and dropped). */
    void reset() {
        resolve(pending.size());
        totals.clear();
    }

    /** Releases the pending events without reading them (the backend is closing; its queue is finished). */
    void close() {
        for (Pending p : pending) clReleaseEvent(p.event());
        pending.clear();
        totals.clear();
    }
}
