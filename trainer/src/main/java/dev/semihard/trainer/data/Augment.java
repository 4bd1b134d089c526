package dev.semihard.trainer.data;

import dev.semihard.engine.Rng;

import java.util.Locale;

/**
 * Training-time augmentation on normalized images: a random horizontal flip (probability 1/2)
 * and a random crop after padding {@code pad} pixels on each side with the value of a black pixel
 * (torchvision's {@code RandomCrop(size, padding)}).
 *
 * @param flip random horizontal flip
 * @param pad  crop padding in pixels (0: no crop)
 */
public record Augment(boolean flip, int pad) {
    public Augment {
        if (pad < 0) throw new IllegalArgumentException("--augment: crop padding must be >= 0, got " + pad);
    }

    /**
     * Parses "none", "flip", "crop" (padding 4), "crop:N", or a '+'-joined combination such as
     * "flip+crop:2". Returns null for "none".
     */
    public static Augment parse(String spec) {
        if (spec == null || spec.isBlank() || spec.equalsIgnoreCase("none")) return null;
        boolean flip = false;
        int pad = 0;
        for (String part : spec.toLowerCase(Locale.ROOT).split("\\+")) {
            if (part.equals("flip")) flip = true;
            else if (part.equals("crop")) pad = 4;
            else if (part.startsWith("crop:")) {
                try {
                    pad = Integer.parseInt(part.substring(5));
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("--augment: bad crop padding in '" + spec + "'");
                }
            } else throw new IllegalArgumentException("--augment: unknown part '" + part + "' in '" + spec
                    + "': use none, flip, crop, crop:N or a combination like flip+crop:4");
        }
        return new Augment(flip, pad);
    }

    /** One channel plane per loader thread, reused (no allocation per image). */
    private static final ThreadLocal<float[]> PLANE = ThreadLocal.withInitial(() -> new float[0]);

    /** Augments one image in place: {@code x[off ..]} is C x H x W; {@code fill} is the padding value. */
    public void apply(float[] x, int off, int c, int h, int w, float fill, Rng rng) {
        boolean doFlip = flip && rng.nextInt(2) == 1;
        int dy = 0, dx = 0;
        if (pad > 0) {
            dy = rng.nextInt(2 * pad + 1) - pad;
            dx = rng.nextInt(2 * pad + 1) - pad;
        }
        if (!doFlip && dy == 0 && dx == 0) return;
        float[] plane = PLANE.get();
        if (plane.length < h * w) PLANE.set(plane = new float[h * w]);
        for (int ch = 0; ch < c; ch++) {
            int base = off + ch * h * w;
            System.arraycopy(x, base, plane, 0, h * w);
            for (int y = 0; y < h; y++) {
                for (int xx = 0; xx < w; xx++) {
                    int sy = y + dy, sx = xx + dx;
                    float v;
                    if (sy < 0 || sy >= h || sx < 0 || sx >= w) v = fill;
                    else v = plane[sy * w + (doFlip ? w - 1 - sx : sx)];
                    x[base + y * w + xx] = v;
                }
            }
        }
    }
}
