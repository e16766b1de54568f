// The AVX2 kernel table (with FMA and F16C), compiled for that instruction set
// alone and used only when the CPU reports it. Decoding streams every weight
// once, so these kernels unpack a block in registers, multiply it with the
// 8-bit activations of up to four tokens (the weights are unpacked once per
// pass), with enough independent accumulators that no add chain stalls the
// stream of loads. The kernels for packed 8-row groups are in kernels_avx2_packed.cpp.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "backend/cpu/kernels.h"
#include "backend/cpu/kernels_avx2_common.h"

namespace lumen::cpu {

namespace {

using namespace avx2;

// ---------------------------------------------------------------- helpers

// 32 nibbles: bytes 0..15 get the low nibbles of the 16 bytes, bytes 16..31 the high ones
// (the element order of the 32-block formats).
inline __m256i nibbles_32(const uint8_t* p) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m256i both = _mm256_set_m128i(_mm_srli_epi16(v, 4), v);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

// 0xFF in byte j where bit j of `bits` is set.
inline __m256i byte_mask_from_bits(uint32_t bits) {
    const __m256i spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32(int(bits)), _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2,
                                                       2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
    const __m256i bit = _mm256_set1_epi64x(int64_t(0x8040201008040201ULL));
    return _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
}

// Sum of signed w[i] * x[i] over pairs into 8 int32 (|w| <= 128, |x| <= 127: no saturation).
inline __m256i dot_signed(__m256i w, __m256i x) {
    const __m256i prod = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
    return _mm256_madd_epi16(prod, _mm256_set1_epi16(1));
}

// Unsigned w (<= 63) times signed x, pairs into 16 int16.
inline __m256i dot_unsigned16(__m256i w, __m256i x) {
    return _mm256_maddubs_epi16(w, x);
}

// ---------------------------------------------------------------- f32 activations

float dot_f32(const float* a, const float* b, int64_t n) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
        acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), acc2);
        acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), acc3);
    }
    for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    float sum = hsum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (; i < n; ++i) sum += a[i] * b[i];
    return sum;
}

void axpy_f32(float alpha, const float* x, float* y, int64_t n) {
    const __m256 a = _mm256_set1_ps(alpha);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(a, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; ++i) y[i] += alpha * x[i];
}

void axpy_f16(float alpha, const uint16_t* x, float* y, int64_t n) {
    const __m256 a = _mm256_set1_ps(alpha);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i)));
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(a, v, _mm256_loadu_ps(y + i)));
    }
    for (; i < n; ++i) y[i] += alpha * _cvtsh_ss(x[i]);
}

inline __m256 load_f16x8(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

void axpy4_f16(const float* alpha, int64_t alpha_stride, int n_out, const uint16_t* const values[4], float* y,
               int64_t y_stride, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v0 = load_f16x8(values[0] + i), v1 = load_f16x8(values[1] + i), v2 = load_f16x8(values[2] + i),
                     v3 = load_f16x8(values[3] + i);
        for (int o = 0; o < n_out; ++o) {
            const float* a = alpha + o * alpha_stride;
            float* yo = y + o * y_stride + i;
            __m256 acc = _mm256_loadu_ps(yo);
            acc = _mm256_fmadd_ps(_mm256_set1_ps(a[0]), v0, acc);
            acc = _mm256_fmadd_ps(_mm256_set1_ps(a[1]), v1, acc);
            acc = _mm256_fmadd_ps(_mm256_set1_ps(a[2]), v2, acc);
            acc = _mm256_fmadd_ps(_mm256_set1_ps(a[3]), v3, acc);
            _mm256_storeu_ps(yo, acc);
        }
    }
    for (; i < n; ++i)
        for (int o = 0; o < n_out; ++o)
            for (int j = 0; j < 4; ++j) y[o * y_stride + i] += alpha[o * alpha_stride + j] * _cvtsh_ss(values[j][i]);
}

// exp(x), with x clamped to [-87.3, 88]: the Cephes single-precision range reduction
// and polynomial, about 2 ulp.
inline __m256 exp256(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.0f));
    const __m256 fx = _mm256_round_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)),
                                      _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
    __m256 y = _mm256_set1_ps(1.9875691500e-4f);
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.f)));
    const __m256i pow2n = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(pow2n));
}

void softmax(float* x, int64_t n) {
    __m256 mv = _mm256_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) mv = _mm256_max_ps(mv, _mm256_loadu_ps(x + i));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mv), _mm256_extractf128_ps(mv, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    float max = _mm_cvtss_f32(_mm_max_ss(m4, _mm_movehdup_ps(m4)));
    for (int64_t j = i; j < n; ++j) max = std::max(max, x[j]);
    const __m256 maxv = _mm256_set1_ps(max);
    __m256 sumv = _mm256_setzero_ps();
    for (i = 0; i + 8 <= n; i += 8) {
        const __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), maxv));
        _mm256_storeu_ps(x + i, e);
        sumv = _mm256_add_ps(sumv, e);
    }
    float sum = hsum(sumv);
    for (; i < n; ++i) {
        x[i] = std::exp(x[i] - max);
        sum += x[i];
    }
    const __m256 inv = _mm256_set1_ps(1.0f / sum);
    for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
    for (; i < n; ++i) x[i] *= 1.0f / sum;
}

void silu_mul(const float* gate, const float* up, float* out, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.f), sign_bit = _mm256_set1_ps(-0.f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 g = _mm256_loadu_ps(gate + i);
        const __m256 silu = _mm256_div_ps(g, _mm256_add_ps(one, exp256(_mm256_xor_ps(g, sign_bit))));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(silu, _mm256_loadu_ps(up + i)));
    }
    for (; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void f32_to_f16(const float* x, uint16_t* out, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    for (; i < n; ++i) out[i] = _cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT);
}

