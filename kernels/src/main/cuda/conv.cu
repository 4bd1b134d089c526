// conv.cu: convolutions and linear layers as (implicit) GEMMs on the tiles of gemm.cuh.
//
// Convolution shapes (ConvGeometry): x [N, C, H, W], w [K, C, R, S], y [N, K, OH, OW].
//   conv2dForward        M = K, N = N*OH*OW, Kd = C*R*S: y[n,k,p] = sum w[k, crs] * im2col(x)[crs, (n,p)]
//   conv2dBackwardData   M = C, N = N*H*W,   Kd = K*R*S: dx[n,c,h,w] = sum w[k,c,r,s] * dy[n,k,oh,ow]
//                        where oh*stride - pad + r = h (terms with no such integer oh are zero)
//   conv2dBackwardFilter M = K, N = C*R*S,   Kd = N*OH*OW: dw[k, crs] = sum dy[n,k,p] * im2col(x)[crs,(n,p)]
//                        split over Kd into fixed partial sums (splitKReduce adds them in order)
// The im2col matrix is never stored: the loaders compute each address on the fly, dividing by the
// kernel-wide sizes (R*S, S, OH*OW, OW, ...) with sh_fastdiv: a multiply-high and a shift instead of
// an integer division (about 20 instructions each, 4 per loaded element before: as many issue slots
// as half the tile's FFMAs). The pipelined tiles split each loader at the index that is the same for
// all of a thread's loads (gemm.cuh, sh_loader: BCol / BRow / ARow), so the pixel's divisions and base
// pointer are computed once per kernel (forward, data gradient) or once per k-slice (filter gradient),
// and an element costs two divisions, not four.
// Linear shapes: x [n, in], w [out, in], y [n, out].
// Each op has three kernels (SH_GEMM3): fp32 128x128 tiles, fp32 64x64 tiles (small problems) and
// TF32 tensor cores (--precision tf32).
#include "gemm.cuh"

// One column of im2col(x): an output pixel (image, oh, ow) of the forward pass, or a (image, pixel) row
// of the filter gradient. Its image's base pointer and top-left input position depend only on the
// pixel; (c, r, s) then picks the element. Shared by ConvFwd (B = im2col, columns fixed per thread)
// and ConvBwdFilter (B = im2col^T, rows fixed per k-slice).
struct Im2colPix { const float* x; int ih0, iw0; };

struct ConvFwd {
    int M, N, K, kChunk;
    const float* x; const float* w; const float* bias; float* y;
    int C, H, W, Ko, R, S, stride, pad, OH, OW;
    sh_fastdiv dRS, dS, dOHW, dOW;
    static constexpr int A_MODE = 0, B_MODE = 0;
    __device__ void init() { dRS.init(R * S); dS.init(S); dOHW.init(OH * OW); dOW.init(OW); }
    __device__ float a(int m, int k) const { return w[(size_t)m * K + k]; }
    using BCol = Im2colPix;
    __device__ BCol bcol(int n) const {
        int img = dOHW.div(n), pix = dOHW.mod(n, img), oh = dOW.div(pix), ow = dOW.mod(pix, oh);
        return {x + (size_t)img * C * H * W, oh * stride - pad, ow * stride - pad};
    }
    __device__ float bc(int k, const BCol& q) const {
        int c = dRS.div(k), rs = dRS.mod(k, c), r = dS.div(rs), s = dS.mod(rs, r);
        int ih = q.ih0 + r, iw = q.iw0 + s;
        if ((unsigned)ih >= (unsigned)H || (unsigned)iw >= (unsigned)W) return 0.f;
        return q.x[((size_t)c * H + ih) * W + iw];
    }
    __device__ float b(int k, int n) const { return bc(k, bcol(n)); }
    __device__ void store(int m, int n, float v, int) const {
        int img = dOHW.div(n), pix = dOHW.mod(n, img);
        y[((size_t)img * Ko + m) * (OH * OW) + pix] = v + (bias ? bias[m] : 0.f);
    }
};
SH_GEMM3(conv2dForward, ConvFwd,
         (int M, int N, int K, int kChunk, const float* x, const float* w, const float* bias, float* y,
          int C, int H, int W, int Ko, int R, int S, int stride, int pad, int OH, int OW),
         M, N, K, kChunk, x, w, bias, y, C, H, W, Ko, R, S, stride, pad, OH, OW)

