package dev.semihard.kernels.cuda.emulated;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.BackendOptions;
import dev.semihard.engine.backend.Buffer;
import dev.semihard.engine.backend.ConvGeometry;
import dev.semihard.engine.backend.KernelProfile;
import dev.semihard.engine.reference.ReferenceBackend;
import dev.semihard.kernels.FullSuite;
import dev.semihard.kernels.cuda.CudaBackend;
import dev.semihard.kernels.cuda.CudaBackendAccess;
import dev.semihard.kernels.cuda.Tf32Checks;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.Random;
import java.util.function.BiConsumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The GEMM tiles other than 64 x 64 against the reference, on the emulator (4 SMs, so 4 tiles fill
 * it): the 128 x 128 tiles (8 x 8 outputs per thread, two runs of 4 rows and of 4 columns each),
 * which the conformance suite's small shapes do not reach, and the 32 x 256 tiles of M <= 32 (4 x 8
 * per thread, warps of 4 x 8 threads), pipelined and plain, with ragged edges on both sides. The
 * kernel profile proves which version ran.
 */
class CudaEmulatedGemmTilesTest {
    static final BackendOptions PROFILED = new BackendOptions(null, "fp32", 0, Map.of(KernelProfile.OPTION, "true"));

    @BeforeAll
    static void emulator() {
        Shemu.openOrSkip().close();
    }

    /**
     * Runs op on both backends with the same seeded inputs and compares output `out` (index into bufs);
     * `kernel` must have run (a name ending in * is a prefix).
     */
    private static void compare(String what, String kernel, long[] sizes, int out, BiConsumer<Backend, Buffer[]> op) {
        compare(what, kernel, PROFILED, sizes, out, op);
    }

    private static void compare(String what, String kernel, BackendOptions options, long[] sizes, int out,
                                BiConsumer<Backend, Buffer[]> op) {
        Random r = new Random(what.hashCode());
        float[][] host = new float[sizes.length][];
        for (int i = 0; i < sizes.length; i++) {
            host[i] = new float[(int) sizes[i]];
            for (int j = 0; j < host[i].length; j++) host[i][j] = (float) r.nextGaussian();
        }
        float[] ref;
        try (ReferenceBackend rb = new ReferenceBackend(2)) {
            ref = Tf32Checks.execute(rb, sizes, host, out, op);
        }
        try (CudaBackend cu = new CudaBackend(options)) {
            float[] got = Tf32Checks.execute(cu, sizes, host, out, op);
            Map<String, KernelProfile.Stat> prof = cu.snapshot();
            boolean ran = kernel.endsWith("*")
                    ? prof.keySet().stream().anyMatch(k -> k.startsWith(kernel.substring(0, kernel.length() - 1)))
                    : prof.containsKey(kernel);
            assertTrue(ran, what + ": expected " + kernel + " to run, ran " + prof.keySet());
            double scale = 0, worst = 0;
            for (float v : ref) scale = Math.max(scale, Math.abs(v));
            for (int i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(ref[i] - got[i]));
            assertTrue(worst <= 1e-5 * scale + 1e-6, what + ": worst |diff| " + worst + " (max |ref| " + scale + ")");
        }
    }

