package dev.semihard.kernels.opencl;

import dev.semihard.engine.backend.KernelProfile;
import dev.semihard.engine.backend.KernelTimes;
import org.lwjgl.PointerBuffer;
import org.lwjgl.system.MemoryStack;

import java.nio.LongBuffer;
import java.util.List;

import static org.lwjgl.opencl.CL10.*;

/**
 * The OpenCL backend's {@link KernelProfile} bookkeeping: each launch's {@code cl_event} (the queue was
 * created with {@code CL_QUEUE_PROFILING_ENABLE}) waits in a list until the profile is read; then its
 * {@code CL_PROFILING_COMMAND_START/END} give the device time and the event is released. At most
 * {@link #MAX_PENDING} events wait: beyond that, the oldest half is waited for and read, so a long run
 * keeps a bounded number of events alive. Not thread-safe: the backend calls it under its own lock.
 */
final class OpenClKernelProfile extends KernelTimes<OpenClKernelProfile.Pending> {
    /** Pending events before the oldest half is resolved. */
    static final int MAX_PENDING = 4096;

    record Pending(String name, long event) {}

    OpenClKernelProfile() { super(MAX_PENDING); }

    /** Takes ownership of {@code event}, the event of one launch of kernel {@code name}. */
    void launched(String name, long event) { enqueue(new Pending(name, event)); }

    /** Waits for the newest event of the batch, adds the times, releases the events. */
    @Override
    protected void read(List<Pending> batch) {
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
                add(p.name(), Math.max(0, end - start) / 1e6);
            }
        } finally {
            for (Pending p : batch) clReleaseEvent(p.event());
        }
    }

    /** Releases the pending events without reading them (the backend is closing; its queue is finished). */
    void close() {
        for (Pending p : drain()) clReleaseEvent(p.event());
    }
}
