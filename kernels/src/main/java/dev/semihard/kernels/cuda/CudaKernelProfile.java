package dev.semihard.kernels.cuda;

import dev.semihard.engine.backend.KernelProfile;
import dev.semihard.engine.backend.KernelTimes;
import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;
import jcuda.driver.CUstream;

import java.util.ArrayDeque;
import java.util.List;

import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventElapsedTime;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;

/**
 * The CUDA backend's {@link KernelProfile} bookkeeping: {@link #launch} records a start event on the
 * stream, launches, records an end event, and queues the pair; nothing waits. The pairs become times
 * ({@code cuEventElapsedTime}) when the profile is read, after {@code cuEventSynchronize} on the newest
 * end event (one stream, so every earlier pair is complete too), and the events go back to a pool for
 * the next launches (no {@code cuEventCreate} in a steady loop). At most {@link #MAX_PENDING} pairs wait:
 * beyond that the oldest half is waited for and read, a host wait only when the GPU is thousands of
 * launches behind. Not thread-safe, like the backend; the caller makes the context current.
 */
final class CudaKernelProfile extends KernelTimes<CudaKernelProfile.Pending> {
    /** Pending launches (event pairs) before the oldest half is resolved. */
    static final int MAX_PENDING = 8192;

    record Pending(String name, CUevent start, CUevent end) {}

    private final CUstream stream;
    private final ArrayDeque<CUevent> pool = new ArrayDeque<>();
    private final float[] ms = new float[1];

    CudaKernelProfile(CUstream stream) {
        super(MAX_PENDING);
        this.stream = stream;
    }

    private CUevent take() {
        CUevent e = pool.poll();
        if (e != null) return e;
        e = new CUevent();
        cuEventCreate(e, CUevent_flags.CU_EVENT_DEFAULT);   // timing enabled
        return e;
    }

    /** Runs {@code launch} (one kernel launch on the stream) between a start and an end event. */
    void launch(String name, Runnable launch) {
        CUevent start = take();
        cuEventRecord(start, stream);
        try {
            launch.run();
        } catch (RuntimeException | Error e) {
            pool.push(start);   // recorded but never paired: reusable, re-recording replaces it
            throw e;
        }
        CUevent end = take();
        cuEventRecord(end, stream);
        enqueue(new Pending(name, start, end));
    }

    /** Waits for the newest end event of the batch, adds the times, pools the events. */
    @Override
    protected void read(List<Pending> batch) {
        try {
            cuEventSynchronize(batch.get(batch.size() - 1).end());
            for (Pending p : batch) {
                cuEventElapsedTime(ms, p.start(), p.end());
                add(p.name(), Math.max(0f, ms[0]));
            }
        } finally {
            for (Pending p : batch) { pool.push(p.start()); pool.push(p.end()); }
        }
    }

    /** Destroys every event (the backend is closing and has synchronized its stream). */
    void close() {
        for (Pending p : drain()) { cuEventDestroy(p.start()); cuEventDestroy(p.end()); }
        for (CUevent e : pool) cuEventDestroy(e);
        pool.clear();
    }
}
