// elementwise.cu: memory-bound kernels, one thread per element (grid-stride loops), and the fused
// optimizer updates (one pass over param, grad and state instead of several elementwise calls).
// Every n is a 64-bit element count; buffers are float32.
#include "common.cuh"

extern "C" __global__ void fill(float* __restrict__ x, long long n, float v) {
    SH_FOR(i, n) x[i] = v;
}

// y[i] += alpha * x[i]
extern "C" __global__ void axpy(long long n, float alpha, const float* __restrict__ x, float* __restrict__ y) {
    SH_FOR(i, n) y[i] = fmaf(alpha, x[i], y[i]);
}

// x[i] *= alpha
extern "C" __global__ void scale(long long n, float alpha, float* __restrict__ x) {
    SH_FOR(i, n) x[i] *= alpha;
}

// y[i] = a[i] + b[i] (y may alias a or b: no __restrict__)
extern "C" __global__ void add(long long n, const float* a, const float* b, float* y) {
    SH_FOR(i, n) y[i] = a[i] + b[i];
}

extern "C" __global__ void reluForward(long long n, const float* x, float* y) {
    SH_FOR(i, n) y[i] = fmaxf(x[i], 0.f);
}

// dx = y > 0 ? dy : 0 (dx may alias dy)
extern "C" __global__ void reluBackward(long long n, const float* y, const float* dy, float* dx) {
    SH_FOR(i, n) dx[i] = y[i] > 0.f ? dy[i] : 0.f;
}

// sumSquares of several buffers in one launch (a training step checks every gradient with it: face-resnet10
// has 38; this was a partial-sum launch and a finish launch per buffer, 76 in all).
// table: [count][2] = (address, length) of buffer i. Grid (blocks, count): block (z, i) takes elements
// z*256 + t, z*256 + t + blocks*256, ... of buffer i and writes part[(i*blocks + z)*2 + {0, 1}] = its sum of
// x^2 over finite elements (double) and its count of non-finite ones (NaN, +-Inf). The last block to finish
// (done: 0 before and after) gives each buffer to a warp: lane l adds partials z = l, l + 32, ... in order,
// then a fixed butterfly, into out[2i] and out[2i + 1]. Fixed grid and order: the same bits every run.
extern "C" __global__ void sumSquaresMany(const long long* __restrict__ table, int count, double* __restrict__ part,
                                          float* __restrict__ out, unsigned* __restrict__ done) {
    __shared__ double scratch[33];
    const int i = blockIdx.y, z = blockIdx.x, blocks = gridDim.x;
    const float* x = reinterpret_cast<const float*>(table[2 * i]);
    const long long n = table[2 * i + 1];
    double s = 0.0, bad = 0.0;
    for (long long e = (long long)z * blockDim.x + threadIdx.x; e < n; e += (long long)blocks * blockDim.x) {
        float v = x[e];
        if (isfinite(v)) s += (double)v * v; else bad += 1.0;
    }
    s = sh_block_sum(s, scratch);
    bad = sh_block_sum(bad, scratch);
    if (threadIdx.x == 0) { part[((size_t)i * blocks + z) * 2] = s; part[((size_t)i * blocks + z) * 2 + 1] = bad; }
    if (!sh_last_block(done)) return;
    const int lane = threadIdx.x & 31;
    for (int b = threadIdx.x >> 5; b < count; b += blockDim.x >> 5) {
        double ts = 0.0, tb = 0.0;
        for (int k = lane; k < blocks; k += 32) {
            ts += __ldcg(part + ((size_t)b * blocks + k) * 2);
            tb += __ldcg(part + ((size_t)b * blocks + k) * 2 + 1);
        }
        ts = sh_warp_sum(ts);
        tb = sh_warp_sum(tb);
        if (lane == 0) { out[2 * b] = (float)ts; out[2 * b + 1] = (float)tb; }
    }
    if (threadIdx.x == 0) *done = 0u;
}

// SGD with momentum (PyTorch, dampening 0):
// g = grad + wd*param; v = mom*v + g; step = nesterov ? g + mom*v : v; param -= lr*step
extern "C" __global__ void sgdUpdate(long long n, float lr, float mom, int nesterov, float wd,
                                     float* __restrict__ w, const float* __restrict__ grad, float* __restrict__ v) {
    SH_FOR(i, n) {
        float g = fmaf(wd, w[i], grad[i]);
        float vi = fmaf(mom, v[i], g);
        v[i] = vi;
        float step = nesterov ? fmaf(mom, vi, g) : vi;
        w[i] -= lr * step;
    }
}

// Adam / AdamW in one pass (PyTorch semantics). c1 = 1 - beta1^step, c2 = 1 - beta2^step (host).
extern "C" __global__ void adamUpdate(long long n, float lr, float b1, float b2, float eps, float wd, int decoupled,
                                      float c1, float c2, float* __restrict__ w, const float* __restrict__ grad,
                                      float* __restrict__ m, float* __restrict__ v) {
    SH_FOR(i, n) {
        float wi = w[i], g = grad[i];
        if (decoupled) wi -= lr * wd * wi; else g = fmaf(wd, wi, g);
        float mi = fmaf(b1, m[i], (1.f - b1) * g);
        float vi = fmaf(b2, v[i], (1.f - b2) * g * g);
        m[i] = mi;
        v[i] = vi;
        float mhat = mi / c1, vhat = vi / c2;
        w[i] = wi - lr * mhat / (sqrtf(vhat) + eps);
    }
}

// Adagrad (PyTorch, no lr decay): g = grad + wd*param; acc += g^2; param -= lr * g / (sqrt(acc) + eps)
extern "C" __global__ void adagradUpdate(long long n, float lr, float eps, float wd, float* __restrict__ w,
                                         const float* __restrict__ grad, float* __restrict__ acc) {
    SH_FOR(i, n) {
        float g = fmaf(wd, w[i], grad[i]);
        float a = fmaf(g, g, acc[i]);
        acc[i] = a;
        w[i] -= lr * g / (sqrtf(a) + eps);
    }
}
