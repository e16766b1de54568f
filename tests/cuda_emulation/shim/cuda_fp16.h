// Emulation shim of <cuda_fp16.h> (see cuda_runtime.h): __half, __half2 and the
// conversions the kernels use, bit for bit as the device computes them:
// - f32 -> f16 rounds to nearest even, overflow gives infinity, NaN gives the canonical
//   0x7FFF (what cvt.rn.f16.f32 and the host path of CUDA's header return);
// - f16 -> f32 is exact; a NaN becomes the canonical f32 NaN 0x7FFFFFFF;
// - half arithmetic is done in f32 and rounded once: exact for + - * (24 >= 2 * 11 + 2
//   bits, so the double rounding is innocuous).
#pragma once

#include "cuda_runtime.h"

struct __half_raw {
    unsigned short x;
};
struct __half2_raw {
    unsigned short x, y;
};

struct alignas(2) __half {
    unsigned short __x;
    __half() = default;
    __half(const __half_raw& r) : __x(r.x) {}
    operator __half_raw() const { return {__x}; }
};

struct alignas(4) __half2 {
    __half x, y;
    __half2() = default;
    __half2(const __half2_raw& r) {
        x.__x = r.x;
        y.__x = r.y;
    }
    __half2(__half a, __half b) : x(a), y(b) {}
    operator __half2_raw() const { return {x.__x, y.__x}; }
};
static_assert(sizeof(__half) == 2 && sizeof(__half2) == 4, "CUDA's sizes");

namespace emu {

inline uint16_t f32_to_f16_bits(float f) {
    const uint32_t u = __float_as_uint(f);
    const uint32_t sign = (u >> 16) & 0x8000u;
    const uint32_t a = u & 0x7FFFFFFFu;
    if (a > 0x7F800000u) return 0x7FFFu;                    // NaN: canonical, sign dropped
    if (a >= 0x47800000u) return uint16_t(sign | 0x7C00u);  // >= 2^16 (and inf): infinity
    if (a < 0x38800000u) {                                  // below 2^-14: a subnormal half or zero
        if (a <= 0x33000000u) return uint16_t(sign);        // <= 2^-25 (a tie at 2^-25 goes to even 0)
        const uint32_t m = (a & 0x7FFFFFu) | 0x800000u;
        const int shift = int(126 - (a >> 23));  // value = m * 2^(e - 150) = (m >> shift) units of 2^-24
        uint32_t q = m >> shift;
        const uint32_t rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1u))) ++q;  // a carry into 0x400 is the smallest normal
        return uint16_t(sign | q);
    }
    uint32_t q = ((a >> 13) - (112u << 10));  // rebias 127 -> 15
    const uint32_t rem = a & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (q & 1u))) ++q;  // a carry may reach 0x7C00: infinity, correctly
    return uint16_t(sign | q);
}

inline float f16_bits_to_f32(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1Fu;
    uint32_t mant = h & 0x3FFu;
    if (exp == 0x1F) return __uint_as_float(mant ? 0x7FFFFFFFu : (sign | 0x7F800000u));
    if (exp != 0) return __uint_as_float(sign | (exp + 112u) << 23 | mant << 13);
    if (mant == 0) return __uint_as_float(sign);
    int e = 0;  // subnormal: normalize
    while ((mant & 0x400u) == 0) {
        mant <<= 1;
        ++e;
    }
    return __uint_as_float(sign | uint32_t(113 - e) << 23 | (mant & 0x3FFu) << 13);
}

inline __half make_half(uint16_t bits) {
    __half h;
    h.__x = bits;
    return h;
}

}  // namespace emu

inline __half __float2half_rn(float f) {
    return emu::make_half(emu::f32_to_f16_bits(f));
}
inline __half __float2half(float f) {
    return __float2half_rn(f);
}
inline float __half2float(__half h) {
    return emu::f16_bits_to_f32(h.__x);
}
inline unsigned short __half_as_ushort(__half h) {
    return h.__x;
}
inline __half __ushort_as_half(unsigned short u) {
    return emu::make_half(u);
}
inline short __half_as_short(__half h) {
    return short(h.__x);
}
inline __half __short_as_half(short s) {
    return emu::make_half(uint16_t(s));
}

inline __half2 __halves2half2(__half a, __half b) {
    return __half2(a, b);
}
inline __half2 __half2half2(__half a) {
    return __half2(a, a);
}
inline __half __low2half(__half2 h) {
    return h.x;
}
inline __half __high2half(__half2 h) {
    return h.y;
}
inline float __low2float(__half2 h) {
    return __half2float(h.x);
}
inline float __high2float(__half2 h) {
    return __half2float(h.y);
}
inline float2 __half22float2(__half2 h) {
    return make_float2(__half2float(h.x), __half2float(h.y));
}
inline __half2 __float22half2_rn(float2 f) {
    return __half2(__float2half_rn(f.x), __float2half_rn(f.y));
}
inline __half2 __floats2half2_rn(float a, float b) {
    return __half2(__float2half_rn(a), __float2half_rn(b));
}
inline __half2 __float2half2_rn(float a) {
    return __floats2half2_rn(a, a);
}

inline __half __hadd(__half a, __half b) {
    return __float2half_rn(__half2float(a) + __half2float(b));
}
inline __half __hsub(__half a, __half b) {
    return __float2half_rn(__half2float(a) - __half2float(b));
}
inline __half __hmul(__half a, __half b) {
    return __float2half_rn(__half2float(a) * __half2float(b));
}
inline __half2 __hadd2(__half2 a, __half2 b) {
    return __half2(__hadd(a.x, b.x), __hadd(a.y, b.y));
}
inline __half2 __hsub2(__half2 a, __half2 b) {
    return __half2(__hsub(a.x, b.x), __hsub(a.y, b.y));
}
inline __half2 __hmul2(__half2 a, __half2 b) {
    return __half2(__hmul(a.x, b.x), __hmul(a.y, b.y));
}