    @Test
    void convolutionsOnTheLargeTiles() {
        ConvGeometry g = new ConvGeometry(2, 16, 16, 16, 128, 3, 3, 1, 1);
        long x = g.inputSize(), w = g.weightSize(), y = g.outputSize();
        compare("conv forward", "conv2dForwardTap_pf", new long[]{x, w, 128, y}, 3,
                (be, b) -> be.conv2dForward(g, b[0], b[1], b[2], b[3]));
        compare("conv backward filter", "conv2dBackwardFilter_pf", new long[]{x, y, w, 128}, 2,
                (be, b) -> be.conv2dBackwardFilter(g, b[0], b[1], b[2], b[3]));
        ConvGeometry h = new ConvGeometry(2, 128, 16, 16, 16, 3, 3, 1, 1);   // C = 128: the data gradient's M
        compare("conv backward data", "conv2dBackwardDataTap_pf", new long[]{h.outputSize(), h.weightSize(), h.inputSize()}, 2,
                (be, b) -> be.conv2dBackwardData(h, b[0], b[1], b[2]));
        // channel counts that are not multiples of 16: the channel-major kernels
        ConvGeometry g2 = new ConvGeometry(2, 12, 16, 16, 128, 3, 3, 1, 1);
        compare("conv forward C=12", "conv2dForward_pf", new long[]{g2.inputSize(), g2.weightSize(), 128, g2.outputSize()}, 3,
                (be, b) -> be.conv2dForward(g2, b[0], b[1], b[2], b[3]));
        ConvGeometry h2 = new ConvGeometry(2, 128, 16, 16, 12, 3, 3, 1, 1);
        compare("conv backward data K=12", "conv2dBackwardData_pf", new long[]{h2.outputSize(), h2.weightSize(), h2.inputSize()}, 2,
                (be, b) -> be.conv2dBackwardData(h2, b[0], b[1], b[2]));
    }

    /**
     * The tap-major convolutions (a k-slice is one filter tap and 16 channels) on the small tiles with
     * strides, padding and ragged edges, and the same shapes with -Dsemihard.cuda.convTaps=false on the
     * channel-major kernels: both against the reference.
     */
    @Test
    void tapMajorConvolutions() {
        ConvGeometry[] shapes = {
                new ConvGeometry(3, 32, 9, 7, 48, 3, 3, 2, 1),     // stride 2, odd sizes
                new ConvGeometry(2, 16, 6, 5, 16, 5, 5, 1, 2),     // 5x5, pad 2
                new ConvGeometry(2, 48, 7, 7, 64, 3, 3, 3, 0),     // stride 3, pad 0: taps that hit no output
                new ConvGeometry(2, 64, 9, 9, 32, 1, 1, 2, 0)};    // 1x1 stride 2 (the shortcut)
        for (boolean taps : new boolean[]{true, false}) {
            String v = taps ? "Tap" : "";
            if (!taps) System.setProperty(CudaBackend.CONV_TAPS_PROPERTY, "false");
            try {
                for (ConvGeometry g : shapes) {
                    String d = g.toString();
                    compare("forward " + d + " " + v, "conv2dForward" + v + "_pf*", PROFILED,
                            new long[]{g.inputSize(), g.weightSize(), g.k(), g.outputSize()}, 3,
                            (be, b) -> be.conv2dForward(g, b[0], b[1], b[2], b[3]));
                    compare("backward data " + d + " " + v, "conv2dBackwardData" + v + "_pf*", PROFILED,
                            new long[]{g.outputSize(), g.weightSize(), g.inputSize()}, 2,
                            (be, b) -> be.conv2dBackwardData(g, b[0], b[1], b[2]));
                }
            } finally {
                System.clearProperty(CudaBackend.CONV_TAPS_PROPERTY);
            }
        }
    }

    @Test
    void linearLayersOnTheLargeTiles() {
        int n = 256, in = 64, out = 256;
        compare("linear forward", "linearForward_pf", new long[]{(long) n * in, (long) out * in, out, (long) n * out}, 3,
                (be, b) -> be.linearForward(n, in, out, b[0], b[1], b[2], b[3]));
        int n2 = 256, in2 = 256, out2 = 64;
        compare("linear backward data", "linearBackwardData_pf", new long[]{(long) n2 * out2, (long) out2 * in2, (long) n2 * in2}, 2,
                (be, b) -> be.linearBackwardData(n2, in2, out2, b[0], b[1], b[2]));
    }

