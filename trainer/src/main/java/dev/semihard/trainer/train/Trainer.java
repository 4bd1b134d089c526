package dev.semihard.trainer.train;

import dev.semihard.engine.Arena;
import dev.semihard.engine.Parameter;
import dev.semihard.engine.Rng;
import dev.semihard.engine.Tensor;
import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.Distance;
import dev.semihard.engine.backend.Strategy;
import dev.semihard.engine.backend.TripletOptions;
import dev.semihard.engine.backend.TripletStats;
import dev.semihard.engine.loss.TripletLoss;
import dev.semihard.engine.mining.OfflineMiner;
import dev.semihard.engine.mining.PKSampler;
import dev.semihard.engine.mining.TwoPass;
import dev.semihard.engine.nn.EmbeddingModel;
import dev.semihard.engine.nn.Models;
import dev.semihard.engine.nn.PreciseBatchNorm;
import dev.semihard.engine.optim.LrSchedule;
import dev.semihard.engine.optim.Optimizer;
import dev.semihard.engine.optim.Optimizers;
import dev.semihard.trainer.ckpt.Checkpoint;
import dev.semihard.trainer.ckpt.CheckpointException;
import dev.semihard.trainer.data.Augment;
import dev.semihard.trainer.data.BatchLoader;
import dev.semihard.trainer.data.DataException;
import dev.semihard.trainer.data.DataSources;
import dev.semihard.trainer.data.Dataset;
import dev.semihard.trainer.eval.Evaluator;
import dev.semihard.trainer.io.AtomicFiles;
import dev.semihard.trainer.plot.Plots;
import dev.semihard.engine.util.Json;
import dev.semihard.trainer.util.Log;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One training run: data, model, P x K batches loaded in the background, the fused triplet loss,
 * the optimizer, per-step metrics, checkpoints, evaluation, plots and a summary, all in a run folder:
 *
 * <pre>
 *   config.json              the run's options (read back by --resume)
 *   metrics.jsonl            one JSON object per step: loss, every TripletStats slot, lr, grad norm, images/s, time
 *   evals.jsonl              periodic evaluations (--eval-every)
 *   checkpoint.safetensors   model + optimizer + sampler state (atomic; see {@link Checkpoint})
 *   model.safetensors        weights only, for users
 *   training.png roc.png distances.png
 *   eval.json summary.json
 * </pre>
 *
 * <p>Faults stop the run with a {@link TrainingFailure} and keep the last good checkpoint: a
 * non-finite loss or gradient (naming the step and the parameter), or running out of memory (naming
 * a batch size to try, or --two-pass-chunk).
 */
public final class Trainer {

    /** Test-only fault injection (hidden options). */
    public static final class Debug {
        /** Poison this 1-based step: with {@link #nanParam} null the input batch, else that parameter's gradient. */
        public int nanStep;
        public String nanParam;
        /** Throw an out-of-memory error at this 1-based step. */
        public int oomStep;
    }

    /** What the run produced. */
    public record Outcome(Path runDir, int steps, Evaluator.Result eval, double seconds, Map<String, Object> summary) {}

    private final TrainConfig cfg;
    private final Backend backend;
    private final Path runDir;
    private final Debug debug;
    private TwoPass twoPass;
    /** Share of offline-mined triplets that get a random negative (FaceNet keeps some to keep the space intact). */
    static final double OFFLINE_RANDOM_SHARE = 0.1;

    public Trainer(TrainConfig cfg, Backend backend, Path runDir, Debug debug) {
        this.cfg = cfg;
        this.backend = backend;
        this.runDir = runDir;
        this.debug = debug == null ? new Debug() : debug;
    }

