// driver.cpp: the stand-in libcuda.so.1 of shemu (see include/shemu.h): the CUDA driver API
// functions JCuda's driver binding calls for Semihard's CudaBackend, on host memory, plus the fiber
// scheduler that runs emulated kernels. Every call is synchronous: the "stream" is idle after each.
// Device pointers are host pointers; each allocation carries a 64-byte canary behind it, checked
// after every launch, so a kernel that writes past the end of a buffer fails with
// CUDA_ERROR_ILLEGAL_ADDRESS and a line on stderr naming the kernel.
#include "shemu.h"
#include <ucontext.h>
#include <time.h>
#include <map>
#include <string>
#include <vector>
#include <chrono>
#include <algorithm>

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef void* CUcontext;
typedef void* CUmodule;
typedef void* CUstream;
typedef struct Event* CUevent;
typedef const struct Kernel* CUfunction;

enum {
    OK = 0, ERR_INVALID_VALUE = 1, ERR_OUT_OF_MEMORY = 2, ERR_INVALID_IMAGE = 200, ERR_NOT_FOUND = 500,
    ERR_ILLEGAL_ADDRESS = 700, ERR_LAUNCH_FAILED = 719, ERR_NOT_SUPPORTED = 801
};

struct Event { double ms; };
struct Kernel { std::string name; shemu::Thunk thunk; shemu::Layout layout; };

