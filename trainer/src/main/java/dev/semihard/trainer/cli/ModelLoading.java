package dev.semihard.trainer.cli;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.nn.EmbeddingModel;
import dev.semihard.engine.nn.Models;
import dev.semihard.trainer.ckpt.Checkpoint;
import dev.semihard.trainer.ckpt.CheckpointException;

import java.nio.file.Files;
import java.nio.file.Path;

/** Loads a model from a checkpoint file or a run folder (eval, embed). */
final class ModelLoading {
    private ModelLoading() {}

    /** {@code path} is a checkpoint / weights file, or a run folder holding {@value Checkpoint#FILE}. */
    static Path checkpointFile(Path path) {
        if (Files.isDirectory(path)) {
            Path f = path.resolve(Checkpoint.FILE);
            if (!Files.isRegularFile(f)) f = path.resolve(Checkpoint.WEIGHTS);
            if (!Files.isRegularFile(f))
                throw new CheckpointException("no " + Checkpoint.FILE + " in " + path + ": pass a run folder or a checkpoint file");
            return f;
        }
        if (!Files.exists(path)) throw new CheckpointException("checkpoint not found: " + path);
        return path;
    }

    /** Creates the checkpoint's model on {@code backend} and loads its weights. */
    static EmbeddingModel load(Path file, Backend backend, String expectModel) {
        Checkpoint.Loaded ck = Checkpoint.load(file, expectModel);
        if (!Models.names().contains(ck.model()))
            throw new CheckpointException("checkpoint " + file + " holds unknown model '" + ck.model() + "'; known: " + Models.names());
        EmbeddingModel m;
        try {
            m = Models.create(ck.model(), ck.inputSize(), ck.embeddingDim(), backend, 0);
        } catch (IllegalArgumentException e) {
            throw new CheckpointException("checkpoint " + file + ": " + e.getMessage() + " (metadata input_size / embedding_dim)", e);
        }
        try {
            Checkpoint.applyModel(ck, m);
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
        return m;
    }
}
