// Reference dequantizers of llama.cpp's i-quants. The IQ2/IQ3/IQ1 formats store each
// group of 8 (or 4) weights as an index into a fixed lattice grid of magnitudes, plus
// signs and a per-sub-block scale; IQ4 stores 4-bit indices into a non-linear table.
// Layouts and arithmetic follow ggml-quants.c's dequantize_row_iq* operation for
// operation, so that the results equal llama.cpp's and gguf-py's bit for bit
// (tests/test_dequantize_types.cpp). Every product is exact in f32 (an f16 scale times
// integers of at most 13 bits together), so neither the grouping of the products nor
// FMA contraction can change a result.
#include "core/dequantize_iq.h"

#include <bit>
#include <cstring>

#include "core/dtype.h"

namespace lumen::iq {

namespace {

#include "core/iq_grids.inc"

constexpr float kIq1Delta = 0.125f;  // IQ1_S/IQ1_M shift every grid value by +-1/8

float half_at(const uint8_t* p) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return fp16_to_fp32(h);
}
uint16_t u16_at(const uint8_t* p) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return v;
}
uint32_t u32_at(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

// Byte j of a grid entry is the magnitude of weight j of its group.
uint8_t grid_byte(uint64_t entry, int j) {
    return uint8_t(entry >> (8 * j));
}

// Eight signs stored in 7 bits: the eighth is implied, making the number of negative
// weights even (this is ggml's ksigns_iq2xs table, computed instead of stored).
uint8_t signs_from_7_bits(uint32_t bits) {
    bits &= 127;
    return uint8_t(bits | uint32_t(std::popcount(bits) & 1) << 7);
}

// Eight weights: scale * magnitude, negated where the sign bit is set.
void write_signed_group(uint64_t entry, uint8_t signs, float scale, float* y) {
    for (int j = 0; j < 8; ++j) y[j] = scale * float(grid_byte(entry, j)) * ((signs >> j) & 1 ? -1.f : 1.f);
}

// IQ3 grids hold groups of 4: two entries side by side make a group of 8.
uint64_t iq3_pair(uint32_t first, uint32_t second) {
    return uint64_t(first) | uint64_t(second) << 32;
}

// IQ1 grids hold int8 values -1, 0, 1; every weight is scale * (value + delta).
void write_iq1_group(uint64_t entry, float scale, float delta, float* y) {
    for (int j = 0; j < 8; ++j) y[j] = scale * (float(int8_t(grid_byte(entry, j))) + delta);
}

// The IQ2 formats' 4-bit sub-block scales give d * (0.5 + s) / 4.
float iq2_scale(float d, int s) {
    return d * (0.5f + float(s)) * 0.25f;
}

}  // namespace

// ------------------------------------------------------------------ IQ4: non-linear 4-bit values

// d (f16), 16 bytes: byte j holds weights j (low nibble) and j + 16 (high).
void dequantize_iq4_nl(const uint8_t* b, float* y) {
    const float d = half_at(b);
    const uint8_t* qs = b + 2;
    for (int j = 0; j < 16; ++j) {
        y[j] = d * float(kIq4nlValues[qs[j] & 0x0F]);
        y[j + 16] = d * float(kIq4nlValues[qs[j] >> 4]);
    }
}

// d (f16), the high 2 bits of eight 6-bit scales (u16), their low 4 bits (4 bytes),
// then eight IQ4_NL-style sub-blocks of 32 without their own d.
void dequantize_iq4_xs(const uint8_t* b, float* y) {
    const float d = half_at(b);
    const uint16_t scales_h = u16_at(b + 2);
    const uint8_t* scales_l = b + 4;
    const uint8_t* qs = b + 8;
    for (int ib = 0; ib < 8; ++ib, y += 32, qs += 16) {
        const int ls = ((scales_l[ib / 2] >> 4 * (ib % 2)) & 0x0F) | ((scales_h >> 2 * ib) & 3) << 4;
        const float dl = d * float(ls - 32);
        for (int j = 0; j < 16; ++j) {
            y[j] = dl * float(kIq4nlValues[qs[j] & 0x0F]);
            y[j + 16] = dl * float(kIq4nlValues[qs[j] >> 4]);
        }
    }
}

// ------------------------------------------------------------------ IQ3: grids of 4 magnitudes

// d (f16), 64 grid indices, then per sub-block of 32 a u32: four 7-bit sign sets and a
// 4-bit scale on top.
void dequantize_iq3_xxs(const uint8_t* b, float* y) {
    const float d = half_at(b);
    const uint8_t* qs = b + 2;
    const uint8_t* scales_and_signs = b + 2 + 64;
    for (int ib = 0; ib < 8; ++ib, qs += 8) {
        const uint32_t aux = u32_at(scales_and_signs + 4 * ib);
        const float db = d * (0.5f + float(aux >> 28)) * 0.5f;
        for (int l = 0; l < 4; ++l, y += 8) {
            const uint64_t group = iq3_pair(kIq3xxsGrid[qs[2 * l]], kIq3xxsGrid[qs[2 * l + 1]]);
            write_signed_group(group, signs_from_7_bits(aux >> 7 * l), db, y);
        }
    }
}

