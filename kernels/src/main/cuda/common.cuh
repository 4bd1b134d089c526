// common.cuh: small helpers shared by every Semihard CUDA kernel file.
//
// Conventions (same as dev.semihard.engine.backend.Backend): float32 everywhere, NCHW images,
// row-major matrices, sizes in elements. Every kernel is an extern "C" entry point named after
// the Backend method it implements (a suffix such as _tf32 marks a variant). Reductions that
// produce results are deterministic: fixed thread-to-element assignment and fixed-order trees,
// never floating-point atomics.
#pragma once
#include <stdint.h>

#define SH_THREADS 256

// grid-stride loop over [0, n) with 64-bit indices
#define SH_FOR(i, n) for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (long long)(n); \
                          i += (long long)gridDim.x * blockDim.x)

__device__ __forceinline__ double sh_warp_sum(double v) {
    #pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float sh_warp_sumf(float v) {
    #pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    return v;
}

// Deterministic block sum (blockDim.x a multiple of 32, <= 1024). Result valid in every thread.
// `scratch` must hold 33 doubles. Contains __syncthreads: call from every thread of the block.
__device__ __forceinline__ double sh_block_sum(double v, double* scratch) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = sh_warp_sum(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    if (warp == 0) {
        double t = lane < warps ? scratch[lane] : 0.0;
        t = sh_warp_sum(t);
        if (lane == 0) scratch[32] = t;
    }
    __syncthreads();
    return scratch[32];
}

// Whether this block is the last of its grid to get here: each block publishes what it wrote before the
// call (every thread fences its own writes), then counts itself on *done (0 before the launch). The last
// one sees every block's writes, read with __ldcg (L2: another SM's writes may be stale in this SM's L1);
// it must set *done back to 0 when it is finished with it. Call from every thread; one counter per stream
// at a time (launches on one stream do not overlap).
__device__ __forceinline__ bool sh_last_block(unsigned* done) {
    __shared__ bool s_last;
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) s_last = atomicAdd(done, 1u) == gridDim.x * gridDim.y * gridDim.z - 1;
    __syncthreads();
    if (s_last) __threadfence();
    return s_last;
}

// N block sums at once (v[f] in, the block's total of each v[f] out, valid in every thread): the same
// fixed-order trees as sh_block_sum, so the same bits, with 3 barriers instead of 3 per value.
// `scratch` must hold 33 * N doubles. Call from every thread of the block.
template <int N>
__device__ __forceinline__ void sh_block_sum_n(double* v, double* scratch) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    #pragma unroll
    for (int f = 0; f < N; f++) v[f] = sh_warp_sum(v[f]);
    __syncthreads();
    if (lane == 0) {
        #pragma unroll
        for (int f = 0; f < N; f++) scratch[f * 32 + warp] = v[f];
    }
    __syncthreads();
    if (warp == 0) {
        #pragma unroll
        for (int f = 0; f < N; f++) {
            double t = lane < warps ? scratch[f * 32 + lane] : 0.0;
            t = sh_warp_sum(t);
            if (lane == 0) scratch[32 * N + f] = t;
        }
    }
    __syncthreads();
    #pragma unroll
    for (int f = 0; f < N; f++) v[f] = scratch[32 * N + f];
}

// Order-preserving map of a float to uint32 (negative values included): a < b  <=>  key(a) < key(b).
__device__ __forceinline__ uint32_t sh_fkey(float f) {
    uint32_t u = __float_as_uint(f);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
__device__ __forceinline__ float sh_funkey(uint32_t k) {
    uint32_t u = (k & 0x80000000u) ? (k & 0x7fffffffu) : ~k;
    return __uint_as_float(u);
}

// Division by a divisor fixed for a whole kernel (image sizes, filter sizes), without the ~20-instruction
// integer division: q = (umulhi(m, n) + n) >> l with l = ceil(log2 d), m = floor(2^32 (2^l - d) / d) + 1
// (Granlund & Montgomery 1994, fig. 4.1; exact for every n < 2^31, where umulhi(m, n) + n cannot
// overflow). init costs one 64-bit division; call it once per thread, then div/mod are 3-5 instructions.
struct sh_fastdiv {
    unsigned d, m, l;
    __device__ __forceinline__ void init(unsigned divisor) {
        d = divisor;
        l = 0;
        while (l < 31 && (1u << l) < d) l++;
        m = (unsigned)(((1ull << 32) * ((1ull << l) - d)) / d) + 1u;
    }
    __device__ __forceinline__ int div(int n) const { return (int)((__umulhi(m, (unsigned)n) + (unsigned)n) >> l); }
    __device__ __forceinline__ int mod(int n, int q) const { return n - q * (int)d; }   // q = div(n)
};

// q = i / d.d and *r = i % d.d for an index i >= 0 of a range of `total` elements: sh_fastdiv when the
// range fits in 31 bits (the usual case; one branch, uniform over the grid), 64-bit division beyond.
__device__ __forceinline__ long long sh_divmod(long long i, long long total, const sh_fastdiv& d, int* r) {
    if (total < (1LL << 31)) {
        int q = d.div((int)i);
        *r = d.mod((int)i, q);
        return q;
    }
    long long q = i / d.d;
    *r = (int)(i - q * d.d);
    return q;
}

// grid size for a grid-stride elementwise kernel
static inline unsigned sh_grid(long long n) {
    long long g = (n + SH_THREADS - 1) / SH_THREADS;
    if (g < 1) g = 1;
    if (g > 65535LL * 8) g = 65535LL * 8;
    return (unsigned)g;
}