// The fp8 formats (quant/lumen_formats.h) decode to f32 in registers and share the
// float kernels; the per-channel scale heads the row.
constexpr bool has_row_scale(DType T) {
    return T == DType::F8_E4M3_CH || T == DType::F8_E4M3_T;
}

// The byte where element i's data lies (for prefetching).
template <DType T>
constexpr int64_t weight_byte(int64_t i) {
    if constexpr (T == DType::F32)
        return 4 * i;
    else if constexpr (T == DType::F16 || T == DType::BF16)
        return 2 * i;
    else
        return i + (has_row_scale(T) ? 4 : 0);
}

inline float row_scale(const uint8_t* row) {
    float s;
    std::memcpy(&s, row, 4);
    return s;
}

// e4m3 bytes to f32: the 7 magnitude bits shifted into an fp16 (bias 15 instead of 7,
// so the value is 2^-8 of the e4m3 one; the caller's scale absorbs the 2^8).
inline __m256 e4m3x8_scaled_down(const uint8_t* p) {
    const __m128i b = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
    const __m128i h = _mm_or_si128(_mm_slli_epi16(_mm_and_si128(b, _mm_set1_epi16(0x80)), 8),
                                   _mm_slli_epi16(_mm_and_si128(b, _mm_set1_epi16(0x7F)), 7));
    return _mm256_cvtph_ps(h);
}

template <DType T>
inline __m256 load_weights8(const uint8_t* row, int64_t i) {
    if constexpr (T == DType::F32) {
        return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + i);
    } else if constexpr (T == DType::F16) {
        return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * i)));
    } else if constexpr (T == DType::BF16) {  // the upper half of an f32
        const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * i)));
        return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
    } else if constexpr (T == DType::F8_E4M3_CH || T == DType::F8_E4M3_T) {
        return _mm256_mul_ps(e4m3x8_scaled_down(row + 4 + i), _mm256_set1_ps(row_scale(row) * 256.f));
    } else if constexpr (T == DType::F8_E4M3) {
        return _mm256_mul_ps(e4m3x8_scaled_down(row + i), _mm256_set1_ps(256.f));
    } else {  // fp8 e5m2: the upper byte of an fp16
        const __m128i b = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + i)));
        return _mm256_cvtph_ps(_mm_slli_epi16(b, 8));
    }
}

template <DType T>
inline float weight_at(const uint8_t* row, int64_t i) {
    if constexpr (T == DType::F32) {
        return reinterpret_cast<const float*>(row)[i];
    } else if constexpr (T == DType::F16 || T == DType::BF16) {
        uint16_t h;
        std::memcpy(&h, row + 2 * i, 2);
        return T == DType::F16 ? _cvtsh_ss(h) : bf16_to_fp32(h);
    } else if constexpr (T == DType::F8_E4M3_CH || T == DType::F8_E4M3_T) {
        return row_scale(row) * fp8_e4m3_to_fp32(row[4 + i]);
    } else if constexpr (T == DType::F8_E4M3) {
        return fp8_e4m3_to_fp32(row[i]);
    } else {
        return fp8_e5m2_to_fp32(row[i]);
    }
}

// R rows x NT tokens of float weights: one vector accumulator per (row, token) along the
// row, each computed by the same operations whatever R and NT are, so a result does not
// depend on its tile. Row r for token t goes to y[t * y_stride + r].
template <DType T, int R, int NT>
void dot_float_tile(const uint8_t* rows, size_t row_stride, const uint8_t* x, size_t x_stride, int64_t n, float* y,
                    int64_t y_stride) {
    const auto xt = token_rows<float, NT>(x, x_stride);
    __m256 acc[R][NT];
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < NT; ++t) acc[r][t] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        if (weight_byte<T>(i) % 64 < weight_byte<T>(8))  // once per 64 bytes of the row
            for (int r = 0; r < R; ++r) prefetch_ahead<1>(rows + size_t(r) * row_stride + weight_byte<T>(i));
        __m256 xv[NT];
        for (int t = 0; t < NT; ++t) {
            xv[t] = _mm256_loadu_ps(xt[t] + i);
            // Keep the activations in registers: left alone, GCC folds them into every
            // FMA as a memory operand, ten loads per eight FMAs instead of six.
            asm("" : "+x"(xv[t]));
        }
        for (int r = 0; r < R; ++r) {
            const __m256 w = load_weights8<T>(rows + size_t(r) * row_stride, i);
            for (int t = 0; t < NT; ++t) acc[r][t] = _mm256_fmadd_ps(w, xv[t], acc[r][t]);
        }
    }
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < NT; ++t) {
            float sum = hsum(acc[r][t]);
            for (int64_t j = i; j < n; ++j) sum += weight_at<T>(rows + size_t(r) * row_stride, j) * xt[t][j];
            y[t * y_stride + r] = sum;
        }
}

