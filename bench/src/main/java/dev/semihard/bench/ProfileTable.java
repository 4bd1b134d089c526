package dev.semihard.bench;

import dev.semihard.engine.backend.KernelProfile;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The per-kernel profile of one benchmark case ({@code semihard bench --profile}): for each kernel name,
 * launches and device milliseconds per iteration and their share of the iteration's wall time, from a
 * {@link KernelProfile} read after a few iterations on a backend created with profiling on.
 *
 * @param backend             backend name
 * @param iterations          profiled iterations (after one warm-up)
 * @param wallMsPerIteration  wall-clock milliseconds per profiled iteration, device synchronized after each
 *                            (profiling adds a little host work per launch, so this can exceed the case's median)
 * @param rows                every kernel, the largest time first
 */
public record ProfileTable(String backend, int iterations, double wallMsPerIteration, List<Row> rows) {
    /** Rows shown in the log and the Markdown file; the JSON has all. */
    public static final int TOP = 15;

    /**
     * One kernel name.
     *
     * @param kernel               the kernel's name in the .cl/.cu file
     * @param launchesPerIteration launches per iteration
     * @param msPerIteration       summed device milliseconds per iteration
     * @param share                msPerIteration / wallMsPerIteration
     */
    public record Row(String kernel, double launchesPerIteration, double msPerIteration, double share) {}

    /** The table from a profile snapshot covering {@code iterations} iterations that took {@code wallMs} in all. */
    public static ProfileTable of(String backend, int iterations, double wallMs, Map<String, KernelProfile.Stat> snapshot) {
        if (iterations < 1) throw new IllegalArgumentException("profile: need at least one iteration, got " + iterations);
        double wall = wallMs / iterations;
        List<Row> rows = new ArrayList<>();
        for (Map.Entry<String, KernelProfile.Stat> e : snapshot.entrySet()) {
            double ms = e.getValue().totalMillis() / iterations;
            rows.add(new Row(e.getKey(), (double) e.getValue().launches() / iterations, ms, wall > 0 ? ms / wall : 0));
        }
        rows.sort((a, b) -> Double.compare(b.msPerIteration(), a.msPerIteration()));
        return new ProfileTable(backend, iterations, wall, List.copyOf(rows));
    }

    /** Device milliseconds of all kernels per iteration. */
    public double kernelMsPerIteration() { return rows.stream().mapToDouble(Row::msPerIteration).sum(); }

    /** Kernel launches per iteration. */
    public double launchesPerIteration() { return rows.stream().mapToDouble(Row::launchesPerIteration).sum(); }

    /** The JSON form (every row). */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("backend", backend);
        m.put("iterations", iterations);
        m.put("wall_ms_per_iteration", round(wallMsPerIteration));
        m.put("kernel_ms_per_iteration", round(kernelMsPerIteration()));
        m.put("launches_per_iteration", round(launchesPerIteration()));
        List<Object> list = new ArrayList<>();
        for (Row r : rows) {
            Map<String, Object> x = new LinkedHashMap<>();
            x.put("kernel", r.kernel());
            x.put("launches_per_iteration", round(r.launchesPerIteration()));
            x.put("ms_per_iteration", round(r.msPerIteration()));
            x.put("share", round(r.share()));
            list.add(x);
        }
        m.put("kernels", list);
        return m;
    }

    private static double round(double v) { return Math.round(v * 1e6) / 1e6; }

    /** A Markdown table of the {@link #TOP} largest kernels, the rest in one line, and the totals. */
    public String markdown(String title) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "kernel profile %s (%s, %d iterations after 1 warm-up, %.3f ms wall per iteration)%n%n",
                title, backend, iterations, wallMsPerIteration));
        sb.append("| kernel | launches/iter | ms/iter | share |\n| --- | ---: | ---: | ---: |\n");
        double restMs = 0, restLaunches = 0;
        int restCount = 0;
        for (int i = 0; i < rows.size(); i++) {
            Row r = rows.get(i);
            if (i < TOP) sb.append(row(r.kernel(), r.launchesPerIteration(), r.msPerIteration()));
            else { restMs += r.msPerIteration(); restLaunches += r.launchesPerIteration(); restCount++; }
        }
        if (restCount > 0) sb.append(row("(" + restCount + " other kernels)", restLaunches, restMs));
        sb.append(row("**all kernels**", launchesPerIteration(), kernelMsPerIteration()));
        double outside = wallMsPerIteration - kernelMsPerIteration();
        sb.append(String.format(Locale.ROOT, "| (outside kernels: host, copies, gaps) | | %.3f | %.1f%% |%n",
                outside, wallMsPerIteration > 0 ? 100 * outside / wallMsPerIteration : 0));
        return sb.append('\n').toString();
    }

    private String row(String name, double launches, double ms) {
        String l = launches == Math.rint(launches) ? String.valueOf((long) launches) : String.format(Locale.ROOT, "%.2f", launches);
        return String.format(Locale.ROOT, "| %s | %s | %.3f | %.1f%% |%n", name, l, ms,
                wallMsPerIteration > 0 ? 100 * ms / wallMsPerIteration : 0);
    }
}
