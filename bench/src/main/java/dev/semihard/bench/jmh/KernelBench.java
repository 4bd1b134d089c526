package dev.semihard.bench.jmh;

import dev.semihard.bench.BenchBackends;
import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.Buffer;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Common base of the JMH kernel benchmarks: opens the backend named by the {@code backend}
 * parameter (an unavailable one throws {@link BenchBackends.BackendSkipped}, which JMH prints as
 * that parameter's failure, then goes on with the next), tracks buffers, and closes all.
 *
 * <p>Every {@code @Benchmark} method calls exactly one {@link Backend} kernel (named like it) and
 * then {@link Backend#synchronize()}, so device backends are timed to completion. Each subclass has
 * {@code public static Work work(String method, Map<String, String> params)}: the nominal flops and
 * bytes of one invocation, from which {@link KernelBenchMain} prints GFLOP/s and GB/s.
 */
public abstract class KernelBench {
    /** CPU threads for CPU backends (system property {@code semihard.bench.threads}, 0 = all). */
    static int threads() { return Integer.getInteger("semihard.bench.threads", 0); }

    protected Backend be;
    private final List<Buffer> buffers = new ArrayList<>();

    protected void open(String backendName) {
        be = BenchBackends.open(backendName, threads());
    }

    /** A zero-filled buffer. */
    protected Buffer zeros(long n) {
        Buffer b = be.allocate(n);
        buffers.add(b);
        return b;
    }

    /** A buffer uniform in [lo, hi). */
    protected Buffer uniform(long n, float lo, float hi, long seed) {
        Buffer b = BenchBackends.uniform(be, n, lo, hi, seed);
        buffers.add(b);
        return b;
    }

    /** A buffer holding {@code host}. */
    protected Buffer upload(float[] host) {
        Buffer b = be.allocate(host.length);
        be.upload(host, 0, b, 0, host.length);
        buffers.add(b);
        return b;
    }

    protected void closeAll() {
        for (Buffer b : buffers) b.close();
        buffers.clear();
        if (be != null) be.close();
        be = null;
    }

    /** An integer parameter of a {@link Work} computation, with a clear error when missing. */
    static String param(Map<String, String> params, String name) {
        String v = params.get(name);
        if (v == null) throw new IllegalArgumentException("benchmark parameter '" + name + "' missing in " + params);
        return v;
    }
}