    /** Trains (resuming from the run folder's checkpoint when {@code resume}), evaluates, and writes everything. */
    public Outcome run(boolean resume) throws IOException {
        cfg.validate();
        long t0 = System.nanoTime();
        Files.createDirectories(runDir);
        Path ckFile = runDir.resolve(Checkpoint.FILE);
        if (!resume && Files.exists(ckFile))
            throw new IllegalArgumentException("run folder " + runDir + " already holds a run: continue it with --resume " + runDir
                    + ", or choose another --run-dir / --name");
        Checkpoint.Loaded ck = null;
        if (resume) {
            if (!Files.exists(ckFile))
                throw new CheckpointException("no checkpoint to resume in " + runDir + " (" + Checkpoint.FILE
                        + " is missing: the run stopped before its first checkpoint; start it again)");
            ck = Checkpoint.load(ckFile, cfg.model);
            // --resume --steps N may have changed the length: keep config.json the truth for the next resume
            AtomicFiles.write(runDir.resolve("config.json"), (cfg.toJson() + "\n").getBytes(StandardCharsets.UTF_8));
        } else {
            AtomicFiles.write(runDir.resolve("config.json"), (cfg.toJson() + "\n").getBytes(StandardCharsets.UTF_8));
        }

        if (ck != null && (ck.inputSize() != cfg.inputSize() || ck.embeddingDim() != cfg.embeddingDim))
            throw new CheckpointException("checkpoint " + ckFile + " holds " + cfg.model + " for " + ck.inputSize() + " px inputs and D = "
                    + ck.embeddingDim() + ", but config.json asks for " + cfg.inputSize() + " px and D = " + cfg.embeddingDim
                    + ": restore the run's config.json, or start a new run");
        try (EmbeddingModel model = Models.create(cfg.model, cfg.inputSize(), cfg.embeddingDim, backend, cfg.seed)) {
            DataSources.Data data = DataSources.resolve(cfg.data == null ? null : Path.of(cfg.data), model.inputShape(), cfg.strict);
            Dataset train = data.train();
            if (train == null) throw new DataException(data.description() + " leaves no images for training");
            if (cfg.trainLimit > 0) train = train.head(cfg.trainLimit);
            Dataset test = data.test();
            if (cfg.evalLimit > 0 && data.pairs() == null) test = test.head(cfg.evalLimit);
            Log.info("data: " + data.description() + "; train " + train + ", test " + test);

            PKSampler sampler;
            try {
                sampler = new PKSampler(train.identities(), cfg.p, cfg.k, cfg.extraNegatives, cfg.seed ^ 0x5A5A_5A5AL);
            } catch (IllegalArgumentException e) {
                throw new DataException(e.getMessage(), e);
            }
            if (sampler.singletonIdentities() > 0)
                Log.info(sampler.singletonIdentities() + " identities with a single image: used only as negatives");
            Log.info("batches: " + sampler.describe());
            int total = cfg.totalSteps(train.size(), data.embedded() && cfg.trainLimit == 0);
            Log.info("model " + model + " on " + backend.name() + " ("
                    + backend.deviceDescription() + "); " + total + " steps of " + cfg.batchSize() + " images, "
                    + cfg.strategy + " / " + cfg.distance + " / margin " + cfg.margin + (cfg.softMargin ? " (soft)" : ""));

            Optimizer opt = Optimizers.create(cfg.optimizer, model.parameters(), (float) cfg.lr, (float) cfg.weightDecay);
            LrSchedule schedule = LrSchedule.parse(cfg.lrSchedule, (float) cfg.lr, total);
            int start = 0;
            if (ck != null) {
                Checkpoint.applyModel(ck, model);
                Checkpoint.applyTrainingBatchNorm(ck, model);
                Checkpoint.applyOptimizer(ck, opt, cfg.optimizer);
                sampler.setState(ck.samplerState());
                start = (int) ck.step();
                Log.info("resumed " + runDir + " at step " + start + " of " + total);
            }
            Path metricsFile = runDir.resolve("metrics.jsonl");
            truncateMetrics(metricsFile, start);
            TripletOptions topt = new TripletOptions(Strategy.parse(cfg.strategy), Distance.parse(cfg.distance),
                    (float) cfg.margin, cfg.softMargin, cfg.batchSize());
            int lastCkStep = ck == null ? -1 : start;

            Progress progress = new Progress(Log.out, total);
            Evaluator.Result beforeRecalibration = null;
            CollapseWatch collapse = new CollapseWatch((float) cfg.margin);
            long trainStart = System.nanoTime();
            double imagesDone = 0;
            final Dataset trainSet = train;   // for the lambdas below (train was reassigned above)
            BatchLoader.IndexSampler<SamplerState> adapter = batchSource(model, train, sampler, ck, start);
            twoPass = cfg.twoPassChunk > 0 && cfg.twoPassChunk < cfg.batchSize() ? new TwoPass(model, cfg.twoPassChunk) : null;
            if (twoPass != null)
                Log.info("two-pass: mining over all " + cfg.batchSize() + " images, back-propagating " + cfg.twoPassChunk + " at a time");
            model.train(true);
            try (BatchLoader<SamplerState> loader = new BatchLoader<>(train, adapter, Augment.parse(cfg.augment), cfg.seed, start,
                    cfg.workers, cfg.prefetch).outputSize(model.inputShape()[1], model.inputShape()[2]).recycleBuffers();
                 BufferedWriter metrics = Files.newBufferedWriter(metricsFile, StandardCharsets.UTF_8,
                         StandardOpenOption.CREATE, StandardOpenOption.APPEND)) {
                double[] recentMs = new double[20];
                for (int s = start; s < total; s++) {
                    int step = s + 1;
                    long st = System.nanoTime();
                    BatchLoader.Batch<SamplerState> batch = loader.next();
                    float lr = schedule.lr(s);
                    opt.setLearningRate(lr);
                    StepResult r;
                    try {
                        r = step(model, opt, batch, topt, step, lastCkStep);
                    } catch (OutOfMemoryError e) {
                        throw oom(step, e, lastCkStep);
                    } catch (RuntimeException e) {
                        if (isOom(e)) throw oom(step, e, lastCkStep);
                        throw e;
                    }
                    double ms = (System.nanoTime() - st) / 1e6;
                    recentMs[(s - start) % recentMs.length] = ms;
                    imagesDone += batch.size();
                    int filled = Math.min(s - start + 1, recentMs.length);
                    double mean = 0;
                    for (int i = 0; i < filled; i++) mean += recentMs[i];
                    mean /= filled;
                    double ips = batch.size() / (mean / 1000);
                    Map<String, Object> line = new LinkedHashMap<>();
                    line.put("step", step);
                    TripletStats ts = r.stats;
                    line.put("loss", ts.loss());
                    line.put("units", ts.units());
                    line.put("positive_pairs", ts.positivePairs());
                    line.put("semihard_found", ts.semihardFound());
                    line.put("fallbacks", ts.fallbacks());
                    line.put("active", ts.active());
                    line.put("active_fraction", ts.activeFraction());
                    line.put("mean_dap", ts.meanDap());
                    line.put("mean_dan", ts.meanDan());
                    line.put("mean_norm", ts.meanNorm());
                    line.put("spread", ts.spread());
                    line.put("degenerate", ts.degenerate());
                    line.put("grad_norm", r.gradNorm);
                    line.put("lr", lr);
                    line.put("images_per_s", Math.round(ips * 10) / 10.0);
                    line.put("step_ms", Math.round(ms * 100) / 100.0);
                    line.put("time_s", Math.round((System.nanoTime() - trainStart) / 1e7) / 100.0);
                    metrics.write(Json.write(line));
                    metrics.newLine();
                    metrics.flush();
                    progress.update(step, ts.loss(), ts.activeFraction(), ips, (total - step) * mean / 1000);
                    String warn = collapse.add(ts.loss(), ts.spread());
                    if (warn != null) { progress.breakLine(); Log.warn(warn); }

                    Map<String, float[]> trainingBn = Map.of();
                    if (step == total && bnLayers(model)) {
                        // the last step: record what the training-time running statistics give, then
                        // re-estimate them with the final weights (PreciseBatchNorm says why) before the
                        // final checkpoint and model are written; the checkpoint keeps the training-time
                        // ones too, so that --resume --steps MORE continues exactly from them
                        trainingBn = batchNormStatistics(model);
                        progress.breakLine();
                        beforeRecalibration = evaluate(model, test, data);
                        Log.info("eval with the running statistics of training: " + beforeRecalibration.summary());
                        recalibrateBn(model, trainSet, step);
                    }
                    if (step % cfg.checkpointEvery == 0 || step == total) {
                        SamplerState after = batch.samplerStateAfter();
                        Checkpoint.save(runDir, model, opt, cfg.optimizer, step, after.pk(), after.miner(), cfg.toJson(), trainingBn);
                        Checkpoint.snapToStored(model, opt);
                        lastCkStep = step;
                    }
                    if (cfg.evalEvery > 0 && step % cfg.evalEvery == 0 && step != total) {
                        // evaluate as at the end (recalibrated batch norm), then put the training-time
                        // statistics back so that evaluating does not change the run
                        PreciseBatchNorm.Snapshot bnSaved = PreciseBatchNorm.snapshot(model);
                        progress.breakLine();
                        Evaluator.Result er;
                        try {
                            recalibrateBn(model, trainSet, step);
                            er = evaluate(model, test, data);
                        } finally {
                            PreciseBatchNorm.restore(model, bnSaved);
                        }
                        Log.info("eval at step " + step + ": " + er.summary());
                        Map<String, Object> ev = new LinkedHashMap<>();
                        ev.put("step", step);
                        ev.putAll(er.toMap());
                        Files.writeString(runDir.resolve("evals.jsonl"), Json.write(ev) + "\n", StandardCharsets.UTF_8,
                                StandardOpenOption.CREATE, StandardOpenOption.APPEND);
                    }
                }
            }
            double trainSeconds = (System.nanoTime() - trainStart) / 1e9;
            progress.breakLine();

            Log.info("evaluating on " + test + " ...");
            Evaluator.Result er = evaluate(model, test, data);
            Log.info(er.summary());
            AtomicFiles.write(runDir.resolve("eval.json"), (Json.write(er.toMap()) + "\n").getBytes(StandardCharsets.UTF_8));
            if (cfg.plots) {
                try {
                    trainingPlot(metricsFile, runDir.resolve("training.png"), cfg.model + " / " + cfg.strategy);
                    Evaluator.plots(er, runDir);
                } catch (RuntimeException | IOException | Error e) {
                    Log.warn("could not draw the plots: " + e);
                }
            }
            Map<String, Object> summary = new LinkedHashMap<>();
            summary.put("run_dir", runDir.toString());
            summary.put("model", cfg.model);
            summary.put("backend", backend.name());
            summary.put("device", backend.deviceDescription());
            summary.put("data", data.description());
            summary.put("train_images", train.size());
            summary.put("test_images", test.size());
            summary.put("steps", total);
            summary.put("resumed_from_step", ck == null ? null : start);
            summary.put("batch_size", cfg.batchSize());
            summary.put("train_seconds", Math.round(trainSeconds * 100) / 100.0);
            summary.put("wall_seconds", Math.round((System.nanoTime() - t0) / 1e7) / 100.0);
            summary.put("images_per_s", Math.round(imagesDone / Math.max(1e-9, trainSeconds) * 10) / 10.0);
            summary.put("peak_device_bytes", backend.peakBytes());
            summary.put("final_loss_mean_last_10", lastLosses(metricsFile, 10));
            summary.put("eval", er.toMap());
            if (beforeRecalibration != null) summary.put("eval_before_bn_recalibration", beforeRecalibration.toMap());
            summary.put("config", cfg.toMap());
            AtomicFiles.write(runDir.resolve("summary.json"), (Json.write(summary) + "\n").getBytes(StandardCharsets.UTF_8));
            opt.close();
            return new Outcome(runDir, total, er, (System.nanoTime() - t0) / 1e9, summary);
        }
    }