// conv2dForwardTap: the same product with the reduction ordered tap-major, k = (r * S + s) * C + c, for
// C a multiple of SH_BK (every block convolution of the models; not the 1- and 3-channel stems). A k-slice
// is then one tap (r, s) and 16 consecutive channels: the pixel's bounds check and address are computed
// once per slice (btap), and each loaded element is one load at a channel stride of H * W, instead of two
// divisions, a bounds check and a 64-bit address per element (ConvFwd::bc). Pipelined tiles only.
struct ConvFwdTap : ConvFwd {
    sh_fastdiv dC;
    __device__ void init() { ConvFwd::init(); dC.init(C); }
    // A(m, (rs, c)) = w[m, c, rs]; (rs, c) is the same for all of a thread's A loads of a slice
    struct ARow { const float* w; };
    __device__ ARow arow(int k) const { int rs = dC.div(k), c = dC.mod(k, rs); return {w + (size_t)c * (R * S) + rs}; }
    __device__ float ar(const ARow& q, int m) const { return q.w[(size_t)m * K]; }
    __device__ float a(int m, int k) const { return ar(arow(k), m); }
    // the slice's tap for this thread's pixel: x[img, c0, ih, iw], or nothing when (ih, iw) is padding
    struct BTap { const float* x; bool ok; };
    __device__ BTap btap(int k0, const BCol& q) const {
        int rs = dC.div(k0), c0 = dC.mod(k0, rs), r = dS.div(rs), s = dS.mod(rs, r);
        int ih = q.ih0 + r, iw = q.iw0 + s;
        bool ok = (unsigned)ih < (unsigned)H && (unsigned)iw < (unsigned)W;
        return {ok ? q.x + ((size_t)c0 * H + ih) * W + iw : q.x, ok};
    }
    __device__ float bt(const BTap& t, int kk) const { return t.ok ? t.x[kk * (H * W)] : 0.f; }
    __device__ float b(int k, int n) const { return bt(btap(k - k % SH_BK, bcol(n)), k % SH_BK); }
};
SH_GEMM3_PIPELINED(conv2dForwardTap, ConvFwdTap,
         (int M, int N, int K, int kChunk, const float* x, const float* w, const float* bias, float* y,
          int C, int H, int W, int Ko, int R, int S, int stride, int pad, int OH, int OW),
         M, N, K, kChunk, x, w, bias, y, C, H, W, Ko, R, S, stride, pad, OH, OW)

struct ConvBwdData {
    int M, N, K, kChunk;
    const float* dy; const float* w; float* dx;
    int C, H, W, Ko, R, S, stride, pad, OH, OW;
    sh_fastdiv dRS, dS, dHW, dW, dStride;
    static constexpr int A_MODE = 0, B_MODE = 0;
    __device__ void init() { dRS.init(R * S); dS.init(S); dHW.init(H * W); dW.init(W); dStride.init(stride); }
    // A(c, (k, rs)) = w[k, c, rs]; (k, rs) is the same for all of a thread's A loads of a slice
    struct ARow { const float* w; };
    __device__ ARow arow(int k) const { int ko = dRS.div(k), rs = dRS.mod(k, ko); return {w + (size_t)ko * C * (R * S) + rs}; }
    __device__ float ar(const ARow& q, int m) const { return q.w[(size_t)m * (R * S)]; }
    __device__ float a(int m, int k) const { return ar(arow(k), m); }
    // B((k, r, s), (n, h, w)) = dy[n, k, oh, ow] with oh*stride = h + pad - r; (n, h, w) fixed per thread
    struct BCol { const float* dy; int th0, tw0; };
    __device__ BCol bcol(int n) const {
        int img = dHW.div(n), hw = dHW.mod(n, img), h = dW.div(hw), ww = dW.mod(hw, h);
        return {dy + (size_t)img * Ko * OH * OW, h + pad, ww + pad};
    }
    __device__ float bc(int k, const BCol& q) const {
        int ko = dRS.div(k), rs = dRS.mod(k, ko), r = dS.div(rs), s = dS.mod(rs, r);
        int th = q.th0 - r, tw = q.tw0 - s;
        if (th < 0 || tw < 0) return 0.f;
        int oh = dStride.div(th), ow = dStride.div(tw);
        if (oh * stride != th || ow * stride != tw || oh >= OH || ow >= OW) return 0.f;
        return q.dy[((size_t)ko * OH + oh) * OW + ow];
    }
    __device__ float b(int k, int n) const { return bc(k, bcol(n)); }
    __device__ void store(int m, int n, float v, int) const {
        int img = dHW.div(n), hw = dHW.mod(n, img);
        dx[((size_t)img * C + m) * (H * W) + hw] = v;
    }
};
SH_GEMM3(conv2dBackwardData, ConvBwdData,
         (int M, int N, int K, int kChunk, const float* dy, const float* w, float* dx,
          int C, int H, int W, int Ko, int R, int S, int stride, int pad, int OH, int OW),
         M, N, K, kChunk, dy, w, dx, C, H, W, Ko, R, S, stride, pad, OH, OW)

