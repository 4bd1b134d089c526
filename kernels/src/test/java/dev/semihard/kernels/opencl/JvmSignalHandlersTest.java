package dev.semihard.kernels.opencl;

import dev.semihard.engine.backend.BackendOptions;
import dev.semihard.engine.backend.Buffer;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * After OpenCL initializes and compiles, the JVM's own handlers for SIGSEGV, SIGBUS, SIGILL and SIGFPE
 * are still the ones installed (PoCL's LLVM replaces them; see {@link JvmSignalHandlers}). Without the
 * restore all three fail on PoCL: the handlers live in libLLVM and libpocl, a JIT-compiled
 * {@code 7 / 0} returns 7, and safepoints while the driver compiles kill the JVM (exit 139).
 */
class JvmSignalHandlersTest {

    @Test
    void theJvmsHandlersSurviveInitializationAndACompile() {
        OpenClTestSupport.assumeOpenCl();
        Assumptions.assumeFalse(JvmSignalHandlers.libjsigLoaded(), "libjsig is preloaded: the JVM chains signals itself");
        try (OpenClBackend b = new OpenClBackend(BackendOptions.defaults())) {
            // a source no cache has seen, so the driver's compiler runs
            b.compileForTest("__kernel void signalProbe" + System.nanoTime() + "(__global float* x) { x[get_global_id(0)] *= 2.0f; }");
            Buffer x = b.allocate(1024);
            b.reluForward(1024, x, x);
            b.synchronize();
        }
        for (int i = 0; i < JvmSignalHandlers.SIGNALS.length; i++) {
            int sig = JvmSignalHandlers.SIGNALS[i];
            long before = JvmSignalHandlers.capturedHandler(sig);
            long now = JvmSignalHandlers.currentHandler(sig);
            assertNotEquals(0L, before, JvmSignalHandlers.NAMES[i] + ": nothing was captured before OpenCL initialized");
            assertEquals(library(before), library(now), JvmSignalHandlers.NAMES[i] + " handler after OpenCL initialized");
            assertEquals(before, now, JvmSignalHandlers.NAMES[i] + " handler address");
            assertTrue(library(before).endsWith("/libjvm.so"),
                    JvmSignalHandlers.NAMES[i] + ": the handler captured before OpenCL is not the JVM's but " + library(before));
        }
    }

    @Test
    void integerDivisionByZeroStillThrowsOnceOpenClIsUp() {
        OpenClTestSupport.assumeOpenCl();
        try (OpenClBackend b = new OpenClBackend(BackendOptions.defaults())) {
            b.synchronize();
        }
        long sum = 0;
        for (int i = 0; i < 2_000_000; i++) sum += divide(i, 1 + (i & 7)); // compiled by the JIT
        int zero = sum > 0 ? 0 : 1;
        ArithmeticException e = assertThrows(ArithmeticException.class, () -> divide(7, zero),
                "7 / 0 in compiled code must throw (a driver's SIGFPE handler makes it return 7)");
        assertEquals("/ by zero", e.getMessage());
    }

    private static int divide(int a, int b) { return a / b; }

    @Test
    void safepointsWhileTheDriverCompilesDoNotKillTheJvm() throws Exception {
        OpenClTestSupport.assumeOpenCl();
        String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-D" + OpenClRuntime.LIBNAME_PROPERTY + "=" + System.getProperty(OpenClRuntime.LIBNAME_PROPERTY, "libOpenCL.so.1"),
                "-cp", cp, SafepointStressMain.class.getName(), "20");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(300, TimeUnit.SECONDS), "the child JVM did not finish");
        String text = new String(out, StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), "the child JVM died (139 = SIGSEGV: a driver's handler was left in the JVM's place); output:\n" + text);
        assertTrue(text.contains("SURVIVED 20"), text);
    }

    /** The file mapped at {@code address} in this process, from /proc/self/maps ("?" if none). */
    private static String library(long address) {
        try {
            List<String> lines = Files.readAllLines(Path.of("/proc/self/maps"));
            for (String line : lines) {
                String[] f = line.trim().split("\\s+");
                String[] range = f[0].split("-");
                long lo = Long.parseUnsignedLong(range[0], 16), hi = Long.parseUnsignedLong(range[1], 16);
                if (Long.compareUnsigned(address, lo) >= 0 && Long.compareUnsigned(address, hi) < 0)
                    return f.length >= 6 ? f[5] : "(anonymous)";
            }
        } catch (Exception e) {
            throw new AssertionError("cannot read /proc/self/maps: " + e, e);
        }
        return "?";
    }
}
