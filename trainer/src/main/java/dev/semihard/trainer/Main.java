package dev.semihard.trainer;

import dev.semihard.engine.backend.Backends;
import dev.semihard.trainer.ckpt.CheckpointException;
import dev.semihard.trainer.cli.SemihardCommand;
import dev.semihard.trainer.data.DataException;
import dev.semihard.trainer.train.TrainingFailure;
import picocli.CommandLine;

import java.io.PrintWriter;

/**
 * Entry point of the {@code semihard} command. Exit codes: 0 success, 1 a run-time problem
 * (bad data, unusable checkpoint, backend unavailable, non-finite loss, out of memory), 2 a
 * usage error (unknown option, value out of range), as picocli does.
 */
public final class Main {
    private Main() {}

    public static void main(String[] args) {
        System.setProperty("java.awt.headless", "true");
        // one plain line per log record (the backend choice), not java.util.logging's two-line default
        if (System.getProperty("java.util.logging.SimpleFormatter.format") == null)
            System.setProperty("java.util.logging.SimpleFormatter.format", "%5$s%6$s%n");
        int code = run(args);
        System.exit(code);
    }

    /** Runs the command line and returns the exit code (tests call this directly). */
    public static int run(String... args) {
        return run(new PrintWriter(System.out, true), new PrintWriter(System.err, true), args);
    }

    public static int run(PrintWriter out, PrintWriter err, String... args) {
        CommandLine cl = commandLine();
        cl.setOut(out);
        cl.setErr(err);
        return cl.execute(args);
    }

    /** The configured picocli command line. */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new SemihardCommand());
        cl.setCaseInsensitiveEnumValuesAllowed(true);
        cl.setExecutionExceptionHandler((ex, cmd, parseResult) -> {
            PrintWriter err = cmd.getErr();
            if (ex instanceof CommandLine.ParameterException pe) throw pe;
            if (ex instanceof DataException || ex instanceof CheckpointException || ex instanceof TrainingFailure
                    || ex instanceof Backends.BackendUnavailableException) {
                err.println("error: " + ex.getMessage());
                err.flush();
                return 1;
            }
            if (ex instanceof IllegalArgumentException) {
                err.println("error: " + ex.getMessage());
                err.flush();
                return 2;
            }
            err.println("error: " + ex);
            ex.printStackTrace(err);
            err.flush();
            return 1;
        });
        return cl;
    }
}
