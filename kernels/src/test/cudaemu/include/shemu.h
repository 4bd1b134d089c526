// shemu.h: runs Semihard's CUDA kernels on the CPU, for tests on machines without a GPU.
//
// Each .cu file is compiled as ordinary C++ with this header force-included (g++ -include shemu.h),
// and linked with driver.cpp into a stand-in libcuda.so.1 that JCuda loads instead of NVIDIA's
// driver. The Java CudaBackend then runs unchanged, kernel launches included, and the CUDA
// conformance suite can hold the kernels to the reference backend here and in CI.
//
// How a launch runs: the blocks of the grid one after another; the threads of a block as fibers
// (ucontext) on one OS thread. A fiber runs until it reaches __syncthreads or a warp operation
// (__shfl*_sync, __ballot_sync, __syncwarp, ...) or returns; when every live thread of the block
// (of the warp) has arrived, the barrier (the warp operation) completes. Between two barriers the
// fibers run in a shuffled order, so a kernel that reads shared memory another thread writes in
// the same phase gives a result that depends on the order: a missing __syncthreads shows up as a
// mismatch. __shared__ variables are function-level statics: one block runs at a time.
//
// What this checks: indexing, arithmetic, barriers, warp-operation semantics and bounds (every
// kernel runs on real host memory). What it does not: speed, register or shared-memory limits,
// memory-model subtleties beyond the shuffled order, and the exact rounding of device intrinsics
// (expf & co. are the host's). The TF32 tensor-core instruction (mma.sync m16n8k8) is emulated by
// its warp: each lane puts its fragment registers into a per-warp tile, and computes its four outputs.
#pragma once
#include <stdint.h>
#include <math.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <type_traits>

#define __global__
#define __device__ inline
#define __host__
#define __forceinline__
#define __noinline__
#define __shared__ static
#define __constant__ static
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#ifndef __CUDACC__
#define SHEMU 1
#endif

struct uint3 { unsigned x, y, z; };
struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(8) float2 { float x, y; };
struct alignas(16) int4 { int x, y, z, w; };
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
inline float2 make_float2(float x, float y) { return float2{x, y}; }

namespace shemu {
struct Fiber;
extern Fiber* cur;                  // the fiber (thread) running now
extern uint3 blockIdx_;
extern dim3 blockDim_, gridDim_;
const uint3& threadIdxOf(const Fiber* f);
void syncthreads();
// A warp-wide operation: every live lane of `mask` contributes `payload`; returns this lane's result.
enum WarpOp { W_SYNC, W_SHFL, W_SHFL_UP, W_SHFL_DOWN, W_SHFL_XOR, W_BALLOT, W_ANY, W_ALL };
uint64_t warpOp(WarpOp op, unsigned mask, uint64_t payload, int arg, int width);
template <class T> inline uint64_t bits(T v) { static_assert(sizeof(T) <= 8, "shuffle of > 8 bytes"); uint64_t u = 0; memcpy(&u, &v, sizeof(T)); return u; }
template <class T> inline T unbits(uint64_t u) { T v; memcpy(&v, &u, sizeof(T)); return v; }
}  // namespace shemu

#define threadIdx (shemu::threadIdxOf(shemu::cur))
#define blockIdx (shemu::blockIdx_)
#define blockDim (shemu::blockDim_)
#define gridDim (shemu::gridDim_)
static constexpr int warpSize = 32;

