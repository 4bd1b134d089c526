package dev.semihard.engine.backend;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * Device time per kernel: an opt-in profile that a native backend keeps of every kernel it launches.
 *
 * <p>Off by default, and then free: a backend records only when it was created with the option
 * {@code profile=true} in {@link BackendOptions#extra()} ({@link #OPTION}) or with the system property
 * {@code -Dsemihard.profile=true} ({@link #PROPERTY}); see {@link #requested(BackendOptions)}. The OpenCL
 * backend reads each launch's event ({@code CL_QUEUE_PROFILING_ENABLE}, {@code CL_PROFILING_COMMAND_START/END});
 * the CUDA backend records a pair of events around each launch on its stream and turns them into times
 * only when the profile is read, so profiling adds no host synchronization per launch (it waits only when
 * thousands of launches are pending, for the oldest half). Both add a little host work per launch; where the
 * device waits for the host (tiny kernels), a CUDA kernel's time can include part of its own launch latency,
 * since the start event completes as soon as the stream reaches it. Copies,
 * uploads, downloads and CUDA's memsets are not kernels and are not counted. The reference backend does not
 * implement this interface.
 *
 * <p>Names are the kernel names of the {@code .cl} and {@code .cu} files (with CUDA's variant suffixes
 * such as {@code _pf}, {@code _small}, {@code _tf32}). Discover a backend's profile with {@link #of(Backend)}.
 */
public interface KernelProfile {
    /** The {@link BackendOptions#extra()} key that turns profiling on ("true"). */
    String OPTION = "profile";
    /** The system property that turns profiling on for every backend created in this JVM ("true"). */
    String PROPERTY = "semihard.profile";

    /**
     * Launches and device time of one kernel name.
     *
     * @param launches    how many launches were recorded
     * @param totalMillis their summed device time in milliseconds
     */
    record Stat(long launches, double totalMillis) {
        /** Mean device milliseconds per launch (0 when none). */
        public double meanMillis() { return launches == 0 ? 0 : totalMillis / launches; }

        /** This plus another stat of the same kernel. */
        public Stat plus(long moreLaunches, double moreMillis) { return new Stat(launches + moreLaunches, totalMillis + moreMillis); }
    }

    /** Whether this backend records kernel times (it was created with profiling on). */
    boolean profiling();

    /**
     * Every kernel launched since the start or the last {@link #reset()}, by name, the slowest total first.
     * Waits for the work queued so far to finish (it must, to read its times). Empty when not profiling.
     */
    Map<String, Stat> snapshot();

    /** Forgets everything recorded so far (waiting for queued launches first). */
    void reset();

    /** Whether {@code options} (or the system property {@link #PROPERTY}) ask for a kernel profile. */
    static boolean requested(BackendOptions options) {
        String v = options == null ? null : options.extra().get(OPTION);
        if (v == null) v = System.getProperty(PROPERTY);
        return v != null && (v.trim().toLowerCase(Locale.ROOT).equals("true") || v.trim().equals("1"));
    }

    /** {@code totals} ordered as {@link #snapshot()} returns them: the slowest total first (a new map). */
    static Map<String, Stat> slowestFirst(Map<String, Stat> totals) {
        List<Map.Entry<String, Stat>> list = new ArrayList<>(totals.entrySet());
        list.sort((a, b) -> Double.compare(b.getValue().totalMillis(), a.getValue().totalMillis()));
        Map<String, Stat> out = new LinkedHashMap<>();
        for (Map.Entry<String, Stat> e : list) out.put(e.getKey(), e.getValue());
        return out;
    }

    /** The backend's kernel profile when it records one; empty for backends without profiling or with it off. */
    static Optional<KernelProfile> of(Backend backend) {
        return backend instanceof KernelProfile p && p.profiling() ? Optional.of(p) : Optional.empty();
    }
}
