/*
 * conv.cl -- 2-D convolution (NCHW activations, KCRS filters) on an image-innermost copy of the input.
 *
 * Shapes (ConvGeometry): x [N, C, H, W], w [K, C, R, S], y [N, K, OH, OW], OH = (H + 2*pad - R)/stride + 1.
 * NB = N rounded up to IB images, the images per work-item of the forward loop (32, 16 or 8; the host picks
 * the largest that pads N by at most an eighth); the images NB - N of the copies are zeros.
 *
 * Version 2 (this file), chosen for PoCL's CPU device and correct everywhere:
 *   - the input is first copied, zero-padded, into xt [C, Hp, Wp, LD] (conv2dPadInput): the NB images of
 *     one (channel, row, column) cell are contiguous, so the im2col element of 16 consecutive images is one
 *     vload16, with no gather, no bounds test and one table lookup (rowTab[crs] = ((c*Hp + r)*Wp + s)*LD)
 *     per 16. Cells are LD floats apart: NB, or NB + 16 when NB >= 256 (with a power-of-two stride like
 *     1024 every cell a work-item walks mapped to the same L1 sets: forward and backward-data ran 1.3x and
 *     1.6x slower at B = 1024);
 *   - no local memory and no barriers: every work-item reads its operands straight from global memory
 *     (on a CPU that is the cache), so PoCL runs each work-item's loop without saving registers at barriers;
 *   - forward and backward-data are one outer-product loop (CONV_GEMM_BODY): a work-item owns 8 output
 *     channels x 32 images of one output pixel in 16 float16 accumulators, and per reduction step loads
 *     2 vectors + 8 scalars for 16 vector FMAs;
 *   - backward-data is that loop at stride 1 on dy dilated by the stride and padded by R-1-pad (the same
 *     conv2dPadInput), with the filters transposed to [C, K, R, S] and flipped (conv2dFlipWeights);
 *   - backward-filter is a dot product over the images: dyt = dy as [K, OH, OW, LD] (conv2dPadInput with no
 *     padding), and a work-item owns 4 filters x 4 (c, r, s) taps in 16 float16 accumulators (8 vector loads
 *     for 16 vector FMAs), summed over the pixels in order and over the 16 lanes in a fixed tree at the end.
 * Every output is the same fixed-order sum on every run: no atomics, results are reproducible.
 *
 * Measured on W2 fmnist-cnn (PoCL 3.1, 2 cores, AVX-512), convolution kernels per step, version 1 ->
 * version 2: B = 1024 about 1010 -> 500 ms, B = 128 about 127 -> 58 ms. Version 1 was an implicit GEMM on
 * gemm.cl's 64 x 64 local-memory tiles (im2col gathers from an NCHW padded copy, two barriers per 16-step
 * slice, the backward-filter reduction split over work-groups and summed by a second kernel). Tried and
 * slower: 16 images per forward work-item (float8 pairs or one float16; about 12% slower than 32) and 8
 * (25% slower); explicit work-group sizes (PoCL's own choice was as good); a barrier every 64-256 reduction
 * steps in the forward loop to keep a work-group's operands in cache (forward slower, backward-data a
 * little faster); splitting the backward-filter reduction over pixels (no gain at B = 128); a padding
 * kernel with one work-item per image element (3x slower than looping over images).
 * Indices are 32-bit ints: the host checks every copy has < 2^31 elements.
 */

#define CONV_PAD_IMAGES 128  /* images per conv2dPadInput work-item (the host's CONV_PAD_IMAGES) */

/*
 * conv2dPadInput: dst[c, i, j, img] = src[img, c, (i - offH)/dil, (j - offW)/dil] when img < Nimg and that
 * index is an integer inside [0, Hs) x [0, Ws), else 0.  dst: [C, Hp, Wp, LD] (images NB..LD-1 of a cell are
 * never written nor read), src: [Nimg, C, Hs, Ws].
 * dst's (c, i, j) cells are LD >= NB floats apart (see the host's convStride). NDRange (Wp, Hp, C * chunks):
 * a work-item writes images [q*CONV_PAD_IMAGES, (q+1)*CONV_PAD_IMAGES) of one cell (c, i, j), contiguous;
 * neighbouring work-items read neighbouring columns of the same source rows, so the strided reads hit
 * cache lines already loaded (the chunk keeps those lines within L1 when NB is large).
 * Forward and backward-filter: off = pad, dil = 1.  Backward-data: src = dy, off = R-1-pad, dil = stride,
 * Hp = H + R - 1.  Backward-filter's dyt: src = dy, Hp = Hs = OH, Wp = Ws = OW, off = 0, dil = 1.
 */
