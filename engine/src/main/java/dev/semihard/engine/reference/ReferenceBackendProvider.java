package dev.semihard.engine.reference;

import dev.semihard.engine.backend.Availability;
import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.BackendOptions;
import dev.semihard.engine.backend.BackendProvider;

/**
 * Service provider of the {@link ReferenceBackend}: name "reference", priority 0 (chosen by
 * {@code --backend auto} only when no device backend is available), always available.
 */
public final class ReferenceBackendProvider implements BackendProvider {
    @Override public String name() { return "reference"; }

    @Override public int priority() { return 0; }

    @Override
    public Availability probe() {
        return Availability.yes(ReferenceBackend.describe(Runtime.getRuntime().availableProcessors()));
    }

    /** Honours {@link BackendOptions#threads()} (0 = every processor); the device and precision are ignored. */
    @Override
    public Backend create(BackendOptions options) {
        return new ReferenceBackend(options == null ? 0 : options.threads());
    }
}
