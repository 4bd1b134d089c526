package dev.semihard.cpu;

/**
 * Scratch memory of one worker chunk, grown on demand and then reused on every later call, so a
 * training step allocates nothing once the first step has sized everything. One per chunk index
 * of {@link Parallel} (chunk t of any call uses workspace t; chunks of one call never share one).
 */
final class Workspace {
    /** Packed panel of A (the GEMM's left operand), MC x KC. */
    final float[] aPanel;
    /** Packed panel of B (the GEMM's right operand), KC x NC. */
    final float[] bPanel;
    /** One micro-tile (MR x NR), for the edge tiles that stick out of C. */
    final float[] tile;
    /** im2col / col2im columns of one image, and other per-call scratch. */
    private float[] cols = new float[0];
    private float[] partial = new float[0];
    private float[] gathered = new float[0];
    private float[] rowScratch = new float[0];
    private int[] ints = new int[0];
    private int[] ints2 = new int[0];

    Workspace(Gemm gemm) {
        this.aPanel = new float[Gemm.MC * Gemm.KC];
        this.bPanel = new float[Gemm.KC * gemm.nc()];
        this.tile = new float[Gemm.MR * gemm.nr()];
    }

    float[] cols(long n) { return cols = grow(cols, n); }

    float[] partial(long n) { return partial = grow(partial, n); }

    float[] gathered(long n) { return gathered = grow(gathered, n); }

    float[] rowScratch(long n) { return rowScratch = grow(rowScratch, n); }

    int[] ints(int n) { if (ints.length < n) ints = new int[n]; return ints; }

    int[] ints2(int n) { if (ints2.length < n) ints2 = new int[n]; return ints2; }

    private static float[] grow(float[] a, long n) {
        if (n > Integer.MAX_VALUE - 16)
            throw new IllegalArgumentException("cpu backend: workspace of " + n + " floats exceeds one Java array; use a smaller batch");
        return a.length >= n ? a : new float[(int) n];
    }
}
