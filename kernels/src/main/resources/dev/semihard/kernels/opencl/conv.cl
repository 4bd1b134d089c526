/*
 * conv.cl -- 2-D convolution (NCHW activations, KCRS filters) as implicit GEMM on the tiles of gemm.cl.
 *
 * Shapes (ConvGeometry): x [N, C, H, W], w [K, C, R, S], y [N, K, OH, OW], OH = (H + 2*pad - R)/stride + 1.
 *
 * Version 1 (this file), chosen for PoCL's CPU device and correct everywhere:
 *   - the input is first copied into a zero-padded buffer xp [N, C, Hp, Wp] (conv2dPadInput), so the
 *     GEMM's gather of an im2col element is one table lookup and one load, with no bounds test;
 *   - the im2col matrix is never stored: rowTab[crs] = c*Hp*Wp + r*Wp + s (built on the host, cached
 *     per geometry) and the column base of output pixel (n, oh, ow) give the element's address;
 *   - backward-data is the same forward kernel on dy dilated by the stride and padded by R-1-pad
 *     (conv2dPadInput again), with the filters transposed to [C, K, R, S] and flipped (conv2dFlipWeights);
 *   - backward-filter reduces over N*OH*OW, which is long while its output K x C*R*S is small, so the
 *     reduction is split over work-group index z into fixed slices whose partial tiles are summed in
 *     slice order by conv2dReduceSplits: deterministic, no atomics.
 */

/*
 * conv2dPadInput: dst[nc, i, j] = src[nc, (i - offH)/dil, (j - offW)/dil] when that index is an integer
 * inside [0, Hs) x [0, Ws), else 0.  dst: [NC, Hp, Wp], src: [NC, Hs, Ws].  NDRange (Wp, Hp, NC).
 * Forward: off = pad, dil = 1.  Backward-data: src = dy, off = R-1-pad, dil = stride, Hp = H + R - 1.
 */
