package dev.semihard.kernels.opencl;

import dev.semihard.engine.backend.Availability;
import org.lwjgl.PointerBuffer;
import org.lwjgl.system.Configuration;
import org.lwjgl.system.MemoryStack;
import org.lwjgl.system.Platform;
import org.lwjgl.system.linux.DynamicLinkLoader;

import java.nio.ByteBuffer;
import java.nio.IntBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import static org.lwjgl.opencl.CL10.*;

/**
 * Loading LWJGL's OpenCL binding, the availability probe, device discovery and OpenCL error names.
 *
 * <p>LWJGL opens {@code libOpenCL.so}, a name only the {@code -dev} package ships; the runtime package
 * ({@code ocl-icd-libopencl1}) has {@code libOpenCL.so.1}. When the user did not set
 * {@value #LIBNAME_PROPERTY} and the plain name cannot be opened, the property is set to
 * {@code libOpenCL.so.1} before LWJGL's {@code CL} class first initializes (it can initialize only once
 * per JVM). The probe runs once and caches its answer; it never throws: a missing loader surfaces as
 * {@link UnsatisfiedLinkError} the first time and {@link NoClassDefFoundError} after, so it catches
 * {@link Throwable}.
 */
final class OpenClRuntime {
    /** LWJGL's system property naming the OpenCL loader library. */
    static final String LIBNAME_PROPERTY = "org.lwjgl.opencl.libname";
    /** clGetPlatformIDs' answer when no ICD is installed (cl_khr_icd). */
    static final int CL_PLATFORM_NOT_FOUND_KHR = -1001;

    private static Availability cached;
    private static boolean defaultIsCpu;

    private OpenClRuntime() {}

    /** One OpenCL device found on the machine. */
    record DeviceInfo(int index, long platform, String platformName, long device, String name, long type,
                      int computeUnits, long globalMem) {
        String describe() {
            return name.trim() + " (" + platformName.trim() + ", " + typeName(type) + ", " + computeUnits
                    + " compute units, " + (globalMem >> 20) + " MiB)";
        }
    }

    /** The cached availability of OpenCL on this machine; never throws. */
    static synchronized Availability probe() {
        if (cached == null) cached = probeOnce();
        return cached;
    }

    /**
     * The probe prints nothing of its own: what LWJGL says while it runs (e.g. its "Failed to load a
     * library" advice when the loader is missing) is collected by {@link LwjglMessages} and only its
     * informative part, if any, joins the reason.
     */
    private static Availability probeOnce() {
        LwjglMessages.Captured<Availability> c = LwjglMessages.capture(OpenClRuntime::probeQuietly);
        String extra = LwjglMessages.essence(c.said());
        if (c.value().available() || extra.isEmpty()) return c.value();
        return Availability.no(c.value().detail() + " [LWJGL: " + extra + "]");
    }

    private static Availability probeQuietly() {
        try {
            ensureLoaderName();
            List<DeviceInfo> devices = devicesOrThrow();
            DeviceInfo best = devices.get(defaultDevice(devices));
            defaultIsCpu = (best.type() & (CL_DEVICE_TYPE_GPU | CL_DEVICE_TYPE_ACCELERATOR)) == 0;
            return Availability.yes(best.describe());
        } catch (ProbeFailure f) {
            return Availability.no(f.getMessage());
        } catch (Throwable t) {
            return Availability.no(loaderMessage(t));
        }
    }

    /** Whether the default device found by {@link #probe()} is a CPU (neither GPU nor accelerator); false when unavailable. */
    static synchronized boolean defaultDeviceIsCpu() {
        probe();
        return defaultIsCpu;
    }

    /** "no OpenCL loader" with the library name LWJGL tried and what to install. */
    static String loaderMessage(Throwable t) {
        String lib = System.getProperty(LIBNAME_PROPERTY, "libOpenCL.so");
        String m = t.getMessage();
        String why = m == null ? t.getClass().getSimpleName()
                : m.startsWith("Failed to locate library") ? "not found in the system library paths"
                : t.getClass().getSimpleName() + ": " + m;
        return "no OpenCL loader (could not load " + lib + ": " + why
                + "); install an OpenCL loader and a driver, e.g. 'apt-get install ocl-icd-libopencl1 pocl-opencl-icd'";
    }