__kernel void conv2dPadInput(__global const float* src, const int Nimg, const int NB, const int LD, const int C,
                             const int Hs, const int Ws,
                             __global float* dst, const int Hp, const int Wp,
                             const int offH, const int offW, const int dil)
{
    const int j = get_global_id(0), i = get_global_id(1);
    const int chunks = (NB + CONV_PAD_IMAGES - 1) / CONV_PAD_IMAGES;
    const int c = get_global_id(2) / chunks, q = get_global_id(2) - c * chunks;
    if (j >= Wp || i >= Hp) return;
    __global float* d = dst + ((c * Hp + i) * Wp + j) * LD;
    const int iBegin = q * CONV_PAD_IMAGES, iEnd = min(NB, iBegin + CONV_PAD_IMAGES), nEnd = min(Nimg, iEnd);
    int si = i - offH, sj = j - offW;
    int hit = si >= 0 && sj >= 0;
    if (hit && dil != 1) {
        hit = si % dil == 0 && sj % dil == 0;
        si /= dil; sj /= dil;
    }
    hit = hit && si < Hs && sj < Ws;
    int img = iBegin;
    if (hit) {
        __global const float* s = src + (c * Hs + si) * Ws + sj;
        const int step = C * Hs * Ws;
        for (; img < nEnd; ++img) d[img] = s[(size_t)img * step];
    }
    for (; img < iEnd; ++img) d[img] = 0.0f;
}

/* conv2dFlipWeights: wt[c, k, r, s] = w[k, c, R-1-r, S-1-s]; one work-item per element of wt. */
__kernel void conv2dFlipWeights(const int K, const int C, const int R, const int S,
                                __global const float* w, __global float* wt)
{
    const int idx = get_global_id(0);
    const int RS = R * S;
    if (idx >= K * C * RS) return;
    const int rs = idx % RS, ck = idx / RS;
    const int k = ck % K, c = ck / K;
    const int r = rs / S, s = rs % S;
    wt[idx] = w[((size_t)k * C + c) * RS + (R - 1 - r) * S + (S - 1 - s)];
}

/*
 * The loop shared by conv2dForward and conv2dBackwardData:
 *   out[img, m, oh, ow] = sum_{crs < Kd, in order} wm[m, crs] * xt[rowTab[crs] + (oh*stride*Wp + ow*stride)*LD + img]
 *                         (+ bias[m])
 * wm row-major [Mout, Kd]. NDRange (ceil(Mout/8), OH*OW*NB/IB), IB = 2*CVW images: work-item (mb, cb) owns
 * channels mb*8 .. mb*8+7 (rows past Mout repeat row Mout-1 and are not stored) and images img0 .. img0+IB-1
 * (img0 = (cb / P)*IB) of pixel p = cb mod P. Work-items along dim 0 share the pixel's image vectors; along
 * dim 1 they walk the pixels of one image block, so the cells a pixel reads were mostly just read by the
 * previous pixel (shifted by one column) and are still in L1/L2 (pixel-major order was 2x slower at B = 1024).
 * CVT/CVW/CVLOAD/CVSTORE (the image vector type) are defined before each set of kernels below.
 */