// Float weights in tiles of 4 rows x 3 tokens (as llama.cpp's tinyBLAS on AVX2): the 3
// tokens' activations stay in registers, each row's weights are loaded once for them,
// 12 FMA chains, 7 loads per 12 FMAs; a remainder of 4 tokens goes as 2 + 2 (4 x 2
// tiles, 8 chains), never as 3 + 1, whose single chain per row runs 8x slower. One or
// two tokens alone over long rows (a decode GEMV) go row by row instead: that is bound
// by memory, and one sequential stream per thread reads faster than interleaved rows
// (a 32000 x 288 f32 GEMV ran at 20 GB/s on one Zen 3 core row by row, 13 GB/s four
// rows at a time). Short rows, such as one query's attention keys (head_dim long, in
// cache), are bound by the FMA latency instead and go four rows at a time.
template <DType T, int NT, int kRowsPerTile>
void dot_float_token_tile(const uint8_t* rows, size_t row_stride, int n_rows, const uint8_t* x, size_t x_stride,
                          int64_t n, float* y, int64_t y_stride) {
    int r = 0;
    for (; r + kRowsPerTile <= n_rows; r += kRowsPerTile)
        dot_float_tile<T, kRowsPerTile, NT>(rows + size_t(r) * row_stride, row_stride, x, x_stride, n, y + r, y_stride);
    for (; r < n_rows; ++r)
        dot_float_tile<T, 1, NT>(rows + size_t(r) * row_stride, row_stride, x, x_stride, n, y + r, y_stride);
}

template <DType T>
void dot_float_rows(const uint8_t* rows, size_t row_stride, int n_rows, const uint8_t* x, size_t x_stride, int n_tokens,
                    int64_t n, float* y, int64_t y_stride) {
    constexpr int64_t kStreamingRow = 256;  // elements: from here a lone row's FMA chain outruns memory
    if (n_tokens <= 2 && n < kStreamingRow) {
        if (n_tokens == 1) return dot_float_token_tile<T, 1, 4>(rows, row_stride, n_rows, x, x_stride, n, y, y_stride);
        return dot_float_token_tile<T, 2, 4>(rows, row_stride, n_rows, x, x_stride, n, y, y_stride);
    }
    if (n_tokens == 1) return dot_float_token_tile<T, 1, 1>(rows, row_stride, n_rows, x, x_stride, n, y, y_stride);
    if (n_tokens == 2) return dot_float_token_tile<T, 2, 1>(rows, row_stride, n_rows, x, x_stride, n, y, y_stride);
    for (int t0 = 0; t0 < n_tokens;) {
        const int left = n_tokens - t0;
        const int nt = left == 4 ? 2 : std::min(3, left);  // n_tokens >= 3: never a lone token
        const uint8_t* xt = x + size_t(t0) * x_stride;
        float* yt = y + t0 * y_stride;
        if (nt == 3)
            dot_float_token_tile<T, 3, 4>(rows, row_stride, n_rows, xt, x_stride, n, yt, y_stride);
        else
            dot_float_token_tile<T, 2, 4>(rows, row_stride, n_rows, xt, x_stride, n, yt, y_stride);
        t0 += nt;
    }
}

// ---------------------------------------------------------------- 32-block formats, 8-bit activations

void quantize_q8(const float* x, int64_t n, ActivationBlockQ8* out) {
    const __m256 sign_bit = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < n / 32; ++b) {
        const float* xb = x + b * 32;
        __m256 v[4];
        for (int k = 0; k < 4; ++k) v[k] = _mm256_loadu_ps(xb + 8 * k);
        __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign_bit, v[0]), _mm256_andnot_ps(sign_bit, v[1])),
                                 _mm256_max_ps(_mm256_andnot_ps(sign_bit, v[2]), _mm256_andnot_ps(sign_bit, v[3])));
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const float amax = _mm_cvtss_f32(m4);
        const float d = amax / 127.f;
        const __m256 id = _mm256_set1_ps(amax != 0.f ? 127.f / amax : 0.f);
        __m256i q[4];
        for (int k = 0; k < 4; ++k)
            q[k] = _mm256_cvtps_epi32(
                _mm256_round_ps(_mm256_mul_ps(v[k], id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        // Lane j holds the elements j (mod 8): lanes j % 4 < 2 and j % 4 >= 2 give sum8.
        const __m256i q_all = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
        __m128i q4 = _mm_add_epi32(_mm256_castsi256_si128(q_all), _mm256_extracti128_si256(q_all, 1));
        q4 = _mm_add_epi32(q4, _mm_shuffle_epi32(q4, _MM_SHUFFLE(2, 3, 0, 1)));
        const int32_t half0 = _mm_cvtsi128_si32(q4), half1 = _mm_extract_epi32(q4, 2);
        const int32_t sum = half0 + half1;
        // Packing works within 128-bit lanes; the permute puts the 32 bytes back in order.
        const __m256i p16a = _mm256_packs_epi32(q[0], q[1]), p16b = _mm256_packs_epi32(q[2], q[3]);
        const __m256i p8 =
            _mm256_permutevar8x32_epi32(_mm256_packs_epi16(p16a, p16b), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        ActivationBlockQ8& a = out[b];
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(a.qs), p8);
        a.d = _cvtsh_ss(_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT));
        a.s = _cvtsh_ss(_cvtss_sh(d * float(sum), _MM_FROUND_TO_NEAREST_INT));
        a.sum8[0] = int16_t(8 * half0);
        a.sum8[1] = int16_t(8 * half1);
    }
}

