package dev.semihard.engine.backend;

/**
 * Shape of a max pooling with a square window, no padding, floor rounding.
 *
 * <pre>
 *   x : [n, c, h, w]
 *   y : [n, c, outH, outW]   outH = (h - size) / stride + 1
 * </pre>
 */
public record PoolGeometry(int n, int c, int h, int w, int size, int stride) {
    public PoolGeometry {
        if (n < 1 || c < 1 || h < 1 || w < 1 || size < 1 || stride < 1)
            throw new IllegalArgumentException("maxpool2d: every dimension must be >= 1, got " + this);
        if (size > h || size > w)
            throw new IllegalArgumentException("maxpool2d: window " + size + " is larger than the input " + h + "x" + w);
    }

    public int outH() { return (h - size) / stride + 1; }
    public int outW() { return (w - size) / stride + 1; }
    public long inputSize() { return (long) n * c * h * w; }
    public long outputSize() { return (long) n * c * outH() * outW(); }
}
