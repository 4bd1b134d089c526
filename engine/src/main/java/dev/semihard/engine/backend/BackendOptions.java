package dev.semihard.engine.backend;

import java.util.Map;

/**
 * Options a backend may read when created.
 *
 * @param device    device selector: an index ("0") or a substring of the device or platform name; null = default
 * @param precision "fp32" (default) or "tf32" (CUDA tensor cores for convolutions and linear layers)
 * @param threads   worker threads for CPU backends; 0 = all available processors
 * @param extra     backend-specific settings, e.g. "opencl.platform"
 */
public record BackendOptions(String device, String precision, int threads, Map<String, String> extra) {
    public BackendOptions {
        if (precision == null) precision = "fp32";
        if (!precision.equals("fp32") && !precision.equals("tf32"))
            throw new IllegalArgumentException("unknown precision '" + precision + "': use fp32 or tf32");
        if (threads < 0) throw new IllegalArgumentException("threads must be >= 0, got " + threads);
        extra = extra == null ? Map.of() : Map.copyOf(extra);
    }

    public static BackendOptions defaults() { return new BackendOptions(null, "fp32", 0, Map.of()); }
}
