package dev.semihard.kernels.opencl;

import dev.semihard.engine.backend.Availability;
import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.BackendOptions;
import dev.semihard.engine.backend.BackendProvider;

/**
 * Service provider of the {@link OpenClBackend}: name "opencl", priority 50 before the probe; once the probe
 * has found the default device, 60 on a GPU or accelerator (after CUDA, ahead of the cpu backend's 40) and
 * 30 on a CPU device such as PoCL (behind the cpu backend, which is faster on the same cores).
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

    /** Priority on a GPU or accelerator device: ahead of the cpu backend (40). */
    public static final int GPU_PRIORITY = 60;
    /** Priority on a CPU device (PoCL): behind the cpu backend (40), which bench/RESULTS.md measured faster on the same cores. */
    public static final int CPU_DEVICE_PRIORITY = 30;

    @Override
    public int priority(Availability availability) {
        if (!availability.available()) return priority();
        return OpenClRuntime.defaultDeviceIsCpu() ? CPU_DEVICE_PRIORITY : GPU_PRIORITY;
    }

    @Override
    public String priorityReason(Availability availability) {
        if (!availability.available()) return null;
        return OpenClRuntime.defaultDeviceIsCpu()
                ? "its device is a CPU, where the cpu backend measured faster (bench/RESULTS.md)"
                : "its device is a GPU";
    }

    @Override public Availability probe() { return OpenClRuntime.probe(); }

    @Override public Backend create(BackendOptions options) { return new OpenClBackend(options); }
}
