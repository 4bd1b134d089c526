package dev.semihard.trainer.train;

import dev.semihard.engine.backend.Distance;
import dev.semihard.engine.backend.Strategy;
import dev.semihard.engine.nn.Models;
import dev.semihard.engine.optim.Optimizers;
import dev.semihard.trainer.data.Augment;
import dev.semihard.engine.util.Json;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Everything that defines a training run (written to {@code config.json} in the run folder, and
 * read back by {@code --resume}). The backend is not part of it: a run may resume elsewhere.
 * Defaults are recipe Q of docs/benchmarks.md.
 */
public final class TrainConfig {
    public String model = Models.FMNIST_CNN;
    public int inputSize;               // 0 = the model's default (28 for fmnist-cnn, 96 for the face models)
    public int embeddingDim = Models.EMBEDDING_DIM;
    public String data;                 // null = default Fashion-MNIST
    public boolean strict;
    public String strategy = "semihard";
    public String distance = "squared-l2";
    public double margin = 0.2;
    public boolean softMargin;
    public int p = 10;
    public int k = 32;
    public int extraNegatives;
    public int twoPassChunk;            // 0 = single pass
    public int offlineRemineEvery;      // 0 = online mining only
    public int offlinePool = 2000;
    public String optimizer = "adam";
    public double lr = 1e-3;
    public String lrSchedule = "constant";
    public double weightDecay;
    /** Passes over the training images; 0 = the default, {@link #DEFAULT_EPOCHS} ({@link #EMBEDDED_EPOCHS} on the embedded subset). */
    public double epochs;
    public int steps;                   // > 0 overrides epochs
    public long seed;
    public int evalEvery;               // 0 = only at the end
    /** Batches for precise batch norm before evaluating; 0 = off, {@link #BN_RECALIBRATE_AUTO} = {@link #bnRecalibrateBatches}'s rule. */
    public int bnRecalibrate = BN_RECALIBRATE_AUTO;
    public int checkpointEvery = 50;
    public String augment = "none";
    public int evalLimit;               // 0 = the whole test set
    public int trainLimit;              // 0 = the whole training set
    public int workers = 2;
    public int prefetch = 4;
    public boolean plots = true;
    public List<Integer> recallK = List.of(1, 2, 4, 8);

    /** {@link #bnRecalibrate}'s default: as many batches as the model was trained on, at most {@value #BN_RECALIBRATE_MAX}. */
    public static final int BN_RECALIBRATE_AUTO = -1;
    /** The most batches the automatic rule uses. */
    public static final int BN_RECALIBRATE_MAX = 50;

    /** Recipe Q of docs/benchmarks.md (the defaults, spelled out so a preset stays one even if defaults change). */
    public static TrainConfig recipeQ() {
        TrainConfig c = new TrainConfig();
        c.model = Models.FMNIST_CNN;
        c.strategy = "semihard";
        c.distance = "squared-l2";
        c.margin = 0.2;
        c.softMargin = false;
        c.p = 10;
        c.k = 32;
        c.extraNegatives = 0;
        c.optimizer = "adam";
        c.lr = 1e-3;
        c.lrSchedule = "constant";
        c.weightDecay = 0;
        c.epochs = 2;
        c.steps = 375;
        c.seed = 0;
        c.augment = "none";
        c.bnRecalibrate = 50;
        return c;
    }

