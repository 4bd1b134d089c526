// layers.cu: pooling and batch normalization.
//
// Shapes: x [N, C, H, W] (NCHW). Batch-norm statistics are per channel over count = N*H*W values;
// they are reduced in two deterministic levels: grid (chunks, C) blocks each sum one chunk of one
// channel in double (fixed-order tree), then the last of those blocks to finish (sh_last_block) adds
// each channel's chunk partials in chunk order, one thread per channel. The same inputs give the same
// bits on every run.
//
// Batch norm fused with the ReLU that follows it (batchNormRelu*): the forward writes max(0, bn(x))
// in the same pass, the backward masks dy with y > 0 where it reads dy. Each plain/fused pair is one
// template instantiated twice (RELU false/true), so the two versions cannot drift apart; the
// forward statistics kernel (batchNormStats) is shared.
//
// Per-element index arithmetic (plane, row, channel of element i) divides with sh_fastdiv: the host
// passes each divisor's magic numbers (CudaBackend's FastDiv), so no thread pays an integer division,
// which in these memory-bound kernels (one thread per element) cost more issue slots than the loads.
#include "common.cuh"

// ------------------------------------------------------------------ max pooling (square window, no padding)

// y[plane, oh, ow] = max of the window; one thread per output
// dOHW, dOW: OH * OW and OW as sh_fastdiv
extern "C" __global__ void maxPool2dForward(const float* __restrict__ x, float* __restrict__ y, long long planes,
                                            int H, int W, int size, int stride, int OH, int OW,
                                            const sh_fastdiv dOHW, const sh_fastdiv dOW) {
    const long long total = planes * OH * OW;
    SH_FOR(i, total) {
        int pix;
        long long plane = sh_divmod(i, total, dOHW, &pix);
        int oh = dOW.div(pix), ow = dOW.mod(pix, oh);
        const float* xp = x + plane * H * W + (size_t)(oh * stride) * W + ow * stride;
        // the first maximum in row-major order, replaced only by a strictly greater value (the reference's
        // rule): a NaN first stays, a NaN later is skipped (fmaxf would skip both)
        float best = xp[0];
        for (int r = 0; r < size; r++)
            for (int s = 0; s < size; s++) {
                const float v = xp[r * W + s];
                best = v > best ? v : best;
            }
        y[i] = best;
    }
}

// dx[plane, h, w] = sum of dy over the windows whose first maximum (row-major) is (h, w).
// One thread per input element gathers from the windows that contain it (no atomics, and the
// windows are visited in (oh, ow) order like the reference).
// dHW, dW, dStride: H * W, W and stride as sh_fastdiv
extern "C" __global__ void maxPool2dBackward(const float* __restrict__ x, const float* __restrict__ dy,
                                             float* __restrict__ dx, long long planes, int H, int W, int size,
                                             int stride, int OH, int OW, const sh_fastdiv dHW, const sh_fastdiv dW,
                                             const sh_fastdiv dStride) {
    const long long total = planes * H * W;
    SH_FOR(i, total) {
        int hw;
        long long plane = sh_divmod(i, total, dHW, &hw);
        int h = dW.div(hw), w = dW.mod(hw, h);
        const float* xp = x + plane * H * W;
        const float* dyp = dy + plane * OH * OW;
        int ohLo = h - size + 1 <= 0 ? 0 : dStride.div(h - size + 1 + stride - 1);
        int ohHi = min(OH - 1, dStride.div(h));
        int owLo = w - size + 1 <= 0 ? 0 : dStride.div(w - size + 1 + stride - 1);
        int owHi = min(OW - 1, dStride.div(w));
        float acc = 0.f;
        for (int oh = ohLo; oh <= ohHi; oh++)
            for (int ow = owLo; ow <= owHi; ow++) {
                int h0 = oh * stride, w0 = ow * stride, best = h0 * W + w0;
                float bv = xp[best];
                for (int r = 0; r < size; r++)
                    for (int s = 0; s < size; s++) {
                        int o = (h0 + r) * W + w0 + s;
                        if (xp[o] > bv) { bv = xp[o]; best = o; }
                    }
                if (best == hw) acc += dyp[oh * OW + ow];
            }
        dx[i] = acc;
    }
}

// y[row] = mean of x[row, 0..hw); one warp per row (row = n*C + c)
extern "C" __global__ void globalAvgPoolForward(const float* __restrict__ x, float* __restrict__ y, int rows, int hw) {
    int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (row >= rows) return;
    double s = 0.0;
    for (int j = lane; j < hw; j += 32) s += x[(size_t)row * hw + j];
    s = sh_warp_sum(s);
    if (lane == 0) y[row] = (float)(s / hw);
}