// llama.cpp's Q8_K, bitwise as the scalar table: the value of largest magnitude (the
// first one, with its sign) maps to -127; round half to even; clamp at 127.
void quantize_q8k(const float* x, int64_t n, ActivationBlockQ8K* out) {
    const __m256 sign_bit = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < n / 256; ++b) {
        const float* xb = x + b * 256;
        ActivationBlockQ8K& a = out[b];
        __m256 m = _mm256_setzero_ps();
        for (int k = 0; k < 32; ++k) m = _mm256_max_ps(m, _mm256_andnot_ps(sign_bit, _mm256_loadu_ps(xb + 8 * k)));
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        const float amax = _mm_cvtss_f32(_mm_max_ss(m4, _mm_movehdup_ps(m4)));
        if (amax == 0.f) {
            a.d = 0.f;
            std::memset(a.qs, 0, sizeof(a.qs));
            std::memset(a.bsums, 0, sizeof(a.bsums));
            continue;
        }
        float max = amax;
        const __m256 amax_v = _mm256_set1_ps(amax);
        for (int k = 0; k < 32; ++k) {
            const int hits = _mm256_movemask_ps(
                _mm256_cmp_ps(_mm256_andnot_ps(sign_bit, _mm256_loadu_ps(xb + 8 * k)), amax_v, _CMP_EQ_OQ));
            if (hits) {
                max = xb[8 * k + __builtin_ctz(unsigned(hits))];
                break;
            }
        }
        const float iscale = -127.f / max;
        const __m256 iv = _mm256_set1_ps(iscale);
        const __m256i limit = _mm256_set1_epi32(127);
        for (int c = 0; c < 8; ++c) {  // 32 values per pass
            __m256i q[4];
            for (int k = 0; k < 4; ++k)
                q[k] = _mm256_min_epi32(
                    limit, _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(iv, _mm256_loadu_ps(xb + 32 * c + 8 * k)),
                                                              _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
            a.bsums[2 * c] = int16_t(hsum_i32(_mm256_add_epi32(q[0], q[1])));
            a.bsums[2 * c + 1] = int16_t(hsum_i32(_mm256_add_epi32(q[2], q[3])));
            const __m256i p16a = _mm256_packs_epi32(q[0], q[1]), p16b = _mm256_packs_epi32(q[2], q[3]);
            const __m256i p8 =
                _mm256_permutevar8x32_epi32(_mm256_packs_epi16(p16a, p16b), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(a.qs + 32 * c), p8);
        }
        a.d = 1.f / iscale;
    }
}

// A weight block as 32 int8 (signed for symmetric formats, unsigned for the ones with a minimum).
template <DType T>
inline __m256i unpack_block32(const uint8_t* b, float* d, float* m) {
    if constexpr (T == DType::Q8_0) {
        *d = half_at(b);
        return load256(b + 2);
    } else if constexpr (T == DType::Q4_0) {
        *d = half_at(b);
        return _mm256_sub_epi8(nibbles_32(b + 2), _mm256_set1_epi8(8));
    } else if constexpr (T == DType::Q4_1) {
        *d = half_at(b);
        *m = half_at(b + 2);
        return nibbles_32(b + 4);
    } else if constexpr (T == DType::Q5_0) {
        *d = half_at(b);
        uint32_t qh;
        std::memcpy(&qh, b + 2, 4);
        // q - 16: the nibble alone when the fifth bit is set, else the nibble minus 16 (0xF0 | nibble).
        const __m256i high_clear = _mm256_andnot_si256(byte_mask_from_bits(qh), _mm256_set1_epi8(char(0xF0)));
        return _mm256_or_si256(nibbles_32(b + 6), high_clear);
    } else {  // Q5_1
        *d = half_at(b);
        *m = half_at(b + 2);
        uint32_t qh;
        std::memcpy(&qh, b + 4, 4);
        const __m256i high = _mm256_and_si256(byte_mask_from_bits(qh), _mm256_set1_epi8(0x10));
        return _mm256_or_si256(nibbles_32(b + 8), high);
    }
}

template <DType T, int NT>
void dot_block32(const uint8_t* row, const uint8_t* x, size_t x_stride, int64_t n, float* y) {
    constexpr bool kHasMin = T == DType::Q4_1 || T == DType::Q5_1;
    constexpr int kBlockBytes = T == DType::Q8_0   ? 34
                                : T == DType::Q4_0 ? 18
                                : T == DType::Q4_1 ? 20
                                : T == DType::Q5_0 ? 22
                                                   : 24;
    const auto xt = token_rows<ActivationBlockQ8, NT>(x, x_stride);
    // Two accumulators per token (even and odd blocks), each with its own minimum sum: the
    // loop is unrolled by two so that both live in registers and no add chain serializes it.
    __m256 acc0[NT], acc1[NT];
    float min0[NT] = {}, min1[NT] = {};
    for (int t = 0; t < NT; ++t) acc0[t] = acc1[t] = _mm256_setzero_ps();
    auto block = [&](int64_t b, __m256 * acc, float* acc_min) __attribute__((always_inline)) {
        float d, m = 0.f;
        prefetch_ahead<kBlockBytes>(row + b * kBlockBytes);
        const __m256i w = unpack_block32<T>(row + b * kBlockBytes, &d, &m);
        for (int t = 0; t < NT; ++t) {
            const ActivationBlockQ8& a = xt[t][b];
            const __m256i xq = load256(a.qs);
            const __m256i sums =
                kHasMin ? _mm256_madd_epi16(dot_unsigned16(w, xq), _mm256_set1_epi16(1)) : dot_signed(w, xq);
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * a.d), _mm256_cvtepi32_ps(sums), acc[t]);
            if constexpr (kHasMin) acc_min[t] += m * a.s;
        }
    };
    const int64_t n_blocks = n / 32;
    int64_t b = 0;
    for (; b + 2 <= n_blocks; b += 2) {
        block(b, acc0, min0);
        block(b + 1, acc1, min1);
    }
    if (b < n_blocks) block(b, acc0, min0);
    for (int t = 0; t < NT; ++t) y[t] = hsum(_mm256_add_ps(acc0[t], acc1[t])) + (min0[t] + min1[t]);
}

// ---------------------------------------------------------------- k-quants, Q8_K activations

