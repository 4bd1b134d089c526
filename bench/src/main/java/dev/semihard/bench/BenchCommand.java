package dev.semihard.bench;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.util.Json;

import java.io.IOException;
import java.io.PrintStream;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code semihard bench}: runs workloads W1, W2, W3 on one backend and writes
 * {@code semihard-<backend>.json} (schema {@code semihard-bench/1}, shared with
 * {@code bench/python/bench_torch.py}) and {@code semihard-<backend>.md} into the output folder.
 *
 * <p>No CLI library: the trainer's picocli command calls {@link #run(String, List, boolean, Path)}
 * or {@link #run(Config, PrintStream)}; {@link #main} parses the same options by hand.
 * <pre>
 *   java -cp bench/target/benchmarks.jar dev.semihard.bench.BenchCommand --backend reference --workloads W1,W3 --quick --out bench/results/cpu
 * </pre>
 */
public final class BenchCommand {
    private BenchCommand() {}

    public static final String SCHEMA = "semihard-bench/1";

    /**
     * Everything a run needs.
     *
     * @param backend   backend name ("reference", "opencl", "cuda" or "auto")
     * @param workloads "W1", "W2", "W3" (any subset)
     * @param quick     small sizes, few runs (CPUs)
     * @param outDir    where the JSON and Markdown files go (created)
     * @param threads   CPU threads for CPU backends (0 = all)
     * @param maxBatch  W1 batch cap; -1 = the backend's default (4096 on CPU backends, 1024 when quick, none on GPUs)
     * @param w3Batch   W3 batch override (0 = the workload's)
     * @param command   the command line to record in the results (null: reconstructed)
     * @param only      which W1 / W2 cases to run (null: all)
     * @param profileIterations W1 and W2: iterations of a per-kernel profile after each case (0 = none; --profile)
     * @param precision "fp32" or "tf32" (CUDA: convolutions and linear layers on tensor cores; W2 and W3 change,
     *                  W1's distances stay fp32). Other backends run fp32 and refuse "tf32".
     */
    public record Config(String backend, List<String> workloads, boolean quick, Path outDir, int threads, int maxBatch,
                         int w3Batch, String command, Workloads.Selection only, int profileIterations, String precision) {
        public Config {
            precision = dev.semihard.engine.backend.BackendOptions.precision(precision);
            workloads = Shapes.workloads(workloads);
            if (threads < 0) throw new IllegalArgumentException("--threads must be >= 0 (0 = all cores), got " + threads);
            if (outDir == null) throw new IllegalArgumentException("an output folder is required (--out DIR)");
            if (only == null) only = Workloads.Selection.all();
            if (profileIterations < 0)
                throw new IllegalArgumentException("--profile-iterations must be >= 1, got " + profileIterations);
        }

        /** Every case, no profile, fp32. */
        public Config(String backend, List<String> workloads, boolean quick, Path outDir, int threads, int maxBatch,
                      int w3Batch, String command) {
            this(backend, workloads, quick, outDir, threads, maxBatch, w3Batch, command, null, 0, "fp32");
        }
    }

    /** Profiled iterations per case of {@code --profile} unless {@code --profile-iterations} says otherwise. */
    public static final int DEFAULT_PROFILE_ITERATIONS = 5;

    /** Runs with the defaults for everything else; returns the process exit code (0 ok, 2 backend unavailable, 1 error). */
    public static int run(String backendName, List<String> workloads, boolean quick, Path outDir) {
        return run(new Config(backendName, workloads, quick, outDir, 0, -1, 0, null), System.out);
    }

    /** Runs the workloads and writes the two files; returns the exit code. */
    public static int run(Config cfg, PrintStream log) {
        Workloads.BackendFactory factory = cfg.backend().equals("auto")
                ? () -> dev.semihard.engine.backend.Backends.create("auto",
                        new dev.semihard.engine.backend.BackendOptions(null, cfg.precision(), cfg.threads(), Map.of()))
                : BenchBackends.factory(cfg.backend(), cfg.threads(), cfg.precision());
        String name, device;
        try (Backend probe = factory.open()) {
            name = probe.name();
            device = probe.deviceDescription();
            String problem = dev.semihard.engine.backend.Backends.precisionProblem(probe, cfg.precision());
            if (problem != null) {
                log.println("semihard bench: " + problem);   // refused, not timed in fp32 under a tf32 label
                return 1;
            }
        } catch (BenchBackends.BackendSkipped | dev.semihard.engine.backend.Backends.BackendUnavailableException e) {
            log.println("semihard bench: " + e.getMessage());
            return 2;
        } catch (IllegalArgumentException e) {      // a backend that refuses the options (tf32 off CUDA)
            log.println("semihard bench: " + e.getMessage());
            return 1;
        }
        if (cfg.backend().equals("auto")) {
            String chosen = name;
            factory = BenchBackends.factory(chosen, cfg.threads(), cfg.precision());
        }
        Workloads.BackendFactory backends = factory;
        try {
            Workloads.Options d = Workloads.Options.defaults(name, cfg.quick());
            Workloads.Options o = new Workloads.Options(cfg.quick(), cfg.maxBatch() >= 0 ? cfg.maxBatch() : d.maxBatch(),
                    cfg.w3Batch(), d.plan(), cfg.only(), cfg.profileIterations());
            log.println("semihard bench: backend " + name + " (" + device + "), workloads "
                    + cfg.workloads() + (cfg.quick() ? ", quick" : "") + (cfg.precision().equals("fp32") ? "" : ", " + cfg.precision())
                    + (cfg.profileIterations() > 0 ? ", kernel profile of W1/W2 over " + cfg.profileIterations() + " iterations" : ""));
            double loadBefore = loadAverage();
            List<BenchResult> results = new ArrayList<>();
            Files.createDirectories(cfg.outDir());
            String base = "semihard-" + name + (cfg.precision().equals("fp32") ? "" : "-" + cfg.precision());
            Path json = cfg.outDir().resolve(base + ".json");
            Path md = cfg.outDir().resolve(base + ".md");
            String table = "", summary = "";
            for (String w : cfg.workloads()) {
                switch (w) {
                    case "W1" -> results.addAll(Workloads.w1(backends, o, log::println));
                    case "W2" -> results.addAll(Workloads.w2(backends, o, log::println));
                    case "W3" -> results.addAll(Workloads.w3(backends, o, log::println));
                    default -> throw new IllegalStateException(w);
                }
                // written after every workload, so a run cut short by a time limit keeps what it measured
                Map<String, Object> doc = document(cfg, name, device, o, results);
                @SuppressWarnings("unchecked") Map<String, Object> m = (Map<String, Object>) doc.get("machine");
                m.put("loadavg_before", loadBefore < 0 ? null : Math.round(loadBefore * 100) / 100.0);
                double after = loadAverage();
                m.put("loadavg_after", after < 0 ? null : Math.round(after * 100) / 100.0);
                Files.writeString(json, Json.writePretty(doc) + "\n", StandardCharsets.UTF_8);
                table = markdown(doc, results, true);
                summary = markdown(doc, results, false);   // the profile tables were printed after their cases
                Files.writeString(md, table, StandardCharsets.UTF_8);
            }
            log.println();
            log.print(summary);
            log.println("wrote " + json + " and " + md);
            long failed = results.stream().filter(r -> r.status().equals("error")).count();
            return failed > 0 ? 1 : 0;
        } catch (IOException e) {
            log.println("semihard bench: cannot write results to " + cfg.outDir() + ": " + e.getMessage());
            return 1;
        }
    }

    static Map<String, Object> document(Config cfg, String name, String device, Workloads.Options o, List<BenchResult> results) {
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("schema", SCHEMA);
        doc.put("tool", "semihard");
        doc.put("backend", name);
        doc.put("device", device);
        doc.put("precision", cfg.precision());
        doc.put("threads", cfg.threads() == 0 ? Runtime.getRuntime().availableProcessors() : cfg.threads());
        doc.put("quick", cfg.quick());
        doc.put("max_batch", o.maxBatch());
        doc.put("date", Instant.now().truncatedTo(ChronoUnit.SECONDS).toString());
        doc.put("commit", commit());
        doc.put("command", cfg.command() != null ? cfg.command() : commandLine(cfg));
        doc.put("machine", machine());
        Map<String, Object> versions = new LinkedHashMap<>();
        versions.put("java", System.getProperty("java.version"));
        versions.put("jvm", System.getProperty("java.vm.name"));
        doc.put("versions", versions);
        Map<String, Object> timing = new LinkedHashMap<>();
        timing.put("warmup", o.plan().warmup());
        timing.put("min_runs", o.plan().minRuns());
        timing.put("max_runs", o.plan().maxRuns());
        timing.put("budget_s", o.plan().budgetSeconds());
        timing.put("statistic", "median; backend.synchronize() before each clock read");
        if (o.profileIterations() > 0) {
            timing.put("profile_iterations", o.profileIterations());
            timing.put("profile", "per case: a second backend with its kernel profile on, 1 warm-up iteration, then "
                    + o.profileIterations() + " iterations; device ms per kernel name (OpenCL event profiling / CUDA event pairs)");
        }
        doc.put("timing", timing);
        List<Object> rows = new ArrayList<>();
        for (BenchResult r : results) rows.add(r.toMap());
        doc.put("results", rows);
        return doc;
    }

    /** The Markdown table of one run (the same layout as bench_torch.py's), then the kernel profiles when asked for. */
    static String markdown(Map<String, Object> doc, List<BenchResult> results, boolean profiles) {
        StringBuilder sb = new StringBuilder();
        sb.append("### semihard, backend ").append(doc.get("backend")).append(" (").append(doc.get("device")).append(")\n\n");
        sb.append("date ").append(doc.get("date")).append(", commit ").append(doc.get("commit"))
                .append(", command `").append(doc.get("command")).append("`\n\n");
        sb.append("| key | impl | ms (median) | rate | peak memory | status |\n");
        sb.append("| --- | --- | ---: | ---: | ---: | --- |\n");
        for (BenchResult r : results) {
            sb.append("| ").append(r.key()).append(" | ").append(r.impl()).append(" | ")
                    .append(r.ms() == null ? "" : String.format(Locale.ROOT, "%.3f", r.ms())).append(" | ")
                    .append(r.rate() == null ? "" : String.format(Locale.ROOT, "%.4g %s", r.rate(), r.rateUnit())).append(" | ")
                    .append(r.peakBytes() == null ? "" : mib(r.peakBytes())).append(" | ")
                    .append(r.status().equals("ok") ? "ok" : r.status() + ": " + r.detail().replace("|", "/")).append(" |\n");
        }
        sb.append('\n');
        if (profiles) for (BenchResult r : results) if (r.profile() != null) sb.append(r.profile().markdown(r.key()));
        return sb.toString();
    }

    static String mib(long bytes) { return String.format(Locale.ROOT, "%.1f MiB", bytes / 1048576.0); }

    static String commandLine(Config c) {
        return "semihard bench --backend " + c.backend() + " --workloads " + String.join(",", c.workloads())
                + (c.quick() ? " --quick" : "") + (c.threads() > 0 ? " --threads " + c.threads() : "")
                + (c.maxBatch() >= 0 ? " --max-batch " + c.maxBatch() : "") + (c.w3Batch() > 0 ? " --w3-batch " + c.w3Batch() : "")
                + (c.only().w1Batches().isEmpty() ? "" : " --w1-batches " + join(c.only().w1Batches()))
                + (c.only().w1Strategies().isEmpty() ? "" : " --w1-strategies "
                        + join(c.only().w1Strategies().stream().map(s -> s.cliName).toList()))
                + (c.only().w2Models().isEmpty() ? "" : " --w2-models " + join(c.only().w2Models()))
                + (c.profileIterations() > 0 ? " --profile --profile-iterations " + c.profileIterations() : "")
                + " --out " + c.outDir();
    }

    private static String join(java.util.Collection<?> xs) {
        return String.join(",", xs.stream().map(String::valueOf).sorted().toList());
    }

    /** The commit: $SEMIHARD_COMMIT (set by scripts that carry no .git), else git, else null. */
    static String commit() {
        String env = System.getenv("SEMIHARD_COMMIT");
        if (env != null && !env.isBlank()) return env.trim();
        try {
            Process p = new ProcessBuilder("git", "rev-parse", "--short=12", "HEAD").redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            if (p.waitFor() == 0 && out.matches("[0-9a-f]{7,40}")) {
                Process dirty = new ProcessBuilder("git", "status", "--porcelain", "--untracked-files=no").start();
                String d = new String(dirty.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
                dirty.waitFor();
                return d.isEmpty() ? out : out + "+dirty";
            }
        } catch (IOException | InterruptedException e) {
            if (e instanceof InterruptedException) Thread.currentThread().interrupt();
        }
        return null;
    }

    static Map<String, Object> machine() {
        Map<String, Object> m = new LinkedHashMap<>();
        String host;
        try {
            host = InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            host = "unknown";
        }
        m.put("hostname", host);
        m.put("os", System.getProperty("os.name") + " " + System.getProperty("os.version"));
        m.put("arch", System.getProperty("os.arch"));
        m.put("cpus", Runtime.getRuntime().availableProcessors());
        String cpu = null;
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo")))
                if (line.startsWith("model name")) { cpu = line.substring(line.indexOf(':') + 1).trim(); break; }
        } catch (IOException | RuntimeException ignored) {
            // not Linux: leave it null
        }
        m.put("cpu_model", cpu);
        return m;
    }

    /** One-minute system load average, or -1 where the OS does not say (a busy machine makes CPU timings noisy). */
    static double loadAverage() {
        return java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
    }

    static final String USAGE = """
            usage: semihard bench [--backend NAME] [--workloads W1,W2,W3] [--quick] [--out DIR]
                                  [--threads N] [--max-batch B] [--w3-batch N]
                                  [--w1-batches B,...] [--w1-strategies S,...] [--w2-models M,...]
                                  [--profile] [--profile-iterations N] [--precision fp32|tf32]
              --backend     reference, opencl, cuda or auto (default auto)
              --workloads   any of W1 (triplet loss), W2 (train step), W3 (conv layers); default all
              --quick       CPU-sized: W1 up to B = 1024, W2 with B = 128 / 16, W3 with N = 8, few runs
              --out         output folder for semihard-<backend>.json and .md (default bench-results)
              --threads     CPU threads for CPU backends (default: all cores)
              --max-batch   largest W1 batch (default 4096 on CPU backends, 1024 with --quick, none on GPUs; 0 = none)
              --w3-batch    W3 batch N instead of the workload's
              --w1-batches  only these W1 batches B (of 256, 1024, 1800, 4096, 8192, 16384); default all
              --w1-strategies only these W1 strategies (semihard, batch-hard, batch-all); default all
              --w2-models   only these W2 models (fmnist-cnn, face-resnet10); default all
              --profile     after each W1/W2 case, a per-kernel profile (opencl, cuda): launches and device ms
                            per iteration and share of the iteration, printed and written to the results
              --profile-iterations  profiled iterations per case (default 5; implies --profile)
              --precision   fp32 (default) or tf32: CUDA convolutions and linear layers on tensor cores (W2, W3);
                            the files are then semihard-<backend>-tf32.json and .md
            """;

    /** Command-line entry point; exits with {@link #run(Config, PrintStream)}'s code (64 on a usage error). */
    public static void main(String[] args) {
        String backend = "auto";
        List<String> workloads = List.of("W1", "W2", "W3");
        boolean quick = false;
        Path out = Path.of("bench-results");
        int threads = 0, maxBatch = -1, w3Batch = 0, profile = 0;
        String w1Batches = null, w1Strategies = null, w2Models = null, precision = "fp32";
        Config cfg;
        try {
            for (int i = 0; i < args.length; i++) {
                String a = args[i];
                switch (a) {
                    case "-h", "--help" -> { System.out.print(USAGE); return; }
                    case "--quick" -> quick = true;
                    case "--backend" -> backend = value(args, ++i, a);
                    case "--workloads" -> workloads = Arrays.asList(value(args, ++i, a).split(","));
                    case "--out" -> out = Path.of(value(args, ++i, a));
                    case "--threads" -> threads = intValue(args, ++i, a);
                    case "--max-batch" -> maxBatch = intValue(args, ++i, a);
                    case "--w3-batch" -> w3Batch = intValue(args, ++i, a);
                    case "--w1-batches" -> w1Batches = value(args, ++i, a);
                    case "--w1-strategies" -> w1Strategies = value(args, ++i, a);
                    case "--w2-models" -> w2Models = value(args, ++i, a);
                    case "--profile" -> profile = profile > 0 ? profile : DEFAULT_PROFILE_ITERATIONS;
                    case "--precision" -> precision = value(args, ++i, a);
                    case "--profile-iterations" -> {
                        profile = intValue(args, ++i, a);
                        if (profile < 1) throw new IllegalArgumentException("--profile-iterations must be >= 1, got " + profile);
                    }
                    default -> throw new IllegalArgumentException("unknown option '" + a + "'");
                }
            }
            cfg = new Config(backend, workloads, quick, out, threads, maxBatch, w3Batch,
                    "BenchCommand " + String.join(" ", args), Workloads.Selection.parse(w1Batches, w1Strategies, w2Models), profile,
                    precision);
        } catch (IllegalArgumentException e) {
            System.err.println("semihard bench: " + e.getMessage());
            System.err.print(USAGE);
            System.exit(64);
            return;
        }
        System.exit(run(cfg, System.out));
    }

    private static String value(String[] args, int i, String opt) {
        if (i >= args.length) throw new IllegalArgumentException(opt + " needs a value");
        return args[i];
    }

    private static int intValue(String[] args, int i, String opt) {
        String v = value(args, i, opt);
        try {
            return Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(opt + " needs an integer, got '" + v + "'");
        }
    }
}
