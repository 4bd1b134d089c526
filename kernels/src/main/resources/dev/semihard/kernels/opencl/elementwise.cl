/*
 * elementwise.cl -- fill, axpy, scale, add, ReLU and the sum-of-squares reduction.
 *
 * Version 1: one work-item per element (NDRange rounded up to the work-group size, guarded by i < n).
 * These kernels are memory-bound; on PoCL's CPU device the per-element loop vectorizes across
 * work-items, on a GPU consecutive work-items give coalesced accesses. Shapes: flat arrays of n floats.
 */

/* fill: dst[off + i] = value, i < n. */
__kernel void fill(__global float* dst, const ulong off, const ulong n, const float value)
{
    const size_t i = get_global_id(0);
    if (i < n) dst[off + i] = value;
}

/* axpy: y[i] += alpha * x[i]. */
__kernel void axpy(const ulong n, const float alpha, __global const float* x, __global float* y)
{
    const size_t i = get_global_id(0);
    if (i < n) y[i] = fma(alpha, x[i], y[i]);
}

/* scale: x[i] *= alpha (in place). */
__kernel void scale(const ulong n, const float alpha, __global float* x)
{
    const size_t i = get_global_id(0);
    if (i < n) x[i] *= alpha;
}

/* add: y[i] = a[i] + b[i]; y may alias a or b (each element is read before it is written by the same work-item). */
__kernel void add(const ulong n, __global const float* a, __global const float* b, __global float* y)
{
    const size_t i = get_global_id(0);
    if (i < n) y[i] = a[i] + b[i];
}

/* reluForward: y[i] = max(x[i], 0); y may alias x. NaN maps to 0, like the reference (x > 0 ? x : 0). */
__kernel void reluForward(const ulong n, __global const float* x, __global float* y)
{
    const size_t i = get_global_id(0);
    if (i < n) { const float v = x[i]; y[i] = v > 0.0f ? v : 0.0f; }
}

/* reluBackward: dx[i] = y[i] > 0 ? dy[i] : 0 from the forward output y; dx may alias dy. */
__kernel void reluBackward(const ulong n, __global const float* y, __global const float* dy, __global float* dx)
{
    const size_t i = get_global_id(0);
    if (i < n) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

/*
 * sumSquares, stage 1 of 2 (base: where this buffer's partials start, for sumSquaresMany):
 * partial[base + 2g] = sum of x[i]^2 over finite x[i], partial[base + 2g+1] = count of
 * non-finite x[i], for the elements work-group g visits. Each work-item strides over the array by the
 * NDRange size in a fixed order, then the group reduces its local sums as a fixed tree; the host adds
 * the groups' partials in group order (in double). Same input, same bits: no atomics.
 * Local size must be a power of two (LOCAL = 64); scratch holds 2 * LOCAL floats.
 */
__kernel void sumSquares(const ulong n, __global const float* x, __global float* partial, const uint base,
                         __local float* scratch)
{
    const size_t gid = get_global_id(0), stride = get_global_size(0);
    const int lid = get_local_id(0), L = get_local_size(0);
    float s = 0.0f, bad = 0.0f;
    for (size_t i = gid; i < n; i += stride) {
        const float v = x[i];
        if (isfinite(v)) s = fma(v, v, s); else bad += 1.0f;
    }
    scratch[lid] = s;
    scratch[L + lid] = bad;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = L / 2; h > 0; h >>= 1) {
        if (lid < h) { scratch[lid] += scratch[lid + h]; scratch[L + lid] += scratch[L + lid + h]; }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) {
        partial[base + 2 * get_group_id(0)] = scratch[0];
        partial[base + 2 * get_group_id(0) + 1] = scratch[L];
    }
}
