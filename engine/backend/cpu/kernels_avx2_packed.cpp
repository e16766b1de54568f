// The AVX2 kernels for weights packed in groups of 8 rows (packed_weights.h): lane r
// of every vector belongs to row r, so one pass yields the 8 rows' sums in one
// register, the 8 rows' fp16 scales widen in one instruction, and each activation
// value is broadcast once for the 8 rows.
#include "backend/cpu/kernels_avx2_common.h"

namespace lumen::cpu::avx2 {

namespace {

// Four activation bytes (elements i..i+3) in every 32-bit lane: one lane per row.
inline __m256i broadcast4(const int8_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

// A group of 8 rows in the packed layout (packed_weights.h): lane r of every vector
// belongs to row r, so the 8 sums come out in one register, with one fp16 widening
// for the 8 scales. 4-bit weights stay unsigned (0..15) so that eight maddubs
// results fit int16 (|sum| <= 8 * 2 * 15 * 127). Q4_1 and Q8_0 (Q4_0: dot_packed8_q4_0).
template <DType T, int NT>
void dot_packed8_tokens(const uint8_t* group, const uint8_t* x, size_t x_stride, int64_t n, float* y) {
    constexpr bool kHasMin = T == DType::Q4_1;
    constexpr int kHeaderBytes = kHasMin ? 32 : 16;
    constexpr int kGroupBlockBytes = 8 * (T == DType::Q8_0 ? 34 : T == DType::Q4_1 ? 20 : 18);
    const auto xt = token_rows<ActivationBlockQ8, NT>(x, x_stride);
    __m256 acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
    const __m256i ones16 = _mm256_set1_epi16(1), low4 = _mm256_set1_epi8(0x0F);
    for (int64_t b = 0; b < n / 32; ++b) {
        const uint8_t* g = group + b * kGroupBlockBytes;
        prefetch_ahead<kGroupBlockBytes>(g);
        const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g)));
        const uint8_t* q = g + kHeaderBytes;
        if constexpr (T == DType::Q8_0) {
            for (int t = 0; t < NT; ++t) {
                const ActivationBlockQ8& a = xt[t][b];
                __m256i sum = _mm256_setzero_si256();
                for (int k = 0; k < 8; ++k) {
                    const __m256i w = load256(q + 32 * k);
                    const __m256i xs = _mm256_sign_epi8(broadcast4(a.qs + 4 * k), w);
                    sum =
                        _mm256_add_epi32(sum, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(w), xs), ones16));
                }
                acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(a.d)), _mm256_cvtepi32_ps(sum), acc[t]);
            }
        } else {
            __m256i lo[4], hi[4];
            for (int k = 0; k < 4; ++k) {
                const __m256i v = load256(q + 32 * k);
                lo[k] = _mm256_and_si256(v, low4);
                hi[k] = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
            }
            __m256 m;
            if constexpr (kHasMin) m = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g + 16)));
            for (int t = 0; t < NT; ++t) {
                const ActivationBlockQ8& a = xt[t][b];
                __m256i s16 = _mm256_maddubs_epi16(lo[0], broadcast4(a.qs));
                s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(hi[0], broadcast4(a.qs + 16)));
                for (int k = 1; k < 4; ++k) {
                    s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(lo[k], broadcast4(a.qs + 4 * k)));
                    s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(hi[k], broadcast4(a.qs + 16 + 4 * k)));
                }
                const __m256i sum = _mm256_madd_epi16(s16, ones16);
                acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(a.d)), _mm256_cvtepi32_ps(sum), acc[t]);
                if constexpr (kHasMin) acc[t] = _mm256_fmadd_ps(m, _mm256_set1_ps(a.s), acc[t]);
            }
        }
    }
    for (int t = 0; t < NT; ++t) _mm256_storeu_ps(y + 8 * t, acc[t]);
}

