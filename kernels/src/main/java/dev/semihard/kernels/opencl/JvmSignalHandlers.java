package dev.semihard.kernels.opencl;

import org.lwjgl.system.JNI;
import org.lwjgl.system.MemoryUtil;
import org.lwjgl.system.Platform;
import org.lwjgl.system.linux.DynamicLinkLoader;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Logger;

/**
 * Keeps the JVM's handlers for SIGSEGV, SIGBUS, SIGILL and SIGFPE installed after OpenCL initializes.
 *
 * <p><b>Why.</b> PoCL (the CPU OpenCL driver CI and our machines use) links LLVM, and on its first
 * {@code clGetPlatformIDs} it calls {@code llvm::sys::RemoveFileOnSignal}, which installs LLVM's crash
 * handler for those four signals in place of the JVM's. PoCL then installs its own SIGFPE handler. The JVM
 * uses these signals itself, in normal operation:
 * <ul>
 *   <li>SIGSEGV: every safepoint. Compiled Java loops read a polling page that the JVM protects to stop
 *       all threads. LLVM's handler is installed with {@code SA_RESETHAND}: the first thread to fault
 *       resets the action to the default (terminate) before LLVM's handler puts the JVM's back, and a
 *       second thread that faults in between kills the process: exit 139, no {@code hs_err} file, a
 *       "segfault" line in {@code dmesg} from a {@code ForkJoinPool} thread. That was the intermittent
 *       crash of the kernels test JVM.</li>
 *   <li>SIGFPE: an integer division by zero in JIT-compiled Java code. PoCL's handler skips the
 *       instruction, so {@code 7 / 0} silently returned 7 instead of throwing
 *       {@link ArithmeticException} (reproduced in {@code JvmSignalHandlersTest}).</li>
 * </ul>
 *
 * <p><b>What this does.</b> {@link #capture()} records the four actions before this JVM's first OpenCL
 * call; {@link #restore()} puts back any that changed, right after the calls that can initialize PoCL or
 * compile. LLVM remembers that it registered, so it never installs again; the JVM's handlers stay. The
 * only cost: a crash inside an OpenCL kernel on the CPU is reported by the JVM (an {@code hs_err} file
 * naming the native frame) instead of by LLVM. Skipped when the JVM runs with {@code libjsig} preloaded
 * (its signal chaining already keeps the JVM's handlers first) and off Linux.
 *
 * <p>What remains: the first {@code clGetPlatformIDs} itself. LLVM installs its handlers during that
 * call and the restore runs when it returns, so a safepoint reached by two other threads in that
 * interval (PoCL's start-up, tens of milliseconds, once per JVM) can still end the process. The
 * backends probe before the trainer starts its loader threads; an application that initializes
 * OpenCL while other threads compute can close the window with
 * {@code LD_PRELOAD=$JAVA_HOME/lib/libjsig.so}.
 *
 * <p>glibc's {@code sigaction} is called through LWJGL's JNI trampolines; the struct is treated as opaque
 * bytes (only the handler, its first field, is compared), so no layout beyond that is assumed.
 */
final class JvmSignalHandlers {
    private static final Logger LOG = Logger.getLogger(JvmSignalHandlers.class.getName());

    /** SIGILL, SIGBUS, SIGFPE, SIGSEGV on Linux. */
    static final int[] SIGNALS = {4, 7, 8, 11};
    static final String[] NAMES = {"SIGILL", "SIGBUS", "SIGFPE", "SIGSEGV"};
    /** Larger than glibc's struct sigaction (152 bytes on x86-64 and aarch64). */
    private static final int ACTION_BYTES = 512;

    /** The actions before the first OpenCL call, or null when not captured (off Linux, libjsig, no libc). */
    private static long saved;
    private static boolean captured;
    private static long sigactionFn;
    private static int restoredCount;

    private JvmSignalHandlers() {}

    /** Records the current actions once, before the first OpenCL call of this JVM; later calls do nothing. */
    static synchronized void capture() {
        if (captured) return;
        captured = true;
        try {
            if (Platform.get() != Platform.LINUX || libjsigLoaded()) return;
            long libc = DynamicLinkLoader.dlopen("libc.so.6", DynamicLinkLoader.RTLD_LAZY | DynamicLinkLoader.RTLD_NOLOAD);
            if (libc == 0) return;
            long fn = DynamicLinkLoader.dlsym(libc, "sigaction");
            if (fn == 0) return;
            long buf = MemoryUtil.nmemCalloc(SIGNALS.length, ACTION_BYTES);
            for (int i = 0; i < SIGNALS.length; i++) {
                if (JNI.invokePPI(SIGNALS[i], 0L, buf + (long) i * ACTION_BYTES, fn) != 0) {
                    MemoryUtil.nmemFree(buf);
                    return;
                }
            }
            sigactionFn = fn;
            saved = buf;
        } catch (Throwable t) {
            // LWJGL's natives missing: OpenCL cannot initialize either, so there is nothing to protect
            LOG.fine("cannot record the JVM's signal handlers: " + t);
        }
    }

    /**
     * Puts back every captured action whose handler changed since {@link #capture()}.
     *
     * @return the names of the signals restored (empty when nothing had changed or nothing was captured)
     */
    static synchronized List<String> restore() {
        List<String> out = new ArrayList<>();
        if (saved == 0) return out;
        long cur = MemoryUtil.nmemCalloc(1, ACTION_BYTES);
        try {
            for (int i = 0; i < SIGNALS.length; i++) {
                long mine = saved + (long) i * ACTION_BYTES;
                if (JNI.invokePPI(SIGNALS[i], 0L, cur, sigactionFn) != 0) continue;
                if (MemoryUtil.memGetAddress(cur) == MemoryUtil.memGetAddress(mine)) continue;
                if (JNI.invokePPI(SIGNALS[i], mine, 0L, sigactionFn) == 0) out.add(NAMES[i]);
            }
        } finally {
            MemoryUtil.nmemFree(cur);
        }
        if (!out.isEmpty()) {
            restoredCount += out.size();
            LOG.fine("OpenCL initialization replaced the JVM's handlers for " + out + " (LLVM inside the driver); restored them");
        }
        return out;
    }

    /** The handler address installed now for {@code signal}, or 0 when it cannot be read (tests). */
    static synchronized long currentHandler(int signal) {
        if (sigactionFn == 0) return 0;
        long cur = MemoryUtil.nmemCalloc(1, ACTION_BYTES);
        try {
            return JNI.invokePPI(signal, 0L, cur, sigactionFn) == 0 ? MemoryUtil.memGetAddress(cur) : 0;
        } finally {
            MemoryUtil.nmemFree(cur);
        }
    }

    /** The handler captured before OpenCL initialized, or 0 when nothing was captured (tests). */
    static synchronized long capturedHandler(int signal) {
        if (saved == 0) return 0;
        for (int i = 0; i < SIGNALS.length; i++)
            if (SIGNALS[i] == signal) return MemoryUtil.memGetAddress(saved + (long) i * ACTION_BYTES);
        throw new IllegalArgumentException("signal " + signal + " is not one of the guarded signals");
    }

    /** How many handlers {@link #restore()} has put back in this JVM (tests). */
    static synchronized int restoredCount() { return restoredCount; }

    /** True when the JVM's signal-chaining library is preloaded; then native sigaction calls cannot replace the JVM's handlers. */
    static boolean libjsigLoaded() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/maps")))
                if (line.endsWith("/libjsig.so")) return true;
        } catch (IOException | RuntimeException e) {
            return false;
        }
        return false;
    }
}
