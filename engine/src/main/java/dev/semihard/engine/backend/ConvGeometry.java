package dev.semihard.engine.backend;

/**
 * Shape of one 2-D convolution, NCHW activations and KCRS weights.
 *
 * <pre>
 *   x : [n, c, h, w]        input
 *   w : [k, c, r, s]        filters (r = kernel height, s = kernel width)
 *   b : [k]                 optional bias
 *   y : [n, k, outH, outW]  outH = (h + 2*pad - r) / stride + 1 (floor), same for outW
 * </pre>
 */
public record ConvGeometry(int n, int c, int h, int w, int k, int r, int s, int stride, int pad) {
    public ConvGeometry {
        if (n < 1 || c < 1 || h < 1 || w < 1 || k < 1 || r < 1 || s < 1)
            throw new IllegalArgumentException("conv2d: every dimension must be >= 1, got " + this);
        if (stride < 1) throw new IllegalArgumentException("conv2d: stride must be >= 1, got " + stride);
        if (pad < 0) throw new IllegalArgumentException("conv2d: padding must be >= 0, got " + pad);
        if (h + 2 * pad < r || w + 2 * pad < s)
            throw new IllegalArgumentException("conv2d: kernel " + r + "x" + s + " is larger than the padded input "
                    + (h + 2 * pad) + "x" + (w + 2 * pad) + " (input " + h + "x" + w + ", padding " + pad + ")");
    }

    public int outH() { return (h + 2 * pad - r) / stride + 1; }
    public int outW() { return (w + 2 * pad - s) / stride + 1; }
    public long inputSize() { return (long) n * c * h * w; }
    public long weightSize() { return (long) k * c * r * s; }
    public long outputSize() { return (long) n * k * outH() * outW(); }
    /** Multiply-adds times two for one forward pass. */
    public double forwardFlops() { return 2.0 * n * k * outH() * outW() * c * r * s; }
}
