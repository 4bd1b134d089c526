package dev.semihard.kernels.cuda;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.Buffer;
import dev.semihard.engine.backend.ConvGeometry;
import dev.semihard.engine.conformance.CheckResult;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.function.BiConsumer;

/**
 * The TF32 tensor-core GEMMs (convolutions and linear layers with {@code --precision tf32}) against
 * the reference backend. The conformance suite holds every backend to the fp32 reference and so runs
 * the fp32 kernels; these checks run the TF32 ones.
 *
 * <p>How a TF32 result can be checked tightly: the kernel rounds each input to TF32 (10-bit mantissa,
 * round to nearest, ties away: {@code cvt.rna}) and the product of two TF32 values is exact in fp32, so
 * the reference run on inputs rounded the same way ({@link #round}) differs from the kernel only by
 * the order of the fp32 additions. The allowed difference, {@value #REL} x max |ref| + 1e-6, is about
 * ten times below what inputs truncated instead of rounded would give (the tensor cores' own reading of
 * unrounded fp32), so a kernel that forgets to round, or reads a fragment from the wrong place, fails.
 *
 * <p>Each of the eight GEMM families runs on each of its three tiles (128 x 128, 64 x 64, 32 x 256), with
 * ragged edges and, for the weight gradients, split-K; the 128 x 128 shapes grow with the number of
 * multiprocessors, since that tile is only chosen when its tiles fill the GPU. {@link #KERNELS} names
 * the 24 kernels these shapes reach (the emulated test and {@code cuda-selftest} check that each ran).
 * Used by {@code CudaEmulatedTf32Test} and by {@link CudaSelfTest} on a real GPU.
 */
public final class Tf32Checks {
    private Tf32Checks() {}

    /** The allowed difference, relative to the largest reference value of the output. */
    static final double REL = 5e-5;

    /** The kernels the checks reach: each GEMM family with each TF32 tile. */
    public static final List<String> KERNELS;

    static {
        List<String> k = new ArrayList<>();
        for (String f : List.of("conv2dForward", "conv2dForwardTap", "conv2dBackwardData", "conv2dBackwardDataTap",
                "conv2dBackwardFilter", "linearForward", "linearBackwardData", "linearBackwardWeight"))
            for (String s : List.of("_tf32", "_tf32_small", "_tf32_m32")) k.add(f + s);
        KERNELS = List.copyOf(k);
    }

    /** The {@link #KERNELS} that a backend's kernel profile (its kernels that ran) does not list. */
    public static List<String> notReached(java.util.Set<String> ran) {
        return notReached(ran, true, true);
    }

    /**
     * The {@link #KERNELS} that {@code backend}'s options let the checks reach (no tap-major kernels with
     * -Dsemihard.cuda.convTaps=false, no 32 x 256 tiles with -Dsemihard.cuda.thinTiles=false) and that its
     * kernel profile does not list.
     */
    public static List<String> notReached(java.util.Set<String> ran, CudaBackend backend) {
        return notReached(ran, backend.convTaps(16), backend.thinTiles());
    }

    private static List<String> notReached(java.util.Set<String> ran, boolean taps, boolean thin) {
        List<String> missing = new ArrayList<>();
        for (String k : KERNELS)
            if ((taps || !k.contains("Tap")) && (thin || !k.endsWith("_m32")) && !ran.contains(k)) missing.add(k);
        return missing;
    }

    /** x rounded to TF32 as {@code cvt.rna.tf32.f32} does: nearest 10-bit mantissa, ties away from zero. */
    public static float round(float x) {
        int u = Float.floatToRawIntBits(x);
        if ((u & 0x7f800000) != 0x7f800000) u = (u + 0x1000) & 0xffffe000;
        return Float.intBitsToFloat(u);
    }

