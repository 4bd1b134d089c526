/*
 * pool.cl -- max pooling (square window, no padding, floor rounding) and global average pooling.
 *
 * Shapes: x [N, C, H, W], y [N, C, OH, OW], OH = (H - size)/stride + 1; global pool: x [N, C, HW] -> y [N, C].
 * Version 1: one work-item per output element (forward) or per input element (backward). The max-pool
 * backward is a gather, not a scatter: each input element recomputes the argmax of every window that
 * contains it and adds those windows' dy in window order, so overlapping windows need no atomics and
 * the result is deterministic. Ties go to the first maximum in row-major window order (the reference's rule).
 */

/* Offset (from the plane start) of the first maximum of the window with top-left (h0, w0). */
inline int poolArgMax(__global const float* plane, const int W, const int h0, const int w0, const int size)
{
    int best = h0 * W + w0;
    float bestV = plane[best];
    for (int i = 0; i < size; ++i)
        for (int j = 0; j < size; ++j) {
            const int o = (h0 + i) * W + w0 + j;
            if (plane[o] > bestV) { bestV = plane[o]; best = o; }
        }
    return best;
}

/* maxPool2dForward: NDRange (OW, OH, N*C); y[nc, oh, ow] = max of the window at (oh*stride, ow*stride). */
__kernel void maxPool2dForward(const int H, const int W, const int OH, const int OW, const int size, const int stride,
                               __global const float* x, __global float* y)
{
    const int ow = get_global_id(0), oh = get_global_id(1), nc = get_global_id(2);
    if (ow >= OW || oh >= OH) return;
    __global const float* plane = x + (size_t)nc * H * W;
    y[((size_t)nc * OH + oh) * OW + ow] = plane[poolArgMax(plane, W, oh * stride, ow * stride, size)];
}

/* maxPool2dBackward: NDRange (W, H, N*C); dx[nc, h, w] = sum of dy over the windows whose argmax is (h, w). */
__kernel void maxPool2dBackward(const int H, const int W, const int OH, const int OW, const int size, const int stride,
                                __global const float* x, __global const float* dy, __global float* dx)
{
    const int w = get_global_id(0), h = get_global_id(1), nc = get_global_id(2);
    if (w >= W || h >= H) return;
    __global const float* plane = x + (size_t)nc * H * W;
    __global const float* dplane = dy + (size_t)nc * OH * OW;
    /* windows containing h: oh*stride <= h < oh*stride + size */
    const int ohLo = h >= size ? (h - size) / stride + 1 : 0;
    const int ohHi = min(OH - 1, h / stride);
    const int owLo = w >= size ? (w - size) / stride + 1 : 0;
    const int owHi = min(OW - 1, w / stride);
    const int me = h * W + w;
    float s = 0.0f;
    for (int oh = ohLo; oh <= ohHi; ++oh)
        for (int ow = owLo; ow <= owHi; ++ow)
            if (poolArgMax(plane, W, oh * stride, ow * stride, size) == me) s += dplane[oh * OW + ow];
    dx[(size_t)nc * H * W + me] = s;
}

/* globalAvgPoolForward: y[p] = (sum of x[p, 0..hw)) / hw, one work-item per p = (n, c). */
__kernel void globalAvgPoolForward(const int nc, const int hw, __global const float* x, __global float* y)
{
    const int p = get_global_id(0);
    if (p >= nc) return;
    float s = 0.0f;
    for (int i = 0; i < hw; ++i) s += x[(size_t)p * hw + i];
    y[p] = s / hw;
}

/* globalAvgPoolBackward: NDRange (hw, N*C); dx[p, i] = dy[p] / hw. */
__kernel void globalAvgPoolBackward(const int hw, __global const float* dy, __global float* dx)
{
    const int i = get_global_id(0), p = get_global_id(1);
    if (i >= hw) return;
    dx[(size_t)p * hw + i] = dy[p] / hw;
}
