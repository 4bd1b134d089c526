package dev.semihard.kernels.cuda;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.BackendOptions;
import dev.semihard.engine.backend.Backends;
import dev.semihard.engine.backend.Buffer;
import dev.semihard.engine.backend.ConvGeometry;
import dev.semihard.engine.backend.Distance;
import dev.semihard.engine.backend.Strategy;
import dev.semihard.engine.backend.TripletOptions;
import dev.semihard.engine.backend.TripletStats;
import dev.semihard.engine.conformance.CheckResult;
import dev.semihard.engine.conformance.Conformance;
import dev.semihard.engine.reference.ReferenceBackend;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * A self-contained GPU check that needs no Maven or JUnit (the GPU machine has neither): the
 * conformance suite of every kernel against the reference backend, the TF32 tensor-core GEMMs
 * against the reference on TF32-rounded inputs ({@link Tf32Checks}), a full-size fused-loss check
 * against the reference, then timings with device events, printed as a table last: workload W1 (the
 * fused triplet loss, forward + backward, each backward version, and beyond 4096 rows also with the
 * distances' dot products on fp32 tiles instead of 3xTF32) and W3 convolution layers (fp32, TF32,
 * the 32- and 64-channel ones also without the 32 x 256 and 64 x 128 tiles, and all of them once more with the channel-major
 * convolution kernels instead of the tap-major ones).
 *
 * <pre>
 *   java -cp 'lib/*' dev.semihard.kernels.cuda.CudaSelfTest [--backend cuda] [--large] [--no-bench] [--quick] [--workloads W1,W3]
 * </pre>
 * {@code --workloads} picks which timings run (default both).
 * Exit status: 0 when every check passed, 1 on any mismatch, 2 when the backend is unavailable.
 */
public final class CudaSelfTest {
    private CudaSelfTest() {}