    /** The message for a failed clGetPlatformIDs (or one that found nothing). */
    static String platformMessage(int err) {
        if (err == CL_PLATFORM_NOT_FOUND_KHR || err == CL_SUCCESS)
            return "no platform (the OpenCL loader found no installable client driver: clGetPlatformIDs returned "
                    + (err == CL_SUCCESS ? "0 platforms" : errorName(err))
                    + "); install a driver, e.g. 'apt-get install pocl-opencl-icd' for the CPU, and check /etc/OpenCL/vendors";
        return "no platform (clGetPlatformIDs failed with " + errorName(err) + ")";
    }

    /** The message when platforms exist but none has a device. */
    static String deviceMessage(List<String> platforms) {
        return "no device (OpenCL platforms " + platforms + " report no device); check the driver installation";
    }

    /** Sets {@value #LIBNAME_PROPERTY} to libOpenCL.so.1 when unset and the plain libOpenCL.so cannot be opened. */
    static void ensureLoaderName() {
        if (System.getProperty(LIBNAME_PROPERTY) != null || Platform.get() != Platform.LINUX) return;
        long handle = 0;
        try {
            // dlopen answers quietly (LWJGL's own loader prints a warning on every failure)
            handle = DynamicLinkLoader.dlopen("libOpenCL.so", DynamicLinkLoader.RTLD_LAZY | DynamicLinkLoader.RTLD_LOCAL);
        } catch (Throwable ignored) {
            // LWJGL's natives are missing: CL's own initialization will report it
        }
        if (handle != 0) {
            DynamicLinkLoader.dlclose(handle);
            return;
        }
        // LWJGL's Configuration may already hold the property's old value, so set both the property
        // (for child JVMs and users) and the live value
        System.setProperty(LIBNAME_PROPERTY, "libOpenCL.so.1");
        Configuration.OPENCL_LIBRARY_NAME.set("libOpenCL.so.1");
    }

    /** Every device of every platform, in platform then device order. */
    static List<DeviceInfo> devicesOrThrow() {
        // the first clGetPlatformIDs initializes the driver, which may replace the JVM's signal handlers
        JvmSignalHandlers.capture();
        try {
            return listDevices();
        } finally {
            JvmSignalHandlers.restore();
        }
    }

