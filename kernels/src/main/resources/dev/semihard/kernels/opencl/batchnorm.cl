/*
 * batchnorm.cl -- 2-D batch normalization over (N, HW) per channel. x, y, dy, dx: [N, C, HW]; per-channel
 * vectors gamma, beta, mean, invStd, running stats: [C].
 *
 * Version 1: the per-channel reductions use one work-group of BN_LOCAL = 64 work-items per channel
 * (each work-item walks the channel's N*HW elements in a fixed order, then a fixed reduction tree),
 * two passes (mean, then sum of squared deviations) for accuracy; the elementwise parts use one work-item
 * per element on an NDRange (HW, N*C) so no division is needed per element. Deterministic.
 */

#define BN_LOCAL 64

/* Walks channel c's elements: element t of this work-item is (img, i) with flat index t*L + lid. */
#define BN_FOR_CHANNEL(n, C, hw, c, body)                                     \
    {                                                                         \
        const int L = get_local_size(0), lid = get_local_id(0);               \
        const int stepImg = L / (hw), stepI = L % (hw);                       \
        int img = lid / (hw), i = lid % (hw);                                 \
        while (img < (n)) {                                                   \
            const size_t idx = ((size_t)img * (C) + (c)) * (hw) + i;          \
            body                                                              \
            img += stepImg; i += stepI;                                       \
            if (i >= (hw)) { i -= (hw); img++; }                              \
        }                                                                     \
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
    BN_FOR_CHANNEL(n, C, hw, c, s += x[idx];)
    red[lid] = s;
    bnReduce(red);
    const float mean = red[0] / count;
    barrier(CLK_LOCAL_MEM_FENCE);
    float q = 0.0f;
    BN_FOR_CHANNEL(n, C, hw, c, { const float d = x[idx] - mean; q = fma(d, d, q); })
    red[lid] = q;
    bnReduce(red);
    if (lid == 0) {
        const float var = red[0] / count;
        saveMean[c] = mean;
        saveInvStd[c] = 1.0f / sqrt(var + eps);
        runningMean[c] = (1.0f - momentum) * runningMean[c] + momentum * mean;
        runningVar[c] = (1.0f - momentum) * runningVar[c] + momentum * var * count / (count - 1.0f);
    }
}

/* batchNormApply (training forward, part 2): NDRange (hw, N*C); y = (x - mean[c]) * invStd[c] * gamma[c] + beta[c]. */
__kernel void batchNormApply(const int C, const int hw, __global const float* x, __global const float* mean,
                             __global const float* invStd, __global const float* gamma, __global const float* beta,
                             __global float* y)
{
    const int i = get_global_id(0), row = get_global_id(1);
    if (i >= hw) return;
    const int c = row % C;
    const size_t idx = (size_t)row * hw + i;
    y[idx] = (x[idx] - mean[c]) * (invStd[c] * gamma[c]) + beta[c];
}

/* batchNormForwardInference: NDRange (hw, N*C); y = (x - runningMean) / sqrt(runningVar + eps) * gamma + beta. */
__kernel void batchNormForwardInference(const int C, const int hw, const float eps, __global const float* x,
                                        __global const float* gamma, __global const float* beta,
                                        __global const float* runningMean, __global const float* runningVar,
                                        __global float* y)
{
    const int i = get_global_id(0), row = get_global_id(1);
    if (i >= hw) return;
    const int c = row % C;
    const size_t idx = (size_t)row * hw + i;
    y[idx] = (x[idx] - runningMean[c]) * (gamma[c] / sqrt(runningVar[c] + eps)) + beta[c];
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
    const int c = get_group_id(0), lid = get_local_id(0);
    const float m = mean[c], is = invStd[c];
    float sdy = 0.0f, sdx = 0.0f;
    BN_FOR_CHANNEL(n, C, hw, c, { const float d = dy[idx]; sdy += d; sdx = fma(d, (x[idx] - m) * is, sdx); })
    red[lid] = sdy;
    red2[lid] = sdx;
    barrier(CLK_LOCAL_MEM_FENCE);
    const int L = get_local_size(0);
    for (int h = L / 2; h > 0; h >>= 1) {
        if (lid < h) { red[lid] += red[lid + h]; red2[lid] += red2[lid + h]; }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) { dbeta[c] = red[0]; dgamma[c] = red2[0]; }
}

/*
 * batchNormBackward (part 2): NDRange (hw, N*C);
 * dx = gamma * invStd / count * (count * dy - dbeta - xhat * dgamma).
 */
__kernel void batchNormBackward(const int n, const int C, const int hw, __global const float* x,
                                __global const float* dy, __global const float* gamma, __global const float* mean,
                                __global const float* invStd, __global const float* dgamma,
                                __global const float* dbeta, __global float* dx)
{
    const int i = get_global_id(0), row = get_global_id(1);
    if (i >= hw) return;
    const int c = row % C;
    const float count = (float)n * (float)hw;
    const size_t idx = (size_t)row * hw + i;
    const float is = invStd[c];
    const float xhat = (x[idx] - mean[c]) * is;
    dx[idx] = gamma[c] * is / count * (count * dy[idx] - dbeta[c] - xhat * dgamma[c]);
}
