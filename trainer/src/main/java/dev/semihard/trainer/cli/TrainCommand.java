package dev.semihard.trainer.cli;

import dev.semihard.engine.backend.Backend;
import dev.semihard.trainer.ckpt.Checkpoint;
import dev.semihard.trainer.train.TrainConfig;
import dev.semihard.trainer.train.Trainer;
import dev.semihard.trainer.util.Log;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code semihard train}: trains a model with online triplet mining and leaves a run folder. */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Train an embedding model with online triplet mining, evaluate it, and leave a run folder.",
                "The run folder holds metrics.jsonl, checkpoint.safetensors, model.safetensors, eval.json, summary.json and PNG plots.",
                "With no option: fmnist-cnn on Fashion-MNIST, recipe Q of docs/benchmarks.md, on the best backend."})
public final class TrainCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    BackendOptionsMixin backendOptions;

    @Option(names = "--recipe", paramLabel = "NAME", description = "preset: Q (recipe Q: fmnist-cnn, semihard, squared-l2, margin 0.2, P=10, K=32, Adam 1e-3, 375 steps, seed 0); other options override it")
    String recipe;

    @Mixin
    ModelOptionsMixin modelOptions;

    @Option(names = "--embedding-dim", paramLabel = "D", description = "length of the L2-normalized embedding, 2 to 2048 (default 128)")
    Integer embeddingDim;

    @Mixin
    DataOptionsMixin dataOptions;

    @Option(names = "--strategy", paramLabel = "S", description = "semihard, batch-hard or batch-all (default semihard)")
    String strategy;

    @Mixin
    DistanceOptionMixin distanceOption;

    @Option(names = "--margin", paramLabel = "M", description = "hinge margin >= 0 (default 0.2)")
    Double margin;

    @Option(names = "--soft-margin", description = "use log(1 + exp(x)) instead of the hinge")
    Boolean softMargin;

    @Option(names = "-P", paramLabel = "P", description = "identities per batch (default 10)")
    Integer p;

    @Option(names = "-K", paramLabel = "K", description = "images per identity, >= 2 (default 32)")
    Integer k;

    @Option(names = "--extra-negatives", paramLabel = "M", description = "FaceNet's extra random negatives per batch (default 0)")
    Integer extraNegatives;

    @Option(names = "--two-pass-chunk", paramLabel = "N", description = "mine the whole batch but back-propagate N images at a time (0 = off)")
    Integer twoPassChunk;

    @Option(names = "--offline-remine-every", paramLabel = "N", description = "re-mine triplets offline from a pool every N steps (0 = online only)")
    Integer offlineRemineEvery;

    @Option(names = "--offline-pool", paramLabel = "N", description = "images embedded per offline re-mining (default 2000)")
    Integer offlinePool;

    @Option(names = "--optimizer", paramLabel = "NAME", description = "sgd, adam, adamw or adagrad (default adam)")
    String optimizer;

    @Option(names = "--lr", paramLabel = "LR", description = "learning rate (default 1e-3)")
    Double lr;

    @Option(names = "--lr-schedule", paramLabel = "SPEC", description = "constant, step:EVERY:GAMMA or cosine[:warmup=W][:min=M] (default constant)")
    String lrSchedule;

    @Option(names = "--weight-decay", paramLabel = "W", description = "weight decay (default 0)")
    Double weightDecay;

    @Option(names = "--epochs", paramLabel = "E", description = "passes over the training images (default 2; 16 on the small subset embedded in the jar)")
    Double epochs;

    @Option(names = "--steps", paramLabel = "N", description = "optimizer steps (overrides --epochs)")
    Integer steps;

    @Option(names = "--seed", paramLabel = "S", description = "seed of weights, batches and augmentation (default 0)")
    Long seed;

    @Option(names = "--augment", paramLabel = "SPEC", description = "none, flip, crop[:PAD], or flip+crop:PAD (default none)")
    String augment;

    @Option(names = "--eval-every", paramLabel = "N", description = "evaluate every N steps (default: at the end only)")
    Integer evalEvery;

    @Option(names = "--bn-recalibrate", paramLabel = "N",
            description = "before evaluating and saving the final model, re-estimate the batch-norm running statistics with the"
                    + " final weights over N random training batches (precise batch norm). Default auto: as many batches as"
                    + " the model was trained on, at most 50 (recipe Q: 50); 0 = keep the running averages of training")
    String bnRecalibrate;

    @Option(names = "--train-limit", paramLabel = "N", description = "train on the first N training images (default: all)")
    Integer trainLimit;

    @Option(names = "--checkpoint-every", paramLabel = "N", description = "write a checkpoint every N steps (default 50, and at the end)")
    Integer checkpointEvery;

    @Option(names = "--workers", paramLabel = "N", description = "batch-loading threads (default 2)")
    Integer workers;

    @Option(names = "--prefetch", paramLabel = "N", description = "batches prepared ahead (default 4)")
    Integer prefetch;

    @Mixin
    EvalOptionsMixin evalOptions;

    @Option(names = "--run-dir", paramLabel = "DIR", description = "run folder (default runs/<date-time>-<model>)")
    Path runDir;

    @Option(names = "--name", paramLabel = "NAME", description = "run folder runs/NAME")
    String name;

    @Option(names = "--resume", paramLabel = "DIR", description = "continue the run in DIR (or the run of a checkpoint file) from its last checkpoint; --steps may extend it")
    Path resume;

    @Option(names = "--quiet", description = "only warnings and the summary")
    boolean quiet;

    @Option(names = "--debug-inject-nan", hidden = true, paramLabel = "STEP[:PARAM]")
    String debugNan;

    @Option(names = "--debug-inject-oom", hidden = true, paramLabel = "STEP")
    int debugOom;

    @Override
    public Integer call() throws Exception {
        Log.quiet = quiet;
        TrainConfig cfg;
        Path dir;
        boolean resuming = resume != null;
        if (resuming) {
            dir = Files.isRegularFile(resume) ? resume.toAbsolutePath().getParent() : resume;
            Path cj = dir.resolve("config.json");
            if (!Files.isRegularFile(cj)) {
                if (!Files.isDirectory(dir)) throw new ParameterException(spec.commandLine(), "--resume: no run folder " + resume);
                throw new ParameterException(spec.commandLine(), "--resume: " + dir + " has no config.json (not a run folder)");
            }
            cfg = TrainConfig.fromJson(Files.readString(cj, StandardCharsets.UTF_8));
            if (steps != null) cfg.steps = steps;
        } else {
            cfg = recipe == null ? new TrainConfig() : preset(recipe);
            apply(cfg);
            dir = runDir != null ? runDir : Path.of("runs", name != null ? name
                    : LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")) + "-" + cfg.model);
        }
        try {
            cfg.validate();
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
        Trainer.Debug dbg = new Trainer.Debug();
        if (debugNan != null) {
            String[] t = debugNan.split(":", 2);
            dbg.nanStep = Integer.parseInt(t[0]);
            dbg.nanParam = t.length > 1 ? t[1] : null;
        }
        dbg.oomStep = debugOom;
        try (Backend backend = backendOptions.create()) {
            Log.info("run folder: " + dir);
            Trainer.Outcome o = new Trainer(cfg, backend, dir, dbg).run(resuming);
            var out = spec.commandLine().getOut();
            out.println();
            out.println("run folder   " + o.runDir());
            out.println("backend      " + backend.name() + " (" + backend.deviceDescription() + ")");
            double rate = ((Number) o.summary().get("images_per_s")).doubleValue();
            out.println(String.format(Locale.ROOT, "steps        %d, %.1f s, %s images/s", o.steps(),
                    ((Number) o.summary().get("train_seconds")).doubleValue(), rate(rate)));
            out.println("evaluation   " + o.eval().summary());
            out.println("checkpoint   " + o.runDir().resolve(Checkpoint.FILE));
            out.flush();
        }
        return 0;
    }

    private TrainConfig preset(String r) {
        if (r.equalsIgnoreCase("q")) return TrainConfig.recipeQ();
        throw new ParameterException(spec.commandLine(), "--recipe: unknown recipe '" + r + "': use Q");
    }

    private void apply(TrainConfig c) {
        if (modelOptions.model != null) c.model = modelOptions.model;
        if (modelOptions.inputSize != null) c.inputSize = modelOptions.inputSize;
        if (embeddingDim != null) c.embeddingDim = embeddingDim;
        dataOptions.applyTo(c);
        if (strategy != null) c.strategy = strategy;
        distanceOption.applyTo(c);
        if (margin != null) c.margin = margin;
        if (softMargin != null) c.softMargin = softMargin;
        if (p != null) c.p = p;
        if (k != null) c.k = k;
        if (extraNegatives != null) c.extraNegatives = extraNegatives;
        if (twoPassChunk != null) c.twoPassChunk = twoPassChunk;
        if (offlineRemineEvery != null) c.offlineRemineEvery = offlineRemineEvery;
        if (offlinePool != null) c.offlinePool = offlinePool;
        if (optimizer != null) c.optimizer = optimizer.toLowerCase(Locale.ROOT);
        if (lr != null) c.lr = lr;
        if (lrSchedule != null) c.lrSchedule = lrSchedule;
        if (weightDecay != null) c.weightDecay = weightDecay;
        if (epochs != null) {
            if (!(epochs > 0) || epochs.isInfinite())
                throw new ParameterException(spec.commandLine(), "--epochs must be a number > 0, got " + epochs);
            c.epochs = epochs;
            if (steps == null) c.steps = 0;
        }
        if (steps != null) c.steps = steps;
        if (seed != null) c.seed = seed;
        if (augment != null) c.augment = augment;
        if (evalEvery != null) c.evalEvery = evalEvery;
        if (bnRecalibrate != null) c.bnRecalibrate = TrainConfig.parseBnRecalibrate(bnRecalibrate);
        if (trainLimit != null) c.trainLimit = trainLimit;
        if (checkpointEvery != null) c.checkpointEvery = checkpointEvery;
        if (workers != null) c.workers = workers;
        if (prefetch != null) c.prefetch = prefetch;
        evalOptions.applyTo(c);
    }

    /** images/s with three significant digits up to 100 ("0.113", "12.5"), whole numbers beyond: a slow run does not read "0". */
    static String rate(double r) {
        return String.format(Locale.ROOT, r >= 100 ? "%.0f" : r >= 10 ? "%.1f" : r >= 1 ? "%.2f" : "%.3g", r);
    }
}
