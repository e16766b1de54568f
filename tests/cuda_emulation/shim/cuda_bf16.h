// Emulation shim of <cuda_bf16.h> (see cuda_runtime.h): __nv_bfloat16 and its
// conversions as the device computes them: f32 -> bf16 rounds to nearest even (overflow
// to infinity), a NaN gives the canonical 0x7FFF; bf16 -> f32 is exact (the upper half).
#pragma once

#include "cuda_fp16.h"

struct __nv_bfloat16_raw {
    unsigned short x;
};
struct alignas(2) __nv_bfloat16 {
    unsigned short __x;
    __nv_bfloat16() = default;
    __nv_bfloat16(const __nv_bfloat16_raw& r) : __x(r.x) {}
    operator __nv_bfloat16_raw() const { return {__x}; }
};
struct alignas(4) __nv_bfloat162 {
    __nv_bfloat16 x, y;
};
static_assert(sizeof(__nv_bfloat16) == 2, "CUDA's size");

namespace emu {
inline uint16_t f32_to_bf16_bits(float f) {
    const uint32_t u = __float_as_uint(f);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return 0x7FFFu;
    return uint16_t((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}
inline __nv_bfloat16 make_bf16(uint16_t bits) {
    __nv_bfloat16 b;
    b.__x = bits;
    return b;
}
}  // namespace emu

inline __nv_bfloat16 __float2bfloat16_rn(float f) {
    return emu::make_bf16(emu::f32_to_bf16_bits(f));
}
inline __nv_bfloat16 __float2bfloat16(float f) {
    return __float2bfloat16_rn(f);
}
inline float __bfloat162float(__nv_bfloat16 b) {
    return __uint_as_float(uint32_t(b.__x) << 16);
}
inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 b) {
    return b.__x;
}
inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short u) {
    return emu::make_bf16(u);
}
inline float2 __bfloat1622float2(__nv_bfloat162 b) {
    return make_float2(__bfloat162float(b.x), __bfloat162float(b.y));
}
inline __nv_bfloat162 __floats2bfloat162_rn(float a, float b) {
    return {__float2bfloat16_rn(a), __float2bfloat16_rn(b)};
}
