package dev.semihard.trainer.cli;

import dev.semihard.engine.backend.Backends;
import picocli.CommandLine.Option;

/**
 * {@code --backend} and {@code --threads}: which backend, and how many CPU threads a CPU backend uses.
 * Part of {@link BackendOptionsMixin} (commands that run kernels) and used alone by {@code bench}, which
 * picks no device or precision.
 */
public final class BackendChoiceMixin {
    @Option(names = "--backend", paramLabel = "NAME",
            description = "reference, opencl, cuda or auto (the fastest available; default: ${DEFAULT-VALUE}, or -Dsemihard.backend / SEMIHARD_BACKEND)")
    public String backend = Backends.requestedName();

    @Option(names = "--threads", paramLabel = "N", defaultValue = "0", description = "worker threads of CPU backends (0 = all cores)")
    public int threads;
}
