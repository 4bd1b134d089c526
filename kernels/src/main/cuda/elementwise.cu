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

// sumSquares, pass 1: each block writes part[2*block] = sum of x^2 over finite elements (double),
// part[2*block+1] = count of non-finite ones. Pass 2 (one block) adds the partials in block order.
// Fixed grid and fixed trees: the result is bit-for-bit reproducible.
extern "C" __global__ void sumSquares(long long n, const float* __restrict__ x, double* __restrict__ part) {
    __shared__ double scratch[33];
    double s = 0.0, bad = 0.0;
    SH_FOR(i, n) {
        float v = x[i];
        if (isfinite(v)) s += (double)v * v; else bad += 1.0;
    }
    s = sh_block_sum(s, scratch);
    bad = sh_block_sum(bad, scratch);
    if (threadIdx.x == 0) { part[2 * blockIdx.x] = s; part[2 * blockIdx.x + 1] = bad; }
}

// out[2*slot] = sum of part[2i], out[2*slot+1] = sum of part[2i+1] over i < blocks (slot: which
// buffer of a sumSquaresMany call; 0 for one buffer)
extern "C" __global__ void sumSquaresFinish(int blocks, const double* __restrict__ part, float* __restrict__ out, int slot) {
    __shared__ double scratch[33];
    double s = 0.0, bad = 0.0;
    for (int i = threadIdx.x; i < blocks; i += blockDim.x) { s += part[2 * i]; bad += part[2 * i + 1]; }
    s = sh_block_sum(s, scratch);
    bad = sh_block_sum(bad, scratch);
    if (threadIdx.x == 0) { out[2 * slot] = (float)s; out[2 * slot + 1] = (float)bad; }
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
