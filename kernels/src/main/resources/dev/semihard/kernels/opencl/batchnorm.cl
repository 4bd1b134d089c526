/*
 * batchnorm.cl -- 2-D batch normalization over (N, HW) per channel. x, y, dy, dx: [N, C, HW]; per-channel
 * vectors gamma, beta, mean, invStd, running stats: [C].
 *
 * Version 1: the per-channel reductions use one work-group of BN_LOCAL = 64 work-items per channel
 * (each work-item walks the channel's N*HW elements in a fixed order, then a fixed reduction tree),
 * two passes (mean, then sum of squared deviations) for accuracy; the elementwise parts use one work-item
 * per (n, c) row of HW elements (version 1 had one per element, and PoCL spent its time scheduling). Deterministic.
 *
 * Version 2: the same kernels fused with the ReLU that follows a batch norm (batchNormRelu*): the forward
 * writes max(0, bn(x)) directly, the backward masks dy with y > 0 while it reads it. Each pair of kernels
 * shares one inline body with a compile-time relu flag, so the fused and plain versions cannot drift apart.
 */

#define BN_LOCAL 64

/*
 * Walks channel c's elements in a fixed order. With n >= L images each work-item takes whole images
 * lid, lid + L, ... and runs VBODY on 8 contiguous elements at idx (then SBODY on the tail), so the
 * sums use float8 partial sums instead of one long dependency chain; otherwise element t of this
 * work-item is flat index t*L + lid (SBODY only).
 */
#define BN_FOR_CHANNEL8(n, C, hw, c, VBODY, SBODY)                            \
    if ((n) >= get_local_size(0)) {                                           \
        for (int img = get_local_id(0); img < (n); img += get_local_size(0)) { \
            const size_t base = ((size_t)img * (C) + (c)) * (hw);             \
            int i = 0;                                                        \
            for (; i + 8 <= (hw); i += 8) {                                   \
                const size_t idx = base + i;                                  \
                VBODY                                                         \
            }                                                                 \
            for (; i < (hw); ++i) {                                           \
                const size_t idx = base + i;                                  \
                SBODY                                                         \
            }                                                                 \
        }                                                                     \
    } else {                                                                  \
        const int L = get_local_size(0), lid = get_local_id(0);               \
        const int stepImg = L / (hw), stepI = L % (hw);                       \
        int img = lid / (hw), i = lid % (hw);                                 \
        while (img < (n)) {                                                   \
            const size_t idx = ((size_t)img * (C) + (c)) * (hw) + i;          \
            SBODY                                                             \
            img += stepImg; i += stepI;                                       \
            if (i >= (hw)) { i -= (hw); img++; }                              \
        }                                                                     \
    }

/* The lanes of a float8 partial sum, added in a fixed order. */
inline float bnHsum(const float8 v)
{
    return ((v.s0 + v.s1) + (v.s2 + v.s3)) + ((v.s4 + v.s5) + (v.s6 + v.s7));
}

