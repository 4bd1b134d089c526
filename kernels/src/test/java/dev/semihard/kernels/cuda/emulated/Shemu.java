package dev.semihard.kernels.cuda.emulated;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.Backends;
import dev.semihard.kernels.cuda.CudaBackendProvider;

import org.lwjgl.system.JNI;
import org.lwjgl.system.MemoryUtil;
import org.lwjgl.system.linux.DynamicLinkLoader;

import java.io.IOException;
import java.util.EnumMap;
import java.util.Map;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * shemu, the CPU emulator of the CUDA kernels ({@code kernels/src/test/cudaemu}, see its
 * {@code include/shemu.h}): builds its stand-in {@code libcuda.so.1} with g++ once per JVM and points
 * {@link CudaBackendProvider#DRIVER_PROPERTY} at it, so that {@code Backends.create("cuda")} runs the
 * real {@code CudaBackend} and the real kernel sources on the CPU.
 *
 * <p>These tests run in their own surefire execution ({@code cuda-emulator} in kernels/pom.xml), a
 * JVM of their own: once the stand-in driver is loaded, "cuda" is available in that JVM. Without
 * g++ the tests are skipped loudly, or fail when {@code SEMIHARD_REQUIRE} lists "cuda-emulator" (CI).
 */
public final class Shemu {
    /** The name {@code SEMIHARD_REQUIRE} uses for these tests. */
    public static final String NAME = "cuda-emulator";
    private static String failure;
    private static boolean ready;

    private Shemu() {}

    /** Builds (when stale) and selects the emulator, then opens the CUDA backend on it. */
    public static synchronized Backend open() {
        if (!ready && failure == null) failure = build();
        if (failure != null) throw new Backends.BackendUnavailableException(NAME + ": " + failure);
        ready = true;
        Backend b = Backends.create("cuda");
        if (!b.deviceDescription().contains("emulator")) {
            b.close();
            throw new IllegalStateException("expected the CUDA emulator, got " + b.deviceDescription());
        }
        return b;
    }

    /**
     * {@link #open()}, or a loud skip of the calling test when the emulator cannot be built (no g++);
     * a failure instead when {@code SEMIHARD_REQUIRE} lists {@value #NAME} (CI).
     */
    public static Backend openOrSkip() {
        try {
            return open();
        } catch (Backends.BackendUnavailableException e) {
            if (dev.semihard.engine.conformance.BackendConformanceTest.required(NAME)) throw e;
            System.err.println("*** SKIPPED: " + e.getMessage());
            org.junit.jupiter.api.Assumptions.abort(e.getMessage());
            throw e;      // not reached: abort throws
        }
    }

    private static String build() {
        Path base = Path.of(System.getProperty("basedir", "."));
        Path script = base.resolve("src/test/cudaemu/build.sh");
        Path out = base.resolve("target/shemu");
        if (!Files.isRegularFile(script)) return "build script " + script + " not found (run the tests from the kernels module)";
        try {
            Files.createDirectories(out);
            Path log = out.resolve("build.log");
            Process p = new ProcessBuilder("bash", script.toString(), out.toString())
                    .redirectErrorStream(true).redirectOutput(log.toFile()).start();
            if (!p.waitFor(10, TimeUnit.MINUTES)) { p.destroyForcibly(); return "building the emulator took over 10 minutes"; }
            String text = Files.readString(log, StandardCharsets.UTF_8);
            if (p.exitValue() != 0)
                return "building the emulator failed (exit " + p.exitValue() + "; apt-get install g++ if it is missing):\n" + text;
            System.err.print(text);
        } catch (IOException e) {
            return "cannot run " + script + ": " + e.getMessage();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "interrupted while building the emulator";
        }
        System.setProperty(CudaBackendProvider.DRIVER_PROPERTY, out.resolve("libcuda.so.1").toString());
        return null;
    }

    /** The driver calls the emulator counts, in the order of driver.cpp's C_* constants. */
    public enum DriverCall {
        MEM_ALLOC, MEM_FREE, CTX_SYNC, STREAM_SYNC, EVENT_SYNC, HTOD, HTOD_ASYNC, DTOH, DTOH_ASYNC, DTOD,
        DTOD_ASYNC, MEMSET, MEMSET_ASYNC, LAUNCH, ALLOC_HOST
    }

    /** How often each driver call has been made in this JVM, from the emulator's counters. */
    public static synchronized Map<DriverCall, Long> driverCounts() {
        if (!ready) throw new IllegalStateException("the emulator is not loaded");
        String lib = System.getProperty(CudaBackendProvider.DRIVER_PROPERTY);
        long h = DynamicLinkLoader.dlopen(lib, DynamicLinkLoader.RTLD_LAZY | DynamicLinkLoader.RTLD_NOLOAD);
        if (h == 0) throw new IllegalStateException("the emulator " + lib + " is not loaded in this JVM");
        try {
            long fn = DynamicLinkLoader.dlsym(h, "shemu_driver_counts");
            if (fn == 0) throw new IllegalStateException(lib + " has no shemu_driver_counts");
            int n = DriverCall.values().length;
            long buf = MemoryUtil.nmemCalloc(n, 8);
            try {
                int have = JNI.invokePI(buf, n, fn);
                if (have != n) throw new IllegalStateException("the emulator counts " + have + " calls, Shemu.DriverCall lists " + n);
                Map<DriverCall, Long> out = new EnumMap<>(DriverCall.class);
                for (DriverCall c : DriverCall.values()) out.put(c, MemoryUtil.memGetLong(buf + 8L * c.ordinal()));
                return out;
            } finally {
                MemoryUtil.nmemFree(buf);
            }
        } finally {
            DynamicLinkLoader.dlclose(h);
        }
    }

    /** after - before, call by call. */
    public static Map<DriverCall, Long> delta(Map<DriverCall, Long> before, Map<DriverCall, Long> after) {
        Map<DriverCall, Long> d = new EnumMap<>(DriverCall.class);
        for (DriverCall c : DriverCall.values()) d.put(c, after.get(c) - before.get(c));
        return d;
    }
}