// The eight 6-bit scales and eight 6-bit mins packed in 12 bytes, widened to int16:
// scale[0..7] then min[0..7]. Rearranged with 32-bit masks instead of per-byte branches.
inline void scales_mins_k4(const uint8_t* q, int16_t* scale_min) {
    uint32_t u[4];
    std::memcpy(u, q, 12);
    const uint32_t low6 = 0x3f3f3f3f, low4 = 0x0f0f0f0f, low2 = 0x03030303;
    u[3] = ((u[2] >> 4) & low4) | (((u[1] >> 6) & low2) << 4);  // mins 4..7
    const uint32_t mins_0_3 = u[1] & low6;
    u[1] = (u[2] & low4) | (((u[0] >> 6) & low2) << 4);  // scales 4..7
    u[2] = mins_0_3;
    u[0] &= low6;  // scales 0..3
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(scale_min),
                        _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(u))));
}

// Q4_K (144-byte blocks) and Q5_K (176): w = d*scale[s]*u - dmin*min[s] over 8 sub-blocks of 32.
template <bool kFiveBit, int NT>
void dot_q4k_q5k(const uint8_t* row, const uint8_t* x, size_t x_stride, int64_t n, float* y) {
    constexpr int kBlockBytes = kFiveBit ? 176 : 144;
    const auto xt = token_rows<ActivationBlockQ8K, NT>(x, x_stride);
    __m256 acc[NT];
    float acc_min[NT] = {};
    for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
    const __m256i low4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    for (int64_t b = 0; b < n / 256; ++b) {
        const uint8_t* blk = row + b * kBlockBytes;
        prefetch_ahead<kBlockBytes>(blk);
        const float d = half_at(blk), dmin = half_at(blk + 2);
        int16_t scale_min[16];
        scales_mins_k4(blk + 4, scale_min);
        const int16_t* scale = scale_min;
        const int16_t* min = scale_min + 8;
        const uint8_t* qs = blk + (kFiveBit ? 48 : 16);
        const __m256i qh = kFiveBit ? load256(blk + 16) : _mm256_setzero_si256();
        __m256i sumi[NT];
        for (int t = 0; t < NT; ++t) sumi[t] = _mm256_setzero_si256();
        for (int j = 0; j < 4; ++j) {
            const __m256i q = load256(qs + 32 * j);
            __m256i lo = _mm256_and_si256(q, low4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
            if constexpr (kFiveBit) {
                lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * j), one), 4));
                hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * j + 1), one), 4));
            }
            const __m256i s_lo = _mm256_set1_epi16(scale[2 * j]), s_hi = _mm256_set1_epi16(scale[2 * j + 1]);
            for (int t = 0; t < NT; ++t) {
                const int8_t* xq = xt[t][b].qs + 64 * j;
                const __m256i p_lo = _mm256_madd_epi16(dot_unsigned16(lo, load256(xq)), s_lo);
                const __m256i p_hi = _mm256_madd_epi16(dot_unsigned16(hi, load256(xq + 32)), s_hi);
                sumi[t] = _mm256_add_epi32(sumi[t], _mm256_add_epi32(p_lo, p_hi));
            }
        }
        // Each min covers two runs of 16: pair the 16 bsums with the mins repeated twice.
        const __m128i mins8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(min));
        const __m256i mins16 = _mm256_set_m128i(_mm_unpackhi_epi16(mins8, mins8), _mm_unpacklo_epi16(mins8, mins8));
        for (int t = 0; t < NT; ++t) {
            const ActivationBlockQ8K& a = xt[t][b];
            const int32_t sum_min = hsum_i32(_mm256_madd_epi16(load256(a.bsums), mins16));
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(a.d * d), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
            acc_min[t] += a.d * dmin * float(sum_min);
        }
    }
    for (int t = 0; t < NT; ++t) y[t] = hsum(acc[t]) - acc_min[t];
}

// Q6_K (210-byte blocks): w = d*scale[s]*(u - 32) over 16 sub-blocks of 16; the -32 meets bsums.
template <int NT>
void dot_q6k(const uint8_t* row, const uint8_t* x, size_t x_stride, int64_t n, float* y) {
    const auto xt = token_rows<ActivationBlockQ8K, NT>(x, x_stride);
    __m256 acc[NT];
    float acc_offset[NT] = {};
    for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
    const __m256i low4 = _mm256_set1_epi8(0x0F), low2 = _mm256_set1_epi8(0x03);
    for (int64_t b = 0; b < n / 256; ++b) {
        const uint8_t* blk = row + b * 210;
        prefetch_ahead<210>(blk);
        const auto* sc = reinterpret_cast<const int8_t*>(blk + 192);
        const float d = half_at(blk + 208);
        __m256i sumi[NT];
        for (int t = 0; t < NT; ++t) sumi[t] = _mm256_setzero_si256();
        for (int half = 0; half < 2; ++half) {
            const __m256i qa = load256(blk + 64 * half), qb = load256(blk + 64 * half + 32);
            const __m256i qh = load256(blk + 128 + 32 * half);
            __m256i u[4];
            u[0] = _mm256_or_si256(_mm256_and_si256(qa, low4), _mm256_slli_epi16(_mm256_and_si256(qh, low2), 4));
            u[1] = _mm256_or_si256(_mm256_and_si256(qb, low4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), low2), 4));
            u[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qa, 4), low4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), low2), 4));
            u[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qb, 4), low4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), low2), 4));
            for (int k = 0; k < 4; ++k) {
                const int s = 8 * half + 2 * k;  // sub-blocks s (bytes 0..15) and s+1 (16..31)
                const __m256i scales = _mm256_set_m128i(_mm_set1_epi16(sc[s + 1]), _mm_set1_epi16(sc[s]));
                for (int t = 0; t < NT; ++t) {
                    const __m256i xq = load256(xt[t][b].qs + 128 * half + 32 * k);
                    sumi[t] = _mm256_add_epi32(sumi[t], _mm256_madd_epi16(dot_unsigned16(u[k], xq), scales));
                }
            }
        }
        const __m256i scales16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sc)));
        for (int t = 0; t < NT; ++t) {
            const ActivationBlockQ8K& a = xt[t][b];
            const int32_t offset = hsum_i32(_mm256_madd_epi16(load256(a.bsums), scales16));
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(a.d * d), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
            acc_offset[t] += a.d * d * float(32 * offset);
        }
    }
    for (int t = 0; t < NT; ++t) y[t] = hsum(acc[t]) - acc_offset[t];
}

