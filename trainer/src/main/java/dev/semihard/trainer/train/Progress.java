package dev.semihard.trainer.train;

import java.io.PrintStream;

/**
 * The progress bar on stderr: step, loss, active-triplet fraction, images/s and ETA. On a terminal
 * it redraws one line; otherwise (a log file, CI) it prints a line every few seconds.
 */
public final class Progress {
    private final PrintStream out;
    private final int total;
    private final boolean tty;
    private long lastPrint;
    private boolean open;

    public Progress(PrintStream out, int total) {
        this.out = out;
        this.total = total;
        this.tty = System.console() != null && !"dumb".equals(System.getenv("TERM"));
    }

    public void update(int step, float loss, float active, double imagesPerSecond, double etaSeconds) {
        long now = System.nanoTime();
        boolean last = step >= total;
        if (!tty && !last && step != 1 && now - lastPrint < 5_000_000_000L) return;
        if (tty && !last && now - lastPrint < 100_000_000L) return;
        lastPrint = now;
        int width = 24, filled = (int) Math.round(width * (double) step / total);
        String bar = "=".repeat(Math.max(0, filled - 1)) + (filled > 0 ? ">" : "") + " ".repeat(width - filled);
        String line = String.format("step %d/%d [%s] loss %.4f  active %.3f  %.0f img/s  ETA %s",
                step, total, bar, loss, active, imagesPerSecond, eta(etaSeconds));
        if (tty) {
            out.print("\r" + line + "   ");
            open = true;
            if (last) { out.println(); open = false; }
        } else {
            out.println(line);
        }
        out.flush();
    }

    /** Ends the redrawn line before another message is printed. */
    public void breakLine() {
        if (open) { out.println(); open = false; }
    }

    public static String eta(double s) {
        if (!Double.isFinite(s) || s < 0) return "?";
        long t = Math.round(s);
        if (t >= 3600) return String.format("%dh%02dm", t / 3600, (t % 3600) / 60);
        if (t >= 60) return String.format("%dm%02ds", t / 60, t % 60);
        return t + "s";
    }
}