inline void __syncthreads() { shemu::syncthreads(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { shemu::warpOp(shemu::W_SYNC, mask, 0, 0, 32); }
inline void __threadfence() {}
inline void __threadfence_block() {}
template <class T> inline T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
    return shemu::unbits<T>(shemu::warpOp(shemu::W_SHFL, mask, shemu::bits(v), src, width)); }
template <class T> inline T __shfl_up_sync(unsigned mask, T v, unsigned d, int width = 32) {
    return shemu::unbits<T>(shemu::warpOp(shemu::W_SHFL_UP, mask, shemu::bits(v), (int)d, width)); }
template <class T> inline T __shfl_down_sync(unsigned mask, T v, unsigned d, int width = 32) {
    return shemu::unbits<T>(shemu::warpOp(shemu::W_SHFL_DOWN, mask, shemu::bits(v), (int)d, width)); }
template <class T> inline T __shfl_xor_sync(unsigned mask, T v, int m, int width = 32) {
    return shemu::unbits<T>(shemu::warpOp(shemu::W_SHFL_XOR, mask, shemu::bits(v), m, width)); }
inline unsigned __ballot_sync(unsigned mask, int p) { return (unsigned)shemu::warpOp(shemu::W_BALLOT, mask, p != 0, 0, 32); }
inline int __any_sync(unsigned mask, int p) { return (int)shemu::warpOp(shemu::W_ANY, mask, p != 0, 0, 32); }
inline int __all_sync(unsigned mask, int p) { return (int)shemu::warpOp(shemu::W_ALL, mask, p != 0, 0, 32); }

// bit and type punning intrinsics
inline unsigned __float_as_uint(float f) { unsigned u; memcpy(&u, &f, 4); return u; }
inline float __uint_as_float(unsigned u) { float f; memcpy(&f, &u, 4); return f; }
inline int __float_as_int(float f) { int u; memcpy(&u, &f, 4); return u; }
inline float __int_as_float(int u) { float f; memcpy(&f, &u, 4); return f; }
inline long long __double_as_longlong(double d) { long long u; memcpy(&u, &d, 8); return u; }
inline double __longlong_as_double(long long u) { double d; memcpy(&d, &u, 8); return d; }
inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((unsigned long long)a * b) >> 32); }
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) { return (unsigned long long)(((unsigned __int128)a * b) >> 64); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned)x); }
inline int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll((unsigned long long)x); }
inline unsigned __brev(unsigned x) { unsigned r = 0; for (int i = 0; i < 32; i++) r |= ((x >> i) & 1u) << (31 - i); return r; }