#define CONV_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define CONV_GEMM_BODY(HAS_BIAS)                                                                   \
    const int mb = get_global_id(0), cb = get_global_id(1);                                        \
    const int nb = (Nimg + 2 * CVW - 1) / (2 * CVW), P = OH * OW;                                  \
    if (mb * 8 >= Mout || cb >= P * nb) return;                                                    \
    const int ib = cb / P, p = cb - ib * P, img0 = ib * (2 * CVW);                                 \
    const int oh = p / OW, ow = p - oh * OW;                                                       \
    __global const float* xb = xt + (oh * stride * Wp + ow * stride) * LD + img0;                 \
    const int m0 = mb * 8;                                                                         \
    CONV_ROWS(CONV_DECLARE_ROW)                                                                    \
    for (int k = 0; k < Kd; ++k) {                                                                 \
        __global const float* xk = xb + rowTab[k];                                                 \
        const CVT u = CVLOAD(0, xk), v = CVLOAD(1, xk);                                            \
        CONV_ROWS(CONV_STEP_ROW)                                                                   \
    }                                                                                              \
    float c[8 * 2 * CVW];                                                                          \
    CONV_ROWS(CONV_STORE_ROW)                                                                      \
    for (int i = 0; i < 8; ++i) {                                                                  \
        const int row = m0 + i;                                                                    \
        if (row >= Mout) break;                                                                    \
        const float bv = (HAS_BIAS) ? bias[row] : 0.0f;                                            \
        for (int j = 0; j < 2 * CVW; ++j) {                                                        \
            const int img = img0 + j;                                                              \
            if (img < Nimg) out[((size_t)img * Mout + row) * P + p] = c[i * 2 * CVW + j] + bv;     \
        }                                                                                          \
    }

/* Row i of the work-item's 8 x IB tile: its filter row and two accumulators (images 0..CVW-1, CVW..IB-1). */
#define CONV_DECLARE_ROW(i) \
    __global const float* w##i = wm + min(m0 + i, Mout - 1) * Kd; CVT a##i = 0.0f, b##i = 0.0f;