    /** Convolutions and linear layers with 32 < M <= 64 on the 64 x 128 tiles (pipelined fp32 only), with ragged edges. */
    @Test
    void sixtyFourRowTiles() {
        ConvGeometry g = new ConvGeometry(2, 16, 16, 16, 64, 3, 3, 1, 1);    // K = 64: M of forward and filter; N = 512
        compare("conv forward K=64", "conv2dForwardTap_pf_w64", new long[]{g.inputSize(), g.weightSize(), 64, g.outputSize()}, 3,
                (be, b) -> be.conv2dForward(g, b[0], b[1], b[2], b[3]));
        ConvGeometry f = new ConvGeometry(2, 128, 6, 6, 64, 3, 3, 1, 1);     // filter gradient: M = 64, N = 1152, depth 72
        compare("conv backward filter K=64", "conv2dBackwardFilter_pf_w64", new long[]{f.inputSize(), f.outputSize(), f.weightSize(), 64}, 2,
                (be, b) -> be.conv2dBackwardFilter(f, b[0], b[1], b[2], b[3]));
        ConvGeometry h = new ConvGeometry(2, 48, 16, 16, 12, 3, 3, 1, 1);    // C = 48 (M of backward data), K = 12: channel-major
        compare("conv backward data C=48", "conv2dBackwardData_pf_w64", new long[]{h.outputSize(), h.weightSize(), h.inputSize()}, 2,
                (be, b) -> be.conv2dBackwardData(h, b[0], b[1], b[2]));
        int n = 50, in = 40, out = 512;                                    // linear forward: M = n = 50 rows (ragged)
        compare("linear forward n=50", "linearForward_pf_w64", new long[]{(long) n * in, (long) out * in, out, (long) n * out}, 3,
                (be, b) -> be.linearForward(n, in, out, b[0], b[1], b[2], b[3]));
        int n3 = 70, in3 = 512, out3 = 64;                                 // weight gradient: M = out = 64, N = in, depth 70
        compare("linear backward weight out=64", "linearBackwardWeight_pf_w64",
                new long[]{(long) n3 * in3, (long) n3 * out3, (long) out3 * in3, out3}, 2,
                (be, b) -> be.linearBackwardWeight(n3, in3, out3, b[0], b[1], b[2], b[3]));
    }

    /**
     * Weight gradients split into more than 64 chunks of the batch's pixels, as an H200 plans them
     * (-Dsemihard.cuda.planSmCount=132: up to 264 splits), against the reference: a stem-like layer
     * (3 channels, one 64 x 64 tile, 72 splits of 256 pixels) and a 32-filter one (two 32 x 256 tiles).
     */
    @Test
    @FullSuite   // 5.5 s: the full tier; the quick tier runs split-K weight gradients through the emulated conformance suite
    void weightGradientsSplitAsOnAnH200() {
        assertEquals(72, CudaBackendAccess.weightGradSplits(132, 32, 27, 8 * 48 * 48));
        assertEquals(68, CudaBackendAccess.weightGradSplits(132, 32, 288, 4 * 64 * 68));
        assertEquals(70, CudaBackendAccess.weightGradSplits(132, 24, 40, 17920));
        System.setProperty(CudaBackend.PLAN_SM_COUNT_PROPERTY, "132");
        try {
            ConvGeometry stem = new ConvGeometry(8, 3, 48, 48, 32, 3, 3, 1, 1);      // depth 18,432 = 72 x 256
            compare("stem filter gradient, 72 splits", "conv2dBackwardFilter_pf_small",
                    new long[]{stem.inputSize(), stem.outputSize(), stem.weightSize(), 32}, 2,
                    (be, b) -> be.conv2dBackwardFilter(stem, b[0], b[1], b[2], b[3]));
            try (CudaBackend cu = new CudaBackend(PROFILED)) {
                assertEquals(132, cu.smCount());
            }
            ConvGeometry g = new ConvGeometry(4, 32, 64, 68, 32, 3, 3, 1, 1);       // depth 17,408 = 68 x 256
            compare("32-filter gradient, 68 splits", "conv2dBackwardFilter_pf_m32",
                    new long[]{g.inputSize(), g.outputSize(), g.weightSize(), 32}, 2,
                    (be, b) -> be.conv2dBackwardFilter(g, b[0], b[1], b[2], b[3]));
            int n = 17920, in = 40, out = 24;                                        // 70 splits
            compare("linear weight gradient, 70 splits", "linearBackwardWeight_pf_small",
                    new long[]{(long) n * in, (long) n * out, (long) out * in, out}, 2,
                    (be, b) -> be.linearBackwardWeight(n, in, out, b[0], b[1], b[2], b[3]));
        } finally {
            System.clearProperty(CudaBackend.PLAN_SM_COUNT_PROPERTY);
        }
    }