// ---------------------------------------------------------------- int8-ch and int4 groups, 16-bit activations

// int8 x int16 pairs (madd_epi16) into int32 lanes, moved into floats every 128 steps
// of 16 (a lane then holds at most 128 * 2 * 127 * 32767 < 2^31).
template <int NT>
void dot_i8ch_i16(const uint8_t* row, const uint8_t* x, size_t stride, int64_t n, float* y) {
    const auto* w = reinterpret_cast<const int8_t*>(row + 4);
    __m256i acc[NT];
    __m256 accf[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_si256(), accf[t] = _mm256_setzero_ps();
    int64_t i = 0;
    int pending = 0;
    for (; i + 16 <= n; i += 16) {
        if (i % 64 == 0) prefetch_ahead<1>(reinterpret_cast<const uint8_t*>(w + i));
        const __m256i w16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i)));
        for (int t = 0; t < NT; ++t)
            acc[t] = _mm256_add_epi32(acc[t], _mm256_madd_epi16(w16, load256(i16_values(x + t * stride) + i)));
        if (++pending == 128) {
            for (int t = 0; t < NT; ++t)
                accf[t] = _mm256_add_ps(accf[t], _mm256_cvtepi32_ps(acc[t])), acc[t] = _mm256_setzero_si256();
            pending = 0;
        }
    }
    for (int t = 0; t < NT; ++t) {
        const uint8_t* xt = x + t * stride;
        float sum = hsum(_mm256_add_ps(accf[t], _mm256_cvtepi32_ps(acc[t])));
        for (int64_t j = i; j < n; ++j) sum += float(int32_t(w[j]) * i16_values(xt)[j]);
        ActivationRowI16 header;
        std::memcpy(&header, xt, sizeof header);
        y[t] = row_scale(row) * header.scale * sum;
    }
}

// int4 groups of G: per group, 16 low and 16 high nibbles widened to int16 meet the
// activations in madd_epi16; d scales the group's integer sum, and the offset m
// (-8 d when symmetric) multiplies the activations' sum over the group.
template <int G, bool kAsym, int NT>
void dot_int4_i16(const uint8_t* row, const uint8_t* x, size_t stride, int64_t n, float* y) {
    constexpr int kHeader = kAsym ? 4 : 2, kBlockBytes = kHeader + G / 2;
    const __m128i low4 = _mm_set1_epi8(0x0F);
    __m256 acc[NT];
    float offset[NT] = {};
    for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / G; ++b) {
        const uint8_t* block = row + b * kBlockBytes;
        if ((b * kBlockBytes) % 64 < kBlockBytes) prefetch_ahead<1>(block);
        __m256i sum[NT];
        for (int t = 0; t < NT; ++t) sum[t] = _mm256_setzero_si256();
        for (int k = 0; k < G / 2; k += 16) {
            const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + kHeader + k));
            const __m256i lo = _mm256_cvtepu8_epi16(_mm_and_si128(bytes, low4));
            const __m256i hi = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(bytes, 4), low4));
            for (int t = 0; t < NT; ++t) {
                const int16_t* xq = i16_values(x + t * stride) + b * G;
                sum[t] = _mm256_add_epi32(sum[t], _mm256_madd_epi16(lo, load256(xq + k)));
                sum[t] = _mm256_add_epi32(sum[t], _mm256_madd_epi16(hi, load256(xq + G / 2 + k)));
            }
        }
        uint16_t h;
        std::memcpy(&h, block, 2);
        const float d = _cvtsh_ss(h);
        float m = -8.f * d;
        if constexpr (kAsym) {
            std::memcpy(&h, block + 2, 2);
            m = _cvtsh_ss(h);
        }
        const __m256 dv = _mm256_set1_ps(d);
        for (int t = 0; t < NT; ++t) {
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum[t]), dv, acc[t]);
            const int32_t* sums = i16_block_sums(x + t * stride, n) + b * (G / 32);
            int32_t sum_x = 0;
            for (int j = 0; j < G / 32; ++j) sum_x += sums[j];
            offset[t] += m * float(sum_x);
        }
    }
    for (int t = 0; t < NT; ++t) {
        ActivationRowI16 header;
        std::memcpy(&header, x + t * stride, sizeof header);
        y[t] = header.scale * (hsum(acc[t]) + offset[t]);
    }
}

// ---------------------------------------------------------------- int8-w8a8 (LLM.int8)

template <int NT>
void dot_w8a8(const uint8_t* row, const uint8_t* x, size_t stride, int64_t n, float* y) {
    float s_w;
    std::memcpy(&s_w, row, 4);
    const auto* w = reinterpret_cast<const int8_t*>(row + 8);
    __m256i acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_si256();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + i));
        for (int t = 0; t < NT; ++t) {
            const __m256i qv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(i8_values(x + t * stride) + i));
            acc[t] = _mm256_add_epi32(acc[t], dot_signed(wv, qv));
        }
    }
    for (int t = 0; t < NT; ++t) {
        const uint8_t* xt = x + t * stride;
        int32_t sum = hsum_i32(acc[t]);
        for (int64_t j = i; j < n; ++j) sum += int32_t(w[j]) * int32_t(i8_values(xt)[j]);
        ActivationRowI8 header;
        std::memcpy(&header, xt, sizeof header);
        float outliers = 0.f;
        const ActivationOutlier* pairs = i8_outliers(xt, n);
        for (int32_t k = 0; k < header.n_outliers; ++k) outliers += float(w[pairs[k].column]) * pairs[k].value;
        y[t] = s_w * (header.scale * float(sum) + outliers);
    }
}