#define CONV_STEP_ROW(i) \
    { const CVT wv = (CVT)(w##i[k]); a##i = fma(wv, u, a##i); b##i = fma(wv, v, b##i); }
#define CONV_STORE_ROW(i) CVSTORE(a##i, 2 * i, c); CVSTORE(b##i, 2 * i + 1, c);

/*
 * conv2dBackwardFilter:
 *   dw[k, crs] = sum over pixels p (in order) and images of dyt[k, p, img] * xt[rowTab[crs] + colOff(p) + img]
 * dyt [K, OH, OW, LD], xt [C, Hp, Wp, LD] (both image-innermost, zero past Nimg), colOff(p) =
 * (oh*stride*Wp + ow*stride)*LD, CRS = C*R*S. NDRange (ceil(CRS/4), ceil(K/4)): work-item (cb, kb) owns
 * filters kb*4 .. kb*4+3 x taps cb*4 .. cb*4+3 as 16 CVT accumulators over images (lane l sums the images
 * = l mod CVW), summed over their lanes in a fixed tree (CONV_HSUM) at the end; out-of-range rows/taps
 * repeat the last one and are not stored.
 */
#define CONV_BACKWARD_FILTER_BODY                                                                  \
    const int cb = get_global_id(0), kb = get_global_id(1);                                        \
    const int c0 = cb * 4, k0 = kb * 4;                                                            \
    if (c0 >= CRS || k0 >= K) return;                                                              \
    const int P = OH * OW;                                                                         \
    const int x0 = rowTab[min(c0 + 0, CRS - 1)], x1 = rowTab[min(c0 + 1, CRS - 1)];                \
    const int x2 = rowTab[min(c0 + 2, CRS - 1)], x3 = rowTab[min(c0 + 3, CRS - 1)];                \
    const int d0 = min(k0 + 0, K - 1) * P * LD, d1 = min(k0 + 1, K - 1) * P * LD;                  \
    const int d2 = min(k0 + 2, K - 1) * P * LD, d3 = min(k0 + 3, K - 1) * P * LD;                  \
    CVT a00 = 0.0f, a01 = 0.0f, a02 = 0.0f, a03 = 0.0f, a10 = 0.0f, a11 = 0.0f, a12 = 0.0f, a13 = 0.0f, \
        a20 = 0.0f, a21 = 0.0f, a22 = 0.0f, a23 = 0.0f, a30 = 0.0f, a31 = 0.0f, a32 = 0.0f, a33 = 0.0f; \
    for (int p = 0; p < P; ++p) {                                                                  \
        const int oh = p / OW, ow = p - oh * OW;                                                   \
        __global const float* xb = xt + (oh * stride * Wp + ow * stride) * LD;                     \
        __global const float* db = dyt + p * LD;                                                   \
        for (int img = 0; img < Nimg; img += CVW) {                                                \
            const CVT v0 = CVLOAD(0, xb + x0 + img), v1 = CVLOAD(0, xb + x1 + img);                \
            const CVT v2 = CVLOAD(0, xb + x2 + img), v3 = CVLOAD(0, xb + x3 + img);                \
            const CVT e0 = CVLOAD(0, db + d0 + img), e1 = CVLOAD(0, db + d1 + img);                \
            const CVT e2 = CVLOAD(0, db + d2 + img), e3 = CVLOAD(0, db + d3 + img);                \
            a00 = fma(e0, v0, a00); a01 = fma(e0, v1, a01); a02 = fma(e0, v2, a02); a03 = fma(e0, v3, a03); \
            a10 = fma(e1, v0, a10); a11 = fma(e1, v1, a11); a12 = fma(e1, v2, a12); a13 = fma(e1, v3, a13); \
            a20 = fma(e2, v0, a20); a21 = fma(e2, v1, a21); a22 = fma(e2, v2, a22); a23 = fma(e2, v3, a23); \
            a30 = fma(e3, v0, a30); a31 = fma(e3, v1, a31); a32 = fma(e3, v2, a32); a33 = fma(e3, v3, a33); \
        }                                                                                          \
    }                                                                                              \
    const float r[16] = {CONV_HSUM(a00), CONV_HSUM(a01), CONV_HSUM(a02), CONV_HSUM(a03),           \
                         CONV_HSUM(a10), CONV_HSUM(a11), CONV_HSUM(a12), CONV_HSUM(a13),           \
                         CONV_HSUM(a20), CONV_HSUM(a21), CONV_HSUM(a22), CONV_HSUM(a23),           \
                         CONV_HSUM(a30), CONV_HSUM(a31), CONV_HSUM(a32), CONV_HSUM(a33)};          \
    for (int i = 0; i < 4; ++i)                                                                    \
        for (int j = 0; j < 4; ++j)                                                                \
            if (k0 + i < K && c0 + j < CRS) dw[(size_t)(k0 + i) * CRS + c0 + j] = r[i * 4 + j];

/* The lanes of v summed in a fixed tree, for each vector width. */
#define CONV_HSUM4(v) (((v).s0 + (v).s1) + ((v).s2 + (v).s3))
#define CONV_HSUM8(v) (CONV_HSUM4((v).lo) + CONV_HSUM4((v).hi))
#define CONV_HSUM16(v) (CONV_HSUM8((v).lo) + CONV_HSUM8((v).hi))

/*
 * The three passes, once per image block: conv2dForward / conv2dBackwardData / conv2dBackwardFilter with
 * float16 vectors (IB = 32 images per forward work-item, NB a multiple of 32: the common case, fastest on
 * AVX-512), and the "N16" (float8, IB = 16) and "N8" (float4, IB = 8) versions the host picks for small or
 * odd batches, where padding N to 32 would waste work (W3's quick batch of 8 ran at a quarter of the
 * speed on the 32-image kernels). Arguments:
 *   forward:         y = conv(x, w) + bias on xt [C, Hp, Wp, LD] (the padded, image-innermost x);
 *                    wm = w viewed as [K, C*R*S]; Mout = K; Kd = C*R*S; out = y [Nimg, K, OH, OW]; hasBias = 0: none.
 *   backward-data:   dx = the forward loop at stride 1 on dyt [K, H+R-1, W+S-1, LD] (dy dilated by the stride
 *                    and padded by R-1-pad) with the flipped, transposed filters wm = wt [C, K*R*S]; Mout = C;
 *                    OH, OW = H, W; out = dx [Nimg, C, H, W].
 *   backward-filter: see CONV_BACKWARD_FILTER_BODY.
 * The float16 kernels are written out; CONV_KERNELS(SUFFIX) declares the same three for N16 and N8.
 */
#define CONV_KERNELS(SUFFIX)                                                                               \
__kernel void conv2dForward##SUFFIX(const int Nimg, const int LD, const int Wp, const int Mout,            \
                            const int Kd, const int stride, const int OH, const int OW,                    \
                            __global const float* xt, __global const float* wm, __global const int* rowTab, \
                            __global const float* bias, const int hasBias, __global float* out)            \
{                                                                                                          \
    CONV_GEMM_BODY(hasBias)                                                                                \
}                                                                                                          \
__kernel void conv2dBackwardData##SUFFIX(const int Nimg, const int LD, const int Wp, const int Mout,       \
                                 const int Kd, const int stride, const int OH, const int OW,               \
                                 __global const float* xt, __global const float* wm, __global const int* rowTab, \
                                 __global float* out)                                                      \
{                                                                                                          \
    __global const float* bias = wm; /* unused */                                                          \
    CONV_GEMM_BODY(0)                                                                                      \
}                                                                                                          \
__kernel void conv2dBackwardFilter##SUFFIX(const int Nimg, const int K, const int CRS, const int LD, const int Wp,         \
                                   const int stride, const int OH, const int OW,                           \
                                   __global const float* dyt, __global const float* xt,                    \
                                   __global const int* rowTab, __global float* dw)                         \
{                                                                                                          \
    CONV_BACKWARD_FILTER_BODY                                                                              \
}