// d (f16), the low 8 bits of 64 grid indices, their 9th bits (8 bytes, one per sub-block),
// one sign byte per group of 8, and eight 4-bit scales: d * (1 + 2s).
void dequantize_iq3_s(const uint8_t* b, float* y) {
    const float d = half_at(b);
    const uint8_t* qs = b + 2;
    const uint8_t* qh = b + 2 + 64;
    const uint8_t* signs = b + 2 + 64 + 8;
    const uint8_t* scales = b + 2 + 64 + 8 + 32;
    for (int ib = 0; ib < 8; ++ib, qs += 8, signs += 4) {
        const float db = d * float(1 + 2 * ((scales[ib / 2] >> 4 * (ib % 2)) & 0x0F));
        const auto index = [&](int k) { return qs[k] | ((qh[ib] >> k) & 1) << 8; };
        for (int l = 0; l < 4; ++l, y += 8)
            write_signed_group(iq3_pair(kIq3sGrid[index(2 * l)], kIq3sGrid[index(2 * l + 1)]), signs[l], db, y);
    }
}

// ------------------------------------------------------------------ IQ2: grids of 8 magnitudes

// d (f16), then per sub-block of 32 two u32: four 8-bit grid indices, and four 7-bit
// sign sets with a 4-bit scale on top.
void dequantize_iq2_xxs(const uint8_t* b, float* y) {
    const float d = half_at(b);
    for (int ib = 0; ib < 8; ++ib) {
        const uint8_t* sub = b + 2 + 8 * ib;
        const uint32_t aux = u32_at(sub + 4);
        const float db = iq2_scale(d, int(aux >> 28));
        for (int l = 0; l < 4; ++l, y += 8)
            write_signed_group(kIq2xxsGrid[sub[l]], signs_from_7_bits(aux >> 7 * l), db, y);
    }
}

// d (f16), 32 u16 (9-bit grid index, 7 sign bits), eight bytes of two 4-bit scales
// (the first for groups 0-1 of the sub-block, the second for groups 2-3).
void dequantize_iq2_xs(const uint8_t* b, float* y) {
    const float d = half_at(b);
    const uint8_t* qs = b + 2;
    const uint8_t* scales = b + 2 + 64;
    for (int ib = 0; ib < 8; ++ib) {
        const float db[2] = {iq2_scale(d, scales[ib] & 0x0F), iq2_scale(d, scales[ib] >> 4)};
        for (int l = 0; l < 4; ++l, y += 8) {
            const uint16_t q = u16_at(qs + 2 * (4 * ib + l));
            write_signed_group(kIq2xsGrid[q & 511], signs_from_7_bits(q >> 9), db[l / 2], y);
        }
    }
}

// d (f16), the low 8 bits of 32 grid indices, one full sign byte per group, the high
// 2 bits of the indices (one byte per sub-block), and scales as in IQ2_XS.
void dequantize_iq2_s(const uint8_t* b, float* y) {
    const float d = half_at(b);
    const uint8_t* qs = b + 2;
    const uint8_t* signs = b + 2 + 32;
    const uint8_t* qh = b + 2 + 64;
    const uint8_t* scales = b + 2 + 64 + 8;
    for (int ib = 0; ib < 8; ++ib) {
        const float db[2] = {iq2_scale(d, scales[ib] & 0x0F), iq2_scale(d, scales[ib] >> 4)};
        for (int l = 0; l < 4; ++l, y += 8) {
            const int k = 4 * ib + l;
            const int index = qs[k] | ((qh[ib] >> 2 * l) & 3) << 8;
            write_signed_group(kIq2sGrid[index], signs[k], db[l / 2], y);
        }
    }
}

// ------------------------------------------------------------------ IQ1: ternary grids

// d (f16), the low 8 bits of 32 grid indices, then per sub-block a u16: four 3-bit
// index tops, a 3-bit scale (d * (2s + 1)) and the sign of delta in the top bit.
void dequantize_iq1_s(const uint8_t* b, float* y) {
    const float d = half_at(b);
    const uint8_t* qs = b + 2;
    const uint8_t* qh = b + 2 + 32;
    for (int ib = 0; ib < 8; ++ib) {
        const uint16_t h = u16_at(qh + 2 * ib);
        const float dl = d * float(2 * ((h >> 12) & 7) + 1);
        const float delta = (h & 0x8000) ? -kIq1Delta : kIq1Delta;
        for (int l = 0; l < 4; ++l, y += 8)
            write_iq1_group(kIq1sGrid[qs[4 * ib + l] | ((h >> 3 * l) & 7) << 8], dl, delta, y);
    }
}

// The low 8 bits of 32 grid indices, then per group a nibble (3-bit index top, delta's
// sign), then four u16 of 3-bit scales (two per sub-block, one per half) whose top
// nibbles together hold the f16 d.
void dequantize_iq1_m(const uint8_t* b, float* y) {
    const uint8_t* qs = b;
    const uint8_t* qh = b + 32;
    uint16_t sc[4];
    std::memcpy(sc, b + 48, sizeof sc);
    const uint16_t d_bits =
        uint16_t((sc[0] >> 12) | ((sc[1] >> 8) & 0x00F0) | ((sc[2] >> 4) & 0x0F00) | (sc[3] & 0xF000));
    const float d = fp16_to_fp32(d_bits);
    for (int ib = 0; ib < 8; ++ib) {
        const int s = sc[ib / 2] >> 6 * (ib % 2);
        const float dl[2] = {d * float(2 * (s & 7) + 1), d * float(2 * ((s >> 3) & 7) + 1)};
        for (int l = 0; l < 4; ++l, y += 8) {
            const int h = qh[2 * ib + l / 2] >> 4 * (l % 2);
            const float delta = (h & 8) ? -kIq1Delta : kIq1Delta;
            write_iq1_group(kIq1sGrid[qs[4 * ib + l] | (h & 7) << 8], dl[l / 2], delta, y);
        }
    }
}

}  // namespace lumen::iq