// ---------------------------------------------------------------- dispatch

template <int NT>
void dot_row_tokens(DType type, const uint8_t* row, const uint8_t* x, size_t stride, int64_t n, float* y) {
    switch (type) {
        case DType::F32: return dot_float_tile<DType::F32, 1, NT>(row, 0, x, stride, n, y, 1);
        case DType::F16: return dot_float_tile<DType::F16, 1, NT>(row, 0, x, stride, n, y, 1);
        case DType::BF16: return dot_float_tile<DType::BF16, 1, NT>(row, 0, x, stride, n, y, 1);
        case DType::Q4_0: return dot_block32<DType::Q4_0, NT>(row, x, stride, n, y);
        case DType::Q4_1: return dot_block32<DType::Q4_1, NT>(row, x, stride, n, y);
        case DType::Q5_0: return dot_block32<DType::Q5_0, NT>(row, x, stride, n, y);
        case DType::Q5_1: return dot_block32<DType::Q5_1, NT>(row, x, stride, n, y);
        case DType::Q8_0: return dot_block32<DType::Q8_0, NT>(row, x, stride, n, y);
        case DType::Q4_K: return dot_q4k_q5k<false, NT>(row, x, stride, n, y);
        case DType::Q5_K: return dot_q4k_q5k<true, NT>(row, x, stride, n, y);
        case DType::Q6_K: return dot_q6k<NT>(row, x, stride, n, y);
        case DType::I8_W8A8: return dot_w8a8<NT>(row, x, stride, n, y);
        case DType::I8_CH: return dot_i8ch_i16<NT>(row, x, stride, n, y);
        case DType::I4_G32: return dot_int4_i16<32, false, NT>(row, x, stride, n, y);
        case DType::I4_G64: return dot_int4_i16<64, false, NT>(row, x, stride, n, y);
        case DType::I4_G128: return dot_int4_i16<128, false, NT>(row, x, stride, n, y);
        case DType::I4Z_G32: return dot_int4_i16<32, true, NT>(row, x, stride, n, y);
        case DType::I4Z_G64: return dot_int4_i16<64, true, NT>(row, x, stride, n, y);
        case DType::I4Z_G128: return dot_int4_i16<128, true, NT>(row, x, stride, n, y);
        case DType::F8_E4M3_CH: return dot_float_tile<DType::F8_E4M3_CH, 1, NT>(row, 0, x, stride, n, y, 1);
        case DType::F8_E4M3_T: return dot_float_tile<DType::F8_E4M3_T, 1, NT>(row, 0, x, stride, n, y, 1);
        case DType::F8_E4M3: return dot_float_tile<DType::F8_E4M3, 1, NT>(row, 0, x, stride, n, y, 1);
        case DType::F8_E5M2: return dot_float_tile<DType::F8_E5M2, 1, NT>(row, 0, x, stride, n, y, 1);
        default:
            // A type with no AVX2 kernel (the k- and i-quants below 4 bits, the ternary
            // types): the scalar reference decodes its rows against f32 activations.
            return scalar_kernels().dot_row(type, row, x, stride, NT, n, y);
    }
}

void dot_row(DType type, const uint8_t* row, const uint8_t* x, size_t x_stride, int n_tokens, int64_t n, float* y) {
    switch (n_tokens) {
        case 1: return dot_row_tokens<1>(type, row, x, x_stride, n, y);
        case 2: return dot_row_tokens<2>(type, row, x, x_stride, n, y);
        case 3: return dot_row_tokens<3>(type, row, x, x_stride, n, y);
        default: return dot_row_tokens<4>(type, row, x, x_stride, n, y);
    }
}

void dot_rows(DType type, const uint8_t* rows, size_t row_stride, int n_rows, const uint8_t* x, size_t x_stride,
              int n_tokens, int64_t n, float* y, int64_t y_stride) {
    switch (type) {
        case DType::F32:
            return dot_float_rows<DType::F32>(rows, row_stride, n_rows, x, x_stride, n_tokens, n, y, y_stride);
        case DType::F16:
            return dot_float_rows<DType::F16>(rows, row_stride, n_rows, x, x_stride, n_tokens, n, y, y_stride);
        case DType::BF16:
            return dot_float_rows<DType::BF16>(rows, row_stride, n_rows, x, x_stride, n_tokens, n, y, y_stride);
        case DType::F8_E4M3_CH:
            return dot_float_rows<DType::F8_E4M3_CH>(rows, row_stride, n_rows, x, x_stride, n_tokens, n, y, y_stride);
        case DType::F8_E4M3_T:
            return dot_float_rows<DType::F8_E4M3_T>(rows, row_stride, n_rows, x, x_stride, n_tokens, n, y, y_stride);
        default: return dot_rows_by_row(dot_row, type, rows, row_stride, n_rows, x, x_stride, n_tokens, n, y, y_stride);
    }
}

// ---------------------------------------------------------------- attention scores, transposed keys

template <DType T>
inline __m256 load_keys8(const void* keys, int64_t at) {
    if constexpr (T == DType::F16)
        return _mm256_cvtph_ps(
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(keys) + at)));
    else
        return _mm256_loadu_ps(static_cast<const float*>(keys) + at);
}

