package dev.semihard.trainer.ckpt;

import dev.semihard.engine.Parameter;
import dev.semihard.engine.Tensor;
import dev.semihard.engine.mining.OfflineMiner;
import dev.semihard.engine.nn.EmbeddingModel;
import dev.semihard.engine.nn.Models;
import dev.semihard.engine.optim.Optimizer;
import dev.semihard.engine.util.Json;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Training checkpoints in the safetensors format.
 *
 * <p>{@value #FILE} holds everything needed to resume, in one file so that one atomic rename
 * publishes it: the model state under its own names ({@code conv1.weight}, {@code bn1.running_mean},
 * ...), the optimizer state under {@code optimizer/<key>}, and metadata: {@code format}
 * ({@value #FORMAT}), {@code format_version}, {@code model}, {@code embedding_dim}, {@code input_size} (the face
 * models' --input-size; absent in checkpoints written before it existed: the model's default), {@code step}, {@code sampler_state},
 * {@code optimizer}, {@code config} (the run's JSON). {@value #WEIGHTS} holds the model state only,
 * for users ({@code safetensors.torch.load_file}).
 *
 * <p>A run with offline re-mining also stores its {@link OfflineMiner.State}, so that a resumed run
 * serves exactly the triplets the uninterrupted one would have: the metadata {@code offline_miner} (JSON:
 * {@code rng}, {@code pool_sampler}, {@code step}, {@code refreshes}, {@code dimension}, {@code stale},
 * {@code cursor}) and the tensors {@code offline_miner/triplets} (I32 [T, 4]: anchor, positive, negative
 * image index, 1 if the negative was drawn at random) and {@code offline_miner/distances} (F32 [T, 2]: the
 * pool distances d(a,p), d(a,n), for inspection only: float32, so a restored miner reports them rounded).
 *
 * <p>Format versions: 1 had no offline-miner state; 2 added it. Version 2 exists so that a build that only
 * knows version 1 refuses a newer file with a message naming the version, rather than mistaking the miner's
 * tensors for model tensors. This build reads both: a version-1 checkpoint of an offline-mining run
 * resumes, but not bit-exactly (it re-mines at once; the trainer warns).
 */
public final class Checkpoint {
    private Checkpoint() {}

    public static final String FILE = "checkpoint.safetensors";
    public static final String WEIGHTS = "model.safetensors";
    public static final String FORMAT = "semihard-checkpoint";
    public static final int FORMAT_VERSION = 2;
    /** The oldest format version this build reads. */
    public static final int OLDEST_FORMAT_VERSION = 1;
    static final String OPT_PREFIX = "optimizer/";
    static final String MINER_PREFIX = "offline_miner/";
    static final String MINER_META = "offline_miner";
    /**
     * Prefix of the batch-norm running statistics as training left them, kept beside the recalibrated
     * ones (trainer --bn-recalibrate) so that extending a finished run continues from exactly the state
     * an uninterrupted longer run would have.
     */
    static final String TRAINING_BN_PREFIX = "training_bn/";

    /**
     * What a checkpoint file holds, validated against nothing yet; {@code offlineMiner} is null when the
     * run did not mine offline (or the file is of format version 1); {@code trainingBatchNorm} is empty
     * unless the batch-norm statistics in {@code modelState} were recalibrated (then it holds the
     * training-time ones, by model state name).
     */
    public record Loaded(Path file, String model, long step, long samplerState, String optimizer, String config,
                         LinkedHashMap<String, float[]> modelState, LinkedHashMap<String, float[]> optimizerState,
                         OfflineMiner.State offlineMiner, Map<String, String> metadata,
                         LinkedHashMap<String, float[]> trainingBatchNorm) {
        /** The input height = width the model was built for: metadata {@code input_size}, absent before it was added: the model's default. */
        public int inputSize() {
            return metaInt("input_size", Models.names().contains(model) ? Models.defaultInputSize(model) : 0);
        }

        /** The embedding dimension D: metadata {@code embedding_dim} (every version writes it), else 128. */
        public int embeddingDim() { return metaInt("embedding_dim", Models.EMBEDDING_DIM); }

        private int metaInt(String key, int absent) {
            String v = metadata.get(key);
            if (v == null) return absent;
            try {
                return Integer.parseInt(v.trim());
            } catch (NumberFormatException e) {
                throw new CheckpointException("checkpoint " + file + " has a malformed '" + key + "' (" + v + "): use another checkpoint");
            }
        }
    }

    /**
     * Writes {@value #FILE} (everything) and then {@value #WEIGHTS} (model only) into {@code dir}, atomically each.
     *
     * @param miner the offline miner's state right after the batch of {@code step} was drawn, or null
     */
    public static void save(Path dir, EmbeddingModel model, Optimizer opt, String optimizerName, long step, long samplerState,
                            OfflineMiner.State miner, String configJson) throws IOException {
        save(dir, model, opt, optimizerName, step, samplerState, miner, configJson, Map.of());
    }

    /**
     * As above; {@code trainingBatchNorm} (model state name to values, may be empty) are the batch-norm
     * running statistics before a recalibration, stored under {@value #TRAINING_BN_PREFIX} in {@value #FILE} only.
     */
    public static void save(Path dir, EmbeddingModel model, Optimizer opt, String optimizerName, long step, long samplerState,
                            OfflineMiner.State miner, String configJson, Map<String, float[]> trainingBatchNorm) throws IOException {
        LinkedHashMap<String, SafeTensors.Entry> model0 = modelEntries(model);
        LinkedHashMap<String, SafeTensors.Entry> all = new LinkedHashMap<>(model0);
        for (Map.Entry<String, float[]> e : trainingBatchNorm.entrySet())
            all.put(TRAINING_BN_PREFIX + e.getKey(), new SafeTensors.Entry(new int[] {e.getValue().length}, e.getValue()));
        if (opt != null)
            for (Map.Entry<String, float[]> e : opt.stateDict().entrySet())
                all.put(OPT_PREFIX + e.getKey(), new SafeTensors.Entry(new int[] {e.getValue().length}, e.getValue()));
        Map<String, String> meta = metadata(model, step);
        meta.put("sampler_state", Long.toString(samplerState));
        if (optimizerName != null) meta.put("optimizer", optimizerName);
        if (configJson != null) meta.put("config", configJson);
        if (miner != null) putMiner(miner, all, meta);
        SafeTensors.write(dir.resolve(FILE), all, meta);
        SafeTensors.write(dir.resolve(WEIGHTS), model0, metadata(model, step));
    }

    /** Writes the model weights only (e.g. an exported model). */
    public static void saveWeights(Path file, EmbeddingModel model, long step) throws IOException {
        SafeTensors.write(file, modelEntries(model), metadata(model, step));
    }

    private static Map<String, String> metadata(EmbeddingModel model, long step) {
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", FORMAT);
        meta.put("format_version", Integer.toString(FORMAT_VERSION));
        meta.put("model", model.name());
        meta.put("embedding_dim", Integer.toString(model.embeddingDim()));
        meta.put("input_size", Integer.toString(model.inputShape()[1]));
        meta.put("step", Long.toString(step));
        return meta;
    }

    private static void putMiner(OfflineMiner.State m, Map<String, SafeTensors.Entry> tensors, Map<String, String> meta) {
        List<OfflineMiner.Triplet> ts = m.triplets();
        int[] idx = new int[4 * ts.size()];
        float[] dist = new float[2 * ts.size()];
        for (int i = 0; i < ts.size(); i++) {
            OfflineMiner.Triplet t = ts.get(i);
            idx[4 * i] = t.anchor();
            idx[4 * i + 1] = t.positive();
            idx[4 * i + 2] = t.negative();
            idx[4 * i + 3] = t.random() ? 1 : 0;
            dist[2 * i] = (float) t.dAp();
            dist[2 * i + 1] = (float) t.dAn();
        }
        tensors.put(MINER_PREFIX + "triplets", SafeTensors.Entry.ofInts(new int[] {ts.size(), 4}, idx));
        tensors.put(MINER_PREFIX + "distances", new SafeTensors.Entry(new int[] {ts.size(), 2}, dist));
        Map<String, Object> j = new LinkedHashMap<>();
        j.put("rng", m.rng());
        j.put("pool_sampler", m.poolSampler());
        j.put("step", m.step());
        j.put("refreshes", m.refreshes());
        j.put("dimension", m.dimension());
        j.put("stale", m.stale());
        j.put("cursor", m.cursor());
        meta.put(MINER_META, Json.write(j));
    }

    private static OfflineMiner.State readMiner(Path file, String json, SafeTensors.Entry trip, SafeTensors.Entry dist) {
        if (json == null && trip == null && dist == null) return null;
        String bad = "checkpoint " + file + " has an incomplete or malformed offline-miner state";
        if (json == null || trip == null || dist == null || trip.ints() == null || dist.data() == null
                || trip.shape().length != 2 || trip.shape()[1] != 4 || dist.shape().length != 2 || dist.shape()[1] != 2
                || trip.shape()[0] != dist.shape()[0])
            throw new CheckpointException(bad + " (metadata '" + MINER_META + "' and tensors " + MINER_PREFIX + "triplets [T,4] I32, "
                    + MINER_PREFIX + "distances [T,2] F32 go together); resume from another checkpoint");
        try {
            Map<String, Object> j = Json.parseObject(json);
            int n = trip.shape()[0];
            int[] t = trip.ints();
            float[] d = dist.data();
            List<OfflineMiner.Triplet> ts = new ArrayList<>(n);
            for (int i = 0; i < n; i++)
                ts.add(new OfflineMiner.Triplet(t[4 * i], t[4 * i + 1], t[4 * i + 2], d[2 * i], d[2 * i + 1], t[4 * i + 3] != 0));
            return new OfflineMiner.State(num(j, "rng"), num(j, "pool_sampler"), num(j, "step"), (int) num(j, "refreshes"),
                    (int) num(j, "dimension"), Boolean.TRUE.equals(j.get("stale")), ts, (int) num(j, "cursor"));
        } catch (IllegalArgumentException | ClassCastException e) {
            throw new CheckpointException(bad + ": " + e.getMessage() + "; resume from another checkpoint", e);
        }
    }

    private static long num(Map<String, Object> j, String key) {
        if (!(j.get(key) instanceof Long v)) throw new IllegalArgumentException("'" + key + "' is missing or not an integer");
        return v;
    }

    private static LinkedHashMap<String, SafeTensors.Entry> modelEntries(EmbeddingModel model) {
        LinkedHashMap<String, SafeTensors.Entry> out = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : model.state().entrySet())
            out.put(e.getKey(), new SafeTensors.Entry(e.getValue().shape(), e.getValue().toArray()));
        return out;
    }

    /**
     * Reads and checks a checkpoint: the format and its version, and, when {@code expectModel} is not
     * null, the model name.
     */
    public static Loaded load(Path file, String expectModel) {
        SafeTensors.Contents c = SafeTensors.read(file);
        Map<String, String> m = c.metadata();
        if (!FORMAT.equals(m.get("format")))
            throw new CheckpointException(file + " is a safetensors file but not a semihard checkpoint (format '" + m.get("format")
                    + "', expected '" + FORMAT + "')");
        String v = m.get("format_version");
        int version;
        try {
            version = Integer.parseInt(String.valueOf(v));
        } catch (NumberFormatException e) {
            version = -1;
        }
        if (version < OLDEST_FORMAT_VERSION || version > FORMAT_VERSION)
            throw new CheckpointException("checkpoint " + file + " has format version " + v + "; this build reads versions "
                    + OLDEST_FORMAT_VERSION + " to " + FORMAT_VERSION + ": use the semihard version that wrote it, or retrain");
        String model = m.get("model");
        if (expectModel != null && !expectModel.equals(model))
            throw new CheckpointException("checkpoint " + file + " holds model '" + model + "', not '" + expectModel
                    + "': pass --model " + model + " or another checkpoint");
        long step, sampler;
        try {
            step = Long.parseLong(m.getOrDefault("step", "0"));
            sampler = Long.parseLong(m.getOrDefault("sampler_state", "0"));
        } catch (NumberFormatException e) {
            throw new CheckpointException("checkpoint " + file + " has a malformed step or sampler state", e);
        }
        LinkedHashMap<String, float[]> ms = new LinkedHashMap<>(), os = new LinkedHashMap<>(), tbn = new LinkedHashMap<>();
        for (Map.Entry<String, SafeTensors.Entry> e : c.tensors().entrySet()) {
            if (e.getKey().startsWith(MINER_PREFIX)) continue;
            if (e.getValue().data() == null)
                throw new CheckpointException("checkpoint " + file + ": tensor " + e.getKey() + " is " + e.getValue().dtype()
                        + "; model and optimizer tensors must be F32");
            if (e.getKey().startsWith(OPT_PREFIX)) os.put(e.getKey().substring(OPT_PREFIX.length()), e.getValue().data());
            else if (e.getKey().startsWith(TRAINING_BN_PREFIX)) tbn.put(e.getKey().substring(TRAINING_BN_PREFIX.length()), e.getValue().data());
            else ms.put(e.getKey(), e.getValue().data());
        }
        OfflineMiner.State miner = readMiner(file, m.get(MINER_META), c.tensors().get(MINER_PREFIX + "triplets"),
                c.tensors().get(MINER_PREFIX + "distances"));
        return new Loaded(file, model, step, sampler, m.get("optimizer"), m.get("config"), ms, os, miner, m, tbn);
    }

    /** Copies the checkpoint's model state into {@code model}, checking names and sizes. */
    public static void applyModel(Loaded ck, EmbeddingModel model) {
        LinkedHashMap<String, Tensor> st = model.state();
        for (String k : st.keySet())
            if (!ck.modelState().containsKey(k))
                throw new CheckpointException("checkpoint " + ck.file() + " lacks tensor '" + k + "' of model " + model.name()
                        + " (written by another model or version?)");
        for (String k : ck.modelState().keySet())
            if (!st.containsKey(k))
                throw new CheckpointException("checkpoint " + ck.file() + " has tensor '" + k + "' that model " + model.name() + " does not have");
        for (Map.Entry<String, Tensor> e : st.entrySet()) {
            float[] v = ck.modelState().get(e.getKey());
            Tensor t = e.getValue();
            if (v.length != t.numel())
                throw new CheckpointException("checkpoint " + ck.file() + ": tensor '" + e.getKey() + "' has " + v.length
                        + " values, the model expects " + t.numel() + " " + Arrays.toString(t.shape()));
            if (t instanceof Parameter p) p.set(v);
            else t.backend().upload(v, 0, t.buffer(), 0, v.length);
        }
    }

    /**
     * For resuming: puts the training-time batch-norm statistics (if the checkpoint holds recalibrated
     * ones) back into {@code model}, after {@link #applyModel}.
     */
    public static void applyTrainingBatchNorm(Loaded ck, EmbeddingModel model) {
        LinkedHashMap<String, Tensor> st = model.state();
        for (Map.Entry<String, float[]> e : ck.trainingBatchNorm().entrySet()) {
            Tensor t = st.get(e.getKey());
            if (t == null || t instanceof Parameter || t.numel() != e.getValue().length)
                throw new CheckpointException("checkpoint " + ck.file() + ": " + TRAINING_BN_PREFIX + e.getKey()
                        + " does not match a batch-norm statistic of model " + model.name() + "; resume from another checkpoint");
            t.backend().upload(e.getValue(), 0, t.buffer(), 0, e.getValue().length);
        }
    }

    /** Restores the optimizer state; the checkpoint must come from the same optimizer kind. */
    public static void applyOptimizer(Loaded ck, Optimizer opt, String optimizerName) {
        if (ck.optimizer() != null && optimizerName != null && !ck.optimizer().equals(optimizerName))
            throw new CheckpointException("checkpoint " + ck.file() + " was written with optimizer '" + ck.optimizer()
                    + "', this run uses '" + optimizerName + "'");
        try {
            opt.loadStateDict(ck.optimizerState());
        } catch (IllegalArgumentException e) {
            throw new CheckpointException("checkpoint " + ck.file() + ": " + e.getMessage(), e);
        }
    }

    /**
     * Rounds the live model and optimizer state to what a checkpoint stores (float32). On float32
     * backends this changes nothing; on the reference backend (double storage) it makes a run that
     * continues after writing a checkpoint identical to one resumed from that checkpoint.
     */
    public static void snapToStored(EmbeddingModel model, Optimizer opt) {
        for (Tensor t : model.state().values()) {
            float[] v = t.toArray();
            t.backend().upload(v, 0, t.buffer(), 0, v.length);
        }
        if (opt != null) opt.loadStateDict(opt.stateDict());
    }
}