// conv2dBackwardDataTap: the data gradient with its reduction ordered tap-major, k = (r * S + s) * Ko + ko,
// for Ko a multiple of SH_BK (see conv2dForwardTap): per slice, one tap (r, s) and 16 consecutive output
// channels, so the output position (oh, ow) of this thread's input pixel, or its absence (stride and
// bounds), is found once per slice, and each element is one load at a channel stride of OH * OW.
struct ConvBwdDataTap : ConvBwdData {
    sh_fastdiv dKo;
    __device__ void init() { ConvBwdData::init(); dKo.init(Ko); }
    // A(c, (rs, ko)) = w[ko, c, rs]
    __device__ ARow arow(int k) const { int rs = dKo.div(k), ko = dKo.mod(k, rs); return {w + (size_t)ko * C * (R * S) + rs}; }
    __device__ float a(int m, int k) const { return ar(arow(k), m); }
    struct BTap { const float* dy; bool ok; };
    __device__ BTap btap(int k0, const BCol& q) const {
        int rs = dKo.div(k0), ko0 = dKo.mod(k0, rs), r = dS.div(rs), s = dS.mod(rs, r);
        int th = q.th0 - r, tw = q.tw0 - s;
        int oh = th >= 0 ? dStride.div(th) : -1, ow = tw >= 0 ? dStride.div(tw) : -1;
        bool ok = th >= 0 && tw >= 0 && oh * stride == th && ow * stride == tw && oh < OH && ow < OW;
        return {ok ? q.dy + ((size_t)ko0 * OH + oh) * OW + ow : q.dy, ok};
    }
    __device__ float bt(const BTap& t, int kk) const { return t.ok ? t.dy[kk * (OH * OW)] : 0.f; }
    __device__ float b(int k, int n) const { return bt(btap(k - k % SH_BK, bcol(n)), k % SH_BK); }
};
SH_GEMM3_PIPELINED(conv2dBackwardDataTap, ConvBwdDataTap,
         (int M, int N, int K, int kChunk, const float* dy, const float* w, float* dx,
          int C, int H, int W, int Ko, int R, int S, int stride, int pad, int OH, int OW),
         M, N, K, kChunk, dy, w, dx, C, H, W, Ko, R, S, stride, pad, OH, OW)

struct ConvBwdFilter {
    int M, N, K, kChunk;
    const float* x; const float* dy; float* part;   // part: [splits][Ko][C*R*S]
    int C, H, W, Ko, R, S, stride, pad, OH, OW;
    sh_fastdiv dRS, dS, dOHW, dOW;
    static constexpr int A_MODE = 0, B_MODE = 1;
    __device__ void init() { dRS.init(R * S); dS.init(S); dOHW.init(OH * OW); dOW.init(OW); }
    // A(k, (n, p)) = dy[n, k, p]; (n, p) is the same for all of a thread's A loads of a slice
    struct ARow { const float* dy; };
    __device__ ARow arow(int k) const {
        int img = dOHW.div(k), pix = dOHW.mod(k, img);
        return {dy + (size_t)img * Ko * (OH * OW) + pix};
    }
    __device__ float ar(const ARow& q, int m) const { return q.dy[(size_t)m * (OH * OW)]; }
    __device__ float a(int m, int k) const { return ar(arow(k), m); }
    // B((n, p), (c, r, s)) = x[n, c, oh*stride - pad + r, ow*stride - pad + s]; (n, p) the same per slice:
    // its tap (0, 0) at x0 (a position that may lie in the padding: only offsets that land inside are read)
    struct BRow { const float* x0; int ih0, iw0; };
    __device__ BRow brow(int k) const {
        int img = dOHW.div(k), pix = dOHW.mod(k, img), oh = dOW.div(pix), ow = dOW.mod(pix, oh);
        int ih0 = oh * stride - pad, iw0 = ow * stride - pad;
        return {x + (size_t)img * C * H * W + (long long)(ih0 * W + iw0), ih0, iw0};
    }
    // the pipelined tiles: column n = (c, r, s) once per block (its offset c*H*W + r*W + s and its tap), then
    // an element is a bounds check and a load (sh_loader BEnt). Columns n >= N get a tap no pixel reaches.
    // (8 bytes: the 32 x 256 TF32 tile's shared memory has 2 KB left under 48 KB for its 256 entries)
    struct BEnt { int off; short r, s; };
    __device__ BEnt bent(int n) const {
        int c = dRS.div(n), rs = dRS.mod(n, c), r = dS.div(rs), s = dS.mod(rs, r);
        if (n >= N) return {0, (short)-32768, 0};
        return {(c * H + r) * W + s, (short)r, (short)s};
    }
    __device__ float bre(const BRow& q, const BEnt& e) const {
        int ih = q.ih0 + e.r, iw = q.iw0 + e.s;
        if ((unsigned)ih >= (unsigned)H || (unsigned)iw >= (unsigned)W) return 0.f;
        return q.x0[e.off];
    }
    __device__ float br(const BRow& q, int n) const { return bre(q, bent(n)); }
    __device__ float b(int k, int n) const { return br(brow(k), n); }
    __device__ void store(int m, int n, float v, int split) const {
        part[(size_t)split * M * N + (size_t)m * N + n] = v;
    }
};
SH_GEMM3(conv2dBackwardFilter, ConvBwdFilter,
         (int M, int N, int K, int kChunk, const float* x, const float* dy, float* part,
          int C, int H, int W, int Ko, int R, int S, int stride, int pad, int OH, int OW),
         M, N, K, kChunk, x, dy, part, C, H, W, Ko, R, S, stride, pad, OH, OW)