// NR rows × 16 slots: per dimension two key vectors, NR broadcasts, 2·NR FMAs; no
// horizontal sums. Every lane is one (row, slot) chain of FMAs in d order.
template <DType T, int NR>
void key_scores_16(const void* keys, int64_t key_stride, int s0, const float* q, int64_t q_stride, int64_t head_dim,
                   float* out, int64_t out_stride) {
    __m256 acc[NR][2];
    for (int r = 0; r < NR; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int64_t d = 0; d < head_dim; ++d) {
        const __m256 k0 = load_keys8<T>(keys, d * key_stride + s0), k1 = load_keys8<T>(keys, d * key_stride + s0 + 8);
        for (int r = 0; r < NR; ++r) {
            const __m256 qd = _mm256_broadcast_ss(q + r * q_stride + d);
            acc[r][0] = _mm256_fmadd_ps(qd, k0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(qd, k1, acc[r][1]);
        }
    }
    for (int r = 0; r < NR; ++r) {
        _mm256_storeu_ps(out + r * out_stride + s0, acc[r][0]);
        _mm256_storeu_ps(out + r * out_stride + s0 + 8, acc[r][1]);
    }
}

template <DType T, int NR>
void key_scores_8(const void* keys, int64_t key_stride, int s0, const float* q, int64_t q_stride, int64_t head_dim,
                  float* out, int64_t out_stride) {
    __m256 acc[NR];
    for (int r = 0; r < NR; ++r) acc[r] = _mm256_setzero_ps();
    for (int64_t d = 0; d < head_dim; ++d) {
        const __m256 k0 = load_keys8<T>(keys, d * key_stride + s0);
        for (int r = 0; r < NR; ++r) acc[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(q + r * q_stride + d), k0, acc[r]);
    }
    for (int r = 0; r < NR; ++r) _mm256_storeu_ps(out + r * out_stride + s0, acc[r]);
}

template <DType T>
void key_scores_rows(const void* keys, int64_t key_stride, int n_slots, const float* q, int64_t q_stride, int n_rows,
                     int64_t head_dim, float* out, int64_t out_stride) {
    // Full vectors only where the block holds them: a vector never reads past slot n_slots.
    int s = 0;
    for (; s + 16 <= n_slots; s += 16) switch (n_rows) {
            case 1: key_scores_16<T, 1>(keys, key_stride, s, q, q_stride, head_dim, out, out_stride); break;
            case 2: key_scores_16<T, 2>(keys, key_stride, s, q, q_stride, head_dim, out, out_stride); break;
            case 3: key_scores_16<T, 3>(keys, key_stride, s, q, q_stride, head_dim, out, out_stride); break;
            default: key_scores_16<T, 4>(keys, key_stride, s, q, q_stride, head_dim, out, out_stride); break;
        }
    for (; s + 8 <= n_slots; s += 8) switch (n_rows) {
            case 1: key_scores_8<T, 1>(keys, key_stride, s, q, q_stride, head_dim, out, out_stride); break;
            case 2: key_scores_8<T, 2>(keys, key_stride, s, q, q_stride, head_dim, out, out_stride); break;
            case 3: key_scores_8<T, 3>(keys, key_stride, s, q, q_stride, head_dim, out, out_stride); break;
            default: key_scores_8<T, 4>(keys, key_stride, s, q, q_stride, head_dim, out, out_stride); break;
        }
    // The last slots one at a time: std::fma rounds as a vector lane does.
    for (; s < n_slots; ++s)
        for (int r = 0; r < n_rows; ++r) {
            float acc = 0.f;
            for (int64_t d = 0; d < head_dim; ++d) {
                const int64_t at = d * key_stride + s;
                const float key = T == DType::F16 ? _cvtsh_ss(static_cast<const uint16_t*>(keys)[at])
                                                  : static_cast<const float*>(keys)[at];
                acc = std::fma(q[r * q_stride + d], key, acc);
            }
            out[r * out_stride + s] = acc;
        }
}

void key_scores(DType type, const void* keys, int64_t key_stride, int n_slots, const float* q, int64_t q_stride,
                int n_rows, int64_t head_dim, float* out, int64_t out_stride) {
    // Rows in groups of up to 4: 8 accumulators stay in registers (6 rows spilled and ran
    // at half the speed, measured).
    for (int r0 = 0; r0 < n_rows; r0 += 4) {
        const int nr = std::min(4, n_rows - r0);
        if (type == DType::F16)
            key_scores_rows<DType::F16>(keys, key_stride, n_slots, q + r0 * q_stride, q_stride, nr, head_dim,
                                        out + r0 * out_stride, out_stride);
        else
            key_scores_rows<DType::F32>(keys, key_stride, n_slots, q + r0 * q_stride, q_stride, nr, head_dim,
                                        out + r0 * out_stride, out_stride);
    }
}

}  // namespace

const KernelTable& avx2_kernels() {
    static const KernelTable table{.level = CpuLevel::avx2,
                                   .dot_f32 = dot_f32,
                                   .axpy_f32 = axpy_f32,
                                   .axpy_f16 = axpy_f16,
                                   .axpy4_f16 = axpy4_f16,
                                   .softmax = softmax,
                                   .silu_mul = silu_mul,
                                   .f32_to_f16 = f32_to_f16,
                                   .quantize_q8 = quantize_q8,
                                   .quantize_q8k = quantize_q8k,
                                   .dot_row = dot_row,
                                   .dot_rows = dot_rows,
                                   .dot_packed8 = avx2::dot_packed8,
                                   .key_scores = key_scores};
    return table;
}

}  // namespace lumen::cpu
