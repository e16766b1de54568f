// Decoders for the chunked GPU weight layout (gpu_weights.h), shared by the CUDA kernels
// and the host-side tests: every function compiles under nvcc (host and device) and under
// plain g++, so the tests prove on a CPU that a decoded chunk equals the engine's
// reference dequantize_row (engine/core/dtype.cpp) bit for bit.
//
// Exactness rules, each needed for bitwise equality with the reference:
// - every product and sum is rounded on its own, in the reference's operand order
//   (mul_rn/add_rn/sub_rn: nvcc would otherwise contract a * b + c into one FMA);
// - small integers become floats with the 2^23 trick (bits 0x4B000000 | q, minus 2^23 + bias),
//   exact and a full-rate FADD on the GPU, where int-to-float conversion is quarter rate;
// - fp16 goes through the hardware conversion on the device (exact for every non-NaN half)
//   and through dtype.cpp's integer algorithm on the host (repeated here, not called:
//   lumen_kernels sits below lumen_engine and cannot link it). NaN weights stay NaN, but the
//   device's NaN bit pattern may differ: GPU arithmetic returns a canonical NaN anyway.
// - denormals must not be flushed (no --use_fast_math / -ftz=true): fp8 subnormals and tiny
//   scales go through f32 denormals exactly as on the host.
#pragma once

#include <cstdint>
#include <cstring>

#include "gpu_weights.h"

#ifdef __CUDACC__
#include <cuda_fp16.h>
#define LUMEN_HD __host__ __device__ __forceinline__
#else
#define LUMEN_HD inline
#endif
#ifdef __CUDA_ARCH__  // the host passes would warn about the pragma
#define LUMEN_UNROLL _Pragma("unroll")
#else
#define LUMEN_UNROLL
#endif

#if defined(__USE_FAST_MATH__)
#error "quant_decode.cuh needs IEEE f32 (denormals, separate rounding): do not build with --use_fast_math"
#endif

