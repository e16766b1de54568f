// The DType table and the reference dequantizers for every block type Lumen reads
// (the i-quants' are in dequantize_iq.cpp). They are the readable definition of each
// format; fast kernels are tested against them.
#include "core/dtype.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/dequantize_iq.h"

namespace lumen {

namespace {

constexpr int QK = 32;     // elements per block of the legacy formats
constexpr int QK_K = 256;  // elements per super-block of the k-quants

constexpr std::array<DTypeTraits, 36> kTraits = {{
    {DType::F32, "f32", 1, 4, 0, true},
    {DType::F16, "f16", 1, 2, 0, true},
    {DType::Q4_0, "q4_0", QK, 2 + QK / 2, 0, true},
    {DType::Q4_1, "q4_1", QK, 4 + QK / 2, 0, true},
    {DType::Q5_0, "q5_0", QK, 2 + 4 + QK / 2, 0, true},
    {DType::Q5_1, "q5_1", QK, 4 + 4 + QK / 2, 0, true},
    {DType::Q8_0, "q8_0", QK, 2 + QK, 0, true},
    {DType::Q2_K, "q2_k", QK_K, QK_K / 16 + QK_K / 4 + 2 + 2, 0, true},
    {DType::Q3_K, "q3_k", QK_K, QK_K / 8 + QK_K / 4 + 12 + 2, 0, true},
    {DType::Q4_K, "q4_k", QK_K, 2 + 2 + 12 + QK_K / 2, 0, true},
    {DType::Q5_K, "q5_k", QK_K, 2 + 2 + 12 + QK_K / 8 + QK_K / 2, 0, true},
    {DType::Q6_K, "q6_k", QK_K, QK_K / 2 + QK_K / 4 + QK_K / 16 + 2, 0, true},
    {DType::IQ4_NL, "iq4_nl", QK, 2 + QK / 2, 0, true},
    {DType::IQ4_XS, "iq4_xs", QK_K, 2 + 2 + QK_K / 64 + QK_K / 2, 0, true},
    {DType::IQ3_XXS, "iq3_xxs", QK_K, 2 + QK_K / 4 + QK_K / 8, 0, true},
    {DType::IQ3_S, "iq3_s", QK_K, 2 + QK_K / 4 + QK_K / 32 + QK_K / 8 + QK_K / 64, 0, true},
    {DType::IQ2_XXS, "iq2_xxs", QK_K, 2 + QK_K / 4, 0, true},
    {DType::IQ2_XS, "iq2_xs", QK_K, 2 + QK_K / 4 + QK_K / 32, 0, true},
    {DType::IQ2_S, "iq2_s", QK_K, 2 + QK_K / 4 + QK_K / 16, 0, true},
    {DType::IQ1_S, "iq1_s", QK_K, 2 + QK_K / 8 + QK_K / 16, 0, true},
    {DType::IQ1_M, "iq1_m", QK_K, QK_K / 8 + QK_K / 16 + QK_K / 32, 0, true},
    {DType::TQ1_0, "tq1_0", QK_K, (QK_K - 4 * QK_K / 64) / 5 + QK_K / 64 + 2, 0, true},
    {DType::TQ2_0, "tq2_0", QK_K, QK_K / 4 + 2, 0, true},
    {DType::BF16, "bf16", 1, 2, 0, true},
    {DType::I8_CH, "int8-ch", 1, 1, 4, false},
    {DType::I4_G32, "int4-g32", 32, 2 + 16, 0, false},
    {DType::I4_G64, "int4-g64", 64, 2 + 32, 0, false},
    {DType::I4_G128, "int4-g128", 128, 2 + 64, 0, false},
    {DType::I4Z_G32, "int4-asym-g32", 32, 4 + 16, 0, false},
    {DType::I4Z_G64, "int4-asym-g64", 64, 4 + 32, 0, false},
    {DType::I4Z_G128, "int4-asym-g128", 128, 4 + 64, 0, false},
    {DType::F8_E4M3_CH, "fp8-e4m3-ch", 1, 1, 4, false},
    {DType::F8_E4M3_T, "fp8-e4m3-tensor", 1, 1, 4, false},
    {DType::F8_E4M3, "fp8-e4m3", 1, 1, 0, false},
    {DType::F8_E5M2, "fp8-e5m2", 1, 1, 0, false},
    {DType::I8_W8A8, "int8-w8a8", 1, 1, 8, false},
}};

uint16_t load_u16(const uint8_t* p) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return v;
}
uint32_t load_u32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}
float load_half(const uint8_t* p) {
    return fp16_to_fp32(load_u16(p));
}

