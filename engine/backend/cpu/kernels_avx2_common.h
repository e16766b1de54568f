// Helpers shared by the AVX2 kernel files (kernels_avx2*.cpp), which alone are
// compiled for AVX2, FMA and F16C. Not for use elsewhere.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "backend/cpu/kernels.h"

namespace lumen::cpu::avx2 {

inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

inline int32_t hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

inline float half_at(const uint8_t* p) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

inline __m256i load256(const void* p) {
    return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}

template <int kBytes>
inline void prefetch_ahead(const uint8_t* p) {
    for (int off = 0; off < kBytes; off += 64)
        _mm_prefetch(reinterpret_cast<const char*>(p) + kPrefetchAhead + off, _MM_HINT_T0);
}

// Where each of NT tokens' activations start: x + t * x_stride bytes, as T.
template <typename T, int NT>
struct TokenRows {
    const T* at[NT];
    const T* operator[](int t) const { return at[t]; }
};
template <typename T, int NT>
inline TokenRows<T, NT> token_rows(const uint8_t* x, size_t x_stride) {
    TokenRows<T, NT> rows;
    for (int t = 0; t < NT; ++t) rows.at[t] = reinterpret_cast<const T*>(x + size_t(t) * x_stride);
    return rows;
}

// The packed-layout kernels (kernels_avx2_packed.cpp): KernelTable::dot_packed8.
void dot_packed8(DType type, const uint8_t* group, const uint8_t* x, size_t x_stride, int n_tokens, int64_t n,
                 float* y);

}  // namespace lumen::cpu::avx2