    /**
     * Runs every check: {@code tf32} (a backend created with precision "tf32") against {@code ref}.
     *
     * @param sms the multiprocessors of tf32's GPU (sizes the 128 x 128 cases)
     */
    public static List<CheckResult> run(Backend ref, Backend tf32, int sms) {
        List<CheckResult> out = new ArrayList<>();
        int half = Math.max(2, (sms + 1) / 2), third = Math.max(2, (sms + 2) / 3);
        // convolutions: forward M = K (output channels), backward data M = C, backward filter M = K, N = C*R*S;
        // channel counts that are not multiples of 16 (the channel-major kernels), then ones that are (the
        // tap-major conv2dForwardTap and conv2dBackwardDataTap: forward's C, the data gradient's K)
        conv(out, ref, tf32, "128x128", new ConvGeometry(half, 8, 16, 16, 128, 3, 3, 1, 1),
                new ConvGeometry(half, 128, 16, 16, 8, 3, 3, 1, 1), new ConvGeometry(third, 32, 16, 16, 128, 3, 3, 1, 1));
        conv(out, ref, tf32, "64x64", new ConvGeometry(2, 12, 15, 13, 64, 3, 3, 2, 1),
                new ConvGeometry(2, 48, 11, 9, 12, 3, 3, 1, 1), new ConvGeometry(2, 8, 12, 12, 64, 3, 3, 1, 1));
        conv(out, ref, tf32, "32x256", new ConvGeometry(2, 12, 16, 16, 32, 3, 3, 1, 1),
                new ConvGeometry(3, 20, 15, 13, 8, 3, 3, 2, 1), new ConvGeometry(2, 16, 16, 16, 32, 3, 3, 1, 1));
        conv(out, ref, tf32, "128x128 taps", new ConvGeometry(half, 16, 16, 16, 128, 3, 3, 1, 1),
                new ConvGeometry(half, 128, 16, 16, 16, 3, 3, 1, 1), null);
        conv(out, ref, tf32, "64x64 taps", new ConvGeometry(2, 16, 15, 13, 64, 3, 3, 2, 1),
                new ConvGeometry(2, 48, 11, 9, 32, 3, 3, 1, 1), null);
        conv(out, ref, tf32, "32x256 taps", new ConvGeometry(2, 16, 16, 16, 32, 3, 3, 1, 1),
                new ConvGeometry(3, 20, 15, 13, 16, 3, 3, 2, 1), null);
        // linear layers: forward M = n, N = out; backward data M = n, N = in; weight gradient M = out, N = in, K = n
        linear(out, ref, tf32, "128x128", new int[]{128 * half, 64, 256}, new int[]{128 * half, 256, 48},
                new int[]{256 * third, 384, 128});
        linear(out, ref, tf32, "64x64", new int[]{100, 70, 90}, new int[]{100, 90, 70}, new int[]{50, 80, 64});
        linear(out, ref, tf32, "32x256", new int[]{32, 40, 300}, new int[]{7, 300, 24}, new int[]{64, 520, 17});
        return out;
    }

    private static void conv(List<CheckResult> out, Backend ref, Backend tf32, String tile,
                             ConvGeometry fwd, ConvGeometry data, ConvGeometry filter) {
        out.add(compare("conv2dForward " + tile + " " + dims(fwd), ref, tf32,
                new long[]{fwd.inputSize(), fwd.weightSize(), fwd.k(), fwd.outputSize()}, new boolean[]{true, true, false, false}, 3,
                (be, b) -> be.conv2dForward(fwd, b[0], b[1], b[2], b[3])));
        out.add(compare("conv2dBackwardData " + tile + " " + dims(data), ref, tf32,
                new long[]{data.outputSize(), data.weightSize(), data.inputSize()}, new boolean[]{true, true, false}, 2,
                (be, b) -> be.conv2dBackwardData(data, b[0], b[1], b[2])));
        if (filter == null) return;
        out.add(compare("conv2dBackwardFilter " + tile + " " + dims(filter), ref, tf32,
                new long[]{filter.inputSize(), filter.outputSize(), filter.weightSize(), filter.k()},
                new boolean[]{true, true, false, false}, 2,
                (be, b) -> be.conv2dBackwardFilter(filter, b[0], b[1], b[2], b[3])));
    }