// ------------------------------------------------------------------ legacy 32-element blocks

void dequant_q4_0(const uint8_t* b, float* y) {
    const float d = load_half(b);
    const uint8_t* qs = b + 2;
    for (int j = 0; j < QK / 2; ++j) {
        y[j] = float((qs[j] & 0x0F) - 8) * d;
        y[j + QK / 2] = float((qs[j] >> 4) - 8) * d;
    }
}

void dequant_q4_1(const uint8_t* b, float* y) {
    const float d = load_half(b), m = load_half(b + 2);
    const uint8_t* qs = b + 4;
    for (int j = 0; j < QK / 2; ++j) {
        y[j] = float(qs[j] & 0x0F) * d + m;
        y[j + QK / 2] = float(qs[j] >> 4) * d + m;
    }
}

// Q5: the fifth bit of element j lives in bit j of the 32-bit qh word.
void dequant_q5_0(const uint8_t* b, float* y) {
    const float d = load_half(b);
    const uint32_t qh = load_u32(b + 2);
    const uint8_t* qs = b + 6;
    for (int j = 0; j < QK / 2; ++j) {
        const int hi0 = int((qh >> j) << 4) & 0x10;
        const int hi1 = int(qh >> (j + 12)) & 0x10;
        y[j] = float(((qs[j] & 0x0F) | hi0) - 16) * d;
        y[j + QK / 2] = float(((qs[j] >> 4) | hi1) - 16) * d;
    }
}

void dequant_q5_1(const uint8_t* b, float* y) {
    const float d = load_half(b), m = load_half(b + 2);
    const uint32_t qh = load_u32(b + 4);
    const uint8_t* qs = b + 8;
    for (int j = 0; j < QK / 2; ++j) {
        const int hi0 = int((qh >> j) << 4) & 0x10;
        const int hi1 = int(qh >> (j + 12)) & 0x10;
        y[j] = float((qs[j] & 0x0F) | hi0) * d + m;
        y[j + QK / 2] = float((qs[j] >> 4) | hi1) * d + m;
    }
}

void dequant_q8_0(const uint8_t* b, float* y) {
    const float d = load_half(b);
    const int8_t* qs = reinterpret_cast<const int8_t*>(b + 2);
    for (int j = 0; j < QK; ++j) y[j] = float(qs[j]) * d;
}

// ------------------------------------------------------------------ k-quants (256-element super-blocks)