// Q4_0 in groups of 8 rows, for up to 8 tokens: each of a block's 4 weight vectors is
// split into its nibbles once and meets every token before the next one is loaded, so
// two weight registers stay live next to the NT int16 sums (NT = 8 amortizes the
// unpacking; the weights-outer order of dot_packed8_tokens spills at NT > 4).
// Weights stay unsigned (0..15): an int16 lane sums 16 products, |sum| <= 16 * 15 * 127.
// Int16 lane 0 of row r gathers elements i % 4 < 2, lane 1 elements i % 4 >= 2, and the
// offset of 8 comes off each with the activation's sum8 in one subtraction: the true
// sums, |.| <= 16 * 8 * 127, fit int16, so the wrapping arithmetic is exact and the
// result equals the scalar table's integer dot product.
template <int NT>
void dot_packed8_q4_0(const uint8_t* group, const uint8_t* x, size_t x_stride, int64_t n, float* y) {
    constexpr int kGroupBlockBytes = 8 * 18;
    const auto xt = token_rows<ActivationBlockQ8, NT>(x, x_stride);
    __m256 acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
    const __m256i ones16 = _mm256_set1_epi16(1), low4 = _mm256_set1_epi8(0x0F);
    for (int64_t b = 0; b < n / 32; ++b) {
        const uint8_t* g = group + b * kGroupBlockBytes;
        prefetch_ahead<kGroupBlockBytes>(g);
        const uint8_t* q = g + 16;
        __m256i s16[NT];
#pragma GCC unroll 4
        for (int k = 0; k < 4; ++k) {
            const __m256i v = load256(q + 32 * k);
            const __m256i lo = _mm256_and_si256(v, low4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
#pragma GCC unroll 8
            for (int t = 0; t < NT; ++t) {
                const int8_t* qs = xt[t][b].qs;
                const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(lo, broadcast4(qs + 4 * k)),
                                                   _mm256_maddubs_epi16(hi, broadcast4(qs + 16 + 4 * k)));
                s16[t] = k == 0 ? p : _mm256_add_epi16(s16[t], p);
                // Without this GCC computes all of a block's products first, and spills them.
                asm("" : "+x"(s16[t]));
            }
        }
        const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g)));
        for (int t = 0; t < NT; ++t) {
            const ActivationBlockQ8& a = xt[t][b];
            int32_t offset;
            std::memcpy(&offset, a.sum8, 4);
            const __m256i sum = _mm256_madd_epi16(_mm256_sub_epi16(s16[t], _mm256_set1_epi32(offset)), ones16);
            acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(a.d)), _mm256_cvtepi32_ps(sum), acc[t]);
        }
    }
    for (int t = 0; t < NT; ++t) _mm256_storeu_ps(y + 8 * t, acc[t]);
}

// pshufb indices that widen two bytes of each 32-bit lane (`first`, `second`; the same
// byte twice repeats it) into an int16 pair: zero-extended, or placed in the high half
// for signed_pair to sign-extend.
inline __m256i lane_bytes_to_i16(int first, int second, bool high_half = false) {
    alignas(32) int8_t idx[32];
    for (int lane = 0; lane < 8; ++lane) {
        const int base = 4 * (lane % 4);  // pshufb indexes within each 128-bit half
        const int at = high_half ? 1 : 0;
        idx[4 * lane + at] = int8_t(base + first);
        idx[4 * lane + 1 - at] = int8_t(0x80);
        idx[4 * lane + 2 + at] = int8_t(base + second);
        idx[4 * lane + 3 - at] = int8_t(0x80);
    }
    return _mm256_load_si256(reinterpret_cast<const __m256i*>(idx));
}

inline __m256i signed_pair(__m256i bytes, __m256i high_half_idx) {
    return _mm256_srai_epi16(_mm256_shuffle_epi8(bytes, high_half_idx), 8);
}