__kernel void conv2dPadInput(__global const float* src, const int Hs, const int Ws,
                             __global float* dst, const int Hp, const int Wp,
                             const int offH, const int offW, const int dil)
{
    const int j = get_global_id(0), i = get_global_id(1), nc = get_global_id(2);
    if (j >= Wp || i >= Hp) return;
    int si = i - offH, sj = j - offW;
    float v = 0.0f;
    if (si >= 0 && sj >= 0) {
        int hit = 1;
        if (dil != 1) {
            hit = si % dil == 0 && sj % dil == 0;
            si /= dil; sj /= dil;
        }
        if (hit && si < Hs && sj < Ws) v = src[((size_t)nc * Hs + si) * Ws + sj];
    }
    dst[((size_t)nc * Hp + i) * Wp + j] = v;
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
 * The padded implicit GEMM shared by conv2dForward and conv2dBackwardData:
 *   out[img, m, oh, ow] = sum_{crs < Kd} wm[m, crs] * xp[img, c, oh*stride + r, ow*stride + s]  (+ bias[m])
 * GEMM M = Mout (filters), N = Nimg*OH*OW, Kd = Cin*R*S; A = wm row-major [M, Kd];
 * B(crs, col) = xp[colBase(col) + rowTab[crs]]. The B column a work-item stages is fixed (lid), so
 * its image/pixel decomposition is done once, outside the reduction.
 */
#define CONV_GEMM_PADDED_BODY(HAS_BIAS)                                                   \
    GEMM_DECLARE                                                                          \
    const int P = OH * OW, N = Nimg * P;                                                  \
    int colBase[BCOLS];                                                                   \
    for (int q = 0; q < BCOLS; ++q) {                                                     \
        const int bcol = n0 + lid + WG * q;                                               \
        colBase[q] = 0;                                                                   \
        if (bcol < N) {                                                                   \
            const int img = bcol / P, p = bcol - img * P;                                 \
            const int oh = p / OW, ow = p - oh * OW;                                      \
            colBase[q] = img * Cin * Hp * Wp + oh * stride * Wp + ow * stride;            \
        }                                                                                 \
    }                                                                                     \
    for (int k0 = 0; k0 < Kd; k0 += TK) {                                                 \
        {                                                                                 \
            GEMM_LOAD_A_ROWMAJOR(Mout, Kd, wm)                                            \
            for (int r = 0; r < TK; ++r) {                                                \
                const int gkb = k0 + r;                                                   \
                const int off = gkb < Kd ? rowTab[gkb] : -1;                              \
                for (int q = 0; q < BCOLS; ++q)                                           \
                    Bs[r][lid + WG * q] = off >= 0 ? xp[colBase[q] + off] : 0.0f;         \
            }                                                                             \
        }                                                                                 \
        barrier(CLK_LOCAL_MEM_FENCE);                                                     \
        GEMM_MULTIPLY_TILE                                                                \
        barrier(CLK_LOCAL_MEM_FENCE);                                                     \
    }                                                                                     \
    GEMM_ACC_TO_ARRAY(c)                                                                  \
    for (int j = 0; j < GEMM_VN; ++j) {                                                   \
        const int col = n0 + tx * GEMM_VN + j;                                            \
        if (col >= N) break;                                                              \
        const int img = col / P, p = col - img * P;                                       \
        for (int i = 0; i < RM; ++i) {                                                    \
            const int row = m0 + ty * RM + i;                                             \
            if (row < Mout)                                                               \
                out[((size_t)img * Mout + row) * P + p] = c[i * GEMM_VN + j] + (HAS_BIAS ? bias[row] : 0.0f); \
        }                                                                                 \
    }

/*
 * conv2dForward: y = conv(x, w) + bias, run on the padded input xp [Nimg, Cin, Hp, Wp] (pad already applied).
 *   wm = w viewed as [K, C*R*S]; Mout = K; out = y [Nimg, K, OH, OW]. NDRange (ceil(N/TN)*8, ceil(K/TM)*8).
 */
__kernel void conv2dForward(const int Nimg, const int Cin, const int Hp, const int Wp, const int Mout,
                            const int Kd, const int stride, const int OH, const int OW,
                            __global const float* xp, __global const float* wm, __global const int* rowTab,
                            __global const float* bias, const int hasBias, __global float* out)
{
    CONV_GEMM_PADDED_BODY(hasBias)
}

/*
 * conv2dBackwardData: dx = the forward kernel at stride 1 on dyp [Nimg, K, H+R-1, W+S-1] (dy dilated by
 * the stride and padded by R-1-pad) with the flipped, transposed filters wt [C, K*R*S]; out = dx [Nimg, C, H, W].
 */
__kernel void conv2dBackwardData(const int Nimg, const int Cin, const int Hp, const int Wp, const int Mout,
                                 const int Kd, const int stride, const int OH, const int OW,
                                 __global const float* xp, __global const float* wm, __global const int* rowTab,
                                 __global float* out)
{
    __global const float* bias = wm; /* unused */
    CONV_GEMM_PADDED_BODY(0)
}

/*
 * conv2dBackwardFilter, one slice of the reduction per work-group z:
 *   part[z, k, crs] = sum over q in slice z of dy[img, k, p] * xp[img, c, oh*stride + r, ow*stride + s]
 * GEMM M = K, N = C*R*S, Kd = Nimg*OH*OW (q = img*P + p); qTab[q] = (img*K*P + p, column base in xp);
 * A(k, q) = dy[qTab[q].x + k*P], B(q, crs) = xp[qTab[q].y + rowTab[crs]].
 * NDRange (ceil(CRS/TN)*8, ceil(K/TM)*8, splits); slice z covers [z*chunk, min((z+1)*chunk, Kd)).
 */
#define CONV_BACKWARD_FILTER_BODY \
    GEMM_DECLARE \
    const int z = get_group_id(2); \
    const int kBegin = z * chunk; \
    const int kEnd = min(Kd, kBegin + chunk); \
    int off[BCOLS]; \
    for (int q = 0; q < BCOLS; ++q) { \
        const int bcol = n0 + lid + WG * q; \
        off[q] = bcol < CRS ? rowTab[bcol] : -1; \
    } \
    for (int k0 = kBegin; k0 < kEnd; k0 += TK) { \
        { \
            const int gm = m0 + lid; \
            const int base0 = k0 + TK <= kEnd ? qTab[k0].x : -1; \
            if (gm < K && base0 >= 0 && qTab[k0 + TK - 1].x == base0 + TK - 1) { \
                /* the slice lies inside one image: its dy values are contiguous */ \
                vstore16(vload16(0, dy + base0 + gm * P), 0, &As[lid][0]); \
            } else { \
                for (int kk = 0; kk < TK; ++kk) { \
                    const int gk = k0 + kk; \
                    As[lid][kk] = (gm < K && gk < kEnd) ? dy[qTab[gk].x + gm * P] : 0.0f; \
                } \
            } \
            for (int r = 0; r < TK; ++r) { \
                const int gkb = k0 + r; \
                const int xb = gkb < kEnd ? qTab[gkb].y : -1; \
                for (int q = 0; q < BCOLS; ++q) \
                    Bs[r][lid + WG * q] = (xb >= 0 && off[q] >= 0) ? xp[xb + off[q]] : 0.0f; \
            } \
        } \
        barrier(CLK_LOCAL_MEM_FENCE); \
        GEMM_MULTIPLY_TILE \
        barrier(CLK_LOCAL_MEM_FENCE); \
    } \
    GEMM_ACC_TO_ARRAY(c) \
    __global float* dst = part + (size_t)z * K * CRS; \
    for (int i = 0; i < RM; ++i) { \
        const int row = m0 + ty * RM + i; \
        if (row >= K) break; \
        for (int j = 0; j < GEMM_VN; ++j) { \
            const int col = n0 + tx * GEMM_VN + j; \
            if (col < CRS) dst[(size_t)row * CRS + col] = c[i * GEMM_VN + j]; \
        } \
    } \

__kernel void conv2dBackwardFilter(const int K, const int CRS, const int Kd, const int P, const int chunk,
                                   __global const float* dy, __global const float* xp,
                                   __global const int* rowTab, __global const int2* qTab,
                                   __global float* part)
{
    CONV_BACKWARD_FILTER_BODY
}

/* conv2dReduceSplits: dw[i] = sum over z < splits of part[z*len + i], in z order. */
__kernel void conv2dReduceSplits(const int len, const int splits, __global const float* part, __global float* dw)
{
    const int i = get_global_id(0);
    if (i >= len) return;
    float s = 0.0f;
    for (int z = 0; z < splits; ++z) s += part[(size_t)z * len + i];
    dw[i] = s;
}

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

/*
 * "M32" versions of the three GEMM kernels for layers with at most 32 output rows (K or C <= 32): the
 * same code with work-groups of 8 x 4 work-items owning 32 x 64 tiles, so no half-empty 64-row tiles.
 */
#undef WY
#define WY 4

__kernel void conv2dForwardM32(const int Nimg, const int Cin, const int Hp, const int Wp, const int Mout,
                               const int Kd, const int stride, const int OH, const int OW,
                               __global const float* xp, __global const float* wm, __global const int* rowTab,
                               __global const float* bias, const int hasBias, __global float* out)
{
    CONV_GEMM_PADDED_BODY(hasBias)
}

__kernel void conv2dBackwardDataM32(const int Nimg, const int Cin, const int Hp, const int Wp, const int Mout,
                                    const int Kd, const int stride, const int OH, const int OW,
                                    __global const float* xp, __global const float* wm, __global const int* rowTab,
                                    __global float* out)
{
    __global const float* bias = wm; /* unused */
    CONV_GEMM_PADDED_BODY(0)
}

__kernel void conv2dBackwardFilterM32(const int K, const int CRS, const int Kd, const int P, const int chunk,
                                      __global const float* dy, __global const float* xp,
                                      __global const int* rowTab, __global const int2* qTab,
                                      __global float* part)
{
    CONV_BACKWARD_FILTER_BODY
}

#undef WY
#define WY 8
