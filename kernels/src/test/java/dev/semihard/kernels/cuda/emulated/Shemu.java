package dev.semihard.kernels.cuda.emulated;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.Backends;
import dev.semihard.kernels.cuda.CudaBackendProvider;

import java.io.IOException;
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
}