// Q4_K in groups of 8 rows: the rows' 6-bit scales and minimums decode with the same
// 32-bit masks as scales_mins_k4, on all 8 rows at once; each 32-element sub-block's
// int16 sums meet their scale in one madd (|sum| <= 30480, scale <= 63).
template <int NT>
void dot_packed8_q4k(const uint8_t* group, const uint8_t* x, size_t x_stride, int64_t n, float* y) {
    constexpr int kGroupBlockBytes = 8 * 144;
    const auto xt = token_rows<ActivationBlockQ8K, NT>(x, x_stride);
    __m256 acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
    const __m256i low4 = _mm256_set1_epi8(0x0F), low6 = _mm256_set1_epi8(0x3F), low2 = _mm256_set1_epi8(0x03);
    static const __m256i scale_of[4] = {lane_bytes_to_i16(0, 0), lane_bytes_to_i16(1, 1), lane_bytes_to_i16(2, 2),
                                        lane_bytes_to_i16(3, 3)};
    static const __m256i min_pair[2] = {lane_bytes_to_i16(0, 1), lane_bytes_to_i16(2, 3)};
    for (int64_t b = 0; b < n / 256; ++b) {
        const uint8_t* g = group + b * kGroupBlockBytes;
        prefetch_ahead<kGroupBlockBytes>(g);
        const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g)));
        const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g + 16)));
        const __m256i u0 = load256(g + 32), u1 = load256(g + 64), u2 = load256(g + 96);
        const __m256i scales_0_3 = _mm256_and_si256(u0, low6);
        const __m256i mins_0_3 = _mm256_and_si256(u1, low6);
        const __m256i scales_4_7 = _mm256_or_si256(
            _mm256_and_si256(u2, low4), _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(u0, 6), low2), 4));
        const __m256i mins_4_7 =
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(u2, 4), low4),
                            _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(u1, 6), low2), 4));
        const __m256i mins[4] = {_mm256_shuffle_epi8(mins_0_3, min_pair[0]), _mm256_shuffle_epi8(mins_0_3, min_pair[1]),
                                 _mm256_shuffle_epi8(mins_4_7, min_pair[0]),
                                 _mm256_shuffle_epi8(mins_4_7, min_pair[1])};
        __m256i sumi[NT];
        for (int t = 0; t < NT; ++t) sumi[t] = _mm256_setzero_si256();
        const uint8_t* q = g + 128;
        for (int c = 0; c < 4; ++c) {  // 64-element chunks: sub-blocks 2c (low nibbles) and 2c+1 (high)
            __m256i s16_lo[NT], s16_hi[NT];
            for (int t = 0; t < NT; ++t) s16_lo[t] = s16_hi[t] = _mm256_setzero_si256();
            for (int k = 0; k < 8; ++k) {
                const __m256i v = load256(q + 32 * (8 * c + k));
                const __m256i lo = _mm256_and_si256(v, low4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
                for (int t = 0; t < NT; ++t) {
                    const int8_t* xq = xt[t][b].qs + 64 * c + 4 * k;
                    s16_lo[t] = _mm256_add_epi16(s16_lo[t], _mm256_maddubs_epi16(lo, broadcast4(xq)));
                    s16_hi[t] = _mm256_add_epi16(s16_hi[t], _mm256_maddubs_epi16(hi, broadcast4(xq + 32)));
                    // As in dot_packed8_q4_0: keeps GCC from computing all the chunk's products
                    // first and spilling them to the stack (one core, L2-resident rows: 48 -> 54
                    // Gweights/s for one token). With 4 tokens the 8 sums need the registers.
                    if constexpr (NT <= 3) asm("" : "+x"(s16_lo[t]), "+x"(s16_hi[t]));
                }
            }
            const __m256i scales = c < 2 ? scales_0_3 : scales_4_7;
            const __m256i scale_lo = _mm256_shuffle_epi8(scales, scale_of[(2 * c) % 4]);
            const __m256i scale_hi = _mm256_shuffle_epi8(scales, scale_of[(2 * c + 1) % 4]);
            for (int t = 0; t < NT; ++t)
                sumi[t] = _mm256_add_epi32(sumi[t], _mm256_add_epi32(_mm256_madd_epi16(s16_lo[t], scale_lo),
                                                                     _mm256_madd_epi16(s16_hi[t], scale_hi)));
        }
        for (int t = 0; t < NT; ++t) {
            const ActivationBlockQ8K& a = xt[t][b];
            // Sums of x over the 8 sub-blocks (pairs of bsums), two per 32-bit word.
            const __m128i sub_sums = _mm_hadd_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a.bsums)),
                                                    _mm_loadu_si128(reinterpret_cast<const __m128i*>(a.bsums + 8)));
            __m256i min_sum = _mm256_madd_epi16(mins[0], _mm256_set1_epi32(_mm_extract_epi32(sub_sums, 0)));
            min_sum = _mm256_add_epi32(min_sum,
                                       _mm256_madd_epi16(mins[1], _mm256_set1_epi32(_mm_extract_epi32(sub_sums, 1))));
            min_sum = _mm256_add_epi32(min_sum,
                                       _mm256_madd_epi16(mins[2], _mm256_set1_epi32(_mm_extract_epi32(sub_sums, 2))));
            min_sum = _mm256_add_epi32(min_sum,
                                       _mm256_madd_epi16(mins[3], _mm256_set1_epi32(_mm_extract_epi32(sub_sums, 3))));
            const __m256 da = _mm256_set1_ps(a.d);
            acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(d, da), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
            acc[t] = _mm256_fnmadd_ps(_mm256_mul_ps(dmin, da), _mm256_cvtepi32_ps(min_sum), acc[t]);
        }
    }
    for (int t = 0; t < NT; ++t) _mm256_storeu_ps(y + 8 * t, acc[t]);
}