    /** Each int[] is {n, in, out}. */
    private static void linear(List<CheckResult> out, Backend ref, Backend tf32, String tile, int[] fwd, int[] data, int[] weight) {
        out.add(compare("linearForward " + tile + " " + dims(fwd), ref, tf32,
                new long[]{(long) fwd[0] * fwd[1], (long) fwd[2] * fwd[1], fwd[2], (long) fwd[0] * fwd[2]},
                new boolean[]{true, true, false, false}, 3,
                (be, b) -> be.linearForward(fwd[0], fwd[1], fwd[2], b[0], b[1], b[2], b[3])));
        out.add(compare("linearBackwardData " + tile + " " + dims(data), ref, tf32,
                new long[]{(long) data[0] * data[2], (long) data[2] * data[1], (long) data[0] * data[1]},
                new boolean[]{true, true, false}, 2,
                (be, b) -> be.linearBackwardData(data[0], data[1], data[2], b[0], b[1], b[2])));
        out.add(compare("linearBackwardWeight " + tile + " " + dims(weight), ref, tf32,
                new long[]{(long) weight[0] * weight[1], (long) weight[0] * weight[2], (long) weight[2] * weight[1], weight[2]},
                new boolean[]{true, true, false, false}, 2,
                (be, b) -> be.linearBackwardWeight(weight[0], weight[1], weight[2], b[0], b[1], b[2], b[3])));
    }

    private static String dims(ConvGeometry g) {
        return String.format(Locale.ROOT, "(N%d C%d %dx%d K%d %dx%d stride %d)", g.n(), g.c(), g.h(), g.w(), g.k(), g.r(), g.s(), g.stride());
    }

    private static String dims(int[] nInOut) {
        return String.format(Locale.ROOT, "(n %d, in %d, out %d)", nInOut[0], nInOut[1], nInOut[2]);
    }

    /**
     * Runs op on both backends with the same Gaussian buffers, those marked in {@code tf32Input} rounded
     * to TF32 for the reference only, and compares buffer {@code out}.
     */
    static CheckResult compare(String name, Backend ref, Backend tf32, long[] sizes, boolean[] tf32Input, int out,
                               BiConsumer<Backend, Buffer[]> op) {
        SplittableRandom r = new SplittableRandom(name.hashCode());
        float[][] host = new float[sizes.length][], rounded = new float[sizes.length][];
        for (int i = 0; i < sizes.length; i++) {
            host[i] = new float[Math.toIntExact(sizes[i])];
            rounded[i] = new float[host[i].length];
            for (int j = 0; j < host[i].length; j++) {
                double u1 = 1 - r.nextDouble(), u2 = r.nextDouble();
                host[i][j] = (float) (Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2));
                rounded[i][j] = tf32Input[i] ? round(host[i][j]) : host[i][j];
            }
        }
        float[] want, got;
        try {
            want = execute(ref, sizes, rounded, out, op);
            got = execute(tf32, sizes, host, out, op);
        } catch (RuntimeException e) {
            return CheckResult.failed("tf32 " + name, "threw " + e);
        }
        double scale = 0;
        for (float v : want) scale = Math.max(scale, Math.abs(v));
        double allowed = REL * scale + 1e-6, worst = -1;
        int worstAt = 0, bad = 0;
        for (int i = 0; i < want.length; i++) {
            double d = Math.abs((double) want[i] - got[i]);
            if (Double.isNaN(d)) d = Double.POSITIVE_INFINITY;
            if (d > allowed) bad++;
            if (d > worst) { worst = d; worstAt = i; }
        }
        String at = String.format(Locale.ROOT, "element %d: ref %.7g, got %.7g, |diff| %.3g %s allowed %.3g (%.0e x max |ref| %.4g + 1e-6)",
                worstAt, want[worstAt], got[worstAt], worst, bad > 0 ? ">" : "<=", allowed, REL, scale);
        return bad > 0 ? CheckResult.failed("tf32 " + name, "worst " + at + "; " + bad + " of " + want.length + " elements outside")
                : CheckResult.pass("tf32 " + name, "worst " + at);
    }

    /**
     * Allocates one buffer per entry of {@code sizes} on {@code be}, uploads {@code host} into them, runs
     * {@code op} and returns buffer {@code out}'s contents (the buffers are freed; {@code be} stays open).
     */
    public static float[] execute(Backend be, long[] sizes, float[][] host, int out, BiConsumer<Backend, Buffer[]> op) {
        Buffer[] b = new Buffer[sizes.length];
        try {
            for (int i = 0; i < sizes.length; i++) {
                b[i] = be.allocate(sizes[i]);
                be.upload(host[i], 0, b[i], 0, host[i].length);
            }
            op.accept(be, b);
            float[] res = new float[Math.toIntExact(sizes[out])];
            be.download(b[out], 0, res, 0, res.length);
            return res;
        } finally {
            for (Buffer x : b) if (x != null) x.close();
        }
    }
}