namespace shemu {

static std::map<std::string, Kernel>& registry() { static std::map<std::string, Kernel> r; return r; }
Registrar::Registrar(const char* name, Thunk thunk, Layout layout) { registry()[name] = Kernel{name, thunk, layout}; }

// ------------------------------------------------------------------ fibers
enum State { READY, AT_BARRIER, AT_WARP, DONE };
struct Fiber {
    ucontext_t ctx;
    uint3 tid;
    int linear;
    State state;
    WarpOp op;
    unsigned mask;
    uint64_t payload, result;
    int arg, width;
    char* stack;
};
Fiber* cur;
uint3 blockIdx_;
dim3 blockDim_, gridDim_;
const uint3& threadIdxOf(const Fiber* f) { return f->tid; }

static const size_t STACK = 256 * 1024;
static std::vector<Fiber> fibers;
static ucontext_t schedCtx;
static void (*curThunk)(void**);
static void** curParams;

void syncthreads() {
    Fiber* f = cur;
    f->state = AT_BARRIER;
    swapcontext(&f->ctx, &schedCtx);
}

uint64_t warpOp(WarpOp op, unsigned mask, uint64_t payload, int arg, int width) {
    Fiber* f = cur;
    f->state = AT_WARP; f->op = op; f->mask = mask; f->payload = payload; f->arg = arg; f->width = width;
    swapcontext(&f->ctx, &schedCtx);
    return f->result;
}

static void fiberMain() {
    curThunk(curParams);
    cur->state = DONE;
    // returning resumes schedCtx through uc_link
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next() { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

// Resolves the pending operations of warp w (lanes [base, end)); false when a lane of a pending
// operation's mask waits at __syncthreads instead (divergence: a deadlock on a GPU too).
static bool resolveWarp(int base, int end, bool* progressed) {
    for (int i = base; i < end; i++) {
        Fiber& f = fibers[i];
        if (f.state != AT_WARP) continue;
        for (int l = 0; l < 32 && base + l < end; l++)
            if ((f.mask >> l & 1u) && fibers[base + l].state == AT_BARRIER) return false;
    }
    for (int i = base; i < end; i++) {
        Fiber& f = fibers[i];
        if (f.state != AT_WARP) continue;
        int lane = i - base, w = f.width <= 0 || f.width > 32 ? 32 : f.width, seg = lane & ~(w - 1);
        auto present = [&](int l) { return l >= 0 && l < 32 && base + l < end && (f.mask >> l & 1u) && fibers[base + l].state == AT_WARP; };
        auto value = [&](int l) { return present(l) ? fibers[base + l].payload : 0ull; };
        uint64_t r = 0;
        switch (f.op) {
            case W_SYNC: break;
            case W_SHFL: r = value(seg + (f.arg & (w - 1))); break;
            case W_SHFL_UP: r = (lane - seg) >= f.arg ? value(lane - f.arg) : f.payload; break;
            case W_SHFL_DOWN: r = (lane - seg) + f.arg < w ? value(lane + f.arg) : f.payload; break;
            case W_SHFL_XOR: { int s = lane ^ f.arg; r = (s & ~(w - 1)) == seg ? value(s) : f.payload; break; }
            case W_BALLOT: for (int l = 0; l < 32; l++) if (present(l) && (fibers[base + l].payload & 1)) r |= 1ull << l; break;
            case W_ANY: r = 0; for (int l = 0; l < 32; l++) if (present(l) && fibers[base + l].payload) r = 1; break;
            case W_ALL: r = 1; for (int l = 0; l < 32; l++) if (present(l) && !fibers[base + l].payload) r = 0; break;
        }
        f.result = r;
    }
    for (int i = base; i < end; i++) if (fibers[i].state == AT_WARP) { fibers[i].state = READY; *progressed = true; }
    return true;
}

// Runs one block; returns an error message or null.
static const char* runBlock(int n) {
    if ((int)fibers.size() < n) fibers.resize(n);
    std::vector<int> order(n);
    for (int i = 0; i < n; i++) {
        Fiber& f = fibers[i];
        if (!f.stack) f.stack = (char*)malloc(STACK);
        getcontext(&f.ctx);
        f.ctx.uc_stack.ss_sp = f.stack;
        f.ctx.uc_stack.ss_size = STACK;
        f.ctx.uc_link = &schedCtx;
        makecontext(&f.ctx, fiberMain, 0);
        f.linear = i;
        f.tid = uint3{i % blockDim_.x, (i / blockDim_.x) % blockDim_.y, i / (blockDim_.x * blockDim_.y)};
        f.state = READY;
        order[i] = i;
    }
    for (;;) {
        for (int i = n - 1; i > 0; i--) { int j = (int)(next() % (uint64_t)(i + 1)); std::swap(order[i], order[j]); }
        for (int i : order) {
            if (fibers[i].state != READY) continue;
            cur = &fibers[i];
            swapcontext(&schedCtx, &fibers[i].ctx);
        }
        int live = 0, atBarrier = 0;
        for (int i = 0; i < n; i++) { live += fibers[i].state != DONE; atBarrier += fibers[i].state == AT_BARRIER; }
        if (live == 0) return nullptr;
        bool progressed = false;
        for (int base = 0; base < n; base += 32)
            if (!resolveWarp(base, std::min(n, base + 32), &progressed))
                return "a warp operation's mask names a lane that waits at __syncthreads (divergent barrier)";
        if (progressed) continue;
        if (atBarrier == live) {
            for (int i = 0; i < n; i++) if (fibers[i].state == AT_BARRIER) fibers[i].state = READY;
            continue;
        }
        return "deadlock: no barrier or warp operation can complete";
    }
}

// ------------------------------------------------------------------ memory with canaries
static const size_t CANARY = 64;
static std::map<uintptr_t, size_t> allocations;
static void paint(uintptr_t p, size_t bytes) { memset((void*)(p + bytes), 0xA5, CANARY); }
static bool intact(uintptr_t p, size_t bytes) {
    const unsigned char* c = (const unsigned char*)(p + bytes);
    for (size_t i = 0; i < CANARY; i++) if (c[i] != 0xA5) return false;
    return true;
}

static CUresult launch(const Kernel* k, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, void** params) {
    if (!k || bx * by * bz == 0 || bx * by * bz > 1024 || gx == 0 || gy == 0 || gz == 0) return ERR_INVALID_VALUE;
    gridDim_ = dim3(gx, gy, gz);
    blockDim_ = dim3(bx, by, bz);
    curThunk = k->thunk;
    curParams = params;
    for (unsigned z = 0; z < gz; z++)
        for (unsigned y = 0; y < gy; y++)
            for (unsigned x = 0; x < gx; x++) {
                blockIdx_ = uint3{x, y, z};
                const char* err = runBlock((int)(bx * by * bz));
                if (err) {
                    fprintf(stderr, "shemu: kernel %s, block (%u, %u, %u): %s\n", k->name.c_str(), x, y, z, err);
                    return ERR_LAUNCH_FAILED;
                }
            }
    for (auto& a : allocations)
        if (!intact(a.first, a.second)) {
            fprintf(stderr, "shemu: kernel %s wrote past the end of the %zu-byte buffer at %p\n", k->name.c_str(), a.second, (void*)a.first);
            paint(a.first, a.second);
            return ERR_ILLEGAL_ADDRESS;
        }
    return OK;
}

}  // namespace shemu

using namespace shemu;

static double nowMs() {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

extern "C" {
// Calls counted for the tests (Shemu.driverCounts): allocations, host synchronizations and copies,
// so a test can check that a training step after the first allocates nothing and waits for the
// device only where it reads a result. The order is the one of Shemu.DriverCount.
enum { C_MEM_ALLOC, C_MEM_FREE, C_CTX_SYNC, C_STREAM_SYNC, C_EVENT_SYNC, C_HTOD, C_HTOD_ASYNC, C_DTOH,
       C_DTOH_ASYNC, C_DTOD, C_DTOD_ASYNC, C_MEMSET, C_MEMSET_ASYNC, C_LAUNCH, C_ALLOC_HOST, C_COUNTERS };
static long long counters[C_COUNTERS];
static inline void bump(int c) { __atomic_fetch_add(&counters[c], 1, __ATOMIC_RELAXED); }
// Copies min(n, C_COUNTERS) counters into out; returns C_COUNTERS.
int shemu_driver_counts(long long* out, int n) {
    for (int i = 0; i < n && i < C_COUNTERS; i++) out[i] = __atomic_load_n(&counters[i], __ATOMIC_RELAXED);
    return C_COUNTERS;
}

CUresult cuInit(unsigned) { return OK; }
CUresult cuDeviceGetCount(int* n) { *n = 1; return OK; }
CUresult cuDeviceGet(CUdevice* d, int i) { if (i != 0) return ERR_INVALID_VALUE; *d = 0; return OK; }
CUresult cuDeviceGetName(char* name, int len, CUdevice) {
    snprintf(name, (size_t)len, "Semihard CUDA emulator (CPU)");
    return OK;
}
CUresult cuDeviceGetAttribute(int* v, int attr, CUdevice) {
    switch (attr) {
        case 16: *v = 4; break;            // MULTIPROCESSOR_COUNT
        case 75: *v = 9; break;            // COMPUTE_CAPABILITY_MAJOR
        case 76: *v = 0; break;            // COMPUTE_CAPABILITY_MINOR
        case 1: *v = 1024; break;          // MAX_THREADS_PER_BLOCK
        case 10: *v = 32; break;           // WARP_SIZE
        default: *v = 0;
    }
    return OK;
}
CUresult cuDeviceTotalMem_v2(size_t* bytes, CUdevice) { *bytes = (size_t)8 << 30; return OK; }
static int ctxDummy, moduleDummy, streamDummy;
CUresult cuDevicePrimaryCtxRetain(CUcontext* c, CUdevice) { *c = &ctxDummy; return OK; }
CUresult cuDevicePrimaryCtxRelease_v2(CUdevice) { return OK; }
CUresult cuCtxSetCurrent(CUcontext) { return OK; }
CUresult cuCtxSynchronize() { bump(C_CTX_SYNC); return OK; }
CUresult cuStreamCreate(CUstream* s, unsigned) { *s = &streamDummy; return OK; }
CUresult cuStreamDestroy_v2(CUstream) { return OK; }
CUresult cuStreamSynchronize(CUstream) { bump(C_STREAM_SYNC); return OK; }
CUresult cuModuleLoadData(CUmodule* m, const void* image) {
    unsigned magic; memcpy(&magic, image, 4);
    if (magic != 0xBA55ED50u) return ERR_INVALID_IMAGE;     // a fatbin, like the driver expects
    *m = &moduleDummy; return OK;
}
CUresult cuModuleUnload(CUmodule) { return OK; }
CUresult cuModuleGetFunction(CUfunction* f, CUmodule, const char* name) {
    auto it = registry().find(name);
    if (it == registry().end()) return ERR_NOT_FOUND;
    *f = &it->second; return OK;
}
CUresult cuMemAlloc_v2(CUdeviceptr* p, size_t bytes) {
    bump(C_MEM_ALLOC);
    void* m = malloc(bytes + CANARY);
    if (!m) return ERR_OUT_OF_MEMORY;
    memset(m, 0xFF, bytes);                 // NaN-like garbage, as uninitialized device memory may hold
    allocations[(uintptr_t)m] = bytes;
    paint((uintptr_t)m, bytes);
    *p = (CUdeviceptr)(uintptr_t)m; return OK;
}
CUresult cuMemFree_v2(CUdeviceptr p) {
    bump(C_MEM_FREE);
    auto it = allocations.find((uintptr_t)p);
    if (it == allocations.end()) return ERR_INVALID_VALUE;
    bool ok = intact(it->first, it->second);
    allocations.erase(it);
    free((void*)(uintptr_t)p);
    if (!ok) { fprintf(stderr, "shemu: a buffer was overrun before cuMemFree\n"); return ERR_ILLEGAL_ADDRESS; }
    return OK;
}
CUresult cuMemGetInfo_v2(size_t* freeB, size_t* total) { *freeB = (size_t)6 << 30; *total = (size_t)8 << 30; return OK; }
CUresult cuMemAllocHost_v2(void** p, size_t bytes) { bump(C_ALLOC_HOST); *p = malloc(bytes); return *p ? OK : ERR_OUT_OF_MEMORY; }
CUresult cuMemFreeHost(void* p) { free(p); return OK; }
CUresult cuMemcpyHtoD_v2(CUdeviceptr d, const void* s, size_t n) { bump(C_HTOD); memcpy((void*)(uintptr_t)d, s, n); return OK; }
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr d, const void* s, size_t n, CUstream) { bump(C_HTOD_ASYNC); memcpy((void*)(uintptr_t)d, s, n); return OK; }
CUresult cuMemcpyDtoH_v2(void* d, CUdeviceptr s, size_t n) { bump(C_DTOH); memcpy(d, (const void*)(uintptr_t)s, n); return OK; }
CUresult cuMemcpyDtoHAsync_v2(void* d, CUdeviceptr s, size_t n, CUstream) { bump(C_DTOH_ASYNC); memcpy(d, (const void*)(uintptr_t)s, n); return OK; }
CUresult cuMemcpyDtoD_v2(CUdeviceptr d, CUdeviceptr s, size_t n) { bump(C_DTOD); memmove((void*)(uintptr_t)d, (const void*)(uintptr_t)s, n); return OK; }
CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr d, CUdeviceptr s, size_t n, CUstream) { bump(C_DTOD_ASYNC); memmove((void*)(uintptr_t)d, (const void*)(uintptr_t)s, n); return OK; }
CUresult cuMemsetD32_v2(CUdeviceptr d, unsigned v, size_t n) { bump(C_MEMSET); unsigned* p = (unsigned*)(uintptr_t)d; for (size_t i = 0; i < n; i++) p[i] = v; return OK; }
CUresult cuMemsetD32Async(CUdeviceptr d, unsigned v, size_t n, CUstream) {
    bump(C_MEMSET_ASYNC);
    unsigned* p = (unsigned*)(uintptr_t)d;
    for (size_t i = 0; i < n; i++) p[i] = v;
    return OK;
}
CUresult cuEventCreate(CUevent* e, unsigned) { *e = new Event{0}; return OK; }
CUresult cuEventDestroy_v2(CUevent e) { delete e; return OK; }
CUresult cuEventRecord(CUevent e, CUstream) { e->ms = nowMs(); return OK; }
CUresult cuEventSynchronize(CUevent) { bump(C_EVENT_SYNC); return OK; }
CUresult cuEventQuery(CUevent) { return OK; }
CUresult cuEventElapsedTime(float* ms, CUevent a, CUevent b) { *ms = (float)(b->ms - a->ms); return OK; }
CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned /*sharedMem*/, CUstream, void** params, void** extra) {
    static const bool noExec = getenv("SHEMU_NO_EXEC") != nullptr;   // measures the host's launch cost alone
    if (!f) return ERR_INVALID_VALUE;
    if ((params == nullptr) == (extra == nullptr)) {
        fprintf(stderr, "shemu: kernel %s: give exactly one of kernelParams and extra\n", f->name.c_str());
        return ERR_INVALID_VALUE;
    }
    void* unpacked[64];
    if (extra) {      // CU_LAUNCH_PARAM_BUFFER_POINTER (1), CU_LAUNCH_PARAM_BUFFER_SIZE (2), ..., CU_LAUNCH_PARAM_END (0)
        char* buf = nullptr;
        size_t* size = nullptr;
        for (int i = 0; extra[i] != nullptr; i += 2) {
            if (extra[i] == (void*)1) buf = (char*)extra[i + 1];
            else if (extra[i] == (void*)2) size = (size_t*)extra[i + 1];
            else { fprintf(stderr, "shemu: kernel %s: unknown extra key %p\n", f->name.c_str(), extra[i]); return ERR_INVALID_VALUE; }
        }
        size_t offsets[64], want = 0;
        int n = f->layout(offsets, &want);
        if (!buf || !size || *size != want) {
            fprintf(stderr, "shemu: kernel %s: packed arguments of %zu bytes, but its %d parameters take %zu"
                    " (an argument of the wrong type on the Java side?)\n", f->name.c_str(), size ? *size : 0, n, want);
            return ERR_INVALID_VALUE;
        }
        for (int i = 0; i < n; i++) unpacked[i] = buf + offsets[i];
        params = unpacked;
    }
    bump(C_LAUNCH);
    // SHEMU_TRACE=FILE appends "name gx gy gz bx by bz" per launch (tools/census reads it)
    static FILE* trace = getenv("SHEMU_TRACE") ? fopen(getenv("SHEMU_TRACE"), "a") : nullptr;
    if (trace) { fprintf(trace, "%s %u %u %u %u %u %u\n", f->name.c_str(), gx, gy, gz, bx, by, bz); fflush(trace); }
    if (noExec) return OK;
    return launch(f, gx, gy, gz, bx, by, bz, params);
}
CUresult cuGetErrorName(CUresult, const char** s) { *s = "CUDA_ERROR (shemu)"; return OK; }
CUresult cuGetErrorString(CUresult, const char** s) { *s = "error in the CUDA emulator (shemu); see stderr"; return OK; }
}
