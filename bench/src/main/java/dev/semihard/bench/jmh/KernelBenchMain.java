package dev.semihard.bench.jmh;

import dev.semihard.bench.BenchBackends;
import dev.semihard.engine.backend.Availability;
import org.openjdk.jmh.infra.BenchmarkParams;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.CommandLineOptions;
import org.openjdk.jmh.runner.options.OptionsBuilder;

import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Runs the JMH kernel benchmarks like {@code org.openjdk.jmh.Main} (same command-line options),
 * with two additions:
 * <ul>
 *   <li>without {@code -p backend=...} it runs only the backends available here and says why each
 *       other one is skipped (plain JMH would report that parameter as a failure and go on);</li>
 *   <li>at the end it prints each result as ms/op next to GFLOP/s and GB/s, from the nominal work
 *       of each kernel ({@code work(...)} of each benchmark class).</li>
 * </ul>
 * <pre>
 *   java -cp bench/target/benchmarks.jar dev.semihard.bench.jmh.KernelBenchMain ConvBench -p shape=8x32x14x14x64
 *   java -jar bench/target/benchmarks.jar -l           # plain JMH: list the benchmarks
 * </pre>
 */
public final class KernelBenchMain {
    private KernelBenchMain() {}

    public static void main(String[] args) throws Exception {
        CommandLineOptions cli = new CommandLineOptions(args);
        if (cli.shouldHelp() || cli.shouldList() || cli.shouldListWithParams() || cli.shouldListProfilers()
                || cli.shouldListResultFormats()) {
            org.openjdk.jmh.Main.main(args);
            return;
        }
        ChainedOptionsBuilder opts = new OptionsBuilder().parent(cli);
        if (!cli.getParameter("backend").hasValue()) {
            List<String> run = new ArrayList<>();
            Map<String, Availability> all = BenchBackends.probeAll();
            for (String name : List.of("reference", "opencl", "cuda")) {
                Availability a = all.get(name);
                if (a == null) System.out.println("# skipping backend " + name + ": not on the class path");
                else if (!a.available()) System.out.println("# skipping backend " + name + ": " + a.detail());
                else run.add(name);
            }
            System.out.println("# backends: " + run);
            opts.param("backend", run.toArray(new String[0]));
        }
        Collection<RunResult> results = new Runner(opts.build()).run();
        System.out.println();
        System.out.print(table(results));
    }

    /** One row per result: benchmark, parameters, ms/op, GFLOP/s, GB/s (average-time mode only). */
    public static String table(Collection<RunResult> results) {
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[]{"kernel", "params", "ms/op", "GFLOP/s", "GB/s"});
        for (RunResult r : results) {
            BenchmarkParams bp = r.getParams();
            String full = bp.getBenchmark();
            int dot = full.lastIndexOf('.');
            String cls = full.substring(0, dot), method = full.substring(dot + 1);
            Map<String, String> params = new LinkedHashMap<>();
            for (String k : bp.getParamsKeys()) params.put(k, bp.getParam(k));
            String unit = r.getPrimaryResult().getScoreUnit();
            double ms = Double.NaN;
            if (unit.endsWith("/op")) ms = r.getPrimaryResult().getScore() * toMs(bp.getTimeUnit());
            Work w = work(cls, method, params);
            rows.add(new String[]{cls.substring(cls.lastIndexOf('.') + 1) + "." + method, params.toString(),
                    fmt(ms), w == null || w.flops() == 0 ? "-" : fmt(w.gflops(ms)), w == null ? "-" : fmt(w.gbytes(ms))});
        }
        int[] width = new int[5];
        for (String[] row : rows) for (int i = 0; i < 5; i++) width[i] = Math.max(width[i], row[i].length());
        StringBuilder sb = new StringBuilder();
        for (String[] row : rows) {
            for (int i = 0; i < 5; i++) {
                String cell = row[i];
                sb.append(i < 2 ? String.format("%-" + width[i] + "s", cell) : String.format("%" + width[i] + "s", cell));
                sb.append(i < 4 ? "  " : "\n");
            }
        }
        return sb.toString();
    }

    /** The nominal work of one invocation, or null when the class has no work model. */
    public static Work work(String className, String method, Map<String, String> params) {
        try {
            return (Work) Class.forName(className).getMethod("work", String.class, Map.class).invoke(null, method, params);
        } catch (ReflectiveOperationException | RuntimeException e) {
            return null;
        }
    }

    private static double toMs(TimeUnit u) {
        return switch (u) {
            case NANOSECONDS -> 1e-6;
            case MICROSECONDS -> 1e-3;
            case MILLISECONDS -> 1;
            case SECONDS -> 1e3;
            case MINUTES -> 6e4;
            case HOURS -> 3.6e6;
            case DAYS -> 8.64e7;
        };
    }

    private static String fmt(double v) {
        if (!Double.isFinite(v)) return "-";
        if (v >= 100) return String.format(Locale.ROOT, "%.0f", v);
        if (v >= 10) return String.format(Locale.ROOT, "%.1f", v);
        if (v >= 0.1) return String.format(Locale.ROOT, "%.2f", v);
        return String.format(Locale.ROOT, "%.3g", v);
    }
}
