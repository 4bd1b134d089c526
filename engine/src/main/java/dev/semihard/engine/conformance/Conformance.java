package dev.semihard.engine.conformance;

import dev.semihard.engine.Rng;
import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.Buffer;
import dev.semihard.engine.backend.ConvGeometry;
import dev.semihard.engine.backend.Distance;
import dev.semihard.engine.backend.OptimizerParams;
import dev.semihard.engine.backend.PoolGeometry;
import dev.semihard.engine.backend.Strategy;
import dev.semihard.engine.backend.TripletOptions;
import dev.semihard.engine.backend.TripletStats;
import dev.semihard.engine.reference.ReferenceBackend;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * <b>The conformance suite</b>: every kernel of {@link Backend}, run on seeded random inputs on a
 * candidate backend and on the reference backend, compared element by element.
 *
 * <p>It lives in main code (not only in tests) so that {@code semihard selftest} can run the same
 * checks on a GPU machine without Maven; the JUnit wrapper is the abstract
 * {@code BackendConformanceTest} in the engine test-jar.
 *
 * <p>How a check works:
 * <ul>
 *   <li>Inputs are drawn from an {@link Rng} seeded with the check's name, so both backends (and
 *       every run) see the same float32 values.</li>
 *   <li>Output buffers are allocated {@value #TAIL} elements longer than needed and filled with NaN
 *       first; the whole buffer is compared, so an output element left unwritten, accumulated into
 *       instead of overwritten, or a write past the end all show up as a mismatch.</li>
 *   <li>An element passes when {@code |got - ref| <= abs + rel * |ref|}; abs and rel are stated per
 *       output in the code below. Sums of T products of unit-variance values use
 *       {@code abs = 1e-4 * sqrt(T), rel = 1e-4} ({@link Tol#sum}): float32 rounding grows like
 *       sqrt(T) while any indexing mistake is of the order of the values themselves. NaN matches
 *       NaN, an infinity matches the same infinity.</li>
 *   <li>A failure names the worst element: output, index (per dimension), reference value,
 *       candidate value, |diff| and the allowed tolerance, plus how many elements were outside.</li>
 *   <li>A candidate that throws {@link UnsupportedOperationException} gives a loud skip, never a pass.</li>
 * </ul>
 *
 * <p>The default set ({@link #checks()}) uses small shapes so it runs in seconds on a CPU OpenCL
 * device; {@link #checks(boolean) checks(true)} adds the full-size workload shapes (the W3 conv
 * layers, W2 batch sizes; tensors of the 96x96 stem are cut to N = 32 so no tensor exceeds about
 * 20M elements) for GPU self-tests, where the reference side takes a minute or two on 16 cores.
 */
public final class Conformance {
    /** Extra elements after every output buffer, set to NaN, to catch writes past the end. */
    public static final int TAIL = 3;

    private Conformance() {}

    // ================================================================== public API

    /** The default (small, fast) checks. */
    public static List<Check> checks() { return checks(false); }

    /** Every check; {@code large} adds the full-size benchmark shapes (seconds on a GPU, minutes on a CPU). */
    public static List<Check> checks(boolean large) {
        List<Check> all = new ArrayList<>();
        memoryChecks(all, large);
        elementwiseChecks(all, large);
        convChecks(all, large);
        poolChecks(all, large);
        batchNormChecks(all, large);
        linearChecks(all, large);
        embeddingChecks(all, large);
        tripletChecks(all, large);
        optimizerChecks(all, large);
        return all;
    }

    /** Runs {@link #checks()} with {@code candidate} against {@code reference}. */
    public static List<CheckResult> runAll(Backend reference, Backend candidate) { return runAll(reference, candidate, false); }

    /** Runs {@link #checks(boolean)} with {@code candidate} against {@code reference}. */
    public static List<CheckResult> runAll(Backend reference, Backend candidate, boolean large) {
        List<CheckResult> out = new ArrayList<>();
        for (Check c : checks(large)) out.add(c.run(reference, candidate));
        return out;
    }

    /** One line per result, then a count; failures and skips first so they are not missed. */
    public static String summary(List<CheckResult> results) {
        StringBuilder sb = new StringBuilder();
        int pass = 0, fail = 0, skip = 0;
        for (CheckResult r : results) if (!r.passed()) sb.append(r).append('\n');
        for (CheckResult r : results) {
            if (r.passed()) pass++;
            else if (r.skipped()) skip++;
            else fail++;
        }
        sb.append(String.format(Locale.ROOT, "conformance: %d passed, %d FAILED, %d SKIPPED (unsupported), %d checks",
                pass, fail, skip, results.size()));
        return sb.toString();
    }

    // ================================================================== harness

    /** Allowed error |got - ref| <= abs + rel * |ref|. */
    public record Tol(double abs, double rel) {
        /** Bit-exact operations (copies, max, relu, counts). */
        static final Tol EXACT = new Tol(0, 0);
        /** A few float32 operations per element. */
        static final Tol ELEMENTWISE = new Tol(1e-6, 1e-6);

        /** A sum of {@code terms} products of unit-variance values. */
        static Tol sum(long terms) { return new Tol(1e-4 * Math.sqrt(Math.max(terms, 1)), 1e-4); }

        @Override public String toString() { return "abs " + fmt(abs) + " + rel " + fmt(rel) + " * |ref|"; }
    }

    /** One compared output: a name, the shape used to name indices, the values (plus the tail) and the tolerance. */
    record Out(String name, int[] shape, float[] values, Tol tol) {}

    /** The code of one check, run once per backend. */
    @FunctionalInterface
    interface Body { void run(Dev d); }

    /**
     * What a check body sees for one backend: a fresh {@link Rng} seeded from the check name,
     * helpers that allocate and upload, and {@link #result} to record outputs. Closes every buffer.
     */
    static final class Dev implements AutoCloseable {
        final Backend b;
        final Rng rng;
        final List<Buffer> owned = new ArrayList<>();
        final List<Out> outs = new ArrayList<>();

        Dev(Backend b, long seed) { this.b = b; this.rng = new Rng(seed); }

        /** An input buffer holding v (plus an unused tail). */
        Buffer in(float[] v) {
            Buffer x = b.allocate(v.length + TAIL);
            owned.add(x);
            b.upload(v, 0, x, 0, v.length);
            return x;
        }

        /** An output buffer of n elements plus the tail, all NaN. */
        Buffer out(long n) {
            Buffer x = b.allocate(n + TAIL);
            owned.add(x);
            b.fill(x, 0, n + TAIL, Float.NaN);
            return x;
        }

        /** A buffer updated in place: v, then a NaN tail. */
        Buffer inOut(float[] v) {
            Buffer x = out(v.length);
            b.upload(v, 0, x, 0, v.length);
            return x;
        }

        /** Records buffer output {@code name} of the given shape, downloading the tail too. */
        void result(String name, Buffer buf, Tol tol, int... shape) {
            int n = (int) numel(shape) + TAIL;
            float[] v = new float[n];
            b.download(buf, 0, v, 0, n);
            outs.add(new Out(name, shape, v, tol));
        }

        /** Records a host-side output (no tail). */
        void resultHost(String name, float[] v, Tol tol) {
            outs.add(new Out(name, new int[]{v.length}, v.clone(), tol));
        }

        float[] gauss(int n, double scale) {
            float[] a = new float[n];
            for (int i = 0; i < n; i++) a[i] = (float) (rng.nextGaussian() * scale);
            return a;
        }

        float[] gauss(long n) { return gauss(Math.toIntExact(n), 1.0); }

        float[] uniform(int n, double lo, double hi) {
            float[] a = new float[n];
            for (int i = 0; i < n; i++) a[i] = (float) (lo + (hi - lo) * rng.nextDouble());
            return a;
        }

        @Override
        public void close() {
            for (Buffer x : owned) x.close();
            owned.clear();
        }
    }

    static Check check(String name, Body body) {
        long seed = name.hashCode() * 0x9E3779B97F4A7C15L;
        return new Check(name, (ref, cand) -> compare(name, seed, body, ref, cand));
    }

    private static List<Out> execute(Body body, Backend b, long seed) {
        try (Dev d = new Dev(b, seed)) {
            body.run(d);
            return d.outs;
        }
    }

    static CheckResult compare(String name, long seed, Body body, Backend ref, Backend cand) {
        List<Out> want, got;
        try {
            want = execute(body, ref, seed);
        } catch (UnsupportedOperationException e) {
            return CheckResult.skip(name, "SKIPPED (unsupported): the REFERENCE backend '" + ref.name()
                    + "' does not implement this kernel yet: " + e.getMessage());
        } catch (RuntimeException e) {
            return CheckResult.failed(name, "the reference backend '" + ref.name() + "' threw " + describe(e));
        }
        try {
            got = execute(body, cand, seed);
        } catch (UnsupportedOperationException e) {
            return CheckResult.skip(name, "SKIPPED (unsupported): backend '" + cand.name()
                    + "' does not implement this kernel: " + e.getMessage());
        } catch (RuntimeException e) {
            return CheckResult.failed(name, "backend '" + cand.name() + "' threw " + describe(e));
        }
        return compareOutputs(name, want, got);
    }

    static CheckResult compareOutputs(String name, List<Out> want, List<Out> got) {
        if (want.size() != got.size())
            return CheckResult.failed(name, "the check recorded " + got.size() + " outputs on the candidate but "
                    + want.size() + " on the reference");
        double worst = -1;
        String worstText = "no elements";
        long bad = 0, total = 0;
        for (int o = 0; o < want.size(); o++) {
            Out w = want.get(o), g = got.get(o);
            if (w.values.length != g.values.length)
                return CheckResult.failed(name, "output " + w.name + ": " + g.values.length + " values, expected " + w.values.length);
            for (int i = 0; i < w.values.length; i++) {
                double r = w.values[i], c = g.values[i];
                double allowed = w.tol.abs + w.tol.rel * Math.abs(r);
                double diff, ratio;
                if (Double.isNaN(r) || Double.isNaN(c) || Double.isInfinite(r) || Double.isInfinite(c)) {
                    boolean same = (Double.isNaN(r) && Double.isNaN(c)) || r == c;
                    diff = same ? 0 : Double.POSITIVE_INFINITY;
                    ratio = same ? 0 : Double.POSITIVE_INFINITY;
                } else {
                    diff = Math.abs(c - r);
                    ratio = diff == 0 ? 0 : allowed == 0 ? Double.POSITIVE_INFINITY : diff / allowed;
                }
                total++;
                if (ratio > 1) bad++;
                if (ratio > worst) {
                    worst = ratio;
                    worstText = w.name + index(w.shape, i) + ": ref " + fmt(r) + ", got " + fmt(c)
                            + ", |diff| " + fmt(diff) + (ratio > 1 ? " > " : " <= ") + "allowed " + fmt(allowed)
                            + " (" + w.tol + ")" + (Double.isNaN(r) && !Double.isNaN(c) ? " [NaN = element the reference left unwritten]"
                            : Double.isNaN(c) && !Double.isNaN(r) ? " [NaN: unwritten output or a NaN result]" : "");
                }
            }
        }
        if (bad > 0)
            return CheckResult.failed(name, "worst element " + worstText + "; " + bad + " of " + total + " elements outside tolerance");
        return CheckResult.pass(name, "worst |diff|/allowed " + fmt(Math.max(worst, 0)) + " at " + worstText);
    }

    /** "[i, j, k]" for a flat index of a row-major shape; past the end: "[past the end +t]". */
    static String index(int[] shape, long flat) {
        long n = numel(shape);
        if (flat >= n) return "[past the end +" + (flat - n) + "]";
        long[] idx = new long[shape.length];
        long rest = flat;
        for (int d = shape.length - 1; d >= 0; d--) {
            idx[d] = rest % shape[d];
            rest /= shape[d];
        }
        StringBuilder sb = new StringBuilder("[");
        for (int d = 0; d < idx.length; d++) sb.append(d == 0 ? "" : ", ").append(idx[d]);
        sb.append(']');
        if (shape.length > 1) sb.append(" (flat ").append(flat).append(')');
        return sb.toString();
    }

    static long numel(int[] shape) {
        long n = 1;
        for (int s : shape) n *= s;
        return n;
    }

    static String fmt(double v) {
        if (v == 0) return "0";
        if (Double.isNaN(v) || Double.isInfinite(v)) return Double.toString(v);
        double a = Math.abs(v);
        return a >= 1e-3 && a < 1e6 ? String.format(Locale.ROOT, "%.7g", v) : String.format(Locale.ROOT, "%.6e", v);
    }

    static String describe(Throwable e) {
        StringBuilder sb = new StringBuilder(e.toString());
        StackTraceElement[] st = e.getStackTrace();
        for (int i = 0; i < Math.min(4, st.length); i++) sb.append(" at ").append(st[i]);
        return sb.toString();
    }

    // ================================================================== memory and transfers

    private static void memoryChecks(List<Check> all, boolean large) {
        all.add(check("uploadDownload offsets", d -> {
            float[] src = d.gauss(40, 1);
            Buffer x = d.out(30);
            d.b.upload(src, 5, x, 7, 20);           // x[7..27) = src[5..25), the rest stays NaN
            float[] host = new float[33];
            Arrays.fill(host, -9f);
            d.b.download(x, 3, host, 2, 30);        // host[2..32) = x[3..33)
            d.resultHost("host", host, Tol.EXACT);
            d.result("buffer", x, Tol.EXACT, 30);
        }));
        all.add(check("copy offsets", d -> {
            Buffer src = d.in(d.gauss(50, 1)), dst = d.out(40);
            d.b.copy(src, 11, dst, 4, 29);
            d.result("dst", dst, Tol.EXACT, 40);
        }));
        all.add(check("fill offsets", d -> {
            Buffer x = d.inOut(d.gauss(64, 1));
            d.b.fill(x, 9, 37, -3.5f);
            d.b.fill(x, 0, 1, 0f);
            d.result("x", x, Tol.EXACT, 64);
        }));
        all.add(check("allocateUninitialized then overwritten", d -> {
            // contents are unspecified until written; the size must be right (a write to the last element works)
            Buffer x = d.b.allocateUninitialized(1000);
            d.owned.add(x);
            d.b.upload(d.gauss(1000, 1), 0, x, 0, 1000);
            d.b.fill(x, 990, 10, 2.5f);
            d.result("x", x, Tol.EXACT, 1000 - TAIL);
        }));
        all.add(check("allocate zero-filled", d -> {
            Buffer x = d.b.allocate(1000);
            d.owned.add(x);
            d.result("x", x, Tol.EXACT, 1000 - TAIL);
        }));
        if (large) {
            int n = (1 << 22) + 5;
            all.add(check("uploadDownload n=" + n, d -> {
                Buffer x = d.in(d.gauss(n));
                d.result("x", x, Tol.EXACT, n);
            }));
        }
    }

    // ================================================================== elementwise

    private static void elementwiseChecks(List<Check> all, boolean large) {
        List<Integer> sizes = new ArrayList<>(List.of(1, 7, 10007));
        if (large) sizes.add((1 << 22) + 3);
        for (int n : sizes) {
            all.add(check("axpy n=" + n, d -> {
                Buffer x = d.in(d.gauss(n)), y = d.inOut(d.gauss(n));
                d.b.axpy(n, 0.37f, x, y);
                d.result("y", y, Tol.ELEMENTWISE, n);
            }));
            all.add(check("scale n=" + n, d -> {
                Buffer x = d.inOut(d.gauss(n));
                d.b.scale(n, -1.5f, x);
                d.result("x", x, Tol.ELEMENTWISE, n);
            }));
            all.add(check("add n=" + n, d -> {
                Buffer a = d.in(d.gauss(n)), b = d.in(d.gauss(n)), y = d.out(n);
                d.b.add(n, a, b, y);
                d.result("y", y, Tol.ELEMENTWISE, n);
            }));
            all.add(check("reluForward n=" + n, d -> {
                float[] xv = withSpecialZeros(d.gauss(n));
                Buffer x = d.in(xv), y = d.out(n);
                d.b.reluForward(n, x, y);
                d.result("y", y, Tol.EXACT, n);
            }));
            all.add(check("reluBackward n=" + n, d -> {
                float[] yv = withSpecialZeros(d.gauss(n));
                for (int i = 0; i < n; i++) yv[i] = Math.max(yv[i], 0f);
                Buffer y = d.in(yv), dy = d.in(d.gauss(n)), dx = d.out(n);
                d.b.reluBackward(n, y, dy, dx);
                d.result("dx", dx, Tol.EXACT, n);
            }));
            all.add(check("sumSquares n=" + n, d -> {
                Buffer x = d.in(d.gauss(n));
                float[] out = {Float.NaN, Float.NaN};
                d.b.sumSquares(n, x, out);
                d.resultHost("out", out, new Tol(1e-6, 1e-5));
            }));
        }
        // in-place and aliased variants the interface allows
        all.add(check("add aliased y=a and y=b n=1001", d -> {
            int n = 1001;
            Buffer a = d.inOut(d.gauss(n)), b = d.inOut(d.gauss(n));
            d.b.add(n, a, b, a);        // a = a + b
            d.b.add(n, a, b, b);        // b = (a + b) + b
            d.result("a", a, Tol.ELEMENTWISE, n);
            d.result("b", b, Tol.ELEMENTWISE, n);
        }));
        all.add(check("reluForward in place n=1001", d -> {
            int n = 1001;
            Buffer x = d.inOut(withSpecialZeros(d.gauss(n)));
            d.b.reluForward(n, x, x);
            d.result("x", x, Tol.EXACT, n);
        }));
        all.add(check("reluBackward in place dx=dy n=1001", d -> {
            int n = 1001;
            float[] yv = d.gauss(n);
            for (int i = 0; i < n; i++) yv[i] = Math.max(yv[i], 0f);
            Buffer y = d.in(yv), dy = d.inOut(d.gauss(n));
            d.b.reluBackward(n, y, dy, dy);
            d.result("dx", dy, Tol.EXACT, n);
        }));
        all.add(check("sumSquares with NaN and Inf", d -> {
            int n = 5003;
            float[] v = d.gauss(n);
            v[0] = Float.NaN; v[17] = Float.POSITIVE_INFINITY; v[4000] = Float.NEGATIVE_INFINITY; v[n - 1] = Float.NaN;
            Buffer x = d.in(v);
            float[] out = {Float.NaN, Float.NaN};
            d.b.sumSquares(n, x, out);
            d.resultHost("out", out, new Tol(1e-6, 1e-5));
            // n limits the range: the NaN at n-1 is not counted
            d.b.sumSquares(n - 1, x, out);
            d.resultHost("out(n-1)", out, new Tol(1e-6, 1e-5));
        }));
        all.add(check("sumSquaresMany of 4 buffers (one with NaN and Inf, one empty)", d -> {
            int[] lens = {5003, 1, 0, 70000};
            Buffer[] xs = new Buffer[lens.length];
            long[] ns = new long[lens.length];
            for (int i = 0; i < lens.length; i++) {
                float[] v = d.gauss(Math.max(lens[i], 1));
                if (i == 0) { v[3] = Float.NaN; v[4000] = Float.NEGATIVE_INFINITY; }
                xs[i] = d.in(v);
                ns[i] = lens[i];
            }
            float[] out = new float[2 * lens.length];
            java.util.Arrays.fill(out, Float.NaN);
            d.b.sumSquaresMany(ns, xs, out);
            d.resultHost("out", out, new Tol(1e-6, 1e-5));
        }));
        all.add(check("elementwise past n untouched", d -> {
            int n = 100;
            Buffer a = d.inOut(d.gauss(n + 5)), b = d.in(d.gauss(n + 5)), y = d.inOut(d.gauss(n + 5));
            d.b.axpy(n, 2f, b, a);
            d.b.scale(n, 3f, y);
            d.result("a", a, Tol.ELEMENTWISE, n + 5);
            d.result("y", y, Tol.ELEMENTWISE, n + 5);
        }));
    }

    /** Sets a few elements to +0, -0 and tiny values, the edge cases of relu. */
    private static float[] withSpecialZeros(float[] v) {
        for (int i = 0; i < v.length; i += 5) v[i] = (i / 5) % 2 == 0 ? 0f : -0f;
        if (v.length > 3) { v[1] = Float.MIN_VALUE; v[3] = -Float.MIN_VALUE; }
        return v;
    }

    // ================================================================== convolution

    private static void convChecks(List<Check> all, boolean large) {
        record Case(ConvGeometry g, boolean bias) {}
        List<Case> cases = new ArrayList<>(List.of(
                new Case(new ConvGeometry(2, 3, 8, 8, 4, 3, 3, 1, 1), true),
                new Case(new ConvGeometry(2, 3, 8, 8, 4, 3, 3, 1, 0), false),
                new Case(new ConvGeometry(2, 3, 9, 7, 5, 3, 3, 2, 1), true),      // odd sizes, stride 2
                new Case(new ConvGeometry(1, 4, 7, 7, 6, 3, 3, 2, 0), false),     // batch 1, stride 2, pad 0
                new Case(new ConvGeometry(2, 8, 6, 6, 16, 1, 1, 1, 0), true),     // 1x1
                new Case(new ConvGeometry(2, 8, 9, 9, 16, 1, 1, 2, 0), false),    // 1x1 stride 2 (resnet shortcut), odd
                new Case(new ConvGeometry(1, 3, 6, 5, 2, 3, 2, 1, 1), true),      // non-square kernel
                new Case(new ConvGeometry(1, 2, 5, 5, 3, 5, 5, 1, 2), false),     // 5x5 kernel, pad 2
                new Case(new ConvGeometry(3, 1, 28, 28, 8, 3, 3, 1, 1), false),   // fmnist-cnn first layer, fewer filters
                new Case(new ConvGeometry(1, 3, 96, 96, 4, 3, 3, 1, 1), false),   // face-resnet10 stem, fewer filters
                new Case(new ConvGeometry(1, 32, 24, 24, 64, 3, 3, 2, 1), false), // face-resnet10 stride-2 block conv
                new Case(new ConvGeometry(1, 256, 5, 5, 512, 3, 3, 2, 1), false), // face-resnet18/34 layer4.0.conv1, odd map
                new Case(new ConvGeometry(1, 256, 5, 5, 512, 1, 1, 2, 0), false), // its 1x1 stride-2 shortcut
                new Case(new ConvGeometry(1, 512, 3, 3, 512, 3, 3, 1, 1), false), // layer4 at 512 channels, 3x3 map
                // W3 layer shapes, N scaled down
                new Case(new ConvGeometry(2, 32, 14, 14, 64, 3, 3, 1, 1), false),
                new Case(new ConvGeometry(2, 64, 7, 7, 128, 3, 3, 1, 1), false),
                new Case(new ConvGeometry(1, 32, 48, 48, 32, 3, 3, 1, 1), false),
                new Case(new ConvGeometry(1, 64, 24, 24, 64, 3, 3, 1, 1), false),
                new Case(new ConvGeometry(1, 128, 12, 12, 128, 3, 3, 1, 1), false),
                new Case(new ConvGeometry(1, 256, 6, 6, 256, 3, 3, 1, 1), false)));
        if (large) {
            // W3 at full size, and the fmnist-cnn / face-resnet10 layers at their W2 batch sizes
            int[][] w3 = {{1024, 32, 14, 14, 64}, {1024, 64, 7, 7, 128}, {256, 32, 48, 48, 32},
                    {256, 64, 24, 24, 64}, {256, 128, 12, 12, 128}, {256, 256, 6, 6, 256}};
            for (int[] s : w3) cases.add(new Case(new ConvGeometry(s[0], s[1], s[2], s[3], s[4], 3, 3, 1, 1), false));
            cases.add(new Case(new ConvGeometry(1024, 1, 28, 28, 32, 3, 3, 1, 1), false));
            cases.add(new Case(new ConvGeometry(32, 3, 96, 96, 32, 3, 3, 1, 1), false));   // stem, N cut to keep y < 10M
            cases.add(new Case(new ConvGeometry(256, 64, 24, 24, 128, 1, 1, 2, 0), false));
            cases.add(new Case(new ConvGeometry(256, 64, 24, 24, 128, 3, 3, 2, 1), false));
        }
        for (Case cs : cases) {
            ConvGeometry g = cs.g;
            String shape = String.format(Locale.ROOT, "n%d c%d %dx%d k%d %dx%d s%d p%d%s", g.n(), g.c(), g.h(), g.w(),
                    g.k(), g.r(), g.s(), g.stride(), g.pad(), cs.bias ? " bias" : "");
            int[] xs = {g.n(), g.c(), g.h(), g.w()}, ws = {g.k(), g.c(), g.r(), g.s()}, ys = {g.n(), g.k(), g.outH(), g.outW()};
            all.add(check("conv2dForward " + shape, d -> {
                Buffer x = d.in(d.gauss(g.inputSize())), w = d.in(d.gauss(g.weightSize()));
                Buffer b = cs.bias ? d.in(d.gauss(g.k())) : null, y = d.out(g.outputSize());
                d.b.conv2dForward(g, x, w, b, y);
                d.result("y", y, Tol.sum((long) g.c() * g.r() * g.s()), ys);
            }));
            all.add(check("conv2dBackwardData " + shape, d -> {
                Buffer dy = d.in(d.gauss(g.outputSize())), w = d.in(d.gauss(g.weightSize())), dx = d.out(g.inputSize());
                d.b.conv2dBackwardData(g, dy, w, dx);
                d.result("dx", dx, Tol.sum((long) g.k() * g.r() * g.s()), xs);
            }));
            all.add(check("conv2dBackwardFilter " + shape, d -> {
                Buffer x = d.in(d.gauss(g.inputSize())), dy = d.in(d.gauss(g.outputSize()));
                Buffer dw = d.out(g.weightSize()), db = cs.bias ? d.out(g.k()) : null;
                d.b.conv2dBackwardFilter(g, x, dy, dw, db);
                long terms = (long) g.n() * g.outH() * g.outW();
                d.result("dw", dw, Tol.sum(terms), ws);
                if (db != null) d.result("dbias", db, Tol.sum(terms), g.k());
            }));
        }
    }

    // ================================================================== pooling

    private static void poolChecks(List<Check> all, boolean large) {
        List<PoolGeometry> cases = new ArrayList<>(List.of(
                new PoolGeometry(2, 3, 8, 8, 2, 2),
                new PoolGeometry(2, 3, 7, 7, 2, 2),     // fmnist-cnn's 7 -> 3 (floor)
                new PoolGeometry(1, 2, 9, 9, 3, 2),     // overlapping windows
                new PoolGeometry(1, 1, 5, 6, 3, 1),     // stride 1, non-square input
                new PoolGeometry(2, 4, 28, 28, 2, 2),
                new PoolGeometry(1, 2, 96, 96, 2, 2)));
        if (large) {
            cases.add(new PoolGeometry(1024, 32, 28, 28, 2, 2));
            cases.add(new PoolGeometry(1024, 128, 7, 7, 2, 2));
            cases.add(new PoolGeometry(32, 32, 96, 96, 2, 2));      // face-resnet10 stem pool, N cut to 32
        }
        for (PoolGeometry g : cases) {
            String shape = String.format(Locale.ROOT, "n%d c%d %dx%d size %d stride %d", g.n(), g.c(), g.h(), g.w(), g.size(), g.stride());
            int[] xs = {g.n(), g.c(), g.h(), g.w()}, ys = {g.n(), g.c(), g.outH(), g.outW()};
            for (PoolInput kind : PoolInput.values()) {
                String name = shape + kind.label;
                all.add(check("maxPool2dForward " + name, d -> {
                    Buffer x = d.in(poolInput(d, g, kind)), y = d.out(g.outputSize());
                    d.b.maxPool2dForward(g, x, y);
                    d.result("y", y, Tol.EXACT, ys);
                }));
                all.add(check("maxPool2dBackward " + name, d -> {
                    Buffer x = d.in(poolInput(d, g, kind)), dy = d.in(d.gauss(g.outputSize())), dx = d.out(g.inputSize());
                    d.b.maxPool2dBackward(g, x, dy, dx);
                    d.result("dx", dx, new Tol(1e-6, 1e-6), xs); // overlapping windows add up
                }));
            }
        }
        int[][] gap = {{3, 5, 49}, {2, 256, 9}, {1, 7, 1}, {4, 32, 36}};
        List<int[]> gapCases = new ArrayList<>(Arrays.asList(gap));
        if (large) gapCases.add(new int[]{1024, 256, 9});
        for (int[] s : gapCases) {
            int n = s[0], c = s[1], hw = s[2];
            String shape = "n" + n + " c" + c + " hw" + hw;
            all.add(check("globalAvgPoolForward " + shape, d -> {
                Buffer x = d.in(d.gauss((long) n * c * hw)), y = d.out((long) n * c);
                d.b.globalAvgPoolForward(n, c, hw, x, y);
                d.result("y", y, new Tol(1e-6, 1e-5), n, c);
            }));
            all.add(check("globalAvgPoolBackward " + shape, d -> {
                Buffer dy = d.in(d.gauss((long) n * c)), dx = d.out((long) n * c * hw);
                d.b.globalAvgPoolBackward(n, c, hw, dy, dx);
                d.result("dx", dx, new Tol(1e-7, 1e-6), n, c, hw);
            }));
        }
    }

    /**
     * Max-pool inputs: random values; small integers, so that windows often hold several equal maxima; or
     * random values with one in eight NaN. The rule for both is the first maximum in row-major window order,
     * replaced only by a strictly greater value: a window that starts with a NaN gives NaN (and routes its
     * dy there), a NaN later in a window is skipped.
     */
    private enum PoolInput {
        GAUSS(""), TIES(" with ties"), NANS(" with NaNs");

        final String label;

        PoolInput(String label) { this.label = label; }
    }

    private static float[] poolInput(Dev d, PoolGeometry g, PoolInput kind) {
        int n = (int) g.inputSize();
        if (kind == PoolInput.TIES) {
            float[] v = new float[n];
            for (int i = 0; i < n; i++) v[i] = d.rng.nextInt(3) - 1;
            return v;
        }
        float[] v = d.gauss(n);
        if (kind == PoolInput.NANS) for (int i = 0; i < n; i++) if (d.rng.nextInt(8) == 0) v[i] = Float.NaN;
        return v;
    }

    // ================================================================== batch norm

    private static void batchNormChecks(List<Check> all, boolean large) {
        List<int[]> cases = new ArrayList<>(List.of(
                new int[]{4, 3, 25}, new int[]{2, 16, 49}, new int[]{8, 5, 1}, new int[]{1, 4, 9}, new int[]{3, 32, 196}));
        if (large) {
            cases.add(new int[]{1024, 32, 28 * 28});
            cases.add(new int[]{32, 32, 96 * 96});                // face-resnet10 stem, N cut to 32
            cases.add(new int[]{256, 256, 36});
        }
        float eps = 1e-5f, momentum = 0.1f;
        for (int[] s : cases) {
            int n = s[0], c = s[1], hw = s[2];
            long count = (long) n * hw, size = count * c;
            String shape = "n" + n + " c" + c + " hw" + hw;
            // per channel, x = offset + spread * N(0,1) with offsets up to 3 and spreads 0.5..2.5
            all.add(bnForwardTrainingCheck(false, n, c, hw, eps, momentum));
            all.add(check("batchNormForwardInference " + shape, d -> {
                Buffer x = d.in(bnInput(d, n, c, hw)), gamma = d.in(d.uniform(c, 0.5, 1.5)), beta = d.in(d.gauss(c, 0.5));
                Buffer rm = d.in(d.gauss(c, 1)), rv = d.in(d.uniform(c, 0.25, 4)), y = d.out(size);
                d.b.batchNormForwardInference(n, c, hw, eps, x, gamma, beta, rm, rv, y);
                d.result("y", y, new Tol(1e-5, 1e-5), n, c, hw);
            }));
            if (count > 1) all.add(check("batchNormBackward " + shape, d -> {
                float[] xv = bnInput(d, n, c, hw);
                float[] mean = new float[c], inv = new float[c];
                bnSavedStats(xv, n, c, hw, eps, mean, inv);
                Buffer x = d.in(xv), dy = d.in(d.gauss(size)), gamma = d.in(d.uniform(c, 0.5, 1.5));
                Buffer sm = d.in(mean), si = d.in(inv), dx = d.out(size), dg = d.out(c), db = d.out(c);
                d.b.batchNormBackward(n, c, hw, x, dy, gamma, sm, si, dx, dg, db);
                d.result("dx", dx, new Tol(1e-4, 1e-4), n, c, hw);
                d.result("dgamma", dg, Tol.sum(count), c);
                d.result("dbeta", db, Tol.sum(count), c);
            }));
            // fused with ReLU: about half of bn(x) is negative (beta ~ N(0, 0.5)); ReLU is 1-Lipschitz,
            // so the tolerances of the plain kernels hold
            all.add(bnForwardTrainingCheck(true, n, c, hw, eps, momentum));
            all.add(check("batchNormReluForwardInference " + shape, d -> {
                float[] xv = bnInput(d, n, c, hw), rmv = d.gauss(c, 1), betav = d.gauss(c, 0.5);
                // even channels: beta = 0 and every 5th x = runningMean, so bn(x) is exactly 0 there
                for (int ch = 0; ch < c; ch += 2) betav[ch] = 0f;
                for (int i = 0; i < xv.length; i += 5) { int ch = (i / hw) % c; if (ch % 2 == 0) xv[i] = rmv[ch]; }
                Buffer x = d.in(xv), gamma = d.in(d.uniform(c, 0.5, 1.5)), beta = d.in(betav);
                Buffer rm = d.in(rmv), rv = d.in(d.uniform(c, 0.25, 4)), y = d.out(size);
                d.b.batchNormReluForwardInference(n, c, hw, eps, x, gamma, beta, rm, rv, y);
                d.result("y", y, new Tol(1e-5, 1e-5), n, c, hw);
            }));
            if (count > 1) all.add(check("batchNormReluBackward " + shape, d -> {
                float[] xv = bnInput(d, n, c, hw), gv = d.uniform(c, 0.5, 1.5), bv = d.gauss(c, 0.5);
                float[] mean = new float[c], inv = new float[c];
                bnSavedStats(xv, n, c, hw, eps, mean, inv);
                // y = max(0, bn(x)) as the forward gives it; every 7th element set to exactly 0 as well
                // (bn(x) == 0 there, or rounded to 0): the mask must come from y, not from x
                float[] yv = new float[(int) size];
                for (int i = 0; i < yv.length; i++) {
                    int ch = (i / hw) % c;
                    double v = (xv[i] - mean[ch]) * (double) inv[ch] * gv[ch] + bv[ch];
                    yv[i] = i % 7 == 3 ? 0f : (float) Math.max(v, 0);
                }
                Buffer x = d.in(xv), y = d.in(yv), dy = d.in(d.gauss(size)), gamma = d.in(gv);
                Buffer sm = d.in(mean), si = d.in(inv), dx = d.out(size), dg = d.out(c), db = d.out(c);
                d.b.batchNormReluBackward(n, c, hw, x, y, dy, gamma, sm, si, dx, dg, db);
                d.result("dx", dx, new Tol(1e-4, 1e-4), n, c, hw);
                d.result("dgamma", dg, Tol.sum(count), c);
                d.result("dbeta", db, Tol.sum(count), c);
                d.result("dy (must be left unchanged)", dy, Tol.EXACT, n, c, hw);
                d.result("y (must be left unchanged)", y, Tol.EXACT, n, c, hw);
            }));
        }
        // bn(x) exactly 0: per channel the values -2..2 (exact float sums, mean exactly 0) and beta = 0,
        // so x = 0 gives y = 0 and x < 0 gives y = 0 (gamma < 0 on channel 1 flips which side survives)
        all.add(check("batchNormReluForwardTraining exact zeros n4 c3 hw5", d -> {
            int n = 4, c = 3, hw = 5, size = n * c * hw;
            float[] xv = new float[size];
            for (int i = 0; i < size; i++) xv[i] = (i % hw) - 2 + ((i / hw) % c == 2 ? 0.5f * (i / (c * hw) % 2) : 0f);
            Buffer x = d.in(xv), gamma = d.in(new float[]{1.5f, -0.75f, 1f}), beta = d.in(new float[]{0f, 0f, -0.25f});
            Buffer y = d.out(size), mean = d.out(c), inv = d.out(c);
            Buffer rm = d.inOut(new float[]{0.5f, 0f, -1f}), rv = d.inOut(new float[]{1f, 2f, 0.5f});
            d.b.batchNormReluForwardTraining(n, c, hw, eps, momentum, x, gamma, beta, y, mean, inv, rm, rv);
            d.result("y", y, new Tol(1e-5, 1e-5), n, c, hw);
            d.result("saveMean", mean, new Tol(1e-6, 1e-5), c);
            d.result("saveInvStd", inv, new Tol(1e-6, 1e-5), c);
            d.result("runningMean", rm, new Tol(1e-6, 1e-5), c);
            d.result("runningVar", rv, new Tol(1e-6, 1e-5), c);
        }));
    }

    /** batchNormForwardTraining, or with {@code relu} batchNormReluForwardTraining, on one shape. */
    private static Check bnForwardTrainingCheck(boolean relu, int n, int c, int hw, float eps, float momentum) {
        long size = (long) n * c * hw;
        return check((relu ? "batchNormReluForwardTraining " : "batchNormForwardTraining ") + "n" + n + " c" + c + " hw" + hw, d -> {
            float[] xv = bnInput(d, n, c, hw);
            Buffer x = d.in(xv), gamma = d.in(d.uniform(c, 0.5, 1.5)), beta = d.in(d.gauss(c, 0.5));
            Buffer y = d.out(size), mean = d.out(c), inv = d.out(c);
            Buffer rm = d.inOut(d.gauss(c, 0.2)), rv = d.inOut(d.uniform(c, 0.5, 2));
            if (relu) d.b.batchNormReluForwardTraining(n, c, hw, eps, momentum, x, gamma, beta, y, mean, inv, rm, rv);
            else d.b.batchNormForwardTraining(n, c, hw, eps, momentum, x, gamma, beta, y, mean, inv, rm, rv);
            d.result("y", y, new Tol(1e-4, 1e-4), n, c, hw);
            d.result("saveMean", mean, new Tol(1e-5, 1e-4), c);
            d.result("saveInvStd", inv, new Tol(1e-6, 1e-4), c);
            d.result("runningMean", rm, new Tol(1e-5, 1e-4), c);
            d.result("runningVar", rv, new Tol(1e-5, 1e-4), c);
        });
    }

    /** mean and 1/sqrt(biased var + eps) per channel, as the training forward computes them (double, then float). */
    private static void bnSavedStats(float[] xv, int n, int c, int hw, float eps, float[] mean, float[] inv) {
        long count = (long) n * hw;
        for (int ch = 0; ch < c; ch++) {
            double sum = 0, sq = 0;
            for (int i = 0; i < n; i++) for (int j = 0; j < hw; j++) sum += xv[(i * c + ch) * hw + j];
            double m = sum / count;
            for (int i = 0; i < n; i++) for (int j = 0; j < hw; j++) { double t = xv[(i * c + ch) * hw + j] - m; sq += t * t; }
            mean[ch] = (float) m;
            inv[ch] = (float) (1 / Math.sqrt(sq / count + eps));
        }
    }

    private static float[] bnInput(Dev d, int n, int c, int hw) {
        double[] off = new double[c], spread = new double[c];
        for (int ch = 0; ch < c; ch++) { off[ch] = 6 * d.rng.nextDouble() - 3; spread[ch] = 0.5 + 2 * d.rng.nextDouble(); }
        float[] v = new float[n * c * hw];
        for (int i = 0; i < n; i++)
            for (int ch = 0; ch < c; ch++)
                for (int j = 0; j < hw; j++) v[(i * c + ch) * hw + j] = (float) (off[ch] + spread[ch] * d.rng.nextGaussian());
        return v;
    }

    // ================================================================== linear

    private static void linearChecks(List<Check> all, boolean large) {
        record Case(int n, int in, int out, boolean bias) {}
        List<Case> cases = new ArrayList<>(List.of(
                new Case(5, 7, 3, true), new Case(5, 7, 3, false), new Case(1, 13, 1, true),
                new Case(64, 256, 128, true), new Case(33, 65, 17, true)));
        if (large) { cases.add(new Case(1024, 256, 128, true)); cases.add(new Case(4096, 256, 128, true)); }
        for (Case cs : cases) {
            int n = cs.n, in = cs.in, out = cs.out;
            String shape = "n" + n + " in" + in + " out" + out + (cs.bias ? " bias" : "");
            all.add(check("linearForward " + shape, d -> {
                Buffer x = d.in(d.gauss((long) n * in)), w = d.in(d.gauss((long) out * in));
                Buffer b = cs.bias ? d.in(d.gauss(out)) : null, y = d.out((long) n * out);
                d.b.linearForward(n, in, out, x, w, b, y);
                d.result("y", y, Tol.sum(in), n, out);
            }));
            all.add(check("linearBackwardData " + shape, d -> {
                Buffer dy = d.in(d.gauss((long) n * out)), w = d.in(d.gauss((long) out * in)), dx = d.out((long) n * in);
                d.b.linearBackwardData(n, in, out, dy, w, dx);
                d.result("dx", dx, Tol.sum(out), n, in);
            }));
            all.add(check("linearBackwardWeight " + shape, d -> {
                Buffer x = d.in(d.gauss((long) n * in)), dy = d.in(d.gauss((long) n * out));
                Buffer dw = d.out((long) out * in), db = cs.bias ? d.out(out) : null;
                d.b.linearBackwardWeight(n, in, out, x, dy, dw, db);
                d.result("dw", dw, Tol.sum(n), out, in);
                if (db != null) d.result("db", db, Tol.sum(n), out);
            }));
        }
    }

    // ================================================================== embeddings

    private static void embeddingChecks(List<Check> all, boolean large) {
        float eps = 1e-12f;
        List<int[]> normCases = new ArrayList<>(List.of(new int[]{6, 128}, new int[]{1, 3}, new int[]{5, 1}, new int[]{17, 33}));
        if (large) normCases.add(new int[]{4096, 128});
        for (int[] s : normCases) {
            int n = s[0], d0 = s[1];
            String shape = "n" + n + " d" + d0 + (n > 2 ? " with a zero row" : "");
            all.add(check("l2NormalizeForward " + shape, d -> {
                float[] xv = d.gauss(n * d0, 1);
                if (n > 2) Arrays.fill(xv, 2 * d0, 3 * d0, 0f);
                Buffer x = d.in(xv), y = d.out((long) n * d0), norms = d.out(n);
                d.b.l2NormalizeForward(n, d0, eps, x, y, norms);
                d.result("y", y, new Tol(1e-6, 1e-5), n, d0);
                d.result("norms", norms, new Tol(0, 1e-5), n);
            }));
            all.add(check("l2NormalizeBackward " + shape, d -> {
                // y and norms as the forward makes them (double on the host, then float); a clamped zero row
                float[] xv = d.gauss(n * d0, 1);
                if (n > 2) Arrays.fill(xv, 2 * d0, 3 * d0, 0f);
                float[] yv = new float[n * d0], nv = new float[n];
                for (int i = 0; i < n; i++) {
                    double sq = 0;
                    for (int j = 0; j < d0; j++) sq += (double) xv[i * d0 + j] * xv[i * d0 + j];
                    double norm = Math.max(Math.sqrt(sq), eps);
                    nv[i] = (float) norm;
                    for (int j = 0; j < d0; j++) yv[i * d0 + j] = (float) (xv[i * d0 + j] / norm);
                }
                Buffer y = d.in(yv), norms = d.in(nv), dy = d.in(d.gauss(n * d0, 1)), dx = d.out((long) n * d0);
                d.b.l2NormalizeBackward(n, d0, eps, y, norms, dy, dx);
                d.result("dx", dx, new Tol(1e-5, 1e-4), n, d0);
            }));
        }

        List<int[]> distCases = new ArrayList<>(List.of(new int[]{9, 16}, new int[]{1, 4}, new int[]{33, 128}, new int[]{12, 3}));
        if (large) distCases.add(new int[]{1024, 128});
        for (int[] s : distCases) {
            int n = s[0], d0 = s[1];
            for (Distance m : Distance.values()) {
                String shape = m.cliName + " n" + n + " d" + d0 + (n > 3 ? " with duplicate rows" : "");
                all.add(check("pairwiseDistanceForward " + shape, d -> {
                    Buffer e = d.in(embeddings(d, n, d0)), dist = d.out((long) n * n);
                    d.b.pairwiseDistanceForward(n, d0, m, e, dist);
                    // rows have norm ~1: distances are O(1); exact duplicates must give 0 (l2 too)
                    d.result("dist", dist, new Tol(2e-6 * Math.sqrt(d0), 1e-5), n, n);
                }));
                all.add(check("pairwiseDistanceBackward " + shape, d -> {
                    float[] ev = embeddings(d, n, d0);
                    double[] ed = new double[ev.length];
                    for (int i = 0; i < ev.length; i++) ed[i] = ev[i];
                    float[] distv = new float[n * n];
                    for (int i = 0; i < n; i++)
                        for (int j = 0; j < n; j++) distv[i * n + j] = (float) ReferenceBackend.distance(m, ed, d0, i, j);
                    Buffer e = d.in(ev), dist = d.in(distv), dd = d.in(d.gauss((long) n * n)), dE = d.out((long) n * d0);
                    d.b.pairwiseDistanceBackward(n, d0, m, e, dist, dd, dE);
                    d.result("dE", dE, new Tol(2e-5 * Math.sqrt(2.0 * n), 1e-4), n, d0);
                }));
            }
        }
    }

    /** Rows of norm about 1 (Gaussian / sqrt(d)); for n > 3, row 3 duplicates row 0 and the last row row 1. */
    private static float[] embeddings(Dev d, int n, int dim) {
        float[] v = d.gauss(n * dim, 1 / Math.sqrt(dim));
        if (n > 3) {
            System.arraycopy(v, 0, v, 3 * dim, dim);
            System.arraycopy(v, dim, v, (n - 1) * dim, dim);
        }
        return v;
    }

    // ================================================================== the fused triplet loss

    /** A label layout: the labels of the P x K part, then the extra negatives' labels. */
    private record Layout(String name, int[] labels, int anchorRows, boolean duplicates) {}

    private static List<Layout> layouts(boolean large) {
        List<Layout> l = new ArrayList<>();
        l.add(new Layout("P4xK3", pk(4, 3, new int[0]), 12, false));
        l.add(new Layout("P3xK4+4 extra negatives", pk(3, 4, new int[]{10, 11, 12, 10}), 12, false));
        l.add(new Layout("unbalanced with a singleton", new int[]{0, 1, 0, 2, 1, 0, 3, 2, 0, 1, 4, 2, 2}, 13, false));
        l.add(new Layout("P3xK3 with duplicate rows", pk(3, 3, new int[0]), 9, true));
        l.add(new Layout("degenerate one class", new int[]{5, 5, 5, 5, 5, 5}, 6, false));
        l.add(new Layout("degenerate all distinct", new int[]{0, 1, 2, 3, 4, 5, 6}, 7, false));
        l.add(new Layout("one class+2 extra negatives", new int[]{1, 1, 1, 1, 7, 8}, 4, false));
        l.add(new Layout("degenerate b=1", new int[]{3}, 1, false));
        if (large) {
            l.add(new Layout("P8xK5+8 extra negatives", pk(8, 5, new int[]{20, 21, 22, 23, 24, 25, 26, 27}), 40, false));
            l.add(new Layout("P16xK4", pk(16, 4, new int[0]), 64, false));
        }
        return l;
    }

    /** Labels 0..P-1, K each, in shuffled-looking order (p * 7 mod P), then the extras. */
    private static int[] pk(int p, int k, int[] extra) {
        int[] y = new int[p * k + extra.length];
        for (int i = 0; i < p * k; i++) y[i] = (i * 7) % p;
        System.arraycopy(extra, 0, y, p * k, extra.length);
        return y;
    }

    private static void tripletChecks(List<Check> all, boolean large) {
        for (Layout lay : layouts(large)) {
            // large batches use 5-dimensional rows: in 128 dimensions random distances crowd so closely that
            // no draw is free of near-ties (see tripletEmbeddings)
            int b = lay.labels.length, dim = b > 32 ? 5 : 16;
            for (Strategy st : Strategy.values())
                for (Distance m : Distance.values())
                    for (boolean soft : new boolean[]{false, true}) {
                        TripletOptions o = new TripletOptions(st, m, 0.2f, soft, lay.anchorRows);
                        String name = "tripletLoss " + st.cliName + " " + m.cliName + (soft ? " soft-margin" : " margin 0.2")
                                + " b" + b + " d" + dim + " " + lay.name;
                        all.add(check(name, d -> {
                            float[] e = tripletEmbeddings(d, lay, dim, o);
                            Buffer eb = d.in(e), dE = d.out((long) b * dim), stats = d.out(TripletStats.SIZE);
                            d.b.tripletLoss(b, dim, lay.labels.clone(), o, eb, dE, stats);
                            d.result("dE", dE, new Tol(1e-5, 1e-4), b, dim);
                            float[] s = new float[TripletStats.SIZE];
                            d.b.download(stats, 0, s, 0, s.length);
                            // the defined slots only (LOSS .. DEGENERATE); counts must match exactly
                            d.resultHost("stats[LOSS..DEGENERATE]", Arrays.copyOf(s, TripletStats.DEGENERATE + 1), new Tol(1e-5, 1e-4));
                        }));
                    }
        }
    }

    /**
     * L2-normalized random rows, redrawn until the mining decisions are unambiguous: within every
     * anchor's row of the distance matrix, any two distances that are not exactly equal differ by
     * more than 5e-6 (relative), and no hinge argument d(a,p) - d(a,n) + margin is within 5e-6 of 0
     * (float32 distances of unit rows in <= 16 dimensions are off by ~3e-7 at most, so this leaves a
     * 15x margin; any tighter and large batches find no clean draw).
     * Otherwise float32 rounding could legitimately pick another negative than the reference does.
     * Exact ties (duplicate rows) are kept: their winner is defined (the lowest row index).
     */
    private static float[] tripletEmbeddings(Dev d, Layout lay, int dim, TripletOptions o) {
        int b = lay.labels.length;
        for (int attempt = 0; attempt < 1000; attempt++) {
            float[] v = new float[b * dim];
            for (int i = 0; i < b; i++) {
                double sq = 0;
                double[] row = new double[dim];
                for (int j = 0; j < dim; j++) { row[j] = d.rng.nextGaussian(); sq += row[j] * row[j]; }
                for (int j = 0; j < dim; j++) v[i * dim + j] = (float) (row[j] / Math.sqrt(sq));
            }
            if (lay.duplicates && b >= 6) {
                System.arraycopy(v, 0, v, 4 * dim, dim);   // row 4 duplicates row 0
                System.arraycopy(v, dim, v, 5 * dim, dim); // row 5 duplicates row 1
            }
            if (wellSeparated(v, b, dim, lay, o)) return v;
        }
        throw new IllegalStateException("tripletLoss check " + lay.name + ": no well-separated embeddings in 1000 draws");
    }

    private static boolean wellSeparated(float[] v, int b, int dim, Layout lay, TripletOptions o) {
        double[] e = new double[v.length];
        for (int i = 0; i < v.length; i++) e[i] = v[i];
        double gap = 5e-6;
        double[] row = new double[b];
        for (int a = 0; a < Math.min(lay.anchorRows, b); a++) {
            for (int j = 0; j < b; j++) row[j] = ReferenceBackend.distance(o.distance(), e, dim, a, j);
            for (int i = 0; i < b; i++) {
                if (i == a) continue;
                for (int j = i + 1; j < b; j++) {
                    if (j == a || row[i] == row[j]) continue;
                    if (Math.abs(row[i] - row[j]) <= gap * (1 + Math.abs(row[i]))) return false;
                }
                boolean positive = i < lay.anchorRows && lay.labels[i] == lay.labels[a];
                if (!positive || o.softMargin()) continue;
                for (int n = 0; n < b; n++) {
                    if (lay.labels[n] == lay.labels[a]) continue;
                    if (Math.abs(row[i] - row[n] + o.margin()) <= gap) return false;
                }
            }
        }
        return true;
    }

    // ================================================================== optimizer updates

    private static void optimizerChecks(List<Check> all, boolean large) {
        List<Integer> sizes = new ArrayList<>(List.of(1, 1031));
        if (large) sizes.add(1_200_007);
        for (int n : sizes) {
            for (boolean nesterov : new boolean[]{false, true})
                for (float wd : new float[]{0f, 5e-4f}) {
                    OptimizerParams.Sgd p = new OptimizerParams.Sgd(0.05f, 0.9f, nesterov, wd);
                    all.add(check("sgdUpdate n=" + n + (nesterov ? " nesterov" : "") + " wd=" + wd, d -> {
                        Buffer w = d.inOut(d.gauss(n)), g = d.in(d.gauss(n)), v = d.inOut(d.gauss(n));
                        for (int step = 0; step < 3; step++) d.b.sgdUpdate(n, p, w, g, v);
                        d.result("param", w, new Tol(1e-6, 1e-5), n);
                        d.result("velocity", v, new Tol(1e-6, 1e-5), n);
                        d.result("grad (unchanged)", g, Tol.EXACT, n);
                    }));
                }
            for (boolean decoupled : new boolean[]{false, true})
                for (float wd : new float[]{0f, 0.01f}) {
                    all.add(check("adamUpdate n=" + n + (decoupled ? " decoupled (AdamW)" : "") + " wd=" + wd, d -> {
                        Buffer w = d.inOut(d.gauss(n)), g = d.in(d.gauss(n));
                        Buffer m = d.inOut(d.gauss(n, 0.1)), v = d.inOut(d.uniform(n, 0.01, 1));
                        for (int step = 1; step <= 3; step++) // steps 1..3: the bias corrections change each step
                            d.b.adamUpdate(n, new OptimizerParams.Adam(1e-3f, 0.9f, 0.999f, 1e-8f, wd, decoupled, step), w, g, m, v);
                        d.b.adamUpdate(n, new OptimizerParams.Adam(1e-3f, 0.9f, 0.999f, 1e-8f, wd, decoupled, 1000), w, g, m, v);
                        d.result("param", w, new Tol(1e-6, 1e-5), n);
                        d.result("m", m, new Tol(1e-6, 1e-5), n);
                        d.result("v", v, new Tol(1e-7, 1e-5), n);
                    }));
                }
            for (float wd : new float[]{0f, 1e-3f}) {
                all.add(check("adagradUpdate n=" + n + " wd=" + wd, d -> {
                    Buffer w = d.inOut(d.gauss(n)), g = d.in(d.gauss(n)), acc = d.inOut(d.uniform(n, 0, 1));
                    OptimizerParams.Adagrad p = new OptimizerParams.Adagrad(0.05f, 1e-10f, wd);
                    for (int step = 0; step < 3; step++) d.b.adagradUpdate(n, p, w, g, acc);
                    d.result("param", w, new Tol(1e-6, 1e-5), n);
                    d.result("accumulator", acc, new Tol(1e-6, 1e-5), n);
                }));
            }
        }
    }
}