    private static List<DeviceInfo> listDevices() {
        List<DeviceInfo> out = new ArrayList<>();
        List<String> platformNames = new ArrayList<>();
        try (MemoryStack st = MemoryStack.stackPush()) {
            IntBuffer num = st.mallocInt(1);
            int err = clGetPlatformIDs(null, num);
            if (err != CL_SUCCESS || num.get(0) == 0) throw new ProbeFailure(platformMessage(err));
            PointerBuffer platforms = st.mallocPointer(num.get(0));
            check(clGetPlatformIDs(platforms, (IntBuffer) null), "clGetPlatformIDs");
            for (int p = 0; p < platforms.capacity(); p++) {
                long platform = platforms.get(p);
                String pname = platformString(platform, CL_PLATFORM_NAME);
                platformNames.add(pname);
                IntBuffer nd = st.mallocInt(1);
                int derr = clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, null, nd);
                if (derr == CL_DEVICE_NOT_FOUND || nd.get(0) == 0) continue;
                check(derr, "clGetDeviceIDs");
                PointerBuffer ids = st.mallocPointer(nd.get(0));
                check(clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, ids, (IntBuffer) null), "clGetDeviceIDs");
                for (int d = 0; d < ids.capacity(); d++) {
                    long dev = ids.get(d);
                    out.add(new DeviceInfo(out.size(), platform, pname, dev, deviceString(dev, CL_DEVICE_NAME),
                            deviceLong(dev, CL_DEVICE_TYPE), (int) deviceInt(dev, CL_DEVICE_MAX_COMPUTE_UNITS),
                            deviceLong(dev, CL_DEVICE_GLOBAL_MEM_SIZE)));
                }
            }
        }
        if (out.isEmpty()) throw new ProbeFailure(deviceMessage(platformNames));
        return out;
    }

    /** Default device: the first GPU or accelerator, else the first device. */
    static int defaultDevice(List<DeviceInfo> devices) {
        for (int i = 0; i < devices.size(); i++)
            if ((devices.get(i).type() & (CL_DEVICE_TYPE_GPU | CL_DEVICE_TYPE_ACCELERATOR)) != 0) return i;
        return 0;
    }

    /**
     * Chooses a device: {@code platform} (the "opencl.platform" extra, index or name substring) narrows the
     * platforms, {@code device} (BackendOptions.device(), index among the remaining devices or a substring of
     * the device or platform name, case-insensitive) picks one; null means the default.
     *
     * @throws IllegalArgumentException naming what was asked and what exists
     */
    static DeviceInfo select(List<DeviceInfo> all, String platform, String device) {
        List<DeviceInfo> pool = all;
        if (platform != null && !platform.isBlank()) {
            String p = platform.trim();
            List<String> names = new ArrayList<>();
            List<Long> ids = new ArrayList<>();
            for (DeviceInfo d : all) if (!ids.contains(d.platform())) { ids.add(d.platform()); names.add(d.platformName()); }
            List<DeviceInfo> sel = new ArrayList<>();
            if (p.matches("\\d+")) {
                int idx = Integer.parseInt(p);
                if (idx >= ids.size())
                    throw new IllegalArgumentException("opencl.platform " + idx + " does not exist; platforms with devices: " + indexed(names));
                for (DeviceInfo d : all) if (d.platform() == ids.get(idx)) sel.add(d);
            } else {
                for (DeviceInfo d : all) if (d.platformName().toLowerCase(Locale.ROOT).contains(p.toLowerCase(Locale.ROOT))) sel.add(d);
                if (sel.isEmpty())
                    throw new IllegalArgumentException("no OpenCL platform name contains '" + p + "'; platforms with devices: " + indexed(names));
            }
            pool = sel;
        }
        if (device == null || device.isBlank()) return pool.get(defaultDevice(pool));
        String q = device.trim();
        if (q.matches("\\d+")) {
            int idx = Integer.parseInt(q);
            if (idx >= pool.size())
                throw new IllegalArgumentException("OpenCL device " + idx + " does not exist; devices: " + describeAll(pool));
            return pool.get(idx);
        }
        for (DeviceInfo d : pool) {
            String hay = (d.name() + " " + d.platformName()).toLowerCase(Locale.ROOT);
            if (hay.contains(q.toLowerCase(Locale.ROOT))) return d;
        }
        throw new IllegalArgumentException("no OpenCL device name contains '" + q + "'; devices: " + describeAll(pool));
    }

    private static String indexed(List<String> names) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < names.size(); i++) sb.append(i > 0 ? ", " : "").append(i).append(": ").append(names.get(i).trim());
        return sb.toString();
    }

    static String describeAll(List<DeviceInfo> devices) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < devices.size(); i++) sb.append(i > 0 ? "; " : "").append(i).append(": ").append(devices.get(i).describe());
        return sb.toString();
    }

    static String typeName(long type) {
        if ((type & CL_DEVICE_TYPE_GPU) != 0) return "GPU";
        if ((type & CL_DEVICE_TYPE_CPU) != 0) return "CPU";
        if ((type & CL_DEVICE_TYPE_ACCELERATOR) != 0) return "accelerator";
        return "device";
    }

    static String platformString(long platform, int param) {
        try (MemoryStack st = MemoryStack.stackPush()) {
            PointerBuffer size = st.mallocPointer(1);
            check(clGetPlatformInfo(platform, param, (ByteBuffer) null, size), "clGetPlatformInfo");
            ByteBuffer buf = st.malloc((int) size.get(0));
            check(clGetPlatformInfo(platform, param, buf, null), "clGetPlatformInfo");
            return cString(buf);
        }
    }

    static String deviceString(long device, int param) {
        try (MemoryStack st = MemoryStack.stackPush()) {
            PointerBuffer size = st.mallocPointer(1);
            check(clGetDeviceInfo(device, param, (ByteBuffer) null, size), "clGetDeviceInfo");
            ByteBuffer buf = st.malloc((int) size.get(0));
            check(clGetDeviceInfo(device, param, buf, null), "clGetDeviceInfo");
            return cString(buf);
        }
    }

    static long deviceLong(long device, int param) {
        try (MemoryStack st = MemoryStack.stackPush()) {
            java.nio.LongBuffer b = st.mallocLong(1);
            check(clGetDeviceInfo(device, param, b, null), "clGetDeviceInfo");
            return b.get(0);
        }
    }

    static long deviceInt(long device, int param) {
        try (MemoryStack st = MemoryStack.stackPush()) {
            IntBuffer b = st.mallocInt(1);
            check(clGetDeviceInfo(device, param, b, null), "clGetDeviceInfo");
            return b.get(0) & 0xffffffffL;
        }
    }

    private static String cString(ByteBuffer buf) {
        byte[] bytes = new byte[buf.remaining()];
        buf.get(bytes);
        int n = bytes.length;
        while (n > 0 && bytes[n - 1] == 0) n--;
        return new String(bytes, 0, n, java.nio.charset.StandardCharsets.UTF_8);
    }

    /** Throws IllegalStateException naming the call and the OpenCL error when err != CL_SUCCESS. */
    static void check(int err, String what) {
        if (err != CL_SUCCESS) throw new IllegalStateException("OpenCL: " + what + " failed with " + errorName(err));
    }

    private static final Map<Integer, String> ERRORS = Map.ofEntries(
            Map.entry(-1, "CL_DEVICE_NOT_FOUND"), Map.entry(-2, "CL_DEVICE_NOT_AVAILABLE"),
            Map.entry(-3, "CL_COMPILER_NOT_AVAILABLE"), Map.entry(-4, "CL_MEM_OBJECT_ALLOCATION_FAILURE"),
            Map.entry(-5, "CL_OUT_OF_RESOURCES"), Map.entry(-6, "CL_OUT_OF_HOST_MEMORY"),
            Map.entry(-11, "CL_BUILD_PROGRAM_FAILURE"), Map.entry(-30, "CL_INVALID_VALUE"),
            Map.entry(-32, "CL_INVALID_PLATFORM"), Map.entry(-33, "CL_INVALID_DEVICE"),
            Map.entry(-34, "CL_INVALID_CONTEXT"), Map.entry(-36, "CL_INVALID_COMMAND_QUEUE"),
            Map.entry(-38, "CL_INVALID_MEM_OBJECT"), Map.entry(-44, "CL_INVALID_PROGRAM"),
            Map.entry(-45, "CL_INVALID_PROGRAM_EXECUTABLE"), Map.entry(-46, "CL_INVALID_KERNEL_NAME"),
            Map.entry(-48, "CL_INVALID_KERNEL"), Map.entry(-49, "CL_INVALID_ARG_INDEX"),
            Map.entry(-50, "CL_INVALID_ARG_VALUE"), Map.entry(-51, "CL_INVALID_ARG_SIZE"),
            Map.entry(-52, "CL_INVALID_KERNEL_ARGS"), Map.entry(-53, "CL_INVALID_WORK_DIMENSION"),
            Map.entry(-54, "CL_INVALID_WORK_GROUP_SIZE"), Map.entry(-55, "CL_INVALID_WORK_ITEM_SIZE"),
            Map.entry(-61, "CL_INVALID_BUFFER_SIZE"), Map.entry(-63, "CL_INVALID_GLOBAL_WORK_SIZE"),
            Map.entry(CL_PLATFORM_NOT_FOUND_KHR, "CL_PLATFORM_NOT_FOUND_KHR"));

    /** "CL_OUT_OF_RESOURCES (-5)" for a known code, "error -N" otherwise. */
    static String errorName(int err) {
        String n = ERRORS.get(err);
        return n == null ? "error " + err : n + " (" + err + ")";
    }

    /** A probe answer that is not a crash: no platform, no device. */
    static final class ProbeFailure extends RuntimeException {
        ProbeFailure(String message) { super(message); }
    }
}
