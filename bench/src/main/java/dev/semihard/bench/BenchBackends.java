package dev.semihard.bench;

import dev.semihard.engine.Rng;
import dev.semihard.engine.backend.Availability;
import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.BackendOptions;
import dev.semihard.engine.backend.BackendProvider;
import dev.semihard.engine.backend.Backends;
import dev.semihard.engine.backend.Buffer;
import dev.semihard.engine.backend.KernelProfile;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Opening backends for benchmarks (with a clear "skipped" instead of a crash) and seeded test data. */
public final class BenchBackends {
    private BenchBackends() {}

    /** Thrown when a benchmark asks for a backend that cannot run here; the message says why and what to do. */
    public static final class BackendSkipped extends RuntimeException {
        public BackendSkipped(String message) { super(message, null, false, false); }
    }

    /** Every registered backend name with its availability (available or the reason it is not). */
    public static Map<String, Availability> probeAll() {
        Map<String, Availability> m = new LinkedHashMap<>();
        for (BackendProvider p : Backends.providers()) {
            Availability a;
            try {
                a = p.probe();
            } catch (Throwable t) { // probes must not throw; be defensive anyway
                a = Availability.no(t.toString());
            }
            m.put(p.name(), a);
        }
        return m;
    }

    /** Names of the backends that can run here, highest priority first. */
    public static List<String> available() {
        List<String> out = new ArrayList<>();
        probeAll().forEach((n, a) -> { if (a.available()) out.add(n); });
        return out;
    }

    /**
     * Opens the named backend with {@code threads} CPU threads (0 = all).
     *
     * @throws BackendSkipped when it is unknown or unavailable here, naming the reason
     */
    public static Backend open(String name, int threads) { return open(name, threads, false, "fp32"); }

    /**
     * Opens the named backend with {@code threads} CPU threads (0 = all) and a precision ("fp32", or "tf32"
     * for CUDA's tensor cores), recording a {@link KernelProfile} when {@code profile} is true and the
     * backend can.
     *
     * @throws BackendSkipped when it is unknown or unavailable here, naming the reason
     */
    public static Backend open(String name, int threads, boolean profile, String precision) {
        Map<String, Availability> all = probeAll();
        Availability a = all.get(name);
        if (a == null)
            throw new BackendSkipped("backend '" + name + "' is not on the class path here (known: " + all.keySet()
                    + "); skipping it. Choose another with -p backend=... or --backend.");
        if (!a.available())
            throw new BackendSkipped("backend '" + name + "' is unavailable here: " + a.detail()
                    + "; skipping it. Available: " + available() + ".");
        return Backends.create(name, new BackendOptions(null, precision, threads,
                profile ? Map.of(KernelProfile.OPTION, "true") : Map.of()));
    }

    /**
     * A factory of the named backend in the given precision, whose {@link Workloads.BackendFactory#openProfiled()}
     * records a kernel profile.
     */
    public static Workloads.BackendFactory factory(String name, int threads, String precision) {
        return Workloads.BackendFactory.of(() -> open(name, threads, false, precision), () -> open(name, threads, true, precision));
    }

    /** A buffer of {@code n} floats uniform in [lo, hi), from a seeded generator. */
    public static Buffer uniform(Backend b, long n, float lo, float hi, long seed) {
        float[] host = uniformHost(n, lo, hi, seed);
        Buffer buf = b.allocate(n);
        b.upload(host, 0, buf, 0, host.length);
        return buf;
    }

    public static float[] uniformHost(long n, float lo, float hi, long seed) {
        if (n > Integer.MAX_VALUE) throw new IllegalArgumentException("benchmark buffer too large: " + n + " floats");
        Rng r = new Rng(seed);
        float[] a = new float[(int) n];
        for (int i = 0; i < a.length; i++) a[i] = lo + (hi - lo) * r.nextFloat();
        return a;
    }

    /** {@code rows x d} standard-normal rows scaled to unit L2 norm (the W1 embeddings). */
    public static float[] unitRows(int rows, int d, long seed) {
        Rng r = new Rng(seed);
        float[] e = new float[rows * d];
        for (int i = 0; i < rows; i++) {
            double s = 0;
            for (int j = 0; j < d; j++) {
                double v = r.nextGaussian();
                e[i * d + j] = (float) v;
                s += v * v;
            }
            float inv = (float) (1 / Math.sqrt(Math.max(s, 1e-24)));
            for (int j = 0; j < d; j++) e[i * d + j] *= inv;
        }
        return e;
    }
}
