package dev.semihard.kernels.opencl;

import org.lwjgl.system.Configuration;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.function.Supplier;

/**
 * LWJGL's own messages (its debug stream), kept out of the program's output while the OpenCL probe
 * runs. When the OpenCL loader is missing, LWJGL prints a "[LWJGL] Failed to load a library.
 * Possible solutions: ..." block to standard error before the exception the probe turns into its
 * reason; a user without OpenCL should see one backend line, not that.
 *
 * <p>LWJGL reads {@link Configuration#DEBUG_STREAM} once, when its {@code APIUtil} class initializes
 * (the first LWJGL call of the JVM), so {@link #install()} sets a routing stream before the probe's first
 * LWJGL call: text written on a thread inside {@link #capture} is collected, everything else goes
 * to {@code System.err} as before. A user who set {@code -Dorg.lwjgl.util.DebugStream}, or asked for
 * LWJGL's diagnostics with {@code -Dorg.lwjgl.util.Debug=true} or {@code -Dorg.lwjgl.util.DebugLoader=true},
 * keeps LWJGL's output unchanged.
 */
final class LwjglMessages {
    private static final ThreadLocal<ByteArrayOutputStream> CAPTURE = new ThreadLocal<>();

    /** The stream LWJGL writes to: the capture of the current thread, or System.err. */
    static final PrintStream ROUTER = new PrintStream(new OutputStream() {
        @Override public void write(int b) throws IOException { target().write(b); }

        @Override public void write(byte[] b, int off, int len) throws IOException { target().write(b, off, len); }

        @Override public void flush() throws IOException { target().flush(); }

        private OutputStream target() {
            ByteArrayOutputStream c = CAPTURE.get();
            return c != null ? c : System.err;
        }
    }, true, StandardCharsets.UTF_8);

    private LwjglMessages() {}

    /** Whether the user asked to see LWJGL's messages. */
    static boolean userWantsThem() {
        return Boolean.getBoolean("org.lwjgl.util.Debug") || Boolean.getBoolean("org.lwjgl.util.DebugLoader")
                || System.getProperty("org.lwjgl.util.DebugStream") != null;
    }

    /** Routes LWJGL's debug stream through {@link #ROUTER}, unless the user chose otherwise; takes effect only before LWJGL's first call. */
    static synchronized void install() {
        if (!userWantsThem() && Configuration.DEBUG_STREAM.get() == null) Configuration.DEBUG_STREAM.set(ROUTER);
    }

    /** What a body returned, and what LWJGL said meanwhile on this thread (trimmed; empty if nothing). */
    record Captured<T>(T value, String said) {}

    /** Runs body with LWJGL's messages of this thread collected instead of printed. */
    static <T> Captured<T> capture(Supplier<T> body) {
        install();
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        ByteArrayOutputStream outer = CAPTURE.get();
        CAPTURE.set(buf);
        T value;
        try {
            value = body.get();
        } finally {
            if (outer == null) CAPTURE.remove();
            else CAPTURE.set(outer);
        }
        return new Captured<>(value, buf.toString(StandardCharsets.UTF_8).strip());
    }

    /**
     * The informative part of what LWJGL said, on one line: its generic "Failed to load a library.
     * Possible solutions" advice and the hints to enable its debug modes are dropped (the probe's
     * reason names the library and what to install); anything else is kept. Empty if nothing is left.
     */
    static String essence(String said) {
        StringBuilder out = new StringBuilder();
        for (String line : said.split("\\R")) {
            String l = line.strip();
            if (l.isEmpty() || l.startsWith("[LWJGL] Failed to load a library") || l.startsWith("a)") || l.startsWith("b)")
                    || l.startsWith("[LWJGL] Enable ")) continue;
            if (out.length() > 0) out.append("; ");
            out.append(l.startsWith("[LWJGL] ") ? l.substring(8) : l);
        }
        return out.toString();
    }
}
