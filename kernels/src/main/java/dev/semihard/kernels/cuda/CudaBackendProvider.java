package dev.semihard.kernels.cuda;

import dev.semihard.engine.backend.Availability;
import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.BackendOptions;
import dev.semihard.engine.backend.BackendProvider;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.CudaException;
import jcuda.driver.JCudaDriver;

/**
 * Service provider of the CUDA backend: name "cuda", priority 100 (preferred by {@code auto}).
 *
 * <p>The probe never throws. JCuda's native library fails with {@link UnsatisfiedLinkError} the
 * first time (no {@code libcuda.so.1}: no NVIDIA driver) and with {@link NoClassDefFoundError}
 * after, so the answer is computed once and cached, with the reason in words, e.g.
 * "no CUDA driver (libcuda.so.1 not found)" or "no CUDA device".
 *
 * <p>{@code -Dsemihard.cuda.driver=PATH} (or {@code SEMIHARD_CUDA_DRIVER=PATH}) loads that file as
 * the driver library before JCuda looks for {@code libcuda.so.1}: a driver outside the loader's
 * path, or the tests' CPU emulator of the kernels ({@code kernels/src/test/cudaemu}).
 */
public final class CudaBackendProvider implements BackendProvider {
    private static volatile Availability cached;

    @Override public String name() { return "cuda"; }

    @Override public int priority() { return 100; }

    @Override
    public Availability probe() {
        Availability a = cached;
        if (a == null) {
            synchronized (CudaBackendProvider.class) {
                if (cached == null) cached = probeOnce();
                a = cached;
            }
        }
        return a;
    }

    /** The uncached probe (package-private for tests). */
    static Availability probeOnce() {
        try {
            String missing = loadDriverOverride();
            if (missing != null) return Availability.no(missing);
            JCudaDriver.setExceptionsEnabled(true);
            JCudaDriver.cuInit(0);
            int[] count = new int[1];
            JCudaDriver.cuDeviceGetCount(count);
            if (count[0] == 0) return Availability.no("no CUDA device (the driver is installed but reports 0 devices)");
            CUdevice dev = new CUdevice();
            JCudaDriver.cuDeviceGet(dev, 0);
            int[] major = new int[1];
            JCudaDriver.cuDeviceGetAttribute(major, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev);
            String desc = CudaBackend.describe(dev);
            if (major[0] < 8)
                return Availability.no("CUDA device " + desc + " is too old: the kernels are built for compute capability 8.0 or newer");
            if (CudaBackendProvider.class.getResource(CudaBackend.RESOURCE_DIR + "embedding.fatbin") == null)
                return Availability.no("the CUDA kernel binaries are missing from the class path (rebuild the kernels module)");
            return Availability.yes(desc + (count[0] > 1 ? " (+" + (count[0] - 1) + " more)" : ""));
        } catch (UnsatisfiedLinkError e) {
            return Availability.no(linkReason(e));
        } catch (NoClassDefFoundError e) {
            return Availability.no("JCuda is not usable here (" + e.getMessage() + ")");
        } catch (CudaException e) {
            String m = String.valueOf(e.getMessage());
            if (m.contains("CUDA_ERROR_NO_DEVICE")) return Availability.no("no CUDA device");
            if (m.contains("CUDA_ERROR_INSUFFICIENT_DRIVER"))
                return Availability.no("the NVIDIA driver is too old for CUDA 12 (" + m + ")");
            return Availability.no("CUDA driver error: " + m);
        } catch (Throwable t) {
            return Availability.no("CUDA probe failed: " + t);
        }
    }

    /** The system property naming a driver library to load first. */
    public static final String DRIVER_PROPERTY = "semihard.cuda.driver";
    /** The environment variable with the same meaning as {@link #DRIVER_PROPERTY}. */
    public static final String DRIVER_ENV = "SEMIHARD_CUDA_DRIVER";
    private static boolean driverLoaded;

    /**
     * Loads the driver library named by {@link #DRIVER_PROPERTY} / {@link #DRIVER_ENV}, once; it must
     * happen before JCuda's native library is loaded, whose {@code libcuda.so.1} dependency the
     * dynamic linker then finds by its soname. Returns null, or why the named file cannot be used.
     */
    static synchronized String loadDriverOverride() {
        String path = System.getProperty(DRIVER_PROPERTY);
        String from = "-D" + DRIVER_PROPERTY;
        if (path == null || path.isBlank()) { path = System.getenv(DRIVER_ENV); from = DRIVER_ENV; }
        if (path == null || path.isBlank() || driverLoaded) return null;
        java.nio.file.Path p = java.nio.file.Path.of(path).toAbsolutePath();
        if (!java.nio.file.Files.isRegularFile(p))
            return "no CUDA driver: " + from + " names " + p + ", which does not exist";
        try {
            System.load(p.toString());
        } catch (UnsatisfiedLinkError e) {
            return "no CUDA driver: " + from + " names " + p + ", which cannot be loaded (" + e.getMessage() + ")";
        }
        driverLoaded = true;
        return null;
    }

    /** Turns JCuda's long loader message into one line naming the cause. */
    static String linkReason(Throwable e) {
        StringBuilder all = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause()) all.append(t.getMessage()).append(' ');
        for (Throwable s : e.getSuppressed()) all.append(s.getMessage()).append(' ');
        String m = all.toString();
        if (m.contains("libcuda.so")) return "no CUDA driver (libcuda.so.1 not found)";
        return "no CUDA driver (JCuda's native library could not be loaded: "
                + (e.getMessage() == null ? e.toString() : e.getMessage().lines().findFirst().orElse("")) + ")";
    }

    @Override
    public Backend create(BackendOptions options) {
        Availability a = probe();
        if (!a.available()) throw new IllegalStateException("cuda backend unavailable: " + a.detail());
        return new CudaBackend(options == null ? BackendOptions.defaults() : options);
    }
}