// Q6_K in groups of 8 rows: w = d * scale[s] * (u - 32), u 6 bits, 16 sub-blocks of 16.
// Two maddubs of 6-bit weights still fit int16 (2 * 2 * 63 * 127), so each pair meets
// its sub-block's scale in one madd; the -32 meets the bsums once per block.
template <int NT>
void dot_packed8_q6k(const uint8_t* group, const uint8_t* x, size_t x_stride, int64_t n, float* y) {
    constexpr int kGroupBlockBytes = 8 * 210;
    const auto xt = token_rows<ActivationBlockQ8K, NT>(x, x_stride);
    __m256 acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
    const __m256i low4 = _mm256_set1_epi8(0x0F), bits45 = _mm256_set1_epi8(0x30);
    static const __m256i scale_of[4] = {lane_bytes_to_i16(0, 0, true), lane_bytes_to_i16(1, 1, true),
                                        lane_bytes_to_i16(2, 2, true), lane_bytes_to_i16(3, 3, true)};
    static const __m256i scale_pair[2] = {lane_bytes_to_i16(0, 1, true), lane_bytes_to_i16(2, 3, true)};
    for (int64_t b = 0; b < n / 256; ++b) {
        const uint8_t* g = group + b * kGroupBlockBytes;
        prefetch_ahead<kGroupBlockBytes>(g);
        const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g)));
        const uint8_t* v = g + 16;  // vector k at v + 32k: ql 0..31, qh 32..47, scales 48..51
        // The 16 sub-block scales of the 8 rows, as int16 pairs, once per block.
        __m256i scales[16];
        for (int s = 0; s < 16; ++s) scales[s] = signed_pair(load256(v + 32 * (48 + s / 4)), scale_of[s % 4]);
        __m256i sumi[NT];
        for (int t = 0; t < NT; ++t) sumi[t] = _mm256_setzero_si256();
        for (int h = 0; h < 2; ++h)
            for (int p = 0; p < 4; ++p) {  // chunks k = 2p, 2p+1: sub-blocks 8h + 2m + p/2
                __m256i u[2][4];
                for (int i = 0; i < 2; ++i) {
                    const int k = 2 * p + i;
                    const __m256i A = load256(v + 32 * (16 * h + k)), B = load256(v + 32 * (16 * h + 8 + k));
                    const __m256i H = load256(v + 32 * (32 + 8 * h + k));
                    // The two high bits of quant j sit at bits 2j..2j+1 of H; each is moved to
                    // bits 4..5 with one 16-bit shift and a mask that drops what the shift
                    // carried in from the neighbouring byte.
                    u[i][0] =
                        _mm256_or_si256(_mm256_and_si256(A, low4), _mm256_and_si256(_mm256_slli_epi16(H, 4), bits45));
                    u[i][1] =
                        _mm256_or_si256(_mm256_and_si256(B, low4), _mm256_and_si256(_mm256_slli_epi16(H, 2), bits45));
                    u[i][2] =
                        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(A, 4), low4), _mm256_and_si256(H, bits45));
                    u[i][3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(B, 4), low4),
                                              _mm256_and_si256(_mm256_srli_epi16(H, 2), bits45));
                }
                __m256i scale[4];
                for (int m = 0; m < 4; ++m) scale[m] = scales[8 * h + 2 * m + p / 2];
                for (int t = 0; t < NT; ++t) {
                    const int8_t* xq = xt[t][b].qs + 128 * h + 8 * p;
                    for (int m = 0; m < 4; ++m) {
                        const __m256i s16 =
                            _mm256_add_epi16(_mm256_maddubs_epi16(u[0][m], broadcast4(xq + 32 * m)),
                                             _mm256_maddubs_epi16(u[1][m], broadcast4(xq + 32 * m + 4)));
                        sumi[t] = _mm256_add_epi32(sumi[t], _mm256_madd_epi16(s16, scale[m]));
                    }
                }
            }
        // sum over sub-blocks of scale * bsum, per row, as int16 pairs (scale[2j], scale[2j+1]).
        __m256i pairs[8];
        for (int j = 0; j < 8; ++j) pairs[j] = signed_pair(load256(v + 32 * (48 + j / 2)), scale_pair[j % 2]);
        for (int t = 0; t < NT; ++t) {
            const ActivationBlockQ8K& a = xt[t][b];
            __m256i offset = _mm256_setzero_si256();
            for (int j = 0; j < 8; ++j) {
                int32_t bs;
                std::memcpy(&bs, a.bsums + 2 * j, 4);
                offset = _mm256_add_epi32(offset, _mm256_madd_epi16(pairs[j], _mm256_set1_epi32(bs)));
            }
            const __m256i total = _mm256_sub_epi32(sumi[t], _mm256_slli_epi32(offset, 5));
            acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(a.d)), _mm256_cvtepi32_ps(total), acc[t]);
        }
    }
    for (int t = 0; t < NT; ++t) _mm256_storeu_ps(y + 8 * t, acc[t]);
}