    /**
     * Where the batches' image indices come from: the P x K sampler, or with --offline-remine-every the
     * offline miner (restored from the checkpoint when resuming), as the loader's {@link BatchLoader.IndexSampler}.
     */
    private BatchLoader.IndexSampler<SamplerState> batchSource(EmbeddingModel model, Dataset train, PKSampler fs,
                                                               Checkpoint.Loaded ck, int start) {
        if (cfg.offlineRemineEvery > 0) {
            // offline re-mining (OfflineMiner): a pool of P' x K images embedded with the current
            // model every N steps; batches are explicit (anchor, positive, negative) triples
            int poolP = Math.max(2, Math.min(fs.eligibleIdentities(), cfg.offlinePool / cfg.k));
            OfflineMiner.Options mo = new OfflineMiner.Options(cfg.offlineRemineEvery, poolP, cfg.k,
                    Math.max(1, cfg.batchSize() / 3),
                    Strategy.parse(cfg.strategy) == Strategy.SEMIHARD ? OfflineMiner.Choice.SEMIHARD : OfflineMiner.Choice.HARDEST,
                    OFFLINE_RANDOM_SHARE, Distance.parse(cfg.distance));
            // a version-1 checkpoint has no miner state: such a resume re-mines at once, with a seed derived from its step
            boolean inexact = ck != null && ck.offlineMiner() == null;
            OfflineMiner miner = new OfflineMiner(train.labels(), mo,
                    idx -> Evaluator.embed(model, train.subset(idx, "pool"), backend, 256),
                    BatchLoader.mix(cfg.seed ^ 0x0FF1_14E5L, inexact ? start : 0));
            if (ck != null && !inexact) {
                try {
                    miner.restore(ck.offlineMiner());
                } catch (IllegalArgumentException e) {
                    throw new CheckpointException("checkpoint " + ck.file() + " cannot resume offline mining: " + e.getMessage(), e);
                }
                if (miner.steps() != start)
                    throw new CheckpointException("checkpoint " + ck.file() + " is at step " + start + " but its offline miner has served "
                            + miner.steps() + " batches: the file is inconsistent; resume from another checkpoint");
            }
            if (inexact)
                Log.warn("checkpoint " + ck.file() + " (format version " + ck.metadata().get("format_version") + ") holds no offline-miner"
                        + " state: this resume re-mines at once and will not reproduce the uninterrupted run exactly"
                        + " (checkpoints of this version store the state)");
            Log.info("offline mining: re-mine a pool of " + poolP + " x " + cfg.k + " images every " + cfg.offlineRemineEvery
                    + " steps, " + mo.tripletsPerBatch() + " triplets per step (" + mo.choice() + " negatives, "
                    + (int) (OFFLINE_RANDOM_SHARE * 100) + "% random)");
            return new BatchLoader.IndexSampler<>() {
                public BatchLoader.Sampled next() {
                    OfflineMiner.TripletBatch b = miner.next();
                    return new BatchLoader.Sampled(b.indices(), b.indices().length);
                }
                public SamplerState state() { return new SamplerState(fs.state(), miner.snapshot()); }
                public void restore(SamplerState s) { miner.restore(s.miner()); }
                // a re-mine embeds the pool with the model: draw it only when the loop has reached its step
                public boolean mayDrawAhead() { return !miner.refreshesNext(); }
            };
        } else {
            return new BatchLoader.IndexSampler<>() {
                public BatchLoader.Sampled next() {
                    PKSampler.Batch b = fs.next();
                    return new BatchLoader.Sampled(b.indices(), b.anchorRows());
                }
                public SamplerState state() { return new SamplerState(fs.state(), null); }
                public void restore(SamplerState s) { fs.setState(s.pk()); }
            };
        }
    }

