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
        precision = precision(precision);
        if (threads < 0) throw new IllegalArgumentException("threads must be >= 0, got " + threads);
        extra = extra == null ? Map.of() : Map.copyOf(extra);
    }

    /** {@code p} when it is a precision backends know ("fp32", "tf32"); null means "fp32"; anything else throws, naming both. */
    public static String precision(String p) {
        if (p == null) return "fp32";
        if (!p.equals("fp32") && !p.equals("tf32"))
            throw new IllegalArgumentException("unknown precision '" + p + "': use fp32 or tf32");
        return p;
    }

    public static BackendOptions defaults() { return new BackendOptions(null, "fp32", 0, Map.of()); }
}
