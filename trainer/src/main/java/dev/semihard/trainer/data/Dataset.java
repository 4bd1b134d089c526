package dev.semihard.trainer.data;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Images of identities held in memory as 8-bit pixels (C x H x W per image, row-major), with an
 * integer label per image and the normalization applied when a batch is built:
 * {@code (pixel / 255 - mean) / std}.
 *
 * <p>Eight bits per pixel keeps Fashion-MNIST at 47 MB and a face set at a few hundred MB.
 */
public final class Dataset {
    private final String name;
    private final int channels, height, width;
    private final byte[] pixels;
    private final int[] labels;
    private final List<String> classNames;
    private final List<String> paths; // one per image, or null
    private final float mean, std;

    public Dataset(String name, int channels, int height, int width, byte[] pixels, int[] labels,
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

    public String name() { return name; }
    public int size() { return labels.length; }
    public int channels() { return channels; }
    public int height() { return height; }
    public int width() { return width; }
    public int imageSize() { return channels * height * width; }
    public int label(int i) { return labels[i]; }
    public int[] labels() { return labels.clone(); }
    public List<String> classNames() { return classNames; }
    /** Source path of each image (image folders), or null (IDX). */
    public List<String> paths() { return paths; }
    public float mean() { return mean; }
    public float std() { return std; }
    public byte[] rawPixels() { return pixels; }

    /** Number of distinct labels. */
    public int numClasses() {
        return (int) Arrays.stream(labels).distinct().count();
    }

    /** Writes image {@code i}, normalized, into {@code dst[off .. off + imageSize())}. */
    public void copyNormalized(int i, float[] dst, int off) {
        int n = imageSize();
        int base = i * n;
        float inv = 1f / (255f * std), sh = mean / std;
        for (int k = 0; k < n; k++) dst[off + k] = (pixels[base + k] & 0xff) * inv - sh;
    }

    /** A new dataset holding the images at {@code idx}, in that order. */
    public Dataset subset(int[] idx, String newName) {
        int n = imageSize();
        byte[] px = new byte[idx.length * n];
        int[] lb = new int[idx.length];
        List<String> ps = paths == null ? null : new ArrayList<>(idx.length);
        for (int j = 0; j < idx.length; j++) {
            System.arraycopy(pixels, idx[j] * n, px, j * n, n);
            lb[j] = labels[idx[j]];
            if (ps != null) ps.add(paths.get(idx[j]));
        }
        return new Dataset(newName, channels, height, width, px, lb, classNames, ps, mean, std);
    }

    /** The first {@code n} images (or all when n >= size). */
    public Dataset head(int n) {
        if (n >= size()) return this;
        int[] idx = new int[n];
        for (int i = 0; i < n; i++) idx[i] = i;
        return subset(idx, name + "[:" + n + "]");
    }

    public String shapeString() { return channels + "x" + height + "x" + width; }

    @Override
    public String toString() {
        return name + " (" + size() + " images, " + numClasses() + " identities, " + shapeString() + ")";
    }
}