namespace lumen::cuda {

// ------------------------------------------------------------------ layout

// Bytes per chunk in each array of a format (super: per 256 elements), as gpu_weights.h's table.
struct ChunkLayout {
    int qs = 0, qh = 0, meta = 0, super = 0;
    bool row_scale = false;
};

#ifdef __CUDACC__
__host__ __device__
#endif
    constexpr ChunkLayout
    chunk_layout(WeightFormat format) {
    switch (format) {
        case WeightFormat::f32: return {128, 0, 0, 0, false};
        case WeightFormat::f16: return {64, 0, 0, 0, false};
        case WeightFormat::bf16: return {64, 0, 0, 0, false};
        case WeightFormat::q8_0: return {32, 0, 2, 0, false};
        case WeightFormat::q4_0: return {16, 0, 2, 0, false};
        case WeightFormat::q4_1: return {16, 0, 4, 0, false};
        case WeightFormat::q4_k: return {16, 0, 2, 4, false};
        case WeightFormat::q6_k: return {16, 8, 2, 2, false};
        case WeightFormat::fp8_e4m3: return {32, 0, 0, 0, true};
    }
    return {};
}

// ------------------------------------------------------------------ scalar conversions

LUMEN_HD float bits_f32(uint32_t u) {
#ifdef __CUDA_ARCH__
    return __uint_as_float(u);
#else
    float f;
    std::memcpy(&f, &u, 4);
    return f;
#endif
}

LUMEN_HD float mul_rn(float a, float b) {
#ifdef __CUDA_ARCH__
    return __fmul_rn(a, b);
#else
    return a * b;
#endif
}
LUMEN_HD float add_rn(float a, float b) {
#ifdef __CUDA_ARCH__
    return __fadd_rn(a, b);
#else
    return a + b;
#endif
}
LUMEN_HD float sub_rn(float a, float b) {
#ifdef __CUDA_ARCH__
    return __fsub_rn(a, b);
#else
    return a - b;
#endif
}

// float(q) - bias, exactly, for 0 <= q < 2^22 and an integer bias < 2^22.
LUMEN_HD float int_f32(uint32_t q, float bias) {
    return sub_rn(bits_f32(0x4B000000u | q), 8388608.f + bias);
}

// IEEE half to f32, bit-exact with lumen::fp16_to_fp32 for every non-NaN input.
LUMEN_HD float half_to_f32(uint32_t h) {
#ifdef __CUDA_ARCH__
    return __half2float(__ushort_as_half(static_cast<unsigned short>(h)));
#else
    const uint32_t sign = (h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1F;
    uint32_t mant = h & 0x3FF;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else {  // subnormal: renormalize
            int e = -1;
            do {
                ++e;
                mant <<= 1;
            } while ((mant & 0x400) == 0);
            bits = sign | uint32_t(127 - 15 - e) << 23 | (mant & 0x3FF) << 13;
        }
    } else if (exp == 0x1F) {
        bits = sign | 0x7F800000u | mant << 13;
    } else {
        bits = sign | (exp + 127 - 15) << 23 | mant << 13;
    }
    return bits_f32(bits);
#endif
}

LUMEN_HD float bf16_to_f32(uint32_t h) {
    return bits_f32((h & 0xFFFFu) << 16);
}

// OCP e4m3 to f32, bit-exact with lumen::fp8_e4m3_to_fp32 (NaN codes give +quiet NaN, as
// there). Placing the 7 magnitude bits at the top of an f32 mantissa makes a float of
// value e4m3 * 2^-120 (a denormal for the e4m3 subnormals); one exact multiply rebiases it.
LUMEN_HD float e4m3_to_f32(uint32_t v) {
    const uint32_t mag = v & 0x7Fu;
    const float f = mul_rn(bits_f32((v & 0x80u) << 24 | mag << 20), 0x1p120f);
    return mag == 0x7Fu ? bits_f32(0x7FC00000u) : f;
}

// ------------------------------------------------------------------ loads

// Device loads use the read-only path and vector widths the layout's alignment allows
// (each array starts 256-byte aligned from cudaMalloc; chunk strides keep it); host loads
// are memcpy, so the tests may use any buffer.
LUMEN_HD uint32_t load_u16(const uint8_t* p) {
#ifdef __CUDA_ARCH__
    return __ldg(reinterpret_cast<const unsigned short*>(p));
#else
    uint16_t v;
    std::memcpy(&v, p, 2);
    return v;
#endif
}

LUMEN_HD uint32_t load_u32(const uint8_t* p) {
#ifdef __CUDA_ARCH__
    return __ldg(reinterpret_cast<const unsigned int*>(p));
#else
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
#endif
}

LUMEN_HD float load_f32(const float* p) {
#ifdef __CUDA_ARCH__
    return __ldg(p);
#else
    return *p;
#endif
}

// N little-endian words from p: 16-byte loads when N is a multiple of 4, else one 8-byte load.
template <int N>
LUMEN_HD void load_words(const uint8_t* p, uint32_t (&q)[N]) {
    static_assert(N % 4 == 0 || N == 2, "chunk arrays are 16-byte or 8-byte granules");
#ifdef __CUDA_ARCH__
    if constexpr (N % 4 == 0) {
        LUMEN_UNROLL
        for (int k = 0; k < N / 4; ++k) {
            const uint4 v = __ldg(reinterpret_cast<const uint4*>(p) + k);
            q[4 * k + 0] = v.x;
            q[4 * k + 1] = v.y;
            q[4 * k + 2] = v.z;
            q[4 * k + 3] = v.w;
        }
    } else {
        const uint2 v = __ldg(reinterpret_cast<const uint2*>(p));
        q[0] = v.x;
        q[1] = v.y;
    }
#else
    std::memcpy(q, p, sizeof(q));
#endif
}

// ------------------------------------------------------------------ chunks

// One chunk's bytes in registers, loaded before decoding so that a kernel can put several
// chunks' loads in flight before it spends any arithmetic on them.
template <WeightFormat F>
struct RawChunk {
    uint32_t q[chunk_layout(F).qs / 4];  // the qs bytes
    uint32_t h[2];                       // q6_k: the qh bytes
    uint32_t meta;                       // the meta bytes (2 or 4)
    uint32_t super;                      // the super-block's bytes (2 or 4)
    float scale;                         // fp8: the row's scale
};

// Loads chunk i (flat: row * cols / 32 + chunk) of row `row`.
template <WeightFormat F>
LUMEN_HD void load_chunk(const GpuMatrix& w, int64_t i, int64_t row, RawChunk<F>& r) {
    constexpr ChunkLayout L = chunk_layout(F);
    load_words(w.qs + i * L.qs, r.q);
    if constexpr (L.qh == 8) load_words(w.qh + i * 8, r.h);
    if constexpr (L.meta == 2) r.meta = load_u16(w.meta + i * 2);
    if constexpr (L.meta == 4) r.meta = load_u32(w.meta + i * 4);
    if constexpr (L.super == 2) r.super = load_u16(w.super + (i / 8) * 2);
    if constexpr (L.super == 4) r.super = load_u32(w.super + (i / 8) * 4);
    if constexpr (L.row_scale) r.scale = load_f32(w.row_scale + row);
}

// Byte j of the loaded words (little-endian, as on the host and the GPU).
template <int N>
LUMEN_HD uint32_t byte_at(const uint32_t (&q)[N], int j) {
    return (q[j / 4] >> (8 * (j % 4))) & 0xFFu;
}

// The 32 weights of a loaded chunk, each computed as dtype.cpp's dequantizer does.
template <WeightFormat F>
LUMEN_HD void decode_raw(const RawChunk<F>& r, float out[32]) {
    if constexpr (F == WeightFormat::f32) {
        LUMEN_UNROLL
        for (int e = 0; e < 32; ++e) out[e] = bits_f32(r.q[e]);
    } else if constexpr (F == WeightFormat::f16) {
        LUMEN_UNROLL
        for (int e = 0; e < 32; ++e) out[e] = half_to_f32((r.q[e / 2] >> (16 * (e % 2))) & 0xFFFFu);
    } else if constexpr (F == WeightFormat::bf16) {
        LUMEN_UNROLL
        for (int e = 0; e < 32; ++e) out[e] = bf16_to_f32(r.q[e / 2] >> (16 * (e % 2)));
    } else if constexpr (F == WeightFormat::q8_0) {  // float(q) * d
        const float d = half_to_f32(r.meta & 0xFFFFu);
        LUMEN_UNROLL
        for (int e = 0; e < 32; ++e) out[e] = mul_rn(int_f32(byte_at(r.q, e) ^ 0x80u, 128.f), d);
    } else if constexpr (F == WeightFormat::q4_0) {  // float(q - 8) * d
        const float d = half_to_f32(r.meta & 0xFFFFu);
        LUMEN_UNROLL
        for (int j = 0; j < 16; ++j) {
            const uint32_t b = byte_at(r.q, j);
            out[j] = mul_rn(int_f32(b & 0x0Fu, 8.f), d);
            out[j + 16] = mul_rn(int_f32(b >> 4, 8.f), d);
        }
    } else if constexpr (F == WeightFormat::q4_1) {  // float(q) * d + m
        const float d = half_to_f32(r.meta & 0xFFFFu), m = half_to_f32(r.meta >> 16);
        LUMEN_UNROLL
        for (int j = 0; j < 16; ++j) {
            const uint32_t b = byte_at(r.q, j);
            out[j] = add_rn(mul_rn(int_f32(b & 0x0Fu, 0.f), d), m);
            out[j + 16] = add_rn(mul_rn(int_f32(b >> 4, 0.f), d), m);
        }
    } else if constexpr (F == WeightFormat::q4_k) {  // (d * sc) * float(q) - (dmin * m)
        const float d = half_to_f32(r.super & 0xFFFFu), dmin = half_to_f32(r.super >> 16);
        const float d1 = mul_rn(d, float(r.meta & 0xFFu)), m1 = mul_rn(dmin, float((r.meta >> 8) & 0xFFu));
        LUMEN_UNROLL
        for (int j = 0; j < 16; ++j) {
            const uint32_t b = byte_at(r.q, j);
            out[j] = sub_rn(mul_rn(d1, int_f32(b & 0x0Fu, 0.f)), m1);
            out[j + 16] = sub_rn(mul_rn(d1, int_f32(b >> 4, 0.f)), m1);
        }
    } else if constexpr (F == WeightFormat::q6_k) {  // (d * sc[e / 16]) * float(q - 32)
        const float d = half_to_f32(r.super & 0xFFFFu);
        const float ds0 = mul_rn(d, float(int8_t(r.meta & 0xFFu))), ds1 = mul_rn(d, float(int8_t(r.meta >> 8)));
        LUMEN_UNROLL
        for (int e = 0; e < 32; ++e) {
            const uint32_t lo = (byte_at(r.q, e % 16) >> (4 * (e / 16))) & 0x0Fu;
            const uint32_t hi = (byte_at(r.h, e % 8) >> (2 * (e / 8))) & 0x03u;
            out[e] = mul_rn(e < 16 ? ds0 : ds1, int_f32(lo | hi << 4, 32.f));
        }
    } else if constexpr (F == WeightFormat::fp8_e4m3) {  // scale * e4m3(code)
        LUMEN_UNROLL
        for (int e = 0; e < 32; ++e) out[e] = mul_rn(r.scale, e4m3_to_f32(byte_at(r.q, e)));
    }
}

// Chunk `chunk` (0 .. cols / 32) of row `row`, for a format known at compile time.
template <WeightFormat F>
LUMEN_HD void decode_chunk_t(const GpuMatrix& w, int64_t row, int64_t chunk, float out[32]) {
    RawChunk<F> r;
    load_chunk<F>(w, row * (w.cols / kChunk) + chunk, row, r);
    decode_raw<F>(r, out);
}

// The same for w.format; an unknown format decodes to zeros.
LUMEN_HD void decode_chunk(const GpuMatrix& w, int64_t row, int64_t chunk, float out[32]) {
    switch (w.format) {
        case WeightFormat::f32: return decode_chunk_t<WeightFormat::f32>(w, row, chunk, out);
        case WeightFormat::f16: return decode_chunk_t<WeightFormat::f16>(w, row, chunk, out);
        case WeightFormat::bf16: return decode_chunk_t<WeightFormat::bf16>(w, row, chunk, out);
        case WeightFormat::q8_0: return decode_chunk_t<WeightFormat::q8_0>(w, row, chunk, out);
        case WeightFormat::q4_0: return decode_chunk_t<WeightFormat::q4_0>(w, row, chunk, out);
        case WeightFormat::q4_1: return decode_chunk_t<WeightFormat::q4_1>(w, row, chunk, out);
        case WeightFormat::q4_k: return decode_chunk_t<WeightFormat::q4_k>(w, row, chunk, out);
        case WeightFormat::q6_k: return decode_chunk_t<WeightFormat::q6_k>(w, row, chunk, out);
        case WeightFormat::fp8_e4m3: return decode_chunk_t<WeightFormat::fp8_e4m3>(w, row, chunk, out);
    }
    for (int e = 0; e < 32; ++e) out[e] = 0.f;
}

}  // namespace lumen::cuda