    /** Convolutions and linear layers with M <= 32 on the 32 x 256 tiles; {@code v} is "_pf" or "". */
    private static void thirtyTwoRowTiles(String v) {
        ConvGeometry g = new ConvGeometry(2, 16, 16, 16, 32, 3, 3, 1, 1);    // K = 32: M of forward and filter
        long x = g.inputSize(), w = g.weightSize(), y = g.outputSize();
        String taps = v.equals("_pf") ? "Tap" : "";                          // C = 16: tap-major when pipelined
        compare("conv forward K=32" + v, "conv2dForward" + taps + v + "_m32", new long[]{x, w, 32, y}, 3,
                (be, b) -> be.conv2dForward(g, b[0], b[1], b[2], b[3]));
        compare("conv backward filter K=32" + v, "conv2dBackwardFilter" + v + "_m32", new long[]{x, y, w, 32}, 2,
                (be, b) -> be.conv2dBackwardFilter(g, b[0], b[1], b[2], b[3]));
        ConvGeometry h = new ConvGeometry(3, 20, 15, 13, 8, 3, 3, 2, 1);     // C = 20 (M of backward data), stride 2, ragged
        compare("conv backward data C=20" + v, "conv2dBackwardData" + v + "_m32",
                new long[]{h.outputSize(), h.weightSize(), h.inputSize()}, 2,
                (be, b) -> be.conv2dBackwardData(h, b[0], b[1], b[2]));
        compare("conv forward K=8 stride 2" + v, "conv2dForward" + v + "_m32",
                new long[]{h.inputSize(), h.weightSize(), 8, h.outputSize()}, 3,
                (be, b) -> be.conv2dForward(h, b[0], b[1], b[2], b[3]));
        int n = 32, in = 40, out = 300;                                    // linear: M = n rows (forward, data)
        compare("linear forward n=32" + v, "linearForward" + v + "_m32",
                new long[]{(long) n * in, (long) out * in, out, (long) n * out}, 3,
                (be, b) -> be.linearForward(n, in, out, b[0], b[1], b[2], b[3]));
        int n2 = 7, in2 = 300, out2 = 24;
        compare("linear backward data n=7" + v, "linearBackwardData" + v + "_m32",
                new long[]{(long) n2 * out2, (long) out2 * in2, (long) n2 * in2}, 2,
                (be, b) -> be.linearBackwardData(n2, in2, out2, b[0], b[1], b[2]));
        int n3 = 64, in3 = 520, out3 = 17;                                 // M = out = 17 of the weight gradient
        compare("linear backward weight out=17" + v, "linearBackwardWeight" + v + "_m32",
                new long[]{(long) n3 * in3, (long) n3 * out3, (long) out3 * in3, out3}, 2,
                (be, b) -> be.linearBackwardWeight(n3, in3, out3, b[0], b[1], b[2], b[3]));
    }

    @Test
    void thirtyTwoRowTilesPipelined() {
        thirtyTwoRowTiles("_pf");
    }

    @Test
    void thirtyTwoRowTilesPlain() {
        System.setProperty("semihard.cuda.pipelinedGemm", "false");
        try {
            thirtyTwoRowTiles("");
        } finally {
            System.clearProperty("semihard.cuda.pipelinedGemm");
        }
    }
}