    public static void main(String[] args) {
        String name = "cuda";
        boolean large = false, bench = true, quick = false;
        java.util.Set<String> workloads = java.util.Set.of("W1", "W3");
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--backend" -> name = args[++i];
                case "--large" -> large = true;
                case "--no-bench" -> bench = false;
                case "--quick" -> quick = true;
                case "--workloads" -> {
                    workloads = new java.util.TreeSet<>(List.of(args[++i].toUpperCase(Locale.ROOT).split(",")));
                    if (!java.util.Set.of("W1", "W3").containsAll(workloads)) {
                        System.err.println("--workloads takes W1, W3 or W1,W3, got " + String.join(",", workloads));
                        System.exit(2);
                    }
                }
                case "--help", "-h" -> {
                    System.out.println("usage: CudaSelfTest [--backend cuda|opencl|reference] [--large] [--no-bench] [--quick] [--workloads W1,W3]");
                    return;
                }
                default -> { System.err.println("unknown option " + args[i] + " (try --help)"); System.exit(2); }
            }
        }
        Backend cand;
        try {
            cand = Backends.create(name);
        } catch (Backends.BackendUnavailableException e) {
            System.err.println("selftest: " + e.getMessage());
            System.exit(2);
            return;
        }
        int failures = 0;
        List<String> table = new ArrayList<>();
        try (Backend ref = new ReferenceBackend()) {
            System.out.println("selftest: " + cand.name() + " = " + cand.deviceDescription() + "; reference = " + ref.deviceDescription());
            long t0 = System.nanoTime();
            List<CheckResult> results = Conformance.runAll(ref, cand, large);
            int passed = 0, failed = 0, skipped = 0;
            for (CheckResult r : results) {
                if (r.skipped()) skipped++;
                else if (r.passed()) passed++;
                else { failed++; System.out.println("FAIL " + r.name() + ": " + r.detail()); }
            }
            for (CheckResult r : results) if (r.skipped()) System.out.println("SKIPPED " + r.name() + ": " + r.detail());
            System.out.printf(Locale.ROOT, "conformance: %d passed, %d FAILED, %d skipped of %d checks (%.1f s)%n",
                    passed, failed, skipped, results.size(), (System.nanoTime() - t0) / 1e9);
            failures += failed + skipped;
            table.add(String.format(Locale.ROOT, "| conformance | %d checks | %d passed, %d failed, %d skipped | |",
                    results.size(), passed, failed, skipped));

            if (cand instanceof CudaBackend) failures += tf32Checks(ref, table);

            // the fused loss at a real size against the reference (FaceNet's batch of 1800)
            for (Strategy st : new Strategy[]{Strategy.SEMIHARD, Strategy.BATCH_HARD, Strategy.BATCH_ALL}) {
                String r = compareLoss(ref, cand, quick ? 45 * 8 : 1800, quick ? 8 : 40, st);
                System.out.println(r);
                if (r.startsWith("FAIL")) failures++;
                table.add("| W1 check " + st.cliName + " B=" + (quick ? 360 : 1800) + " | " + r + " | | |");
            }
            if (bench) table.addAll(benchmarks(cand, quick, workloads));
        } catch (RuntimeException e) {
            e.printStackTrace(System.out);
            failures++;
            table.add("| error | " + e + " | | |");
        } finally {
            cand.close();
        }
        System.out.println();
        System.out.println("| what | size | result | rate |");
        System.out.println("| --- | --- | --- | --- |");
        for (String row : table) System.out.println(row);
        System.out.println(failures == 0 ? "SELFTEST PASSED" : "SELFTEST FAILED (" + failures + " problems)");
        System.exit(failures == 0 ? 0 : 1);
    }

    /**
     * {@link Tf32Checks} on a second CUDA backend made with precision "tf32" (and a kernel profile, to
     * show that every TF32 kernel ran); returns the number of problems (failures, kernels not reached).
     */
    static int tf32Checks(Backend ref, List<String> table) {
        long t0 = System.nanoTime();
        try (CudaBackend tf32 = new CudaBackend(new BackendOptions(null, "tf32", 0,
                Map.of(dev.semihard.engine.backend.KernelProfile.OPTION, "true")))) {
            List<CheckResult> results = Tf32Checks.run(ref, tf32, tf32.smCount());
            int failed = 0;
            for (CheckResult r : results) if (!r.passed()) { failed++; System.out.println("FAIL " + r.name() + ": " + r.detail()); }
            List<String> missing = Tf32Checks.notReached(tf32.snapshot().keySet(), tf32);
            System.out.printf(Locale.ROOT, "tf32: %d passed, %d FAILED of %d checks; kernels not reached: %s (%.1f s)%n",
                    results.size() - failed, failed, results.size(), missing.isEmpty() ? "none" : missing,
                    (System.nanoTime() - t0) / 1e9);
            table.add(String.format(Locale.ROOT, "| tf32 checks | %d checks, %d kernels | %d passed, %d failed, %d not reached | |",
                    results.size(), Tf32Checks.KERNELS.size(), results.size() - failed, failed, missing.size()));
            return failed + missing.size();
        }
    }

    /** L2-normalized Gaussian rows. */
    static float[] embeddings(int b, int d, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] e = new float[b * d];
        for (int i = 0; i < b; i++) {
            double sq = 0;
            double[] row = new double[d];
            for (int j = 0; j < d; j++) {
                double u1 = 1 - r.nextDouble(), u2 = r.nextDouble();
                row[j] = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
                sq += row[j] * row[j];
            }
            for (int j = 0; j < d; j++) e[i * d + j] = (float) (row[j] / Math.sqrt(sq));
        }
        return e;
    }

    static int[] labels(int p, int k) {
        int[] y = new int[p * k];
        for (int i = 0; i < y.length; i++) y[i] = i / k;
        return y;
    }

    /** Runs the fused loss on both backends; returns a one-line verdict (loss, stats and dE errors). */
    public static String compareLoss(Backend ref, Backend cand, int b, int k, Strategy st) {
        int d = 128;
        float[] e = ternary(b, d, 16, 7 + b);
        int[] y = labels(b / k, k);
        // margin 2.5: with integer distances a margin below 1 would leave almost every semihard unit inactive
        TripletOptions o = new TripletOptions(st, Distance.SQUARED_L2, 2.5f, false, b);
        float[][] got = new float[2][], stats = new float[2][];
        Backend[] both = {ref, cand};
        for (int i = 0; i < 2; i++) {
            Backend be = both[i];
            try (Buffer eb = be.allocate((long) b * d); Buffer dE = be.allocate((long) b * d); Buffer s = be.allocate(TripletStats.SIZE)) {
                be.upload(e, 0, eb, 0, e.length);
                be.tripletLoss(b, d, y, o, eb, dE, s);
                got[i] = new float[b * d];
                stats[i] = new float[TripletStats.SIZE];
                be.download(dE, 0, got[i], 0, got[i].length);
                be.download(s, 0, stats[i], 0, stats[i].length);
            }
        }
        // integer rows: every distance is an exact small integer in float32 and in double, so both
        // backends make the same mining decisions, exact ties (thousands here) included
        double maxErr = 0, maxRef = 0;
        int worst = -1, mismatched = 0;
        for (float v : got[0]) maxRef = Math.max(maxRef, Math.abs(v));
        for (int i = 0; i < got[0].length; i++) {
            double err = Math.abs(got[0][i] - got[1][i]);
            if (!(err <= 1e-5 * maxRef + 1e-4 * Math.abs(got[0][i]))) mismatched++;
            if (!(err <= maxErr)) { maxErr = err; worst = i; }
        }
        double lossErr = Math.abs(stats[0][TripletStats.LOSS] - stats[1][TripletStats.LOSS]);
        boolean countsOk = true;
        for (int i = TripletStats.UNITS; i <= TripletStats.ACTIVE; i++) countsOk &= stats[0][i] == stats[1][i];
        boolean ok = lossErr <= 1e-4 * (1 + Math.abs(stats[0][TripletStats.LOSS])) && countsOk && mismatched == 0
                && Double.isFinite(maxErr);
        return String.format(Locale.ROOT, "%s %s B=%d: loss ref %.6f got %.6f, units %.0f/%.0f, active %.0f/%.0f, found %.0f/%.0f, "
                        + "dE max err %.2e (max |dE| %.2e, at %d), %d elements off",
                ok ? "PASS" : "FAIL", st.cliName, b, stats[0][TripletStats.LOSS], stats[1][TripletStats.LOSS],
                stats[1][TripletStats.UNITS], stats[0][TripletStats.UNITS], stats[1][TripletStats.ACTIVE], stats[0][TripletStats.ACTIVE],
                stats[1][TripletStats.SEMIHARD_FOUND], stats[0][TripletStats.SEMIHARD_FOUND], maxErr, maxRef, worst, mismatched);
    }

    /**
     * Rows with {@code nonzero} entries of +-1 at random positions, the rest 0: squared distances are
     * integers, exact in float32, so a float32 backend and the double reference mine the same triplets.
     * (Random unit rows in 128 dimensions would not do: float32 rounding flips about one semihard choice
     * in a thousand between near-equal negatives, which moves the gradient of those rows.)
     */
    static float[] ternary(int b, int d, int nonzero, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] e = new float[b * d];
        for (int i = 0; i < b; i++) {
            int placed = 0;
            while (placed < nonzero) {
                int j = r.nextInt(d);
                if (e[i * d + j] != 0) continue;
                e[i * d + j] = r.nextBoolean() ? 1f : -1f;
                placed++;
            }
        }
        return e;
    }

    /** Median milliseconds of {@code reps} runs of {@code body} after {@code warm} warm-up runs. */
    static double time(Backend b, int warm, int reps, Runnable body) {
        for (int i = 0; i < warm; i++) body.run();
        double[] ms = new double[reps];
        if (b instanceof CudaBackend cb) {
            try (CudaBackend.Timer t = cb.timer()) {
                for (int i = 0; i < reps; i++) { t.start(); body.run(); ms[i] = t.stopMillis(); }
            }
        } else {
            for (int i = 0; i < reps; i++) {
                b.synchronize();
                long t0 = System.nanoTime();
                body.run();
                b.synchronize();
                ms[i] = (System.nanoTime() - t0) / 1e6;
            }
        }
        Arrays.sort(ms);
        return ms[reps / 2];
    }

    /** A CUDA backend in {@code precision} created with the switch {@code property} (read at creation) set to false. */
    private static CudaBackend backendWithout(String property, String precision) {
        System.setProperty(property, "false");
        try {
            return new CudaBackend(new BackendOptions(null, precision, 0, Map.of()));
        } finally {
            System.clearProperty(property);
        }
    }

    static List<String> benchmarks(Backend cand, boolean quick, java.util.Set<String> workloads) {
        List<String> rows = new ArrayList<>();
        int[][] w1 = !workloads.contains("W1") ? new int[0][]
                : quick ? new int[][]{{45, 8}} : new int[][]{{32, 8}, {45, 40}, {128, 32}, {512, 32}};
        for (Strategy st : new Strategy[]{Strategy.SEMIHARD, Strategy.BATCH_HARD, Strategy.BATCH_ALL}) {
            for (int[] pk : w1) {
                int b = pk[0] * pk[1], d = 128;
                if (st == Strategy.BATCH_ALL && b > 4096) continue;
                float[] e = embeddings(b, d, 11);
                int[] y = labels(pk[0], pk[1]);
                TripletOptions o = new TripletOptions(st, Distance.SQUARED_L2, 0.2f, false, b);
                cand.synchronize();
                long before = cand.peakBytes();
                try (Buffer eb = cand.allocate((long) b * d); Buffer dE = cand.allocate((long) b * d); Buffer s = cand.allocate(TripletStats.SIZE)) {
                    cand.upload(e, 0, eb, 0, e.length);
                    int reps = b >= 16384 ? 10 : 30;
                    // on CUDA, each backward version (CudaBackend.TripletBackward) of semihard and batch-hard, its
                    // gradient compared with the first version's
                    // beyond 4096 rows (distances from norms and dot products) also the dot products on fp32 FFMA
                    // tiles instead of 3xTF32 tensor cores: "fp32-dist"
                    List<String> vs = new ArrayList<>(cand instanceof CudaBackend && st != Strategy.BATCH_ALL
                            ? List.of("sym", "split", "dense") : java.util.Collections.singletonList((String) null));
                    if (cand instanceof CudaBackend && b > CudaBackend.DIFF_DISTANCE_MAX_ROWS) vs.add("fp32-dist");
                    // batch-hard is mined in the distance tiles; "stored-D": through a stored D and tripletMine
                    if (cand instanceof CudaBackend && st == Strategy.BATCH_HARD) vs.add("stored-D");
                    String[] versions = vs.toArray(new String[0]);
                    float[] first = null;
                    for (String v : versions) {
                        if ("fp32-dist".equals(v)) System.setProperty(CudaBackend.DISTANCE_TENSOR_CORES_PROPERTY, "false");
                        else if ("stored-D".equals(v)) System.setProperty(CudaBackend.FUSED_HARD_MINING_PROPERTY, "false");
                        else if (v != null) System.setProperty(CudaBackend.BACKWARD_PROPERTY, v);
                        try {
                            double ms = time(cand, 3, reps, () -> cand.tripletLoss(b, d, y, o, eb, dE, s));
                            float[] g = new float[b * d];
                            cand.download(dE, 0, g, 0, g.length);
                            double diff = 0;
                            if (first == null) first = g;
                            else for (int i = 0; i < g.length; i++) diff = Math.max(diff, Math.abs(g[i] - first[i]));
                            String row = String.format(Locale.ROOT, "| W1 %s fwd+bwd%s | P=%d K=%d B=%d | %.3f ms | peak %.0f MiB%s |",
                                    st.cliName, v == null ? "" : " [" + v + "]", pk[0], pk[1], b, ms,
                                    Math.max(before, cand.peakBytes()) / 1048576.0,
                                    g == first ? "" : String.format(Locale.ROOT, ", max |dE - dE[%s]| %.2e", versions[0], diff));
                            System.out.println(row);
                            rows.add(row);
                        } finally {
                            System.clearProperty(CudaBackend.BACKWARD_PROPERTY);
                            System.clearProperty(CudaBackend.DISTANCE_TENSOR_CORES_PROPERTY);
                            System.clearProperty(CudaBackend.FUSED_HARD_MINING_PROPERTY);
                        }
                    }
                }
            }
        }
        int[][] w3 = !workloads.contains("W3") ? new int[0][] : quick ? new int[][]{{8, 64, 24, 24, 64}, {1, 32, 16, 16, 32}}
                : new int[][]{{1024, 32, 14, 14, 64}, {256, 32, 48, 48, 32}, {256, 64, 24, 24, 64}, {256, 256, 6, 6, 256}};
        List<Backend> variants = new ArrayList<>(List.of(cand));
        List<String> names = new ArrayList<>(List.of("fp32"));
        if (cand instanceof CudaBackend) {
            variants.add(new CudaBackend(new BackendOptions(null, "tf32", 0, Map.of())));
            names.add("tf32");
            // the 32- and 64-channel layers once more without the 32 x 256 and 64 x 128 tiles: both shapes in one run
            variants.add(backendWithout(CudaBackend.THIN_TILES_PROPERTY, "fp32"));
            names.add("fp32 [64x64 only]");
            // and with the channel-major convolution kernels (each element finds its filter tap by division)
            variants.add(backendWithout(CudaBackend.CONV_TAPS_PROPERTY, "fp32"));
            names.add("fp32 [channel-major]");
            variants.add(backendWithout(CudaBackend.CONV_TAPS_PROPERTY, "tf32"));
            names.add("tf32 [channel-major]");
        }
        if (cand instanceof CudaBackend cu && w3.length > 0) {
            // the FMA units, the tile's inner loop, then a plain GEMM (no im2col) in both precisions: the
            // layers under the convolutions' rates (CudaCalibration)
            for (String row : CudaCalibration.rows(cu, quick)) { System.out.println(row); rows.add(row); }
            int n = quick ? 512 : 8192, in = quick ? 256 : 4096, out = quick ? 256 : 4096;
            for (int vi = 0; vi < 2; vi++) {
                Backend be = variants.get(vi);
                try (Buffer xb = be.allocate((long) n * in); Buffer wb = be.allocate((long) out * in);
                     Buffer yb = be.allocate((long) n * out)) {
                    be.fill(xb, 0, (long) n * in, 0.01f);
                    be.fill(wb, 0, (long) out * in, 0.02f);
                    double ms = time(be, 2, 10, () -> be.linearForward(n, in, out, xb, wb, null, yb));
                    String row = String.format(Locale.ROOT, "| W3 gemm %s | linear %dx%d -> %d | fwd %.3f ms | %.1f TFLOP/s |",
                            names.get(vi), n, in, out, ms, 2.0 * n * in * out / ms / 1e9);
                    System.out.println(row);
                    rows.add(row);
                }
            }
        }
        for (int vi = 0; vi < variants.size(); vi++) {
            Backend be = variants.get(vi);
            String prec = names.get(vi);
            boolean thinOff = prec.contains("64x64");
            for (int[] s : w3) {
                if (thinOff && s[1] > 64 && s[4] > 64) continue;   // that variant differs only where M <= 64
                ConvGeometry g = new ConvGeometry(s[0], s[1], s[2], s[3], s[4], 3, 3, 1, 1);
                float[] x = embeddings(1, (int) g.inputSize(), 3), w = embeddings(1, (int) g.weightSize(), 4);
                try (Buffer xb = be.allocate(g.inputSize()); Buffer wb = be.allocate(g.weightSize());
                     Buffer yb = be.allocate(g.outputSize()); Buffer dx = be.allocate(g.inputSize());
                     Buffer dw = be.allocate(g.weightSize())) {
                    be.upload(x, 0, xb, 0, x.length);
                    be.upload(w, 0, wb, 0, w.length);
                    double fwd = time(be, 3, 20, () -> be.conv2dForward(g, xb, wb, null, yb));
                    double data = time(be, 3, 20, () -> be.conv2dBackwardData(g, yb, wb, dx));
                    double filter = time(be, 3, 20, () -> be.conv2dBackwardFilter(g, xb, yb, dw, null));
                    double all = time(be, 3, 20, () -> {
                        be.conv2dForward(g, xb, wb, null, yb);
                        be.conv2dBackwardData(g, yb, wb, dx);
                        be.conv2dBackwardFilter(g, xb, yb, dw, null);
                    });
                    double f = g.forwardFlops();
                    // each of the three products has the forward's FLOPs: rates for fwd, data, filter, and all three
                    String row = String.format(Locale.ROOT,
                            "| W3 conv %s | N%d C%d %dx%d K%d | fwd %.3f ms, data %.3f, filter %.3f, fwd+bwd %.3f ms | %.1f / %.1f / %.1f / %.1f TFLOP/s |",
                            prec, s[0], s[1], s[2], s[3], s[4], fwd, data, filter, all,
                            f / fwd / 1e9, f / data / 1e9, f / filter / 1e9, 3 * f / all / 1e9);
                    System.out.println(row);
                    rows.add(row);
                }
            }
            if (be != cand) be.close();
        }
        return rows;
    }
}