#define CVT float16
#define CVW 16
#define CVLOAD vload16
#define CVSTORE vstore16
#define CONV_HSUM CONV_HSUM16
__kernel void conv2dForward(const int Nimg, const int LD, const int Wp, const int Mout,
                            const int Kd, const int stride, const int OH, const int OW,
                            __global const float* xt, __global const float* wm, __global const int* rowTab,
                            __global const float* bias, const int hasBias, __global float* out)
{
    CONV_GEMM_BODY(hasBias)
}

__kernel void conv2dBackwardData(const int Nimg, const int LD, const int Wp, const int Mout,
                                 const int Kd, const int stride, const int OH, const int OW,
                                 __global const float* xt, __global const float* wm, __global const int* rowTab,
                                 __global float* out)
{
    __global const float* bias = wm; /* unused */
    CONV_GEMM_BODY(0)
}

__kernel void conv2dBackwardFilter(const int Nimg, const int K, const int CRS, const int LD, const int Wp, const int stride,
                                   const int OH, const int OW,
                                   __global const float* dyt, __global const float* xt,
                                   __global const int* rowTab, __global float* dw)
{
    CONV_BACKWARD_FILTER_BODY
}
#undef CVT
#undef CVW
#undef CVLOAD
#undef CVSTORE
#undef CONV_HSUM

#define CVT float8
#define CVW 8
#define CVLOAD vload8
#define CVSTORE vstore8
#define CONV_HSUM CONV_HSUM8
CONV_KERNELS(N16)
#undef CVT
#undef CVW
#undef CVLOAD
#undef CVSTORE
#undef CONV_HSUM

#define CVT float4
#define CVW 4
#define CVLOAD vload4
#define CVSTORE vstore4
#define CONV_HSUM CONV_HSUM4
CONV_KERNELS(N8)
#undef CVT
#undef CVW
#undef CVLOAD
#undef CVSTORE
#undef CONV_HSUM

/* conv2dBackwardBias: dbias[k] = sum over img, p of dy[img, k, p]; one work-item per k, fixed order. */
__kernel void conv2dBackwardBias(const int Nimg, const int K, const int P, __global const float* dy, __global float* dbias)
{
    const int k = get_global_id(0);
    if (k >= K) return;
    float s = 0.0f;
    for (int img = 0; img < Nimg; ++img) {
        __global const float* row = dy + ((size_t)img * K + k) * P;
        float t = 0.0f;
        for (int p = 0; p < P; ++p) t += row[p];
        s += t;
    }
    dbias[k] = s;
}
