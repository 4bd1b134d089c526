package dev.semihard.engine.backend;

import java.util.Locale;

/** Pairwise distance between embeddings (see docs/benchmarks.md, "Loss semantics"). */
public enum Distance {
    /** ||a - b||^2 (FaceNet's choice, the default). */
    SQUARED_L2("squared-l2"),
    /** ||a - b||, with gradient 0 (not NaN) where the distance is 0. */
    L2("l2"),
    /** 1 - cos(a, b). */
    COSINE("cosine");

    public final String cliName;

    Distance(String cliName) { this.cliName = cliName; }

    public static Distance parse(String s) {
        for (Distance d : values()) if (d.cliName.equals(s.toLowerCase(Locale.ROOT))) return d;
        throw new IllegalArgumentException("unknown distance '" + s + "': use squared-l2, l2 or cosine");
    }
}