/* Tree sum of red[0..L) into red[0]; every work-item must call it. */
inline void bnReduce(__local float* red)
{
    const int L = get_local_size(0), lid = get_local_id(0);
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = L / 2; h > 0; h >>= 1) {
        if (lid < h) red[lid] += red[lid + h];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

/*
 * batchNormStatistics (training forward, part 1): one work-group per channel c.
 * mean = sum x / count; var = sum (x - mean)^2 / count (biased); invStd = 1/sqrt(var + eps);
 * saves mean and invStd; running = (1-momentum)*running + momentum*batch, with var*count/(count-1).
 */
__kernel void batchNormStatistics(const int n, const int C, const int hw, const float eps, const float momentum,
                                  __global const float* x, __global float* saveMean, __global float* saveInvStd,
                                  __global float* runningMean, __global float* runningVar)
{
    __local float red[BN_LOCAL];
    const int c = get_group_id(0), lid = get_local_id(0);
    const float count = (float)n * (float)hw;
    float s = 0.0f;
    float8 s8 = (float8)(0.0f);
    BN_FOR_CHANNEL8(n, C, hw, c, s8 += vload8(0, x + idx);, s += x[idx];)
    red[lid] = s + bnHsum(s8);
    bnReduce(red);
    const float mean = red[0] / count;
    barrier(CLK_LOCAL_MEM_FENCE);
    float q = 0.0f;
    float8 q8 = (float8)(0.0f);
    BN_FOR_CHANNEL8(n, C, hw, c, { const float8 d = vload8(0, x + idx) - mean; q8 = fma(d, d, q8); },
                    { const float d = x[idx] - mean; q = fma(d, d, q); })
    red[lid] = q + bnHsum(q8);
    bnReduce(red);
    if (lid == 0) {
        const float var = red[0] / count;
        saveMean[c] = mean;
        saveInvStd[c] = 1.0f / sqrt(var + eps);
        runningMean[c] = (1.0f - momentum) * runningMean[c] + momentum * mean;
        runningVar[c] = (1.0f - momentum) * runningVar[c] + momentum * var * count / (count - 1.0f);
    }
}

/* max(v, 0), 0 for NaN: the ReLU of reluForward, when relu is set (a compile-time constant at every call). */
inline float bnClamp(const float v, const bool relu)
{
    return relu ? (v > 0.0f ? v : 0.0f) : v;
}

/* One row (n, c) of hw elements: y = (x - m) * sc + sh, clamped at 0 when relu. */
inline void bnApplyRow(__global const float* x, __global float* y, const size_t base, const int hw, const float m,
                       const float sc, const float sh, const bool relu)
{
    for (int i = 0; i < hw; ++i) y[base + i] = bnClamp((x[base + i] - m) * sc + sh, relu);
}

/* batchNormApply (training forward, part 2): one work-item per row (n, c) of hw elements;
 * y = (x - mean[c]) * invStd[c] * gamma[c] + beta[c]. */
__kernel void batchNormApply(const int rows, const int C, const int hw, __global const float* x, __global const float* mean,
                             __global const float* invStd, __global const float* gamma, __global const float* beta,
                             __global float* y)
{
    const int row = get_global_id(0);
    if (row >= rows) return;
    const int c = row % C;
    bnApplyRow(x, y, (size_t)row * hw, hw, mean[c], invStd[c] * gamma[c], beta[c], false);
}

/* batchNormReluApply (fused training forward, part 2; part 1 is batchNormStatistics): as batchNormApply,
 * then y = max(0, y). */
__kernel void batchNormReluApply(const int rows, const int C, const int hw, __global const float* x, __global const float* mean,
                                 __global const float* invStd, __global const float* gamma, __global const float* beta,
                                 __global float* y)
{
    const int row = get_global_id(0);
    if (row >= rows) return;
    const int c = row % C;
    bnApplyRow(x, y, (size_t)row * hw, hw, mean[c], invStd[c] * gamma[c], beta[c], true);
}

/* batchNormForwardInference: one work-item per row (n, c);
 * y = (x - runningMean) / sqrt(runningVar + eps) * gamma + beta. */
__kernel void batchNormForwardInference(const int rows, const int C, const int hw, const float eps, __global const float* x,
                                        __global const float* gamma, __global const float* beta,
                                        __global const float* runningMean, __global const float* runningVar,
                                        __global float* y)
{
    const int row = get_global_id(0);
    if (row >= rows) return;
    const int c = row % C;
    bnApplyRow(x, y, (size_t)row * hw, hw, runningMean[c], gamma[c] / sqrt(runningVar[c] + eps), beta[c], false);
}

/* batchNormReluForwardInference: as batchNormForwardInference, then y = max(0, y). */
__kernel void batchNormReluForwardInference(const int rows, const int C, const int hw, const float eps, __global const float* x,
                                            __global const float* gamma, __global const float* beta,
                                            __global const float* runningMean, __global const float* runningVar,
                                            __global float* y)
{
    const int row = get_global_id(0);
    if (row >= rows) return;
    const int c = row % C;
    bnApplyRow(x, y, (size_t)row * hw, hw, runningMean[c], gamma[c] / sqrt(runningVar[c] + eps), beta[c], true);
}

/* dy masked by the ReLU's output when relu: dy where y > 0, else 0 (as reluBackward). */
inline float bnMask(const float d, __global const float* y, const size_t idx, const bool relu)
{
    return relu ? (y[idx] > 0.0f ? d : 0.0f) : d;
}

inline float8 bnMask8(const float8 d, __global const float* y, const size_t idx, const bool relu)
{
    return relu ? select((float8)(0.0f), d, isgreater(vload8(0, y + idx), (float8)(0.0f))) : d;
}

/*
 * Backward part 1 for channel c (one work-group; red, red2: BN_LOCAL floats of local memory):
 * dbeta = sum g, dgamma = sum g * xhat with xhat = (x - mean) * invStd, g = dy (masked by y > 0 when relu).
 */
inline void bnBackwardReduce(const int n, const int C, const int hw, __global const float* x, __global const float* y,
                             __global const float* dy, __global const float* mean, __global const float* invStd,
                             __global float* dgamma, __global float* dbeta, __local float* red, __local float* red2,
                             const bool relu)
{
    const int c = get_group_id(0), lid = get_local_id(0);
    const float m = mean[c], is = invStd[c];
    float sdy = 0.0f, sdx = 0.0f;
    float8 sdy8 = (float8)(0.0f), sdx8 = (float8)(0.0f);
    BN_FOR_CHANNEL8(n, C, hw, c,
                    { const float8 d = bnMask8(vload8(0, dy + idx), y, idx, relu); sdy8 += d; sdx8 = fma(d, (vload8(0, x + idx) - m) * is, sdx8); },
                    { const float d = bnMask(dy[idx], y, idx, relu); sdy += d; sdx = fma(d, (x[idx] - m) * is, sdx); })
    red[lid] = sdy + bnHsum(sdy8);
    red2[lid] = sdx + bnHsum(sdx8);
    barrier(CLK_LOCAL_MEM_FENCE);
    const int L = get_local_size(0);
    for (int h = L / 2; h > 0; h >>= 1) {
        if (lid < h) { red[lid] += red[lid + h]; red2[lid] += red2[lid + h]; }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) { dbeta[c] = red[0]; dgamma[c] = red2[0]; }
}

/*
 * batchNormBackwardReduce (backward, part 1): one work-group per channel;
 * dbeta = sum dy, dgamma = sum dy * xhat with xhat = (x - mean) * invStd.
 */
__kernel void batchNormBackwardReduce(const int n, const int C, const int hw, __global const float* x,
                                      __global const float* dy, __global const float* mean,
                                      __global const float* invStd, __global float* dgamma, __global float* dbeta)
{
    __local float red[BN_LOCAL];
    __local float red2[BN_LOCAL];
    bnBackwardReduce(n, C, hw, x, dy, dy, mean, invStd, dgamma, dbeta, red, red2, false);   /* y unused */
}

/* batchNormReluBackwardReduce (fused backward, part 1): as batchNormBackwardReduce with dy * [y > 0]. */
__kernel void batchNormReluBackwardReduce(const int n, const int C, const int hw, __global const float* x,
                                          __global const float* y, __global const float* dy, __global const float* mean,
                                          __global const float* invStd, __global float* dgamma, __global float* dbeta)
{
    __local float red[BN_LOCAL];
    __local float red2[BN_LOCAL];
    bnBackwardReduce(n, C, hw, x, y, dy, mean, invStd, dgamma, dbeta, red, red2, true);
}

/* Backward part 2 for one row (n, c): dx = gamma * invStd / count * (count * g - dbeta - xhat * dgamma), g as above. */
inline void bnBackwardRow(const int n, const int C, const int hw, const int row, __global const float* x,
                          __global const float* y, __global const float* dy, __global const float* gamma,
                          __global const float* mean, __global const float* invStd, __global const float* dgamma,
                          __global const float* dbeta, __global float* dx, const bool relu)
{
    const int c = row % C;
    const float count = (float)n * (float)hw;
    const float is = invStd[c], m = mean[c], k = gamma[c] * is / count, db = dbeta[c], dg = dgamma[c];
    const size_t base = (size_t)row * hw;
    for (int i = 0; i < hw; ++i) {
        const float xhat = (x[base + i] - m) * is;
        dx[base + i] = k * (count * bnMask(dy[base + i], y, base + i, relu) - db - xhat * dg);
    }
}

/*
 * batchNormBackward (part 2): one work-item per row (n, c);
 * dx = gamma * invStd / count * (count * dy - dbeta - xhat * dgamma).
 */
__kernel void batchNormBackward(const int n, const int C, const int hw, __global const float* x,
                                __global const float* dy, __global const float* gamma, __global const float* mean,
                                __global const float* invStd, __global const float* dgamma,
                                __global const float* dbeta, __global float* dx)
{
    const int row = get_global_id(0);
    if (row >= n * C) return;
    bnBackwardRow(n, C, hw, row, x, dy, dy, gamma, mean, invStd, dgamma, dbeta, dx, false);   /* y unused */
}

/* batchNormReluBackward (fused backward, part 2): as batchNormBackward with dy * [y > 0]. */
__kernel void batchNormReluBackward(const int n, const int C, const int hw, __global const float* x,
                                    __global const float* y, __global const float* dy, __global const float* gamma,
                                    __global const float* mean, __global const float* invStd, __global const float* dgamma,
                                    __global const float* dbeta, __global float* dx)
{
    const int row = get_global_id(0);
    if (row >= n * C) return;
    bnBackwardRow(n, C, hw, row, x, y, dy, gamma, mean, invStd, dgamma, dbeta, dx, true);
}
