package dev.semihard.kernels.opencl;

import dev.semihard.engine.backend.Availability;
import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.BackendOptions;
import dev.semihard.engine.backend.BackendProvider;

/**
 * Service provider of the {@link OpenClBackend}: name "opencl", priority 50 (between the CUDA backend and
 * the reference backend under {@code --backend auto}).
 *
 * <p>The probe loads the OpenCL loader through LWJGL once and caches the answer; it never throws. When
 * OpenCL is unusable it says why: "no OpenCL loader" (libOpenCL missing), "no platform" (no installable
 * client driver: clGetPlatformIDs returns -1001) or "no device".
 *
 * <p>Options: {@link BackendOptions#device()} picks the device by index or by a substring of the device or
 * platform name; the extra {@code opencl.platform} narrows the platforms first (index or name substring).
 * Default: the first GPU or accelerator, else the first device.
 */
public final class OpenClBackendProvider implements BackendProvider {
    @Override public String name() { return "opencl"; }

    @Override public int priority() { return 50; }

    @Override public Availability probe() { return OpenClRuntime.probe(); }

    @Override public Backend create(BackendOptions options) { return new OpenClBackend(options); }
}
