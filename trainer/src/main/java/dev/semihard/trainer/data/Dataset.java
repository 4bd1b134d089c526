package dev.semihard.trainer.data;

import dev.semihard.engine.mining.Identities;

import java.util.List;

/**
 * The one data set interface of training, evaluation, embedding and the offline miner: images of
 * identities as 8-bit pixels (C x H x W per image), a label per image, the identities' images (what
 * the P x K sampler draws from), and the normalization applied when a batch is built:
 * {@code (pixel / 255 - mean) / std}.
 *
 * <p>Implemented by {@link MemoryDataset} (IDX files, tests), {@link PackedDataset} (a pack on disk,
 * memory-mapped: any size) and {@link #subset} views. The stored size may exceed the model's input: the
 * loader then takes a window ({@link #copyWindow}: random when training with crop augmentation, centered
 * otherwise).
 */
public interface Dataset {
    String name();

    /** Number of images. */
    int size();

    int channels();

    /** Stored height and width of every image. */
    int height();

    int width();

    default int imageSize() { return channels() * height() * width(); }

    /** Label of image {@code i} (dense, 0 .. identities - 1 for image folders and packs). */
    int label(int i);

    /** Every image's label (a new array: O(size) memory, for evaluation sets and the offline miner). */
    default int[] labels() {
        int[] l = new int[size()];
        for (int i = 0; i < l.length; i++) l[i] = label(i);
        return l;
    }

    /** Name of each label. */
    List<String> classNames();

    /** Source path of each image relative to its folder (image folders and packs), or null (IDX). */
    List<String> paths();

    float mean();

    float std();

    /** The identities' images, for the P x K sampler. */
    Identities identities();

    /** Copies image {@code i}'s raw pixels (C x H x W bytes) into {@code dst[off ..]}. */
    void readImage(int i, byte[] dst, int off);

    /** Writes image {@code i}, normalized, into {@code dst[off .. off + imageSize())}. */
    default void copyNormalized(int i, float[] dst, int off) {
        copyWindow(i, 0, 0, height(), width(), false, dst, off);
    }

    /**
     * Writes the window rows {@code y0 .. y0+h-1}, columns {@code x0 .. x0+w-1} of image {@code i}, mirrored
     * left-right when {@code flip}, normalized, into {@code dst[off ..]} as C x h x w.
     */
    default void copyWindow(int i, int y0, int x0, int h, int w, boolean flip, float[] dst, int off) {
        byte[] px = Scratch.bytes(imageSize());
        readImage(i, px, 0);
        window(px, 0, channels(), height(), width(), y0, x0, h, w, flip, mean(), std(), dst, off);
    }

    /** The centered {@code h x w} window of image {@code i}, normalized (evaluation; the whole image when it is h x w). */
    default void copyCentered(int i, int h, int w, float[] dst, int off) {
        if (h == height() && w == width()) copyNormalized(i, dst, off);
        else copyWindow(i, (height() - h) / 2, (width() - w) / 2, h, w, false, dst, off);
    }

    /** A view of the images at {@code idx}, in that order. */
    default Dataset subset(int[] idx, String newName) { return new SubsetDataset(this, idx, newName); }

    /** The first {@code n} images (or all when n >= size). */
    default Dataset head(int n) {
        if (n >= size()) return this;
        int[] idx = new int[n];
        for (int i = 0; i < n; i++) idx[i] = i;
        return subset(idx, name() + "[:" + n + "]");
    }

    /** Number of distinct labels. */
    default int numClasses() { return identities().identities(); }

    default String shapeString() { return channels() + "x" + height() + "x" + width(); }

    /** "name (N images, M identities, CxHxW)": the implementations' toString. */
    static String describe(Dataset d) {
        return d.name() + " (" + d.size() + " images, " + d.numClasses() + " identities, " + d.shapeString() + ")";
    }

    /**
     * The crop, flip and normalization of {@link #copyWindow} on pixels {@code px[base ..]} (C x H x W): the
     * loader's inner loop, from uint8 straight into the batch buffer. The arithmetic is the one of
     * {@link MemoryDataset#copyNormalized}, so a full window without flip gives the same floats.
     */
    static void window(byte[] px, int base, int c, int hh, int ww, int y0, int x0, int h, int w, boolean flip,
                       float mean, float std, float[] dst, int off) {
        if (y0 < 0 || x0 < 0 || y0 + h > hh || x0 + w > ww)
            throw new IllegalArgumentException("window " + h + "x" + w + " at (" + y0 + ", " + x0 + ") is outside a " + hh + "x" + ww + " image");
        float inv = 1f / (255f * std), sh = mean / std;
        int o = off;
        for (int ch = 0; ch < c; ch++) {
            for (int y = 0; y < h; y++) {
                int row = base + (ch * hh + y0 + y) * ww + x0;
                if (flip) {
                    for (int x = w - 1; x >= 0; x--) dst[o++] = (px[row + x] & 0xff) * inv - sh;
                } else {
                    for (int x = 0; x < w; x++) dst[o + x] = (px[row + x] & 0xff) * inv - sh;
                    o += w;
                }
            }
        }
    }

    /** Per-thread scratch bytes (the loader threads reuse theirs: no allocation per image). */
    final class Scratch {
        private static final ThreadLocal<byte[]> BYTES = ThreadLocal.withInitial(() -> new byte[0]);

        private Scratch() {}

        static byte[] bytes(int n) {
            byte[] b = BYTES.get();
            if (b.length < n) BYTES.set(b = new byte[n]);
            return b;
        }
    }
}
