package dev.semihard.trainer.cli;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.BackendOptions;
import dev.semihard.engine.backend.Backends;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.Map;

/**
 * {@code --backend}, {@code --threads} ({@link BackendChoiceMixin}), {@code --device}, {@code --precision}:
 * shared by every command that runs kernels.
 */
public final class BackendOptionsMixin {
    @Mixin
    public BackendChoiceMixin choice;

    @Option(names = "--device", paramLabel = "SEL", description = "device index or name substring (OpenCL, CUDA)")
    public String device;

    @Option(names = "--precision", paramLabel = "P", defaultValue = "fp32", description = "fp32 or tf32 (CUDA tensor cores; default ${DEFAULT-VALUE})")
    public String precision = "fp32";

    public BackendOptions options() {
        return new BackendOptions(device, precision, choice.threads, Map.of());
    }

    /** Creates the backend; throws {@link Backends.BackendUnavailableException} with the reason and what to do. */
    public Backend create() {
        return Backends.create(choice.backend, options());
    }
}