template <int NT>
void dot_packed8_type(DType type, const uint8_t* group, const uint8_t* x, size_t stride, int64_t n, float* y) {
    switch (type) {
        case DType::Q4_1: return dot_packed8_tokens<DType::Q4_1, NT>(group, x, stride, n, y);
        case DType::Q8_0: return dot_packed8_tokens<DType::Q8_0, NT>(group, x, stride, n, y);
        case DType::Q4_K: return dot_packed8_q4k<NT>(group, x, stride, n, y);
        case DType::Q6_K: return dot_packed8_q6k<NT>(group, x, stride, n, y);
        default: return;  // not a packable type (packed_weights.h)
    }
}

}  // namespace

void dot_packed8(DType type, const uint8_t* group, const uint8_t* x, size_t x_stride, int n_tokens, int64_t n,
                 float* y) {
    if (type == DType::Q4_0) {
        switch (n_tokens) {
            case 1: return dot_packed8_q4_0<1>(group, x, x_stride, n, y);
            case 2: return dot_packed8_q4_0<2>(group, x, x_stride, n, y);
            case 3: return dot_packed8_q4_0<3>(group, x, x_stride, n, y);
            case 4: return dot_packed8_q4_0<4>(group, x, x_stride, n, y);
            case 5: return dot_packed8_q4_0<5>(group, x, x_stride, n, y);
            case 6: return dot_packed8_q4_0<6>(group, x, x_stride, n, y);
            case 7: return dot_packed8_q4_0<7>(group, x, x_stride, n, y);
            default: return dot_packed8_q4_0<8>(group, x, x_stride, n, y);
        }
    }
    switch (n_tokens) {
        case 1: return dot_packed8_type<1>(type, group, x, x_stride, n, y);
        case 2: return dot_packed8_type<2>(type, group, x, x_stride, n, y);
        case 3: return dot_packed8_type<3>(type, group, x, x_stride, n, y);
        default: return dot_packed8_type<4>(type, group, x, x_stride, n, y);
    }
}

}  // namespace lumen::cpu::avx2
