package dev.semihard.trainer.data;

import dev.semihard.engine.mining.Identities;

import java.util.ArrayList;
import java.util.List;

/**
 * A {@link Dataset} held in memory as 8-bit pixels (C x H x W per image, row-major), with an
 * integer label per image: IDX files and the small sets of tests. (Image folders and real face
 * sets are read from packs, {@link PackedDataset}.)
 *
 * <p>Eight bits per pixel keeps Fashion-MNIST at 47 MB.
 */
public final class MemoryDataset implements Dataset {
    private final String name;
    private final int channels, height, width;
    private final byte[] pixels;
    private final int[] labels;
    private final List<String> classNames;
    private final List<String> paths; // one per image, or null
    private final float mean, std;
    private volatile Identities identities;

    public MemoryDataset(String name, int channels, int height, int width, byte[] pixels, int[] labels,
                   List<String> classNames, List<String> paths, float mean, float std) {
        long per = (long) channels * height * width;
        if (per <= 0) throw new IllegalArgumentException("dataset " + name + ": empty image shape");
        if (pixels.length != per * labels.length)
            throw new IllegalArgumentException("dataset " + name + ": " + pixels.length + " pixel bytes for "
                    + labels.length + " images of " + channels + "x" + height + "x" + width);
        if (paths != null && paths.size() != labels.length)
            throw new IllegalArgumentException("dataset " + name + ": " + paths.size() + " paths for " + labels.length + " images");
        if (!(std > 0)) throw new IllegalArgumentException("dataset " + name + ": std must be > 0");
        this.name = name;
        this.channels = channels;
        this.height = height;
        this.width = width;
        this.pixels = pixels;
        this.labels = labels;
        this.classNames = classNames;
        this.paths = paths;
        this.mean = mean;
        this.std = std;
    }

    @Override public String name() { return name; }
    @Override public int size() { return labels.length; }
    @Override public int channels() { return channels; }
    @Override public int height() { return height; }
    @Override public int width() { return width; }
    @Override public int label(int i) { return labels[i]; }
    @Override public int[] labels() { return labels.clone(); }
    @Override public List<String> classNames() { return classNames; }
    /** Source path of each image (image folders), or null (IDX). */
    @Override public List<String> paths() { return paths; }
    @Override public float mean() { return mean; }
    @Override public float std() { return std; }
    public byte[] rawPixels() { return pixels; }

    @Override
    public Identities identities() {
        Identities r = identities;
        if (r == null) identities = r = Identities.fromLabels(labels);
        return r;
    }

    @Override
    public void readImage(int i, byte[] dst, int off) {
        int n = imageSize();
        System.arraycopy(pixels, i * n, dst, off, n);
    }

    /** Writes image {@code i}, normalized, into {@code dst[off .. off + imageSize())}. */
    @Override
    public void copyNormalized(int i, float[] dst, int off) {
        int n = imageSize();
        int base = i * n;
        float inv = 1f / (255f * std), sh = mean / std;
        for (int k = 0; k < n; k++) dst[off + k] = (pixels[base + k] & 0xff) * inv - sh;
    }

    @Override
    public void copyWindow(int i, int y0, int x0, int h, int w, boolean flip, float[] dst, int off) {
        Dataset.window(pixels, i * imageSize(), channels, height, width, y0, x0, h, w, flip, mean, std, dst, off);
    }

    /** A new dataset holding the images at {@code idx}, in that order (a copy). */
    @Override
    public MemoryDataset subset(int[] idx, String newName) {
        int n = imageSize();
        byte[] px = new byte[idx.length * n];
        int[] lb = new int[idx.length];
        List<String> ps = paths == null ? null : new ArrayList<>(idx.length);
        for (int j = 0; j < idx.length; j++) {
            System.arraycopy(pixels, idx[j] * n, px, j * n, n);
            lb[j] = labels[idx[j]];
            if (ps != null) ps.add(paths.get(idx[j]));
        }
        return new MemoryDataset(newName, channels, height, width, px, lb, classNames, ps, mean, std);
    }

    /** The first {@code n} images (or all when n >= size). */
    @Override
    public MemoryDataset head(int n) {
        if (n >= size()) return this;
        int[] idx = new int[n];
        for (int i = 0; i < n; i++) idx[i] = i;
        return subset(idx, name + "[:" + n + "]");
    }

    @Override
    public String toString() { return Dataset.describe(this); }
}
