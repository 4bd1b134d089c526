package dev.semihard.bench;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One row of a benchmark result file: the schema shared with {@code bench/python/bench_torch.py}
 * ({@code results[]} in {@code semihard-bench/1}, see {@code bench/README.md}).
 *
 * @param workload  "W1", "W2" or "W3"
 * @param key       what is measured, identical across tools so runs can be paired,
 *                  e.g. "W1/semihard/P45xK40", "W2/fmnist-cnn/B1024", "W3/fwd/256x32x48x48x32"
 * @param impl      which implementation: "fused" (our triplet kernel), "engine" (our train step),
 *                  "kernel" (our conv kernels); PyTorch: "tfa", "sorted", "torch"
 * @param params    sizes and settings (B, P, K, D, N, C, ...)
 * @param status    "ok", "OOM", "skipped" or "error"
 * @param detail    why, when the status is not ok (or a note)
 * @param ms        median milliseconds of one run (null unless ok)
 * @param msMin     fastest run
 * @param msMax     slowest run
 * @param runs      measured runs
 * @param rate      throughput in {@code rateUnit} at the median time
 * @param rateUnit  "GFLOP/s", "images/s", ...
 * @param peakBytes peak device memory (the backend's, or torch.cuda.max_memory_allocated), null when unknown
 * @param profile   the per-kernel profile ({@code semihard bench --profile}), null when not asked for;
 *                  written as {@code "profile"} only when present
 */
public record BenchResult(String workload, String key, String impl, Map<String, Object> params, String status,
                          String detail, Double ms, Double msMin, Double msMax, Integer runs, Double rate,
                          String rateUnit, Long peakBytes, ProfileTable profile) {

    public static BenchResult ok(String workload, String key, String impl, Map<String, Object> params, Timing t,
                                 Double rate, String rateUnit, Long peakBytes) {
        return new BenchResult(workload, key, impl, params, "ok", null, t.medianMs(), t.minMs(), t.maxMs(), t.runs(),
                rate, rateUnit, peakBytes, null);
    }

    public static BenchResult failed(String workload, String key, String impl, Map<String, Object> params,
                                     String status, String detail) {
        return new BenchResult(workload, key, impl, params, status, detail, null, null, null, null, null, null, null, null);
    }

    /** This result with a kernel profile attached. */
    public BenchResult withProfile(ProfileTable p) {
        return new BenchResult(workload, key, impl, params, status, detail, ms, msMin, msMax, runs, rate, rateUnit, peakBytes, p);
    }

    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("workload", workload);
        m.put("key", key);
        m.put("impl", impl);
        m.put("params", params);
        m.put("status", status);
        m.put("detail", detail);
        m.put("ms", ms);
        m.put("ms_min", msMin);
        m.put("ms_max", msMax);
        m.put("runs", runs);
        m.put("rate", rate);
        m.put("rate_unit", rateUnit);
        m.put("peak_bytes", peakBytes);
        if (profile != null) m.put("profile", profile.toMap());
        return m;
    }
}
