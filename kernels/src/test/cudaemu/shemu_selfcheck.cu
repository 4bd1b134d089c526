// shemu_selfcheck.cu: kernels that test the emulator itself (ShemuSelfCheckTest), compiled only
// into the emulator. Each says what a correct emulator must do with it.

// out[lane of warp w] for a 64-thread block: the warp operations of CUDA's definitions.
// out[0*64 + t]: __shfl_sync(v, 5)            = 5 + 32 * warp
// out[1*64 + t]: __shfl_xor_sync(v, 1)        = t ^ 1
// out[2*64 + t]: __shfl_down_sync(v, 3, 16)   = t + 3 when (t % 16) + 3 < 16, else t
// out[3*64 + t]: __shfl_up_sync(v, 2)         = t - 2 when t % 32 >= 2, else t
// out[4*64 + t]: __ballot_sync(lane odd)      = 0xaaaaaaaa
// out[5*64 + t]: __any_sync(t == 40), __all_sync(t < 64) as any + 2 * all: 3 in warp 1, 2 in warp 0
extern "C" __global__ void shemuWarpOps(int* out) {
    int t = threadIdx.x, lane = t & 31;
    out[0 * 64 + t] = __shfl_sync(0xffffffffu, t, 5);
    out[1 * 64 + t] = __shfl_xor_sync(0xffffffffu, t, 1);
    out[2 * 64 + t] = __shfl_down_sync(0xffffffffu, t, 3, 16);
    out[3 * 64 + t] = __shfl_up_sync(0xffffffffu, t, 2);
    out[4 * 64 + t] = (int)__ballot_sync(0xffffffffu, lane & 1);
    out[5 * 64 + t] = __any_sync(0xffffffffu, t == 40) + 2 * __all_sync(0xffffffffu, t < 64);
}

// A block sum of 1..256 through shared memory WITHOUT the barrier between the writes and the read:
// on a GPU the result depends on timing; the emulator runs the threads in a shuffled order, so
// out[0] must come out different from 32896 (the sum a correct kernel gets).
extern "C" __global__ void shemuMissingBarrier(int* out) {
    __shared__ int s[256];
    s[threadIdx.x] = threadIdx.x + 1;
    if (threadIdx.x == 0) {
        int sum = 0;
        for (int i = 0; i < 256; i++) sum += s[i];
        out[0] = sum;
    }
    __syncthreads();
    s[threadIdx.x] = 0;     // the next phase clears the array, so a late reader sees zeros
}

// The same with the barrier: out[0] must be 32896.
extern "C" __global__ void shemuWithBarrier(int* out) {
    __shared__ int s[256];
    s[threadIdx.x] = threadIdx.x + 1;
    __syncthreads();
    if (threadIdx.x == 0) {
        int sum = 0;
        for (int i = 0; i < 256; i++) sum += s[i];
        out[0] = sum;
    }
    __syncthreads();
    s[threadIdx.x] = 0;
}

// Writes one element past the end of an n-element buffer: the launch must fail (illegal address).
extern "C" __global__ void shemuOverrun(float* out, int n) {
    if (threadIdx.x == 0) out[n] = 1.f;
}

// Only half the block reaches __syncthreads while the other half waits at a warp operation of a
// warp that includes barrier-waiting lanes: the launch must fail (divergent barrier), not hang.
extern "C" __global__ void shemuDivergentBarrier(int* out) {
    if (threadIdx.x < 16) __syncthreads();
    else out[threadIdx.x] = __shfl_sync(0xffffffffu, (int)threadIdx.x, 0);
}

// Does nothing with 16 parameters of the kinds Semihard's kernels take: for measuring the host's cost
// of a launch through JCuda (the same JNI path as on a GPU), and for checking that every parameter
// arrives: out[0] = the sum of the scalars when out is not null.
extern "C" __global__ void shemuParams16(float* out, const float* p1, const float* p2, const double* p3, int i4, int i5,
                                         int i6, int i7, long long l8, float f9, float f10, const float* p11,
                                         const float* p12, int i13, int i14, int i15) {
    if (out && threadIdx.x == 0)
        out[0] = (float)(i4 + i5 + i6 + i7 + l8 + i13 + i14 + i15) + f9 + f10 + (p1 ? 1000.f : 0.f) + (p3 ? 2000.f : 0.f);
}

// sh_fastdiv (common.cuh) against the / operator: thread t checks divisor d = divisors[t] on n = 0..4999,
// on n around multiples of d up to 2^31 - 1, and on the largest n; out[t] = the number of wrong
// quotients (must be 0), out[n + t] = how many it checked.
#include "common.cuh"
extern "C" __global__ void shemuFastDiv(const int* divisors, int count, int* out) {
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= count) return;
    unsigned d = (unsigned)divisors[t];
    sh_fastdiv f;
    f.init(d);
    int bad = 0, checked = 0;
    auto check = [&](long long n) {
        if (n < 0 || n > 2147483647LL) return;
        int q = f.div((int)n);
        bad += q != (int)(n / d) || f.mod((int)n, q) != (int)(n % d);
        checked++;
    };
    for (long long n = 0; n < 5000; n++) check(n);
    for (long long k = 1; k * d <= 2147483647LL && k < 4000; k = k * 3 / 2 + 1)
        for (long long e = -2; e <= 2; e++) check(k * d + e);
    for (long long e = 0; e < 64; e++) check(2147483647LL - e);
    out[t] = bad;
    out[count + t] = checked;
}