// dHW: hw as sh_fastdiv
extern "C" __global__ void globalAvgPoolBackward(const float* __restrict__ dy, float* __restrict__ dx, long long rows, int hw,
                                                 const sh_fastdiv dHW) {
    const long long total = rows * hw;
    SH_FOR(i, total) {
        int j;
        dx[i] = dy[sh_divmod(i, total, dHW, &j)] / (float)hw;
    }
}

// ------------------------------------------------------------------ batch norm 2d

// Channel c's totals of its chunk partials part[(c*chunks + z)*2 + {0, 1}], added in chunk order. Read
// through L2 (__ldcg): the other blocks of the same launch wrote them (the caller is sh_last_block's).
__device__ __forceinline__ void bnChunkTotals(const double* part, int c, int chunks, double* s, double* q) {
    double ts = 0.0, tq = 0.0;
    for (int z = 0; z < chunks; z++) {
        ts += __ldcg(part + ((size_t)c * chunks + z) * 2);
        tq += __ldcg(part + ((size_t)c * chunks + z) * 2 + 1);
    }
    *s = ts;
    *q = tq;
}

// One channel's forward statistics from its chunk partials: mean, biased variance, invStd; running stats
// updated PyTorch's way (unbiased variance count/(count-1) for runningVar).
__device__ __forceinline__ void bnFinishChannel(const double* part, int c, int chunks, long long count, float eps,
                                                float momentum, float* __restrict__ saveMean,
                                                float* __restrict__ saveInvStd, float* __restrict__ runningMean,
                                                float* __restrict__ runningVar) {
    double s, q;
    bnChunkTotals(part, c, chunks, &s, &q);
    double mean = s / count, var = fmax(q / count - mean * mean, 0.0);
    double invStd = 1.0 / sqrt(var + (double)eps);
    saveMean[c] = (float)mean;
    saveInvStd[c] = (float)invStd;
    double mom = momentum;
    runningMean[c] = (float)((1 - mom) * runningMean[c] + mom * mean);
    runningVar[c] = (float)((1 - mom) * runningVar[c] + mom * var * (double)count / (double)(count - 1));
}

// grid (chunks, C): part[(c*chunks + z)*2 + {0,1}] = sum of x, sum of x^2 over chunk z of channel c;
// dHW: hw. The last block to finish (done: a counter, 0 before and after) then computes every channel's
// statistics (bnFinishChannel), where a second launch of one thread per channel used to.
extern "C" __global__ void batchNormStats(const float* __restrict__ x, double* __restrict__ part, int N, int C, int hw,
                                          long long perChunk, const sh_fastdiv dHW, float eps, float momentum,
                                          float* __restrict__ saveMean, float* __restrict__ saveInvStd,
                                          float* __restrict__ runningMean, float* __restrict__ runningVar,
                                          unsigned* __restrict__ done) {
    __shared__ double scratch[33];
    int c = blockIdx.y, z = blockIdx.x, chunks = gridDim.x;
    long long count = (long long)N * hw, beg = z * perChunk, end = min(count, beg + perChunk);
    double s = 0.0, q = 0.0;
    for (long long e = beg + threadIdx.x; e < end; e += blockDim.x) {
        int j;
        long long img = sh_divmod(e, count, dHW, &j);
        double v = x[((size_t)img * C + c) * hw + j];
        s += v; q += v * v;
    }
    s = sh_block_sum(s, scratch);
    q = sh_block_sum(q, scratch);
    if (threadIdx.x == 0) { part[((size_t)c * chunks + z) * 2] = s; part[((size_t)c * chunks + z) * 2 + 1] = q; }
    if (!sh_last_block(done)) return;
    for (int ch = threadIdx.x; ch < C; ch += blockDim.x)
        bnFinishChannel(part, ch, chunks, count, eps, momentum, saveMean, saveInvStd, runningMean, runningVar);
    if (threadIdx.x == 0) *done = 0u;
}

// v, or max(v, 0) (0 for NaN, like reluForward) when RELU
template <bool RELU>
__device__ __forceinline__ float bnClamp(float v) { return RELU ? (v > 0.f ? v : 0.f) : v; }

// dy, or dy * [y > 0] (the ReLU's backward, mask from its output y) when RELU; y is not read otherwise
template <bool RELU>
__device__ __forceinline__ float bnMask(const float* __restrict__ dy, const float* __restrict__ y, size_t i) {
    return RELU ? (y[i] > 0.f ? dy[i] : 0.f) : dy[i];
}

// y = (x - mean) * invStd * gamma + beta (then max(0, .) when RELU)
// The channel of element i of an [N, C, hw] tensor of n elements (dHW = hw, dC = C).
__device__ __forceinline__ int bnChannel(long long i, long long n, const sh_fastdiv& dHW, const sh_fastdiv& dC) {
    int j, c;
    long long plane = sh_divmod(i, n, dHW, &j);
    sh_divmod(plane, n, dC, &c);
    return c;
}