    private record StepResult(TripletStats stats, double gradNorm) {}

    /** What a checkpoint stores of the batch sampling: the P x K sampler's state and, with offline mining, the miner's. */
    record SamplerState(long pk, OfflineMiner.State miner) {}

    private StepResult step(EmbeddingModel model, Optimizer opt, BatchLoader.Batch<SamplerState> batch, TripletOptions topt, int step, int lastCk) {
        if (debug.oomStep == step) throw new OutOfMemoryError("injected for a test");
        float[] x = batch.x();
        if (debug.nanStep == step && debug.nanParam == null) x[0] = Float.NaN;
        int[] shape = model.inputShape();
        double sumSq = 0;
        TripletStats stats;
        try (Arena a = Arena.open()) {
            TripletOptions o = topt.withAnchorRows(batch.anchorRows());
            if (twoPass != null && cfg.offlineRemineEvery == 0) {
                int per = shape[0] * shape[1] * shape[2];
                stats = twoPass.step(batch.size(), batch.labels(), o, (start, n) ->
                        Tensor.of(backend, java.util.Arrays.copyOfRange(x, start * per, (start + n) * per), n, shape[0], shape[1], shape[2]));
                checkFinite(stats, step, lastCk);
            } else {
                Tensor xt = Tensor.of(backend, x, batch.size(), shape[0], shape[1], shape[2]);
                Tensor e = model.forward(xt);
                TripletLoss.Result r = cfg.offlineRemineEvery > 0 ? TripletLoss.explicitTriplets(e, o) : TripletLoss.compute(e, batch.labels(), o);
                stats = r.stats();
                checkFinite(stats, step, lastCk);
                if (r.loss().requiresGrad()) r.loss().backward();
            }
            // every gradient's sum of squares and non-finite count, read back once (one wait for the device)
            List<Parameter> params = model.parameters();
            if (debug.nanStep == step)
                for (Parameter p : params)
                    if (p.grad() != null && p.name().equals(debug.nanParam)) backend.fill(p.grad().buffer(), 0, 1, Float.NaN);
            float[] out = Parameter.gradientSumSquares(params);
            for (int i = 0; i < params.size(); i++) {
                if (out[2 * i + 1] > 0)
                    throw new TrainingFailure("non-finite gradient at step " + step + " in layer " + params.get(i).name() + " ("
                            + (long) out[2 * i + 1] + " of " + params.get(i).grad().numel() + " elements NaN or infinite); " + lastGood(lastCk)
                            + ". Lower --lr (now " + cfg.lr + ") or check the input data");
                sumSq += out[2 * i];
            }
            opt.step();
            opt.zeroGrad();
        } finally {
            opt.zeroGrad();
        }
        return new StepResult(stats, Math.sqrt(sumSq));
    }