// dbias[k] = sum over n and p of dy[n, k, p]; one block per k, fixed-order tree (deterministic)
extern "C" __global__ void conv2dBiasGrad(const float* __restrict__ dy, float* __restrict__ dbias, int N, int Ko, int OHW) {
    __shared__ double scratch[33];
    int k = blockIdx.x;
    long long total = (long long)N * OHW;
    double s = 0.0;
    for (long long i = threadIdx.x; i < total; i += blockDim.x) {
        long long img = i / OHW, pix = i - img * OHW;
        s += dy[((size_t)img * Ko + k) * OHW + pix];
    }
    s = sh_block_sum(s, scratch);
    if (threadIdx.x == 0) dbias[k] = (float)s;
}

// ------------------------------------------------------------------ linear layers

// y[n, out] = x[n, in] * w[out, in]^T + b[out]
struct LinFwd {
    int M, N, K, kChunk;
    const float* x; const float* w; const float* bias; float* y;
    static constexpr int A_MODE = 0, B_MODE = 1;
    __device__ void init() {}
    __device__ float a(int m, int k) const { return x[(size_t)m * K + k]; }
    __device__ float b(int k, int n) const { return w[(size_t)n * K + k]; }
    __device__ void store(int m, int n, float v, int) const { y[(size_t)m * N + n] = v + (bias ? bias[n] : 0.f); }
};
SH_GEMM3(linearForward, LinFwd, (int M, int N, int K, int kChunk, const float* x, const float* w, const float* bias, float* y),
         M, N, K, kChunk, x, w, bias, y)

// dx[n, in] = dy[n, out] * w[out, in]
struct LinBwdData {
    int M, N, K, kChunk;
    const float* dy; const float* w; float* dx;
    static constexpr int A_MODE = 0, B_MODE = 0;
    __device__ void init() {}
    __device__ float a(int m, int k) const { return dy[(size_t)m * K + k]; }
    __device__ float b(int k, int n) const { return w[(size_t)k * N + n]; }
    __device__ void store(int m, int n, float v, int) const { dx[(size_t)m * N + n] = v; }
};
SH_GEMM3(linearBackwardData, LinBwdData, (int M, int N, int K, int kChunk, const float* dy, const float* w, float* dx),
         M, N, K, kChunk, dy, w, dx)

// dw[out, in] = dy^T x, split over the batch into partials: part[split][out][in]
struct LinBwdWeight {
    int M, N, K, kChunk;
    const float* x; const float* dy; float* part;
    static constexpr int A_MODE = 1, B_MODE = 0;
    __device__ void init() {}
    __device__ float a(int m, int k) const { return dy[(size_t)k * M + m]; }
    __device__ float b(int k, int n) const { return x[(size_t)k * N + n]; }
    __device__ void store(int m, int n, float v, int split) const { part[(size_t)split * M * N + (size_t)m * N + n] = v; }
};
SH_GEMM3(linearBackwardWeight, LinBwdWeight, (int M, int N, int K, int kChunk, const float* x, const float* dy, float* part),
         M, N, K, kChunk, x, dy, part)

// db[o] = sum over rows of dy[row, o]; one block per o, fixed-order tree
extern "C" __global__ void linearBiasGrad(const float* __restrict__ dy, float* __restrict__ db, int n, int out) {
    __shared__ double scratch[33];
    int o = blockIdx.x;
    double s = 0.0;
    for (int r = threadIdx.x; r < n; r += blockDim.x) s += dy[(size_t)r * out + o];
    s = sh_block_sum(s, scratch);
    if (threadIdx.x == 0) db[o] = (float)s;
}
