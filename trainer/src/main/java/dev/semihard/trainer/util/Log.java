package dev.semihard.trainer.util;

import java.io.PrintStream;

/** Messages for the user on stderr (stdout is kept for results). Tests may redirect {@link #out}. */
public final class Log {
    private Log() {}

    /** Where messages go; stderr by default. */
    public static volatile PrintStream out = System.err;
    /** Set by --quiet: drops info lines, keeps warnings. */
    public static volatile boolean quiet;

    public static void info(String msg) { if (!quiet) out.println(msg); }

    public static void warn(String msg) { out.println("warning: " + msg); }
}
