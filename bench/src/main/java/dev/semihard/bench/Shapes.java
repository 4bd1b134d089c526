package dev.semihard.bench;

import dev.semihard.engine.backend.ConvGeometry;

import java.util.ArrayList;
import java.util.List;

/**
 * The shapes of the reference workloads of {@code docs/benchmarks.md}, in one place, plus the
 * small string forms the JMH {@code @Param}s use ("PxK", "NxCxHxWxK", ...).
 *
 * <p>Change these only together with the document and {@code bench/python/bench_torch.py}.
 */
public final class Shapes {
    private Shapes() {}

    /** Embedding dimension of every workload. */
    public static final int D = 128;

    /** W1: label layouts (P identities x K images), B = P * K, in increasing B. */
    public static final int[][] W1_PK = {{32, 8}, {128, 8}, {45, 40}, {128, 32}, {256, 32}, {512, 32}};

    /** W2: model name, batch, P, K. */
    public record TrainCase(String model, int batch, int p, int k) {}

    public static final List<TrainCase> W2 = List.of(
            new TrainCase("fmnist-cnn", 1024, 32, 32),
            new TrainCase("face-resnet10", 256, 32, 8));

    /** W3: conv layers (N, C, H, W, K), 3x3, pad 1, stride 1. */
    public static final int[][] W3_NCHWK = {
            {1024, 32, 14, 14, 64}, {1024, 64, 7, 7, 128},
            {256, 32, 48, 48, 32}, {256, 64, 24, 24, 64}, {256, 128, 12, 12, 128}, {256, 256, 6, 6, 256}};

    /** W3 layer {@code i} as a geometry, with the batch replaced by {@code n} when {@code n > 0}. */
    public static ConvGeometry w3(int i, int n) {
        int[] s = W3_NCHWK[i];
        return new ConvGeometry(n > 0 ? n : s[0], s[1], s[2], s[3], s[4], 3, 3, 1, 1);
    }

    /** Labels of a P x K batch: K consecutive rows per identity, identities 0..P-1. */
    public static int[] pkLabels(int p, int k) {
        int[] y = new int[p * k];
        for (int i = 0; i < y.length; i++) y[i] = i / k;
        return y;
    }

    /**
     * Parses "8x32x14x14" style dimension lists.
     *
     * @throws IllegalArgumentException naming the parameter, the expected and the actual form
     */
    public static int[] dims(String what, String spec, int count) {
        String[] parts = spec.trim().toLowerCase().split("x");
        if (parts.length != count)
            throw new IllegalArgumentException(what + ": expected " + count + " dimensions separated by 'x', got '" + spec + "'");
        int[] d = new int[count];
        for (int i = 0; i < count; i++) {
            try {
                d[i] = Integer.parseInt(parts[i].trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(what + ": '" + parts[i] + "' in '" + spec + "' is not an integer");
            }
            if (d[i] < 1) throw new IllegalArgumentException(what + ": every dimension must be >= 1, got '" + spec + "'");
        }
        return d;
    }

    /** "NxCxHxWxK" -> a 3x3, pad 1, stride 1 convolution. */
    public static ConvGeometry conv(String spec) {
        int[] d = dims("conv shape NxCxHxWxK", spec, 5);
        return new ConvGeometry(d[0], d[1], d[2], d[3], d[4], 3, 3, 1, 1);
    }

    /** Names "W1", "w2", ... in canonical upper case; rejects unknown ones. */
    public static List<String> workloads(List<String> names) {
        List<String> out = new ArrayList<>();
        for (String n : names) {
            for (String part : n.split(",")) {
                String w = part.trim().toUpperCase();
                if (w.isEmpty()) continue;
                if (!w.equals("W1") && !w.equals("W2") && !w.equals("W3"))
                    throw new IllegalArgumentException("unknown workload '" + part.trim() + "': use W1, W2 and/or W3");
                if (!out.contains(w)) out.add(w);
            }
        }
        if (out.isEmpty()) throw new IllegalArgumentException("no workload given: use W1, W2 and/or W3");
        return out;
    }
}
