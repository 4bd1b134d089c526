package dev.semihard.bench;

import dev.semihard.engine.Arena;
import dev.semihard.engine.Rng;
import dev.semihard.engine.Tensor;
import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.Buffer;
import dev.semihard.engine.backend.ConvGeometry;
import dev.semihard.engine.backend.Distance;
import dev.semihard.engine.backend.KernelProfile;
import dev.semihard.engine.backend.Strategy;
import dev.semihard.engine.backend.TripletOptions;
import dev.semihard.engine.backend.TripletStats;
import dev.semihard.engine.loss.TripletLoss;
import dev.semihard.engine.nn.EmbeddingModel;
import dev.semihard.engine.nn.Models;
import dev.semihard.engine.optim.Sgd;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * The reference workloads W1, W2 and W3 of {@code docs/benchmarks.md} on one backend.
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
 *
 * <p>With {@link Options#profileIterations()} > 0 (W1 and W2), each case that ran is run once more on a
 * second backend created with its {@link KernelProfile} on (so the timings above are not perturbed): one
 * warm-up iteration, then that many iterations whose per-kernel device times become a {@link ProfileTable}
 * attached to the result and printed after it.
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

        /** A backend of the same kind that records a {@link KernelProfile}; by default {@link #open()}. */
        default Backend openProfiled() { return open(); }

        /** A factory whose {@link #openProfiled()} is {@code profiled}. */
        static BackendFactory of(BackendFactory plain, BackendFactory profiled) {
            return new BackendFactory() {
                @Override public Backend open() { return plain.open(); }
                @Override public Backend openProfiled() { return profiled.open(); }
            };
        }
    }

    /**
     * Which W1 and W2 cases to run (empty sets: all of them).
     *
     * @param w1Batches    W1 batch sizes B = P * K to keep (values of {@link Shapes#W1_PK})
     * @param w1Strategies W1 strategies to keep
     * @param w2Models     W2 model names to keep
     */
    public record Selection(Set<Integer> w1Batches, Set<Strategy> w1Strategies, Set<String> w2Models) {
        public Selection {
            w1Batches = Set.copyOf(w1Batches == null ? Set.of() : w1Batches);
            w1Strategies = Set.copyOf(w1Strategies == null ? Set.of() : w1Strategies);
            w2Models = Set.copyOf(w2Models == null ? Set.of() : w2Models);
            List<Integer> known = new ArrayList<>();
            for (int[] pk : Shapes.W1_PK) known.add(pk[0] * pk[1]);
            for (int b : w1Batches)
                if (!known.contains(b)) throw new IllegalArgumentException("--w1-batches: W1 has no batch " + b + "; its batches are " + known);
            List<String> w2Names = Shapes.W2.stream().map(Shapes.TrainCase::model).toList();
            for (String m : w2Models)
                if (!w2Names.contains(m))
                    throw new IllegalArgumentException("--w2-models: W2 has no model '" + m + "'; its models are " + w2Names
                            + (Models.names().contains(m) ? " (" + m + " is a model for training, not one of W2's workloads)" : ""));
        }

        public static Selection all() { return new Selection(Set.of(), Set.of(), Set.of()); }

        /** Parses comma-separated lists (null or blank: all). */
        public static Selection parse(String w1Batches, String w1Strategies, String w2Models) {
            Set<Integer> b = new LinkedHashSet<>();
            for (String x : split(w1Batches)) {
                try {
                    b.add(Integer.parseInt(x));
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("--w1-batches: '" + x + "' is not an integer");
                }
            }
            Set<Strategy> s = new LinkedHashSet<>();
            for (String x : split(w1Strategies)) s.add(Strategy.parse(x));
            return new Selection(b, s, new LinkedHashSet<>(split(w2Models)));
        }

        private static List<String> split(String list) {
            List<String> out = new ArrayList<>();
            if (list != null) for (String x : list.split(",")) if (!x.isBlank()) out.add(x.trim());
            return out;
        }

        boolean w1(int b, Strategy s) {
            return (w1Batches.isEmpty() || w1Batches.contains(b)) && (w1Strategies.isEmpty() || w1Strategies.contains(s));
        }

        boolean w2(String model) { return w2Models.isEmpty() || w2Models.contains(model); }
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
     * @param only     which W1 / W2 cases to run
     * @param profileIterations W1 and W2: iterations of a per-kernel profile after each case (0 = none)
     */
    public record Options(boolean quick, int maxBatch, int w3Batch, Timing.Plan plan, Selection only, int profileIterations) {
        public Options {
            if (maxBatch < 0) throw new IllegalArgumentException("--max-batch must be >= 0 (0 = no cap), got " + maxBatch);
            if (w3Batch < 0) throw new IllegalArgumentException("--w3-batch must be >= 0, got " + w3Batch);
            if (profileIterations < 0)
                throw new IllegalArgumentException("--profile-iterations must be >= 1 (0 = no profile), got " + profileIterations);
            if (only == null) only = Selection.all();
        }

        /** Every case, no profile. */
        public Options(boolean quick, int maxBatch, int w3Batch, Timing.Plan plan) {
            this(quick, maxBatch, w3Batch, plan, Selection.all(), 0);
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
                if (!o.only().w1(b, s)) continue;
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
                Function<Backend, Op> make = be -> new W1Op(be, s, p, k, d);
                BenchResult r = guard("W1", key, "fused", params, () -> {
                    try (Backend be = backends.open(); W1Op op = new W1Op(be, s, p, k, d)) {
                        Timing t = Timing.measure(be, o.plan(), op);
                        float[] st = op.stats();
                        params.put("loss", (double) st[TripletStats.LOSS]);
                        params.put("active_fraction", (double) st[TripletStats.ACTIVE_FRACTION]);
                        return BenchResult.ok("W1", key, "fused", params, t, null, null, be.peakBytes());
                    }
                }, log);
                out.add(profiled(r, backends, o, make, log));
            }
        }
        return out;
    }

    /** One W1 iteration: the fused triplet loss (forward and backward) on seeded unit rows. */
    private static final class W1Op implements Op {
        final Backend be;
        final int b, d;
        final int[] labels;
        final TripletOptions opt;
        final Buffer e, dE, stats;

        W1Op(Backend be, Strategy s, int p, int k, int d) {
            this.be = be;
            this.b = p * k;
            this.d = d;
            this.opt = new TripletOptions(s, Distance.SQUARED_L2, 0.2f, false, b);
            this.labels = Shapes.pkLabels(p, k);
            float[] host = BenchBackends.unitRows(b, d, 7);
            e = be.allocate((long) b * d);
            dE = be.allocate((long) b * d);
            stats = be.allocate(TripletStats.SIZE);
            be.upload(host, 0, e, 0, host.length);
        }

        @Override public void run() { be.tripletLoss(b, d, labels, opt, e, dE, stats); }

        float[] stats() {
            float[] st = new float[TripletStats.SIZE];
            be.download(stats, 0, st, 0, st.length);
            return st;
        }

        @Override
        public void close() {
            e.close();
            dE.close();
            stats.close();
        }
    }

    // ------------------------------------------------------------------ W2

    public static List<BenchResult> w2(BackendFactory backends, Options o, Consumer<String> log) {
        return w2(backends, o, o.quick() ? W2_QUICK : Shapes.W2, log);
    }

    /** W2 on the given cases (tests use tiny ones). */
    public static List<BenchResult> w2(BackendFactory backends, Options o, List<Shapes.TrainCase> cases, Consumer<String> log) {
        List<BenchResult> out = new ArrayList<>();
        for (Shapes.TrainCase c : cases) {
            if (!o.only().w2(c.model())) continue;
            String key = "W2/" + c.model() + "/B" + c.batch();
            Map<String, Object> params = new LinkedHashMap<>();
            params.put("model", c.model());
            params.put("B", c.batch());
            params.put("P", c.p());
            params.put("K", c.k());
            params.put("loss", "semihard, squared-l2, margin 0.2");
            params.put("optimizer", "sgd lr 0.01 momentum 0.9");
            log.accept(String.format("W2 %-13s B = %d ...", c.model(), c.batch()));
            BenchResult r = guard("W2", key, "engine", params, () -> {
                try (Backend be = backends.open(); W2Op step = new W2Op(be, c)) {
                    Timing t = Timing.measure(be, o.plan(), step);
                    if (!Float.isFinite(step.lastLoss))
                        return BenchResult.failed("W2", key, "engine", params, "error", "non-finite loss " + step.lastLoss);
                    params.put("last_loss", (double) step.lastLoss);
                    params.put("parameters", step.model.parameterCount());
                    return BenchResult.ok("W2", key, "engine", params, t, c.batch() / (t.medianMs() / 1e3),
                            "images/s", be.peakBytes());
                }
            }, log);
            out.add(profiled(r, backends, o, be -> new W2Op(be, c), log));
        }
        return out;
    }

    /** One W2 iteration: an SGD-momentum training step of the model on fixed random inputs. */
    private static final class W2Op implements Op {
        final EmbeddingModel model;
        final Sgd opt;
        final Tensor x;
        final int[] labels;
        final TripletOptions lossOpt;
        float lastLoss;

        W2Op(Backend be, Shapes.TrainCase c) {
            model = Models.create(c.model(), be, 0);
            model.train(true);
            opt = new Sgd(model.parameters(), 0.01f, 0.9f, false, 0f);
            int[] in = model.inputShape();
            labels = Shapes.pkLabels(c.p(), c.k());
            lossOpt = TripletOptions.facenet(c.batch());
            long n = (long) c.batch() * in[0] * in[1] * in[2];
            float[] host = new float[Math.toIntExact(n)];
            Rng r = new Rng(11);
            for (int i = 0; i < host.length; i++) host[i] = (float) r.nextGaussian();
            x = Tensor.of(be, host, c.batch(), in[0], in[1], in[2]);
        }

        @Override
        public void run() {
            try (Arena a = Arena.open()) {
                // the trainer's order: the gradients are released right after the update, so none is
                // alive during the next forward pass and loss (whose buffers the allocator then reuses)
                Tensor e = model.forward(x);
                TripletLoss.Result res = TripletLoss.compute(e, labels, lossOpt);
                res.loss().backward();
                opt.step();
                opt.zeroGrad();
                lastLoss = res.stats().loss();
            }
        }

        @Override
        public void close() {
            try {
                x.close();
                opt.close();
            } finally {
                model.close();
            }
        }
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

    /** One iteration of a benchmark case on an open backend, holding its buffers (or model) until closed. */
    interface Op extends Runnable, AutoCloseable {
        @Override void close();
    }

    /**
     * The per-kernel profile of a case that ran ({@link Options#profileIterations()} > 0): on a new
     * profiled backend, one warm-up iteration, then the iterations, synchronized after each. Prints the
     * table; returns {@code r} with it attached. A backend without a profile, or a failure here, is
     * reported in the log and leaves {@code r} as it was.
     */
    static BenchResult profiled(BenchResult r, BackendFactory backends, Options o, Function<Backend, Op> make, Consumer<String> log) {
        int n = o.profileIterations();
        if (n <= 0 || !r.status().equals("ok")) return r;
        try (Backend be = backends.openProfiled()) {
            Optional<KernelProfile> kp = KernelProfile.of(be);
            if (kp.isEmpty()) {
                log.accept("   profile: backend " + be.name() + " records no kernel profile (only opencl and cuda do)");
                return r;
            }
            try (Op op = make.apply(be)) {
                op.run();
                be.synchronize();
                kp.get().reset();
                long t0 = System.nanoTime();
                for (int i = 0; i < n; i++) {
                    op.run();
                    be.synchronize();
                }
                double wallMs = (System.nanoTime() - t0) / 1e6;
                ProfileTable table = ProfileTable.of(be.name(), n, wallMs, kp.get().snapshot());
                log.accept("");
                log.accept(table.markdown(r.key()).stripTrailing());
                log.accept("");
                return r.withProfile(table);
            }
        } catch (RuntimeException | OutOfMemoryError e) {
            log.accept("   profile failed: " + e.getClass().getSimpleName() + ": " + e.getMessage());
            return r;
        }
    }

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
