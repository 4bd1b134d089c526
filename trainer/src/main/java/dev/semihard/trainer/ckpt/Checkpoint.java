package dev.semihard.trainer.ckpt;

import dev.semihard.engine.Parameter;
import dev.semihard.engine.Tensor;
import dev.semihard.engine.nn.EmbeddingModel;
import dev.semihard.engine.optim.Optimizer;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Training checkpoints in the safetensors format.
 *
 * <p>{@value #FILE} holds everything needed to resume, in one file so that one atomic rename
 * publishes it: the model state under its own names ({@code conv1.weight}, {@code bn1.running_mean},
 * ...), the optimizer state under {@code optimizer/<key>}, and metadata: {@code format}
 * ({@value #FORMAT}), {@code format_version}, {@code model}, {@code step}, {@code sampler_state},
 * {@code optimizer}, {@code config} (the run's JSON). {@value #WEIGHTS} holds the model state only,
 * for users ({@code safetensors.torch.load_file}).
 */
public final class Checkpoint {
    private Checkpoint() {}

    public static final String FILE = "checkpoint.safetensors";
    public static final String WEIGHTS = "model.safetensors";
    public static final String FORMAT = "semihard-checkpoint";
    public static final int FORMAT_VERSION = 1;
    static final String OPT_PREFIX = "optimizer/";

    /** What a checkpoint file holds, validated against nothing yet. */
    public record Loaded(Path file, String model, long step, long samplerState, String optimizer, String config,
                         LinkedHashMap<String, float[]> modelState, LinkedHashMap<String, float[]> optimizerState,
                         Map<String, String> metadata) {}

    /** Writes {@value #FILE} (everything) and then {@value #WEIGHTS} (model only) into {@code dir}, atomically each. */
    public static void save(Path dir, EmbeddingModel model, Optimizer opt, String optimizerName, long step, long samplerState,
                            String configJson) throws IOException {
        LinkedHashMap<String, SafeTensors.Entry> model0 = modelEntries(model);
        LinkedHashMap<String, SafeTensors.Entry> all = new LinkedHashMap<>(model0);
        if (opt != null)
            for (Map.Entry<String, float[]> e : opt.stateDict().entrySet())
                all.put(OPT_PREFIX + e.getKey(), new SafeTensors.Entry(new int[] {e.getValue().length}, e.getValue()));
        Map<String, String> meta = metadata(model, step);
        meta.put("sampler_state", Long.toString(samplerState));
        if (optimizerName != null) meta.put("optimizer", optimizerName);
        if (configJson != null) meta.put("config", configJson);
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
        meta.put("step", Long.toString(step));
        return meta;
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
        if (!Integer.toString(FORMAT_VERSION).equals(v))
            throw new CheckpointException("checkpoint " + file + " has format version " + v + "; this build reads version "
                    + FORMAT_VERSION + ": use the semihard version that wrote it, or retrain");
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
        LinkedHashMap<String, float[]> ms = new LinkedHashMap<>(), os = new LinkedHashMap<>();
        for (Map.Entry<String, SafeTensors.Entry> e : c.tensors().entrySet()) {
            if (e.getKey().startsWith(OPT_PREFIX)) os.put(e.getKey().substring(OPT_PREFIX.length()), e.getValue().data());
            else ms.put(e.getKey(), e.getValue().data());
        }
        return new Loaded(file, model, step, sampler, m.get("optimizer"), m.get("config"), ms, os, m);
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
