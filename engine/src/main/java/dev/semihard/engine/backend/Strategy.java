package dev.semihard.engine.backend;

import java.util.Locale;

/** How the fused triplet loss picks triplets inside a batch (see docs/benchmarks.md). */
public enum Strategy {
    /** FaceNet: every positive pair, with the closest negative farther than the positive (fallback: farthest negative). */
    SEMIHARD("semihard"),
    /** Hermans et al.: per anchor, hardest positive and hardest negative. */
    BATCH_HARD("batch-hard"),
    /** Every valid triplet, averaged over the active (non-zero) ones. */
    BATCH_ALL("batch-all");

    public final String cliName;

    Strategy(String cliName) { this.cliName = cliName; }

    public static Strategy parse(String s) {
        for (Strategy v : values()) if (v.cliName.equals(s.toLowerCase(Locale.ROOT))) return v;
        throw new IllegalArgumentException("unknown strategy '" + s + "': use semihard, batch-hard or batch-all");
    }
}