// Q4_K/Q5_K pack eight 6-bit scales and eight 6-bit mins into 12 bytes.
void scale_min_k4(int j, const uint8_t* q, uint8_t* scale, uint8_t* min) {
    if (j < 4) {
        *scale = q[j] & 63;
        *min = q[j + 4] & 63;
    } else {
        *scale = uint8_t((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4));
        *min = uint8_t((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

void dequant_q4_k(const uint8_t* b, float* y) {
    const float d = load_half(b), dmin = load_half(b + 2);
    const uint8_t* scales = b + 4;
    const uint8_t* q = b + 16;
    for (int j = 0, is = 0; j < QK_K; j += 64, is += 2) {
        uint8_t sc, m;
        scale_min_k4(is, scales, &sc, &m);
        const float d1 = d * sc, m1 = dmin * m;
        scale_min_k4(is + 1, scales, &sc, &m);
        const float d2 = d * sc, m2 = dmin * m;
        for (int l = 0; l < 32; ++l) *y++ = d1 * float(q[l] & 0x0F) - m1;
        for (int l = 0; l < 32; ++l) *y++ = d2 * float(q[l] >> 4) - m2;
        q += 32;
    }
}

void dequant_q5_k(const uint8_t* b, float* y) {
    const float d = load_half(b), dmin = load_half(b + 2);
    const uint8_t* scales = b + 4;
    const uint8_t* qh = b + 16;
    const uint8_t* ql = b + 16 + QK_K / 8;
    uint8_t u1 = 1, u2 = 2;
    for (int j = 0, is = 0; j < QK_K; j += 64, is += 2) {
        uint8_t sc, m;
        scale_min_k4(is, scales, &sc, &m);
        const float d1 = d * sc, m1 = dmin * m;
        scale_min_k4(is + 1, scales, &sc, &m);
        const float d2 = d * sc, m2 = dmin * m;
        for (int l = 0; l < 32; ++l) *y++ = d1 * float((ql[l] & 0x0F) + ((qh[l] & u1) ? 16 : 0)) - m1;
        for (int l = 0; l < 32; ++l) *y++ = d2 * float((ql[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) - m2;
        ql += 32;
        u1 = uint8_t(u1 << 2);
        u2 = uint8_t(u2 << 2);
    }
}

void dequant_q6_k(const uint8_t* b, float* y) {
    const uint8_t* ql = b;
    const uint8_t* qh = b + QK_K / 2;
    const int8_t* sc = reinterpret_cast<const int8_t*>(b + QK_K / 2 + QK_K / 4);
    const float d = load_half(b + QK_K / 2 + QK_K / 4 + QK_K / 16);
    for (int n = 0; n < QK_K; n += 128) {
        for (int l = 0; l < 32; ++l) {
            const int is = l / 16;
            const int q1 = int((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32;
            const int q2 = int((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
            const int q3 = int((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            const int q4 = int((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[l] = d * float(sc[is + 0]) * float(q1);
            y[l + 32] = d * float(sc[is + 2]) * float(q2);
            y[l + 64] = d * float(sc[is + 4]) * float(q3);
            y[l + 96] = d * float(sc[is + 6]) * float(q4);
        }
        y += 128;
        ql += 64;
        qh += 32;
        sc += 8;
    }
}

// Q2_K: 16 sub-blocks of 16 weights, each with a 4-bit scale (low nibble) and a 4-bit
// min (high), times d and dmin. Byte l of each 32-byte chunk of qs holds 2-bit q of
// weights l, l+32, l+64 and l+96 of the chunk's 128.
void dequant_q2_k(const uint8_t* b, float* y) {
    const uint8_t* scales = b;
    const uint8_t* q = b + QK_K / 16;
    const float d = load_half(b + QK_K / 16 + QK_K / 4), dmin = load_half(b + QK_K / 16 + QK_K / 4 + 2);
    int is = 0;
    for (int chunk = 0; chunk < 2; ++chunk, q += 32)
        for (int shift = 0; shift < 8; shift += 2)
            for (int half = 0; half < 2; ++half) {
                const uint8_t sc = scales[is++];
                const float dl = d * float(sc & 0x0F), ml = dmin * float(sc >> 4);
                for (int l = 0; l < 16; ++l) *y++ = dl * float((q[16 * half + l] >> shift) & 3) - ml;
            }
}

// Q3_K's sixteen 6-bit scales: low nibbles in bytes 0-7 (scales 0-7, then 8-15 in the
// high nibbles), top 2 bits in bytes 8-11 (scales j, j+4, j+8, j+12 in byte 8 + j).
void unpack_q3_k_scales(const uint8_t* packed, int* scales) {
    for (int j = 0; j < 16; ++j) {
        const int low = (packed[j % 8] >> 4 * (j / 8)) & 0x0F;
        const int high = (packed[8 + j % 4] >> 2 * (j / 4)) & 3;
        scales[j] = (low | high << 4) - 32;
    }
}

// Q3_K: Q2_K's 2-bit layout plus a high bit per weight in hmask (bit k of byte l for the
// k-th 32 weights); a *clear* high bit subtracts 4, giving q in -4..3.
void dequant_q3_k(const uint8_t* b, float* y) {
    const uint8_t* hmask = b;
    const uint8_t* q = b + QK_K / 8;
    int scales[16];
    unpack_q3_k_scales(b + QK_K / 8 + QK_K / 4, scales);
    const float d = load_half(b + QK_K / 8 + QK_K / 4 + 12);
    int is = 0;
    uint8_t m = 1;
    for (int chunk = 0; chunk < 2; ++chunk, q += 32)
        for (int shift = 0; shift < 8; shift += 2, m = uint8_t(m << 1))
            for (int half = 0; half < 2; ++half) {
                const float dl = d * float(scales[is++]);
                for (int l = 16 * half; l < 16 * half + 16; ++l)
                    *y++ = dl * float(((q[l] >> shift) & 3) - ((hmask[l] & m) ? 0 : 4));
            }
}

// ------------------------------------------------------------------ ternary (TQ1_0, TQ2_0)

// TQ1_0 packs five trits per byte as a base-3 fraction scaled to 256 (byte =
// ceil(value * 256 / 243)): multiplying by 3^n (mod 256) brings trit n to the top,
// where (q * 3) >> 8 reads it.
int tq1_trit(uint8_t byte, int n) {
    static constexpr uint8_t kPow3[5] = {1, 3, 9, 27, 81};
    const uint8_t q = uint8_t(byte * kPow3[n]);
    return ((uint16_t(q) * 3) >> 8) - 1;
}

// 48 bytes of five trits (the first 32 bytes give weights 0-159 as trit n of byte m at
// 32n + m, the next 16 weights 160-239 likewise), 4 bytes of four trits, f16 d.
void dequant_tq1_0(const uint8_t* b, float* y) {
    const uint8_t* qh = b + 48;
    const float d = load_half(b + 52);
    for (int n = 0; n < 5; ++n)
        for (int m = 0; m < 32; ++m) *y++ = float(tq1_trit(b[m], n)) * d;
    for (int n = 0; n < 5; ++n)
        for (int m = 0; m < 16; ++m) *y++ = float(tq1_trit(b[32 + m], n)) * d;
    for (int n = 0; n < 4; ++n)
        for (int m = 0; m < 4; ++m) *y++ = float(tq1_trit(qh[m], n)) * d;
}

// TQ2_0: 2-bit q - 1 in {-1, 0, 1, 2}, laid out as Q2_K's quants, then f16 d.
void dequant_tq2_0(const uint8_t* b, float* y) {
    const float d = load_half(b + QK_K / 4);
    for (int chunk = 0; chunk < QK_K / 4; chunk += 32)
        for (int shift = 0; shift < 8; shift += 2)
            for (int m = 0; m < 32; ++m) *y++ = float(((b[chunk + m] >> shift) & 3) - 1) * d;
}

// ------------------------------------------------------------------ Lumen's formats

float load_f32(const uint8_t* p) {
    float v;
    std::memcpy(&v, p, 4);
    return v;
}

// int4 groups of G: byte j packs element j (low nibble) and element j + G/2 (high).
void dequant_int4(const uint8_t* b, float* y, int group, bool asymmetric) {
    const float d = load_half(b);
    const float m = asymmetric ? load_half(b + 2) : -8.f * d;
    const uint8_t* qs = b + (asymmetric ? 4 : 2);
    for (int j = 0; j < group / 2; ++j) {
        y[j] = float(qs[j] & 0x0F) * d + m;
        y[j + group / 2] = float(qs[j] >> 4) * d + m;
    }
}

}  // namespace

std::vector<DType> all_dtypes() {
    std::vector<DType> types;
    for (const auto& t : kTraits) types.push_back(t.type);
    return types;
}

std::optional<DTypeTraits> dtype_traits(uint32_t ggml_type) {
    for (const auto& t : kTraits)
        if (t.in_gguf && uint32_t(t.type) == ggml_type) return t;
    return std::nullopt;
}

std::string gguf_type_names() {
    std::string names;
    for (const auto& t : kTraits) {
        if (!t.in_gguf) continue;
        if (!names.empty()) names += ", ";
        names += t.name;
    }
    return names;
}

const DTypeTraits& traits(DType type) {
    for (const auto& t : kTraits)
        if (t.type == type) return t;
    return kTraits[0];  // unreachable for valid enum values
}

const char* dtype_name(DType type) {
    return traits(type).name;
}

std::optional<DType> dtype_from_name(std::string_view name) {
    for (const auto& t : kTraits)
        if (name == t.name) return t.type;
    return std::nullopt;
}

size_t row_bytes(DType type, int64_t n) {
    const auto& t = traits(type);
    return size_t(t.row_header_bytes) + size_t(n / t.block_elements) * size_t(t.block_bytes);
}

double bits_per_weight(DType type, int64_t row_length) {
    const auto& t = traits(type);
    return 8.0 * t.block_bytes / t.block_elements + 8.0 * t.row_header_bytes / double(std::max<int64_t>(1, row_length));
}

void dequantize_row(DType type, const void* src, float* dst, int64_t n) {
    const auto* p = static_cast<const uint8_t*>(src);
    const auto& t = traits(type);
    switch (type) {
        case DType::F32: std::memcpy(dst, src, size_t(n) * 4); return;
        case DType::F16:
            for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(load_u16(p + 2 * i));
            return;
        case DType::BF16:
            for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(load_u16(p + 2 * i));
            return;
        case DType::I8_CH:
        case DType::I8_W8A8: {
            const float s = load_f32(p);
            const int header = t.row_header_bytes;
            for (int64_t i = 0; i < n; ++i) dst[i] = s * float(int8_t(p[header + i]));
            return;
        }
        case DType::F8_E4M3_CH:
        case DType::F8_E4M3_T: {
            const float s = load_f32(p);
            for (int64_t i = 0; i < n; ++i) dst[i] = s * fp8_e4m3_to_fp32(p[4 + i]);
            return;
        }
        case DType::F8_E4M3:
            for (int64_t i = 0; i < n; ++i) dst[i] = fp8_e4m3_to_fp32(p[i]);
            return;
        case DType::F8_E5M2:
            for (int64_t i = 0; i < n; ++i) dst[i] = fp8_e5m2_to_fp32(p[i]);
            return;
        case DType::I4_G32:
        case DType::I4_G64:
        case DType::I4_G128:
        case DType::I4Z_G32:
        case DType::I4Z_G64:
        case DType::I4Z_G128: {
            const int g = t.block_elements;
            for (int64_t i = 0; i < n / g; ++i)
                dequant_int4(p + i * t.block_bytes, dst + i * g, g, is_int4_asymmetric(type));
            return;
        }
        default: break;
    }
    void (*block_fn)(const uint8_t*, float*) = nullptr;
    switch (type) {
        case DType::Q4_0: block_fn = dequant_q4_0; break;
        case DType::Q4_1: block_fn = dequant_q4_1; break;
        case DType::Q5_0: block_fn = dequant_q5_0; break;
        case DType::Q5_1: block_fn = dequant_q5_1; break;
        case DType::Q8_0: block_fn = dequant_q8_0; break;
        case DType::Q2_K: block_fn = dequant_q2_k; break;
        case DType::Q3_K: block_fn = dequant_q3_k; break;
        case DType::Q4_K: block_fn = dequant_q4_k; break;
        case DType::Q5_K: block_fn = dequant_q5_k; break;
        case DType::Q6_K: block_fn = dequant_q6_k; break;
        case DType::IQ4_NL: block_fn = iq::dequantize_iq4_nl; break;
        case DType::IQ4_XS: block_fn = iq::dequantize_iq4_xs; break;
        case DType::IQ3_XXS: block_fn = iq::dequantize_iq3_xxs; break;
        case DType::IQ3_S: block_fn = iq::dequantize_iq3_s; break;
        case DType::IQ2_XXS: block_fn = iq::dequantize_iq2_xxs; break;
        case DType::IQ2_XS: block_fn = iq::dequantize_iq2_xs; break;
        case DType::IQ2_S: block_fn = iq::dequantize_iq2_s; break;
        case DType::IQ1_S: block_fn = iq::dequantize_iq1_s; break;
        case DType::IQ1_M: block_fn = iq::dequantize_iq1_m; break;
        case DType::TQ1_0: block_fn = dequant_tq1_0; break;
        case DType::TQ2_0: block_fn = dequant_tq2_0; break;
        default: return;
    }
    for (int64_t i = 0; i < n / t.block_elements; ++i) block_fn(p + i * t.block_bytes, dst + i * t.block_elements);
}

// ------------------------------------------------------------------ half and bfloat16

float fp16_to_fp32(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000) << 16;
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
    return std::bit_cast<float>(bits);
}

uint16_t fp32_to_fp16(float f) {
    const uint32_t x = std::bit_cast<uint32_t>(f);
    const uint32_t sign = (x >> 16) & 0x8000;
    const uint32_t abs = x & 0x7FFFFFFF;
    if (abs >= 0x7F800000) return uint16_t(sign | 0x7C00 | (abs > 0x7F800000 ? 0x200 : 0));
    if (abs >= 0x477FF000) return uint16_t(sign | 0x7C00);  // overflow to inf
    if (abs < 0x38800000) {                                 // subnormal or zero in half
        if (abs < 0x33000000) return uint16_t(sign);
        const uint32_t e = abs >> 23;
        const uint32_t m = (abs & 0x7FFFFF) | 0x800000;
        // The half's mantissa counts units of 2^-24: value m * 2^(e - 150) is m >> (126 - e) units.
        const int shift = int(126 - e);  // 14..24
        const uint32_t half_m = m >> shift;
        // round to nearest even on the dropped bits (a carry into 0x400 is the smallest normal, correctly)
        const uint32_t rem = m & ((1u << shift) - 1);
        const uint32_t halfway = 1u << (shift - 1);
        uint32_t r = half_m;
        if (rem > halfway || (rem == halfway && (r & 1))) ++r;
        return uint16_t(sign | r);
    }
    uint32_t r = ((abs >> 13) - ((127 - 15) << 10));
    const uint32_t rem = abs & 0x1FFF;
    if (rem > 0x1000 || (rem == 0x1000 && (r & 1))) ++r;
    return uint16_t(sign | r);
}

float bf16_to_fp32(uint16_t h) {
    return std::bit_cast<float>(uint32_t(h) << 16);
}

uint16_t fp32_to_bf16(float f) {
    uint32_t x = std::bit_cast<uint32_t>(f);
    if ((x & 0x7FFFFFFF) > 0x7F800000) return uint16_t((x >> 16) | 0x40);  // quiet NaN
    x += 0x7FFF + ((x >> 16) & 1);
    return uint16_t(x >> 16);
}

// ------------------------------------------------------------------ fp8

float fp8_e4m3_to_fp32(uint8_t v) {
    // As an fp16 the 7 magnitude bits sit 7 places up with an exponent bias of 15
    // instead of 7: scale by 2^8. Subnormals map to fp16 subnormals exactly.
    if ((v & 0x7F) == 0x7F) return std::numeric_limits<float>::quiet_NaN();
    const uint16_t h = uint16_t(((v & 0x80) << 8) | ((v & 0x7F) << 7));
    return fp16_to_fp32(h) * 256.f;
}

float fp8_e5m2_to_fp32(uint8_t v) {
    return fp16_to_fp32(uint16_t(v << 8));
}

namespace {
// Round |f| onto a binary float with `mantissa_bits` and exponent bias `bias`
// (subnormals below 2^(1-bias)), to nearest even; `max` saturates.
uint8_t encode_fp8(float f, int mantissa_bits, int bias, float max, uint8_t nan_code) {
    const uint8_t sign = std::signbit(f) ? 0x80 : 0;
    if (std::isnan(f)) return uint8_t(sign | nan_code);
    float a = std::min(std::fabs(f), max);
    const float min_normal = std::ldexp(1.f, 1 - bias);
    const float quantum_sub = std::ldexp(1.f, 1 - bias - mantissa_bits);
    if (a < min_normal) {
        const int q = int(std::nearbyint(a / quantum_sub));  // 0 .. 2^m (2^m rounds up into the first normal)
        return uint8_t(sign | q);
    }
    int e;
    const float frac = std::frexp(a, &e);  // a = frac * 2^e, frac in [0.5, 1)
    int exp_field = e - 1 + bias;
    int mant = int(std::nearbyint((frac * 2.f - 1.f) * float(1 << mantissa_bits)));
    if (mant == (1 << mantissa_bits)) mant = 0, ++exp_field;
    return uint8_t(sign | exp_field << mantissa_bits | mant);
}
}  // namespace

uint8_t fp32_to_fp8_e4m3(float f) {
    return encode_fp8(f, 3, 7, kFp8E4M3Max, 0x7F);
}
uint8_t fp32_to_fp8_e5m2(float f) {
    return encode_fp8(f, 2, 15, 57344.f, 0x7F);
}

}  // namespace lumen
