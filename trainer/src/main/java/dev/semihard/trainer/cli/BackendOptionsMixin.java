package dev.semihard.trainer.cli;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.BackendOptions;
import dev.semihard.engine.backend.Backends;
import picocli.CommandLine.Option;

import java.util.Map;

/** {@code --backend}, {@code --device}, {@code --precision}, {@code --threads}: shared by every command that runs kernels. */
public final class BackendOptionsMixin {
    @Option(names = "--backend", paramLabel = "NAME",
            description = "reference, opencl, cuda or auto (the fastest available; default: ${DEFAULT-VALUE}, or -Dsemihard.backend / SEMIHARD_BACKEND)")
    public String backend = Backends.requestedName();

    @Option(names = "--device", paramLabel = "SEL", description = "device index or name substring (OpenCL, CUDA)")
    public String device;

    @Option(names = "--precision", paramLabel = "P", defaultValue = "fp32", description = "fp32 or tf32 (CUDA tensor cores; default ${DEFAULT-VALUE})")
    public String precision = "fp32";

    @Option(names = "--threads", paramLabel = "N", defaultValue = "0", description = "worker threads of CPU backends (0 = all cores)")
    public int threads;

    public BackendOptions options() {
        return new BackendOptions(device, precision, threads, Map.of());
    }

    /** Creates the backend; throws {@link Backends.BackendUnavailableException} with the reason and what to do. */
    public Backend create() {
        return Backends.create(backend, options());
    }
}
