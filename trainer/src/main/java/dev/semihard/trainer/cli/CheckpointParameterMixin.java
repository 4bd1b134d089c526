package dev.semihard.trainer.cli;

import picocli.CommandLine.Parameters;

import java.nio.file.Path;

/** The {@code CHECKPOINT} parameter of the commands that load a trained model (eval, embed). */
public final class CheckpointParameterMixin {
    @Parameters(index = "0", paramLabel = "CHECKPOINT", description = "run folder or checkpoint.safetensors / model.safetensors")
    public Path checkpoint;

    /** The checkpoint file: the one given, or the one in the given run folder (see {@link ModelLoading#checkpointFile}). */
    public Path file() { return ModelLoading.checkpointFile(checkpoint); }
}