template <bool RELU>
__device__ __forceinline__ void bnApply(const float* __restrict__ x, float* __restrict__ y, long long n, int C, int hw,
                                        const float* __restrict__ mean, const float* __restrict__ invStd,
                                        const float* __restrict__ gamma, const float* __restrict__ beta,
                                        const sh_fastdiv& dHW, const sh_fastdiv& dC) {
    SH_FOR(i, n) {
        int c = bnChannel(i, n, dHW, dC);
        y[i] = bnClamp<RELU>((x[i] - mean[c]) * (invStd[c] * gamma[c]) + beta[c]);
    }
}

// y = (x - mean) * invStd * gamma + beta
extern "C" __global__ void batchNormApply(const float* __restrict__ x, float* __restrict__ y, long long n, int C, int hw,
                                          const float* __restrict__ mean, const float* __restrict__ invStd,
                                          const float* __restrict__ gamma, const float* __restrict__ beta,
                                          const sh_fastdiv dHW, const sh_fastdiv dC) {
    bnApply<false>(x, y, n, C, hw, mean, invStd, gamma, beta, dHW, dC);
}

// fused training forward, after batchNormStats: y = max(0, (x - mean) * invStd * gamma + beta)
extern "C" __global__ void batchNormReluApply(const float* __restrict__ x, float* __restrict__ y, long long n, int C, int hw,
                                              const float* __restrict__ mean, const float* __restrict__ invStd,
                                              const float* __restrict__ gamma, const float* __restrict__ beta,
                                              const sh_fastdiv dHW, const sh_fastdiv dC) {
    bnApply<true>(x, y, n, C, hw, mean, invStd, gamma, beta, dHW, dC);
}

// eval mode: y = (x - runningMean) / sqrt(runningVar + eps) * gamma + beta (then max(0, .) when RELU)
template <bool RELU>
__device__ __forceinline__ void bnInference(const float* __restrict__ x, float* __restrict__ y, long long n, int C, int hw,
                                            float eps, const float* __restrict__ gamma, const float* __restrict__ beta,
                                            const float* __restrict__ rm, const float* __restrict__ rv,
                                            const sh_fastdiv& dHW, const sh_fastdiv& dC) {
    SH_FOR(i, n) {
        int c = bnChannel(i, n, dHW, dC);
        float sc = gamma[c] / sqrtf(rv[c] + eps);
        y[i] = bnClamp<RELU>((x[i] - rm[c]) * sc + beta[c]);
    }
}

extern "C" __global__ void batchNormForwardInference(const float* __restrict__ x, float* __restrict__ y, long long n, int C,
                                                     int hw, float eps, const float* __restrict__ gamma,
                                                     const float* __restrict__ beta, const float* __restrict__ rm,
                                                     const float* __restrict__ rv, const sh_fastdiv dHW, const sh_fastdiv dC) {
    bnInference<false>(x, y, n, C, hw, eps, gamma, beta, rm, rv, dHW, dC);
}

extern "C" __global__ void batchNormReluForwardInference(const float* __restrict__ x, float* __restrict__ y, long long n,
                                                         int C, int hw, float eps, const float* __restrict__ gamma,
                                                         const float* __restrict__ beta, const float* __restrict__ rm,
                                                         const float* __restrict__ rv, const sh_fastdiv dHW,
                                                         const sh_fastdiv dC) {
    bnInference<true>(x, y, n, C, hw, eps, gamma, beta, rm, rv, dHW, dC);
}

// backward pass 1, grid (chunks, C): partial sums of g and g * xhat, g = dy (masked by y > 0 when RELU);
// then pass 2 in the last block to finish (done: a counter, 0 before and after): per channel, the chunk
// partials added in chunk order: dbeta = sum g, dgamma = sum g * xhat, also kept in double in sums for
// pass 3.
template <bool RELU>
__device__ __forceinline__ void bnBackwardStats(const float* __restrict__ x, const float* __restrict__ y,
                                                const float* __restrict__ dy, const float* __restrict__ mean,
                                                const float* __restrict__ invStd, double* __restrict__ part, int N, int C,
                                                int hw, long long perChunk, const sh_fastdiv& dHW,
                                                float* __restrict__ dgamma, float* __restrict__ dbeta,
                                                double* __restrict__ sums, unsigned* __restrict__ done) {
    __shared__ double scratch[33];
    int c = blockIdx.y, z = blockIdx.x, chunks = gridDim.x;
    long long count = (long long)N * hw, beg = z * perChunk, end = min(count, beg + perChunk);
    double mu = mean[c], is = invStd[c], s = 0.0, q = 0.0;
    for (long long e = beg + threadIdx.x; e < end; e += blockDim.x) {
        int j;
        long long img = sh_divmod(e, count, dHW, &j);
        size_t idx = ((size_t)img * C + c) * hw + j;
        double g = bnMask<RELU>(dy, y, idx);
        s += g;
        q += g * (x[idx] - mu) * is;
    }
    s = sh_block_sum(s, scratch);
    q = sh_block_sum(q, scratch);
    if (threadIdx.x == 0) { part[((size_t)c * chunks + z) * 2] = s; part[((size_t)c * chunks + z) * 2 + 1] = q; }
    if (!sh_last_block(done)) return;
    for (int ch = threadIdx.x; ch < C; ch += blockDim.x) {
        double ts, tq;
        bnChunkTotals(part, ch, chunks, &ts, &tq);
        dbeta[ch] = (float)ts;
        dgamma[ch] = (float)tq;
        sums[2 * ch] = ts;
        sums[2 * ch + 1] = tq;
    }
    if (threadIdx.x == 0) *done = 0u;
}

