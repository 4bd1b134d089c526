/*
 * pool.cl -- max pooling (square window, no padding, floor rounding) and global average pooling.
 *
 * Shapes: x [N, C, H, W], y [N, C, OH, OW], OH = (H - size)/stride + 1; global pool: x [N, C, HW] -> y [N, C].
 * Version 2: one work-item per row of pixels (version 1 used one per pixel, and PoCL's CPU device spent
 * more time scheduling the tiny work-groups than computing). Version 3: the forward keeps the maximum
 * value instead of its index, and unrolls 2 x 2 windows of stride 2 (both models' pooling). Max-pool backward never scatters across
 * work-items: without overlap each work-item owns the input rows of its output row; with overlap it is a
 * gather (each input element re-finds the argmax of every window containing it), so no atomics are
 * needed and the result is deterministic. Ties go to the first maximum in row-major window order (the reference's rule).
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

/*
 * maxPool2dForward: one work-item per output row (nc, oh), NDRange (N*C*OH); loops over ow. The window's
 * maximum value in row-major order, replaced only by a strictly greater one: the value at poolArgMax's
 * index (the first maximum; a NaN first stays, a NaN later is skipped), without finding the index first
 * and loading it again (version 2 did: 4.6 ms per fmnist-cnn step at B = 128 on PoCL, now 1.5).
 */
__kernel void maxPool2dForward(const int rows, const int H, const int W, const int OH, const int OW, const int size,
                               const int stride, __global const float* x, __global float* y)
{
    const int row = get_global_id(0);
    if (row >= rows) return;
    const int nc = row / OH, oh = row - nc * OH;
    __global const float* plane = x + (size_t)nc * H * W;
    __global float* out = y + (size_t)row * OW;
    if (size == 2 && stride == 2) {            /* both models' pooling, unrolled: 1.5x the loop below on PoCL */
        __global const float* r0 = plane + (size_t)(2 * oh) * W;
        __global const float* r1 = r0 + W;
        for (int ow = 0; ow < OW; ++ow) {
            float v = r0[2 * ow], b = r0[2 * ow + 1];
            v = b > v ? b : v;
            b = r1[2 * ow];
            v = b > v ? b : v;
            b = r1[2 * ow + 1];
            out[ow] = b > v ? b : v;
        }
        return;
    }
    for (int ow = 0; ow < OW; ++ow) {
        __global const float* win = plane + (size_t)(oh * stride) * W + ow * stride;
        float v = win[0];
        for (int i = 0; i < size; ++i)
            for (int j = 0; j < size; ++j) {
                const float b = win[i * W + j];
                v = b > v ? b : v;
            }
        out[ow] = v;
    }
}

/*
 * maxPool2dBackward, windows that do not overlap (stride >= size): one work-item per output row (nc, oh)
 * owns input rows [oh*stride, (oh+1)*stride) (the last one also the rows below, which no window covers):
 * it zeroes them, then writes each window's dy at its argmax. No two work-items touch the same element.
 * NDRange (N*C*OH).
 */
__kernel void maxPool2dBackward(const int rows, const int H, const int W, const int OH, const int OW, const int size,
                                const int stride, __global const float* x, __global const float* dy, __global float* dx)
{
    const int row = get_global_id(0);
    if (row >= rows) return;
    const int nc = row / OH, oh = row - nc * OH;
    __global const float* plane = x + (size_t)nc * H * W;
    __global float* dplane = dx + (size_t)nc * H * W;
    const int h0 = oh * stride, h1 = oh == OH - 1 ? H : min(H, h0 + stride);
    for (int i = h0 * W; i < h1 * W; ++i) dplane[i] = 0.0f;
    if (oh == 0) for (int i = 0; i < h0 * W; ++i) dplane[i] = 0.0f;
    __global const float* drow = dy + (size_t)row * OW;
    for (int ow = 0; ow < OW; ++ow) dplane[poolArgMax(plane, W, h0, ow * stride, size)] = drow[ow];
}

/*
 * maxPool2dBackwardOverlap, windows that overlap (stride < size): a gather, one work-item per input row
 * (nc, h): each element recomputes the argmax of every window containing it and adds those windows' dy
 * in window order. NDRange (N*C*H).
 */
__kernel void maxPool2dBackwardOverlap(const int rows, const int H, const int W, const int OH, const int OW,
                                       const int size, const int stride, __global const float* x,
                                       __global const float* dy, __global float* dx)
{
    const int row = get_global_id(0);
    if (row >= rows) return;
    const int nc = row / H, h = row - nc * H;
    __global const float* plane = x + (size_t)nc * H * W;
    __global const float* dplane = dy + (size_t)nc * OH * OW;
    /* windows containing h: oh*stride <= h < oh*stride + size */
    const int ohLo = h >= size ? (h - size) / stride + 1 : 0;
    const int ohHi = min(OH - 1, h / stride);
    for (int w = 0; w < W; ++w) {
        const int owLo = w >= size ? (w - size) / stride + 1 : 0;
        const int owHi = min(OW - 1, w / stride);
        const int me = h * W + w;
        float s = 0.0f;
        for (int oh = ohLo; oh <= ohHi; ++oh)
            for (int ow = owLo; ow <= owHi; ++ow)
                if (poolArgMax(plane, W, oh * stride, ow * stride, size) == me) s += dplane[oh * OW + ow];
        dx[(size_t)nc * H * W + me] = s;
    }
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

/* globalAvgPoolBackward: one work-item per p = (n, c); dx[p, i] = dy[p] / hw. */
__kernel void globalAvgPoolBackward(const int nc, const int hw, __global const float* dy, __global float* dx)
{
    const int p = get_global_id(0);
    if (p >= nc) return;
    const float v = dy[p] / hw;
    for (int i = 0; i < hw; ++i) dx[(size_t)p * hw + i] = v;
}