    /** Checks every value; the message names the option and the allowed range. */
    public void validate() {
        if (!Models.names().contains(model)) throw new IllegalArgumentException("--model: unknown model '" + model + "': use one of " + Models.names());
        if (inputSize < 0) throw new IllegalArgumentException("--input-size must be > 0, got " + inputSize);
        Models.check(model, inputSize(), embeddingDim);
        Strategy.parse(strategy);
        Distance.parse(distance);
        if (!(margin >= 0) || Double.isInfinite(margin)) throw new IllegalArgumentException("--margin must be a finite number >= 0, got " + margin);
        if (p < 2) throw new IllegalArgumentException("-P (identities per batch) must be >= 2 so that negatives exist, got " + p);
        if (k < 2) throw new IllegalArgumentException("-K (images per identity) must be >= 2 so every anchor has a positive, got " + k);
        if (extraNegatives < 0) throw new IllegalArgumentException("--extra-negatives must be >= 0, got " + extraNegatives);
        if (twoPassChunk < 0) throw new IllegalArgumentException("--two-pass-chunk must be >= 0 (0 = off), got " + twoPassChunk);
        if (offlineRemineEvery < 0) throw new IllegalArgumentException("--offline-remine-every must be >= 0 (0 = off), got " + offlineRemineEvery);
        if (offlineRemineEvery > 0 && twoPassChunk > 0)
            throw new IllegalArgumentException("--offline-remine-every and --two-pass-chunk cannot be combined: two-pass mines inside the batch,"
                    + " offline mining trains on triplets chosen beforehand");
        if (offlinePool < 2) throw new IllegalArgumentException("--offline-pool must be >= 2, got " + offlinePool);
        if (!Optimizers.NAMES.contains(optimizer)) throw new IllegalArgumentException("--optimizer: unknown '" + optimizer + "': use one of " + Optimizers.NAMES);
        if (!(lr > 0) || Double.isInfinite(lr)) throw new IllegalArgumentException("--lr must be a finite number > 0, got " + lr);
        if (!(weightDecay >= 0)) throw new IllegalArgumentException("--weight-decay must be >= 0, got " + weightDecay);
        if (steps < 0) throw new IllegalArgumentException("--steps must be >= 0, got " + steps);
        if (!(epochs >= 0) || Double.isInfinite(epochs)) throw new IllegalArgumentException("--epochs must be > 0, got " + epochs);
        if (bnRecalibrate < 0 && bnRecalibrate != BN_RECALIBRATE_AUTO)
            throw new IllegalArgumentException("--bn-recalibrate must be >= 0 (0 = off) or auto, got " + bnRecalibrate);
        if (evalEvery < 0) throw new IllegalArgumentException("--eval-every must be >= 0, got " + evalEvery);
        if (checkpointEvery < 1) throw new IllegalArgumentException("--checkpoint-every must be >= 1, got " + checkpointEvery);
        if (workers < 1 || prefetch < 1) throw new IllegalArgumentException("--workers and --prefetch must be >= 1");
        if (evalLimit < 0 || trainLimit < 0) throw new IllegalArgumentException("--eval-limit and --train-limit must be >= 0");
        for (int kk : recallK) if (kk < 1) throw new IllegalArgumentException("--recall-k values must be >= 1, got " + kk);
        Augment.parse(augment);
        dev.semihard.engine.optim.LrSchedule.parse(lrSchedule, (float) lr, Math.max(1, steps));
    }

    public int batchSize() { return p * k + extraNegatives; }

    /** The model's input height = width: --input-size, or the model's default. */
    public int inputSize() { return inputSize > 0 ? inputSize : Models.defaultInputSize(model); }

    /**
     * How many batches re-estimate the batch-norm statistics of a model trained for {@code stepsTrained}
     * steps in all (a resumed run counts the steps before the resume too, so it recalibrates exactly as an
     * uninterrupted one): an explicit --bn-recalibrate N means N; the default, auto, is as many batches
     * as the model was trained on, at most {@value #BN_RECALIBRATE_MAX}, so that a short run does not
     * spend longer re-estimating statistics than training.
     */
    public int bnRecalibrateBatches(int stepsTrained) {
        if (bnRecalibrate != BN_RECALIBRATE_AUTO) return bnRecalibrate;
        return Math.max(0, Math.min(BN_RECALIBRATE_MAX, stepsTrained));
    }

    /** Parses --bn-recalibrate: "auto" or a whole number >= 0. */
    public static int parseBnRecalibrate(String s) {
        String v = s == null ? "" : s.trim();
        if (v.equalsIgnoreCase("auto")) return BN_RECALIBRATE_AUTO;
        try {
            int n = Integer.parseInt(v);
            if (n >= 0) return n;
        } catch (NumberFormatException ignored) {
            // the message below
        }
        throw new IllegalArgumentException("--bn-recalibrate must be >= 0 (0 = off) or auto, got '" + s + "'");
    }

    /** Epochs when --epochs is not given. */
    public static final double DEFAULT_EPOCHS = 2;
    /**
     * Epochs when --epochs is not given and the data is the small subset embedded in the jar (6,000 images):
     * 300 steps of 320: Recall@1 >= 0.85 on its 2,000 test images with a margin (188 steps gave 0.8515) (tools/data/make-fmnist-mini.py).
     */
    public static final double EMBEDDED_EPOCHS = 16;

    /** Total steps: --steps, or round(epochs * train images / batch size), at least 1. */
    public int totalSteps(int trainImages) { return totalSteps(trainImages, false); }

