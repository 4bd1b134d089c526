// mma.h for shemu: nvcuda::wmma with every lane holding the whole fragment (element x[t] of a
// 16 x 16 x 8 tile in row-major order of the fragment's own matrix). Each lane computes the whole
// product, so no warp exchange is needed; the results equal the tensor cores' up to the order of
// the fp32 accumulation. Only what Semihard's kernels use: m16n16k8, TF32 inputs, fp32 accumulators.
#pragma once
namespace nvcuda { namespace wmma {
struct matrix_a {}; struct matrix_b {}; struct accumulator {};
struct row_major {}; struct col_major {};
namespace precision { struct tf32 {}; }
enum layout_t { mem_row_major, mem_col_major };

template <class Use, int M, int N, int K, class T, class Layout = void> struct fragment;
template <class T, class L> struct fragment<matrix_a, 16, 16, 8, T, L> {
    static constexpr int R = 16, C = 8, num_elements = 128; float x[128]; };
template <class T, class L> struct fragment<matrix_b, 16, 16, 8, T, L> {
    static constexpr int R = 8, C = 16, num_elements = 128; float x[128]; };
template <> struct fragment<accumulator, 16, 16, 8, float, void> {
    static constexpr int R = 16, C = 16, num_elements = 256; float x[256]; };

inline float __float_to_tf32(float f) {     // cvt.rna.tf32.f32: round to nearest, ties away, 10-bit mantissa
    unsigned u; memcpy(&u, &f, 4);
    if ((u & 0x7f800000u) != 0x7f800000u) { u += 0x1000u; u &= 0xffffe000u; }
    float r; memcpy(&r, &u, 4); return r;
}
template <class F> inline void fill_fragment(F& f, float v) { for (int t = 0; t < F::num_elements; t++) f.x[t] = v; }
// element (r, c) of the fragment's matrix at p: row-major p[r * ld + c], column-major p[c * ld + r]
template <class U, class T> inline void load_matrix_sync(fragment<U, 16, 16, 8, T, row_major>& f, const float* p, unsigned ld) {
    using F = fragment<U, 16, 16, 8, T, row_major>;
    for (int r = 0; r < F::R; r++) for (int c = 0; c < F::C; c++) f.x[r * F::C + c] = p[(size_t)r * ld + c]; }
template <class U, class T> inline void load_matrix_sync(fragment<U, 16, 16, 8, T, col_major>& f, const float* p, unsigned ld) {
    using F = fragment<U, 16, 16, 8, T, col_major>;
    for (int r = 0; r < F::R; r++) for (int c = 0; c < F::C; c++) f.x[r * F::C + c] = p[(size_t)c * ld + r]; }
template <class LA, class LB, class TA, class TB>
inline void mma_sync(fragment<accumulator, 16, 16, 8, float>& d, const fragment<matrix_a, 16, 16, 8, TA, LA>& a,
                     const fragment<matrix_b, 16, 16, 8, TB, LB>& b, const fragment<accumulator, 16, 16, 8, float>& c) {
    float out[256];
    for (int i = 0; i < 16; i++) for (int j = 0; j < 16; j++) {
        float s = c.x[i * 16 + j];
        for (int k = 0; k < 8; k++) s += a.x[i * 8 + k] * b.x[k * 16 + j];
        out[i * 16 + j] = s;
    }
    memcpy(d.x, out, sizeof out);
}
inline void store_matrix_sync(float* p, const fragment<accumulator, 16, 16, 8, float>& f, unsigned ld, layout_t l) {
    for (int r = 0; r < 16; r++) for (int c = 0; c < 16; c++)
        p[l == mem_row_major ? (size_t)r * ld + c : (size_t)c * ld + r] = f.x[r * 16 + c];
}
}}  // namespace nvcuda::wmma