// math the device has and the host's libm spells differently
inline float rsqrtf(float x) { return 1.f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float fdividef(float a, float b) { return a / b; }
inline float __saturatef(float x) { return x < 0.f ? 0.f : x > 1.f ? 1.f : x; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline float __frcp_rn(float a) { return 1.f / a; }

// CUDA's min/max overloads (any two arithmetic types, the usual conversions; floats as fminf/fmaxf)
template <class A, class B, class = std::enable_if_t<std::is_arithmetic_v<A> && std::is_arithmetic_v<B>>>
inline std::common_type_t<A, B> min(A a, B b) {
    using C = std::common_type_t<A, B>;
    if constexpr (std::is_floating_point_v<C>) return fmin((C)a, (C)b);
    else return (C)b < (C)a ? (C)b : (C)a;
}
template <class A, class B, class = std::enable_if_t<std::is_arithmetic_v<A> && std::is_arithmetic_v<B>>>
inline std::common_type_t<A, B> max(A a, B b) {
    using C = std::common_type_t<A, B>;
    if constexpr (std::is_floating_point_v<C>) return fmax((C)a, (C)b);
    else return (C)a < (C)b ? (C)b : (C)a;
}

// atomics: the fibers of a launch share one OS thread, so a plain read-modify-write is atomic
template <class T> inline T atomicAdd(T* p, T v) { T o = *p; *p = o + v; return o; }
template <class T> inline T atomicSub(T* p, T v) { T o = *p; *p = o - v; return o; }
template <class T> inline T atomicMin(T* p, T v) { T o = *p; if (v < o) *p = v; return o; }
template <class T> inline T atomicMax(T* p, T v) { T o = *p; if (o < v) *p = v; return o; }
template <class T> inline T atomicExch(T* p, T v) { T o = *p; *p = v; return o; }
template <class T> inline T atomicCAS(T* p, T cmp, T v) { T o = *p; if (o == cmp) *p = v; return o; }
template <class T> inline T atomicOr(T* p, T v) { T o = *p; *p = o | v; return o; }
template <class T> inline T atomicAnd(T* p, T v) { T o = *p; *p = o & v; return o; }
template <class T> inline T __ldg(const T* p) { return *p; }
template <class T> inline T __ldcg(const T* p) { return *p; }

// Tensor cores (TF32): what gemm.cuh's sh_tf32 / sh_mma_tf32 do on the GPU.
namespace shemu {
// cvt.rna.tf32.f32: round to the nearest 10-bit mantissa, ties away from zero (Inf and NaN unchanged)
static inline float tf32Round(float f) {
    unsigned u; memcpy(&u, &f, 4);
    if ((u & 0x7f800000u) != 0x7f800000u) { u += 0x1000u; u &= 0xffffe000u; }
    float r; memcpy(&r, &u, 4); return r;
}
// mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {d}, {a}, {b}, {d}: D[16x8] += A[16x8] B[8x8] for the
// warp, with lane l = 4 g + t holding (PTX ISA, "matrix fragments for mma.m16n8k8"):
//   a0 = A[g][t], a1 = A[g+8][t], a2 = A[g][t+4], a3 = A[g+8][t+4];  b0 = B[t][g], b1 = B[t+4][g];
//   d0 = D[g][2t], d1 = D[g][2t+1], d2 = D[g+8][2t], d3 = D[g+8][2t+1].
// The tensor cores read only the TF32 bits of each input (the low 13 mantissa bits are dropped, as
// here), so a kernel that forgets to round gets truncated inputs and fails its check. Products of TF32
// values are exact in fp32; the eight of each output are added in k order. static: each .cu file has its
// own copy (an inline function's static arrays would be one COMDAT group, which build.sh's localized
// objects cannot share).
static inline void mmaTf32(float* d, const unsigned* a, const unsigned* b) {
    static float A[32][16][8], B[32][8][8];       // per warp of the block (one block runs at a time)
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
    auto in = [](unsigned u) { u &= 0xffffe000u; float f; memcpy(&f, &u, 4); return f; };
    A[w][g][t] = in(a[0]); A[w][g + 8][t] = in(a[1]); A[w][g][t + 4] = in(a[2]); A[w][g + 8][t + 4] = in(a[3]);
    B[w][t][g] = in(b[0]); B[w][t + 4][g] = in(b[1]);
    __syncwarp();
    float r[4];
    for (int q = 0; q < 4; q++) {
        int row = g + (q >> 1) * 8, col = 2 * t + (q & 1);
        float s = d[q];
        for (int k = 0; k < 8; k++) s += A[w][row][k] * B[w][k][col];
        r[q] = s;
    }
    __syncwarp();                                  // every lane has read the tile before the next one overwrites it
    for (int q = 0; q < 4; q++) d[q] = r[q];
}
}

// Registration of kernels (the build appends SHEMU_REG(name) for each extern "C" kernel of a file)
#include <utility>
namespace shemu {
typedef void (*Thunk)(void**);
// offsets[i] = where parameter i sits in a packed argument buffer (CU_LAUNCH_PARAM_BUFFER_POINTER:
// the C layout, each at a multiple of its alignment); returns the number of parameters, and the
// buffer's size in *size
typedef int (*Layout)(size_t* offsets, size_t* size);
struct Registrar { Registrar(const char* name, Thunk thunk, Layout layout); };
template <class... A, size_t... I> inline void invokeImpl(void (*f)(A...), void** p, std::index_sequence<I...>) {
    f(*static_cast<std::remove_cv_t<std::remove_reference_t<A>>*>(p[I])...); }
template <class... A> inline void invoke(void (*f)(A...), void** p) { invokeImpl(f, p, std::index_sequence_for<A...>{}); }
template <class... A> inline int layoutOf(void (*)(A...), size_t* offsets, size_t* size) {
    size_t o = 0;
    int i = 0;
    ((o = (o + alignof(std::remove_cv_t<A>) - 1) / alignof(std::remove_cv_t<A>) * alignof(std::remove_cv_t<A>),
      offsets[i++] = o, o += sizeof(std::remove_cv_t<A>)), ...);
    *size = o;
    return (int)sizeof...(A);
}
}
#define SHEMU_REG(name) static shemu::Registrar shemu_reg_##name(#name, [](void** p) { shemu::invoke(name, p); }, \
    [](size_t* offsets, size_t* size) { return shemu::layoutOf(name, offsets, size); });
