package dev.semihard.bench;

import dev.semihard.engine.Arena;
import dev.semihard.engine.Rng;
import dev.semihard.engine.Tensor;
import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.Buffer;
import dev.semihard.engine.backend.ConvGeometry;
import dev.semihard.engine.backend.Distance;
import dev.semihard.engine.backend.Strategy;
import dev.semihard.engine.backend.TripletOptions;
import dev.semihard.engine.backend.TripletStats;
import dev.semihard.engine.loss.TripletLoss;
import dev.semihard.engine.nn.EmbeddingModel;
import dev.semihard.engine.nn.Models;
import dev.semihard.engine.optim.Sgd;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * The reference workloads W1, W2 and W3 of {@code shared/BENCHMARKS.md} on one backend.
 *
 * <ul>
 *   <li><b>W1</b>: the fused {@code tripletLoss} kernel (forward and backward in one call) for each
 *       strategy, D = 128, unit-norm rows, P x K labels; B is capped by {@link Options#maxBatch()}.</li>
 *   <li><b>W2</b>: one SGD-momentum training step (forward, semi-hard loss, backward, update) of
 *       {@code fmnist-cnn} B = 1024 and {@code face-resnet10} B = 256 on random inputs; images/s.
 *       {@link Options#quick()} uses B = 128 and 16 ({@link #W2_QUICK}).</li>
 *   <li><b>W3</b>: the six conv layers, forward ({@code conv2dForward}) and forward + backward
 *       (plus {@code conv2dBackwardData} and {@code conv2dBackwardFilter}); GFLOP/s. Quick: N = 8.</li>
 * </ul>
 * Every time is the median of several runs after warm-up, with {@link Backend#synchronize()}
 * before each clock read ({@link Timing}). The quick sizes are the same in {@code bench_torch.py}.
 */
public final class Workloads {
    private Workloads() {}

    /**
     * Opens a fresh backend. Every case runs on its own backend instance, closed after the case,
     * so {@link Backend#peakBytes()} is that case's peak device memory (inputs included).
     */
    @FunctionalInterface
    public interface BackendFactory {
        Backend open();
    }

    /** W2 sizes under --quick (model, B, P, K); the same in bench_torch.py. */
    public static final List<Shapes.TrainCase> W2_QUICK = List.of(
            new Shapes.TrainCase("fmnist-cnn", 128, 16, 8),
            new Shapes.TrainCase("face-resnet10", 16, 4, 4));

    /** W3 batch under --quick; the same in bench_torch.py. */
    public static final int W3_QUICK_BATCH = 8;

    /** W1 batch cap under --quick. */
    public static final int W1_QUICK_MAX_BATCH = 1024;

    /**
     * @param quick    small sizes and few runs, for CPUs
     * @param maxBatch largest W1 batch to run (larger ones are recorded as skipped); 0 = no cap
     * @param w3Batch  W3 batch override (0 = the workload's own N, or {@link #W3_QUICK_BATCH} when quick)
     * @param plan     warm-up and run counts
     */
    public record Options(boolean quick, int maxBatch, int w3Batch, Timing.Plan plan) {
        public Options {
            if (maxBatch < 0) throw new IllegalArgumentException("--max-batch must be >= 0 (0 = no cap), got " + maxBatch);
            if (w3Batch < 0) throw new IllegalArgumentException("--w3-batch must be >= 0, got " + w3Batch);
        }

        /** Defaults for a backend: CPU backends cap W1 at B = 4096 (1024 when quick); device backends do not. */
        public static Options defaults(String backendName, boolean quick) {
            boolean cpu = backendName.equals("reference") || backendName.equals("opencl");
            int cap = quick ? W1_QUICK_MAX_BATCH : cpu ? 4096 : 0;
            return new Options(quick, cap, 0, quick ? Timing.Plan.quick() : Timing.Plan.standard());
        }
    }

    // ------------------------------------------------------------------ W1

    public static List<BenchResult> w1(BackendFactory backends, Options o, Consumer<String> log) {
        List<BenchResult> out = new ArrayList<>();
        int d = Shapes.D;
        for (int[] pk : Shapes.W1_PK) {
            int p = pk[0], k = pk[1], b = p * k;
            for (Strategy s : Strategy.values()) {
                String key = "W1/" + s.cliName + "/P" + p + "xK" + k;
                Map<String, Object> params = new LinkedHashMap<>();
                params.put("strategy", s.cliName);
                params.put("B", b);
                params.put("P", p);
                params.put("K", k);
                params.put("D", d);
                params.put("distance", "squared-l2");
                params.put("margin", 0.2);
                if (o.maxBatch() > 0 && b > o.maxBatch()) {
                    out.add(BenchResult.failed("W1", key, "fused", params, "skipped",
                            "B = " + b + " is above --max-batch " + o.maxBatch()));
                    continue;
                }
                log.accept(String.format("W1 %-10s B = %5d (P = %d, K = %d) ...", s.cliName, b, p, k));
                out.add(guard("W1", key, "fused", params, () -> {
                    TripletOptions opt = new TripletOptions(s, Distance.SQUARED_L2, 0.2f, false, b);
                    int[] labels = Shapes.pkLabels(p, k);
                    float[] host = BenchBackends.unitRows(b, d, 7);
                    try (Backend be = backends.open(); Buffer e = be.allocate((long) b * d); Buffer dE = be.allocate((long) b * d);
                         Buffer stats = be.allocate(TripletStats.SIZE)) {
                        be.upload(host, 0, e, 0, host.length);
                        Timing t = Timing.measure(be, o.plan(), () -> be.tripletLoss(b, d, labels, opt, e, dE, stats));
                        float[] st = new float[TripletStats.SIZE];
                        be.download(stats, 0, st, 0, st.length);
                        params.put("loss", (double) st[TripletStats.LOSS]);
                        params.put("active_fraction", (double) st[TripletStats.ACTIVE_FRACTION]);
                        return BenchResult.ok("W1", key, "fused", params, t, null, null, be.peakBytes());
                    }
                }, log));
            }
        }
        return out;
    }

    // ------------------------------------------------------------------ W2

    public static List<BenchResult> w2(BackendFactory backends, Options o, Consumer<String> log) {
        return w2(backends, o, o.quick() ? W2_QUICK : Shapes.W2, log);
    }

    /** W2 on the given cases (tests use tiny ones). */
    public static List<BenchResult> w2(BackendFactory backends, Options o, List<Shapes.TrainCase> cases, Consumer<String> log) {
        List<BenchResult> out = new ArrayList<>();
        for (Shapes.TrainCase c : cases) {
            String key = "W2/" + c.model() + "/B" + c.batch();
            Map<String, Object> params = new LinkedHashMap<>();
            params.put("model", c.model());
            params.put("B", c.batch());
            params.put("P", c.p());
            params.put("K", c.k());
            params.put("loss", "semihard, squared-l2, margin 0.2");
            params.put("optimizer", "sgd lr 0.01 momentum 0.9");
            log.accept(String.format("W2 %-13s B = %d ...", c.model(), c.batch()));
            out.add(guard("W2", key, "engine", params, () -> {
                try (Backend be = backends.open(); EmbeddingModel model = Models.create(c.model(), be, 0)) {
                    model.train(true);
                    Sgd opt = new Sgd(model.parameters(), 0.01f, 0.9f, false, 0f);
                    int[] in = model.inputShape();
                    int[] labels = Shapes.pkLabels(c.p(), c.k());
                    TripletOptions lossOpt = TripletOptions.facenet(c.batch());
                    long n = (long) c.batch() * in[0] * in[1] * in[2];
                    float[] host = new float[Math.toIntExact(n)];
                    Rng r = new Rng(11);
                    for (int i = 0; i < host.length; i++) host[i] = (float) r.nextGaussian();
                    try (Tensor x = Tensor.of(be, host, c.batch(), in[0], in[1], in[2])) {
                        float[] lastLoss = new float[1];
                        Runnable step = () -> {
                            try (Arena a = Arena.open()) {
                                Tensor e = model.forward(x);
                                TripletLoss.Result res = TripletLoss.compute(e, labels, lossOpt);
                                opt.zeroGrad();
                                res.loss().backward();
                                opt.step();
                                lastLoss[0] = res.stats().loss();
                            }
                        };
                        Timing t = Timing.measure(be, o.plan(), step);
                        if (!Float.isFinite(lastLoss[0]))
                            return BenchResult.failed("W2", key, "engine", params, "error", "non-finite loss " + lastLoss[0]);
                        params.put("last_loss", (double) lastLoss[0]);
                        params.put("parameters", model.parameterCount());
                        return BenchResult.ok("W2", key, "engine", params, t, c.batch() / (t.medianMs() / 1e3),
                                "images/s", be.peakBytes());
                    } finally {
                        opt.close();
                    }
                }
            }, log));
        }
        return out;
    }

    // ------------------------------------------------------------------ W3

    public static List<BenchResult> w3(BackendFactory backends, Options o, Consumer<String> log) {
        List<BenchResult> out = new ArrayList<>();
        int nOverride = o.w3Batch() > 0 ? o.w3Batch() : o.quick() ? W3_QUICK_BATCH : 0;
        for (int i = 0; i < Shapes.W3_NCHWK.length; i++) {
            ConvGeometry g = Shapes.w3(i, nOverride);
            String shape = g.n() + "x" + g.c() + "x" + g.h() + "x" + g.w() + "x" + g.k();
            for (boolean backward : new boolean[]{false, true}) {
                String pass = backward ? "fwdbwd" : "fwd";
                String key = "W3/" + pass + "/" + shape;
                Map<String, Object> params = new LinkedHashMap<>();
                params.put("layer", i + 1);
                params.put("pass", pass);
                params.put("N", g.n());
                params.put("C", g.c());
                params.put("H", g.h());
                params.put("W", g.w());
                params.put("K", g.k());
                double flops = g.forwardFlops() * (backward ? 3 : 1);
                params.put("gflop", flops / 1e9);
                log.accept(String.format("W3 layer %d %-6s %s ...", i + 1, pass, shape));
                out.add(guard("W3", key, "kernel", params, () -> {
                    try (Backend be = backends.open(); Buffer x = BenchBackends.uniform(be, g.inputSize(), -1f, 1f, 1);
                         Buffer w = BenchBackends.uniform(be, g.weightSize(), -0.1f, 0.1f, 2);
                         Buffer y = be.allocate(g.outputSize());
                         Buffer dy = BenchBackends.uniform(be, g.outputSize(), -1f, 1f, 3);
                         Buffer dx = be.allocate(g.inputSize());
                         Buffer dw = be.allocate(g.weightSize())) {
                        Runnable op = backward
                                ? () -> {
                                    be.conv2dForward(g, x, w, null, y);
                                    be.conv2dBackwardData(g, dy, w, dx);
                                    be.conv2dBackwardFilter(g, x, dy, dw, null);
                                }
                                : () -> be.conv2dForward(g, x, w, null, y);
                        Timing t = Timing.measure(be, o.plan(), op);
                        return BenchResult.ok("W3", key, "kernel", params, t, flops / 1e9 / (t.medianMs() / 1e3),
                                "GFLOP/s", be.peakBytes());
                    }
                }, log));
            }
        }
        return out;
    }

    // ------------------------------------------------------------------ helpers

    interface Case {
        BenchResult run() throws Exception;
    }

    /** Runs one case; out-of-memory becomes status "OOM", an unimplemented kernel "skipped", anything else "error". */
    static BenchResult guard(String workload, String key, String impl, Map<String, Object> params, Case c,
                             Consumer<String> log) {
        BenchResult r;
        try {
            r = c.run();
        } catch (OutOfMemoryError e) {
            r = BenchResult.failed(workload, key, impl, params, "OOM", "Java heap: " + e.getMessage());
        } catch (UnsupportedOperationException e) {
            r = BenchResult.failed(workload, key, impl, params, "skipped", "not implemented: " + e.getMessage());
        } catch (Exception e) {
            String msg = String.valueOf(e.getMessage());
            boolean oom = msg.toLowerCase().contains("out of memory") || msg.contains("OUT_OF_MEMORY")
                    || msg.contains("MEM_OBJECT_ALLOCATION_FAILURE");
            r = BenchResult.failed(workload, key, impl, params, oom ? "OOM" : "error", e.getClass().getSimpleName() + ": " + msg);
        }
        log.accept("   " + (r.status().equals("ok")
                ? String.format("%.3f ms (median of %d)%s", r.ms(), r.runs(),
                        r.rate() == null ? "" : String.format(", %.4g %s", r.rate(), r.rateUnit()))
                : r.status() + ": " + r.detail()));
        return r;
    }
}
