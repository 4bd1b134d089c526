package dev.semihard.engine.backend;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.ServiceLoader;
import java.util.logging.Logger;

/**
 * Finds backends with {@link ServiceLoader} and picks one.
 *
 * <p>Selection: an explicit name ({@code --backend cuda}), or {@code auto} (the default, also
 * read from the system property {@code semihard.backend} or the environment variable
 * {@code SEMIHARD_BACKEND}), which picks the available backend with the highest priority and
 * logs the choice and why the faster ones were skipped.
 */
public final class Backends {
    private static final Logger LOG = Logger.getLogger(Backends.class.getName());
    public static final String PROPERTY = "semihard.backend";

    private Backends() {}

    /** Every provider on the class path, highest priority first. */
    public static List<BackendProvider> providers() {
        List<BackendProvider> list = new ArrayList<>();
        for (BackendProvider p : ServiceLoader.load(BackendProvider.class)) list.add(p);
        list.sort(Comparator.comparingInt((BackendProvider p) -> p.priority()).reversed());
        return list;
    }

    /** A provider with its probe's answer and the priority that answer gives it ({@link BackendProvider#priority(Availability)}). */
    public record Ranked(BackendProvider provider, Availability availability, int priority) {
        /** "name (priority P: reason)" when the rank depends on the device, else "name". */
        String describe() {
            String why = provider.priorityReason(availability);
            return provider.name() + (why == null ? "" : " (priority " + priority + ": " + why + ")");
        }
    }

    /**
     * Every provider, probed, highest {@link BackendProvider#priority(Availability)} first (ties keep
     * {@link #providers()} order): the order {@code auto} tries them in.
     */
    public static List<Ranked> ranked() {
        List<Ranked> list = new ArrayList<>();
        for (BackendProvider p : providers()) {
            Availability a = p.probe();
            list.add(new Ranked(p, a, p.priority(a)));
        }
        list.sort(Comparator.comparingInt(Ranked::priority).reversed());
        return list;
    }

    /** The name asked for by the system property or environment, or "auto". */
    public static String requestedName() {
        String s = System.getProperty(PROPERTY);
        if (s == null || s.isBlank()) s = System.getenv("SEMIHARD_BACKEND");
        return s == null || s.isBlank() ? "auto" : s.trim();
    }

    public static Backend create(String name) { return create(name, BackendOptions.defaults()); }

    /**
     * Creates the named backend, or the best available one for "auto".
     *
     * @throws BackendUnavailableException naming the reason and what to do instead
     */
    public static Backend create(String name, BackendOptions options) {
        String want = (name == null ? "auto" : name).toLowerCase(Locale.ROOT);
        List<BackendProvider> all = providers();
        if (want.equals("auto")) {
            List<Ranked> ranked = ranked();
            for (Ranked r : ranked) {
                if (!r.availability().available()) continue;
                Backend b = r.provider().create(options);
                LOG.info(autoLine(ranked, b.deviceDescription()));
                warnPrecision(b, options);
                return b;
            }
            throw new BackendUnavailableException("no backend is available: " + unavailable(ranked, ranked.size()));
        }
        for (BackendProvider p : all) {
            if (!p.name().equals(want)) continue;
            Availability a = p.probe();
            if (!a.available())
                throw new BackendUnavailableException("backend '" + want + "' is unavailable: " + a.detail()
                        + ". Run 'semihard info' to see every backend, or use --backend auto or --backend reference.");
            Backend b = p.create(options);
            LOG.info(choiceLine(p.name(), b.deviceDescription(), ""));
            warnPrecision(b, options);
            return b;
        }
        List<String> names = new ArrayList<>();
        for (BackendProvider p : all) names.add(p.name());
        throw new BackendUnavailableException("unknown backend '" + name + "': known backends are " + names + " and auto");
    }

    /**
     * The one line that reports a backend choice: "backend: NAME (DEVICE)", then, for {@code auto},
     * "; skipped NAME: REASON; NAME: REASON" for each faster backend that was unavailable.
     */
    public static String choiceLine(String name, String device, String skipped) {
        return "backend: " + name + " (" + device + ")" + (skipped == null || skipped.isEmpty() ? "" : "; skipped " + skipped);
    }

    /**
     * The line {@code auto} would log, from the probes alone (nothing is created): the first available
     * provider in priority order, the reasons of the unavailable ones before it, and the available ones
     * ranked below it by their device; null if none is available.
     */
    public static String autoChoiceLine(List<Ranked> ranked) { return autoLine(ranked, null); }

    /** The auto line with the chosen backend's device description ({@code device}; null: its probe's detail). */
    private static String autoLine(List<Ranked> ranked, String device) {
        for (int i = 0; i < ranked.size(); i++) {
            Ranked r = ranked.get(i);
            if (!r.availability().available()) continue;
            StringBuilder below = new StringBuilder();
            for (Ranked later : ranked.subList(i + 1, ranked.size()))
                if (later.availability().available() && later.provider().priorityReason(later.availability()) != null)
                    below.append(below.length() > 0 ? "; " : "").append(later.describe());
            return choiceLine(r.describe(), device != null ? device : r.availability().detail(), unavailable(ranked, i))
                    + (below.length() > 0 ? "; ranked below it: " + below : "");
        }
        return null;
    }

    /** "NAME: REASON; NAME: REASON" for the unavailable providers among the first {@code n}. */
    private static String unavailable(List<Ranked> ranked, int n) {
        StringBuilder sb = new StringBuilder();
        for (Ranked r : ranked.subList(0, n)) {
            if (r.availability().available()) continue;
            if (sb.length() > 0) sb.append("; ");
            sb.append(r.provider().name()).append(": ").append(r.availability().detail());
        }
        return sb.toString();
    }

    /** One warning line when the backend computes in another precision than the options asked for. */
    private static void warnPrecision(Backend b, BackendOptions options) {
        String problem = precisionProblem(b, options.precision());
        if (problem != null) LOG.warning(problem);
    }

    /** Null when {@code b} computes in {@code asked}; else what it computes in instead and what would give {@code asked}. */
    public static String precisionProblem(Backend b, String asked) {
        if (b.precision().equals(asked)) return null;
        return "backend '" + b.name() + "' has no " + asked + " path: it computes in " + b.precision()
                + " (TF32 tensor cores need --backend cuda on an NVIDIA GPU of compute capability 8.0 or newer)";
    }

    /** Thrown when the requested backend cannot be used; the message says why and what to do. */
    public static final class BackendUnavailableException extends RuntimeException {
        public BackendUnavailableException(String message) { super(message); }
    }
}