    /** {@link #totalSteps(int)}, where an unset epochs means {@link #EMBEDDED_EPOCHS} on the embedded subset. */
    public int totalSteps(int trainImages, boolean embedded) {
        if (steps > 0) return steps;
        double e = epochs > 0 ? epochs : embedded ? EMBEDDED_EPOCHS : DEFAULT_EPOCHS;
        return (int) Math.max(1, Math.round(e * trainImages / (double) (p * k)));
    }

    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model", model);
        m.put("input_size", Models.names().contains(model) ? inputSize() : inputSize);
        m.put("embedding_dim", embeddingDim);
        m.put("data", data);
        m.put("strict", strict);
        m.put("strategy", strategy);
        m.put("distance", distance);
        m.put("margin", margin);
        m.put("soft_margin", softMargin);
        m.put("p", p);
        m.put("k", k);
        m.put("extra_negatives", extraNegatives);
        m.put("two_pass_chunk", twoPassChunk);
        m.put("offline_remine_every", offlineRemineEvery);
        m.put("offline_pool", offlinePool);
        m.put("optimizer", optimizer);
        m.put("lr", lr);
        m.put("lr_schedule", lrSchedule);
        m.put("weight_decay", weightDecay);
        m.put("epochs", epochs);
        m.put("steps", steps);
        m.put("seed", seed);
        m.put("eval_every", evalEvery);
        m.put("bn_recalibrate", bnRecalibrate == BN_RECALIBRATE_AUTO ? "auto" : bnRecalibrate);
        m.put("checkpoint_every", checkpointEvery);
        m.put("augment", augment);
        m.put("eval_limit", evalLimit);
        m.put("train_limit", trainLimit);
        m.put("workers", workers);
        m.put("prefetch", prefetch);
        m.put("plots", plots);
        m.put("recall_k", recallK);
        return m;
    }

    public String toJson() { return Json.write(toMap()); }

    public static TrainConfig fromJson(String json) {
        Map<String, Object> m = Json.parseObject(json);
        TrainConfig c = new TrainConfig();
        c.model = str(m, "model", c.model);
        c.inputSize = (int) num(m, "input_size", c.inputSize);           // absent (older runs): the model's default
        c.embeddingDim = (int) num(m, "embedding_dim", c.embeddingDim);  // absent (older runs): 128
        c.data = str(m, "data", null);
        c.strict = bool(m, "strict", c.strict);
        c.strategy = str(m, "strategy", c.strategy);
        c.distance = str(m, "distance", c.distance);
        c.margin = num(m, "margin", c.margin);
        c.softMargin = bool(m, "soft_margin", c.softMargin);
        c.p = (int) num(m, "p", c.p);
        c.k = (int) num(m, "k", c.k);
        c.extraNegatives = (int) num(m, "extra_negatives", c.extraNegatives);
        c.twoPassChunk = (int) num(m, "two_pass_chunk", c.twoPassChunk);
        c.offlineRemineEvery = (int) num(m, "offline_remine_every", c.offlineRemineEvery);
        c.offlinePool = (int) num(m, "offline_pool", c.offlinePool);
        c.optimizer = str(m, "optimizer", c.optimizer);
        c.lr = num(m, "lr", c.lr);
        c.lrSchedule = str(m, "lr_schedule", c.lrSchedule);
        c.weightDecay = num(m, "weight_decay", c.weightDecay);
        c.epochs = num(m, "epochs", c.epochs);
        c.steps = (int) num(m, "steps", c.steps);
        c.seed = (long) num(m, "seed", c.seed);
        c.evalEvery = (int) num(m, "eval_every", c.evalEvery);
        c.bnRecalibrate = "auto".equals(m.get("bn_recalibrate")) ? BN_RECALIBRATE_AUTO : (int) num(m, "bn_recalibrate", c.bnRecalibrate);
        c.checkpointEvery = (int) num(m, "checkpoint_every", c.checkpointEvery);
        c.augment = str(m, "augment", c.augment);
        c.evalLimit = (int) num(m, "eval_limit", c.evalLimit);
        c.trainLimit = (int) num(m, "train_limit", c.trainLimit);
        c.workers = (int) num(m, "workers", c.workers);
        c.prefetch = (int) num(m, "prefetch", c.prefetch);
        c.plots = bool(m, "plots", c.plots);
        Object rk = m.get("recall_k");
        if (rk instanceof List<?> l) c.recallK = l.stream().map(o -> ((Number) o).intValue()).toList();
        return c;
    }

    private static String str(Map<String, Object> m, String k, String def) {
        Object v = m.get(k);
        return v == null ? def : v.toString();
    }

    private static double num(Map<String, Object> m, String k, double def) {
        Object v = m.get(k);
        return v instanceof Number n ? n.doubleValue() : def;
    }

    private static boolean bool(Map<String, Object> m, String k, boolean def) {
        Object v = m.get(k);
        return v instanceof Boolean b ? b : def;
    }
}
