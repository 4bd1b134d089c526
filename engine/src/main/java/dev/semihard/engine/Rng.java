package dev.semihard.engine;

/**
 * The project's one random-number generator: SplitMix64, tiny, fast, and with a state that is a
 * single long, so checkpoints can store it and a resumed run continues the exact same sequence.
 * Every seeded choice (weights, batches, augmentation, evaluation pairs) goes through it.
 */
public final class Rng {
    private long state;

    public Rng(long seed) { this.state = seed; }

    public long state() { return state; }

    public void setState(long s) { this.state = s; }

    public long nextLong() {
        long z = (state += 0x9E3779B97F4A7C15L);
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** Uniform in [0, bound). */
    public int nextInt(int bound) {
        if (bound <= 0) throw new IllegalArgumentException("bound must be > 0, got " + bound);
        return (int) Math.floorMod(nextLong() >>> 1, (long) bound);
    }

    /** Uniform in [0, 1). */
    public double nextDouble() { return (nextLong() >>> 11) * 0x1.0p-53; }

    public float nextFloat() { return (nextLong() >>> 40) * 0x1.0p-24f; }

    /** Standard normal (Box-Muller; one value per call, deterministic). */
    public double nextGaussian() {
        double u1 = nextDouble(), u2 = nextDouble();
        if (u1 < 1e-300) u1 = 1e-300;
        return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    }

    /** Fisher-Yates shuffle in place. */
    public void shuffle(int[] a) {
        for (int i = a.length - 1; i > 0; i--) {
            int j = nextInt(i + 1);
            int t = a[i]; a[i] = a[j]; a[j] = t;
        }
    }

    /** An independent generator derived from this one (advances this one by one step). */
    public Rng split() { return new Rng(nextLong()); }
}