    private void checkFinite(TripletStats stats, int step, int lastCk) {
        if (!Float.isFinite(stats.loss()) || !Float.isFinite(stats.meanNorm()) || !Float.isFinite(stats.spread()))
            throw new TrainingFailure("non-finite loss at step " + step + " (loss " + stats.loss() + ", mean embedding norm "
                    + stats.meanNorm() + ": the forward pass produced NaN or infinity); " + lastGood(lastCk)
                    + ". Check the input data, or lower --lr (now " + cfg.lr + ")");
    }

    private String lastGood(int lastCk) {
        return lastCk < 0 ? "no checkpoint was written yet" : "the last good checkpoint is " + runDir.resolve(Checkpoint.FILE)
                + " (step " + lastCk + "), kept as it was";
    }

    static boolean isOom(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            String m = String.valueOf(t.getMessage()).toUpperCase(java.util.Locale.ROOT);
            if (t instanceof OutOfMemoryError || m.contains("OUT_OF_MEMORY") || m.contains("OUT OF MEMORY") || m.contains("OUT OF DEVICE MEMORY")
                    || m.contains("MEM_OBJECT_ALLOCATION_FAILURE") || m.contains("OUT_OF_RESOURCES")) return true;
        }
        return false;
    }

    private TrainingFailure oom(int step, Throwable e, int lastCk) {
        int b = cfg.batchSize();
        int halfK = Math.max(2, cfg.k / 2), halfP = Math.max(2, cfg.p / 2);
        String advice = "try a smaller batch: -K " + halfK + " (B = " + (cfg.p * halfK + cfg.extraNegatives) + ") or -P " + halfP
                + " (B = " + (halfP * cfg.k + cfg.extraNegatives) + ")"
                + (cfg.twoPassChunk == 0 ? ", or keep B = " + b + " with --two-pass-chunk " + Math.max(1, b / 4)
                + " (mines the whole batch, back-propagates " + Math.max(1, b / 4) + " images at a time)"
                : ", or a smaller --two-pass-chunk than " + cfg.twoPassChunk)
                + (e instanceof OutOfMemoryError ? "; on the reference backend also a larger Java heap (JAVA_OPTS=-Xmx...)" : "");
        return new TrainingFailure("out of " + (e instanceof OutOfMemoryError ? "memory" : "device memory") + " at step " + step
                + " with batch size " + b + " (" + cfg.p + " x " + cfg.k + (cfg.extraNegatives > 0 ? " + " + cfg.extraNegatives : "")
                + "): " + advice + "; " + lastGood(lastCk), e);
    }

    /** The batch-norm running statistics by model state name (the non-trainable state tensors). */
    private static Map<String, float[]> batchNormStatistics(EmbeddingModel model) {
        Map<String, float[]> out = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : model.state().entrySet())
            if (!(e.getValue() instanceof Parameter)) out.put(e.getKey(), e.getValue().toArray());
        return out;
    }

    /** Whether the final batch-norm recalibration applies: --bn-recalibrate is not 0 and the model has batch norm. */
    private boolean bnLayers(EmbeddingModel model) {
        return cfg.bnRecalibrate != 0 && !PreciseBatchNorm.layers(model).isEmpty();
    }

    /**
     * Precise batch norm: the running statistics re-estimated with the current weights over
     * {@link TrainConfig#bnRecalibrateBatches} batches of the training batch size (by default as many as
     * the {@code stepsTrained} steps so far, at most 50), images drawn uniformly without replacement
     * within a batch (no augmentation), from a generator seeded by the run's seed only, so an interrupted
     * and resumed run recalibrates exactly as an uninterrupted one.
     */
    private void recalibrateBn(EmbeddingModel model, Dataset train, int stepsTrained) {
        int batches = cfg.bnRecalibrateBatches(stepsTrained);
        if (!bnLayers(model) || batches <= 0) return;
        long t = System.nanoTime();
        int[] shape = model.inputShape();
        int n = train.size(), bs = Math.min(cfg.batchSize(), n), per = shape[0] * shape[1] * shape[2];
        Rng rng = new Rng(cfg.seed ^ 0x0B_AD_5E_EDL);
        // the permutation of 0..n-1 kept sparse (only swapped slots are stored): memory per batch, not per image
        Map<Integer, Integer> perm = new java.util.HashMap<>();
        int used = PreciseBatchNorm.recalibrate(model, batches, b -> {
            float[] x = new float[bs * per];
            for (int i = 0; i < bs; i++) {           // partial Fisher-Yates: bs distinct images
                int j = i + rng.nextInt(n - i);
                int pi = perm.getOrDefault(i, i), pj = perm.getOrDefault(j, j);
                perm.put(i, pj);
                perm.put(j, pi);
                train.copyCentered(pj, shape[1], shape[2], x, i * per);
            }
            return Tensor.of(backend, x, bs, shape[0], shape[1], shape[2]);
        });
        Log.info(String.format(java.util.Locale.ROOT, "batch norm: running statistics re-estimated with the current weights over %d"
                + " batches of %d training images (%.1f s; %s)", used, bs, (System.nanoTime() - t) / 1e9,
                cfg.bnRecalibrate == TrainConfig.BN_RECALIBRATE_AUTO
                        ? "by default one batch per training step, at most " + TrainConfig.BN_RECALIBRATE_MAX
                          + "; --bn-recalibrate N sets the count, 0 keeps the training-time ones"
                        : "--bn-recalibrate 0 keeps the training-time ones"));
    }

    private Evaluator.Result evaluate(EmbeddingModel model, Dataset test, DataSources.Data data) {
        float[] e = Evaluator.embed(model, test, backend, 256);
        int[] ks = cfg.recallK.stream().mapToInt(Integer::intValue).toArray();
        return Evaluator.evaluate(e, test.size(), model.embeddingDim(), test.labels(), data.pairs(), Distance.parse(cfg.distance), ks);
    }

    /** Keeps only the lines of steps <= {@code step} (a killed run may have logged steps after its last checkpoint). */
    static void truncateMetrics(Path file, int step) throws IOException {
        if (!Files.exists(file)) return;
        List<String> keep = new ArrayList<>();
        for (String l : Files.readAllLines(file, StandardCharsets.UTF_8)) {
            if (l.isBlank()) continue;
            try {
                Object s = Json.parseObject(l).get("step");
                if (s instanceof Number n && n.intValue() <= step) keep.add(l);
            } catch (IllegalArgumentException e) {
                // a line cut by a kill: drop it
            }
        }
        AtomicFiles.write(file, (String.join("\n", keep) + (keep.isEmpty() ? "" : "\n")).getBytes(StandardCharsets.UTF_8));
    }

    /** Loss per step, read back from metrics.jsonl. */
    public static double[][] readMetrics(Path file, String... keys) throws IOException {
        List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8).stream().filter(l -> !l.isBlank()).toList();
        double[][] out = new double[keys.length][lines.size()];
        for (int i = 0; i < lines.size(); i++) {
            Map<String, Object> m = Json.parseObject(lines.get(i));
            for (int k = 0; k < keys.length; k++) {
                Object v = m.get(keys[k]);
                out[k][i] = v instanceof Number n ? n.doubleValue() : Double.NaN;
            }
        }
        return out;
    }

    private static Double lastLosses(Path file, int n) throws IOException {
        double[] l = readMetrics(file, "loss")[0];
        if (l.length == 0) return null;
        double s = 0;
        int c = 0;
        for (int i = Math.max(0, l.length - n); i < l.length; i++) { s += l[i]; c++; }
        return s / c;
    }

    static void trainingPlot(Path metrics, Path png, String title) throws IOException {
        double[][] m = readMetrics(metrics, "step", "loss", "active_fraction");
        if (m[0].length == 0) return;
        Plots.training(png, m[0], m[1], m[2], title);
    }

    /**
     * Warns once when the embeddings collapse: over the last 20 steps the spread is near zero, or the
     * loss sits at the margin while the spread is small (every distance near 0: d_ap - d_an + margin = margin).
     */
    static final class CollapseWatch {
        private final float margin;
        private final float[] loss = new float[20], spread = new float[20];
        private int n;
        private boolean warned;

        CollapseWatch(float margin) { this.margin = margin; }

        String add(float l, float s) {
            loss[n % 20] = l;
            spread[n % 20] = s;
            n++;
            if (warned || n < 20) return null;
            double ml = 0, ms = 0;
            for (int i = 0; i < 20; i++) { ml += loss[i]; ms += spread[i]; }
            ml /= 20;
            ms /= 20;
            boolean nearMargin = margin > 0 && Math.abs(ml - margin) < 0.02 * margin;
            if (ms < 0.02 || (nearMargin && ms < 0.1)) {
                warned = true;
                return String.format("the embeddings are collapsing: over the last 20 steps the loss is %.4f (margin %.3f) and the spread "
                        + "%.4f (near 0 means every image maps to the same point). Try a lower --lr, --strategy semihard instead of "
                        + "batch-hard, a larger -K, or --extra-negatives", ml, margin, ms);
            }
            return null;
        }
    }
}