extern "C" __global__ void batchNormBackwardStats(const float* __restrict__ x, const float* __restrict__ dy,
                                                  const float* __restrict__ mean, const float* __restrict__ invStd,
                                                  double* __restrict__ part, int N, int C, int hw, long long perChunk,
                                                  const sh_fastdiv dHW, float* __restrict__ dgamma,
                                                  float* __restrict__ dbeta, double* __restrict__ sums,
                                                  unsigned* __restrict__ done) {
    bnBackwardStats<false>(x, nullptr, dy, mean, invStd, part, N, C, hw, perChunk, dHW, dgamma, dbeta, sums, done);
}

// fused backward pass 1 (and 2): as batchNormBackwardStats with dy * [y > 0]
extern "C" __global__ void batchNormReluBackwardStats(const float* __restrict__ x, const float* __restrict__ y,
                                                      const float* __restrict__ dy, const float* __restrict__ mean,
                                                      const float* __restrict__ invStd, double* __restrict__ part, int N,
                                                      int C, int hw, long long perChunk, const sh_fastdiv dHW,
                                                      float* __restrict__ dgamma, float* __restrict__ dbeta,
                                                      double* __restrict__ sums, unsigned* __restrict__ done) {
    bnBackwardStats<true>(x, y, dy, mean, invStd, part, N, C, hw, perChunk, dHW, dgamma, dbeta, sums, done);
}

// backward pass 3: dx = gamma * invStd / count * (count * g - dbeta - xhat * dgamma), g = dy (masked when RELU)
template <bool RELU>
__device__ __forceinline__ void bnBackwardApply(const float* __restrict__ x, const float* __restrict__ y,
                                                const float* __restrict__ dy, float* __restrict__ dx, long long n, int C,
                                                int hw, long long count, const float* __restrict__ gamma,
                                                const float* __restrict__ mean, const float* __restrict__ invStd,
                                                const double* __restrict__ sums, const sh_fastdiv& dHW,
                                                const sh_fastdiv& dC) {
    SH_FOR(i, n) {
        int c = bnChannel(i, n, dHW, dC);
        float is = invStd[c];
        float xhat = (x[i] - mean[c]) * is;
        double k = (double)gamma[c] * is / (double)count;
        dx[i] = (float)(k * ((double)count * bnMask<RELU>(dy, y, i) - sums[2 * c] - (double)xhat * sums[2 * c + 1]));
    }
}

extern "C" __global__ void batchNormBackwardApply(const float* __restrict__ x, const float* __restrict__ dy,
                                                  float* __restrict__ dx, long long n, int C, int hw, long long count,
                                                  const float* __restrict__ gamma, const float* __restrict__ mean,
                                                  const float* __restrict__ invStd, const double* __restrict__ sums,
                                                  const sh_fastdiv dHW, const sh_fastdiv dC) {
    bnBackwardApply<false>(x, nullptr, dy, dx, n, C, hw, count, gamma, mean, invStd, sums, dHW, dC);
}

// fused backward pass 3 (pass 2 is the last block of batchNormReluBackwardStats): as batchNormBackwardApply with dy * [y > 0]
extern "C" __global__ void batchNormReluBackwardApply(const float* __restrict__ x, const float* __restrict__ y,
                                                      const float* __restrict__ dy, float* __restrict__ dx, long long n,
                                                      int C, int hw, long long count, const float* __restrict__ gamma,
                                                      const float* __restrict__ mean, const float* __restrict__ invStd,
                                                      const double* __restrict__ sums, const sh_fastdiv dHW,
                                                      const sh_fastdiv dC) {
    bnBackwardApply<true>(x, y, dy, dx, n, C, hw, count, gamma, mean, invStd, sums, dHW, dC);
}
