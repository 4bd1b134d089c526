package dev.semihard.kernels.cuda;

/**
 * The kernel argument {@code sh_fastdiv} of common.cuh: a divisor d with the magic numbers that turn
 * n / d into a multiply-high and a shift on the device, q = (umulhi(m, n) + n) >> l, exact for every
 * 0 <= n < 2^31 (Granlund and Montgomery 1994, fig. 4.1). Passed to a kernel as three ints (d, m, l),
 * its C layout.
 *
 * @param d the divisor (>= 1)
 * @param m the multiplier, an unsigned 32-bit value
 * @param l ceil(log2(d))
 */
record FastDiv(int d, int m, int l) {
    static FastDiv of(int d) {
        if (d < 1) throw new IllegalArgumentException("FastDiv: divisor " + d + " < 1");
        int l = 0;
        while (l < 31 && (1L << l) < d) l++;
        long m = ((1L << 32) * ((1L << l) - d)) / d + 1;
        return new FastDiv(d, (int) m, l);
    }

    /** n / d the way the device computes it (for tests). */
    int div(int n) {
        long hi = ((m & 0xffffffffL) * (n & 0xffffffffL)) >>> 32;
        return (int) ((hi + (n & 0xffffffffL)) >>> l);
    }
}
