// Op tests of each CPU kernel against a plain reference written here:
//   - fp16/bf16 conversions against the IEEE definitions (and the F16C
//     instructions when the CPU has them);
//   - every dequantizer against blocks this file encodes by hand from known
//     integer quants and scales, following ggml's published block layouts, plus a
//     Q8_0 file written by llama.cpp against the fp32 checkpoint it came from;
//   - dot, rms_norm, softmax, silu_mul, rope, matmul (every weight type, 1 and 3
//     threads) and paged attention against double-precision loops on random
//     inputs in [-1, 1], odd sizes included, with guard values around outputs;
//   - ThreadPool::parallel_for coverage.
// Errors are NMSE = sum((ref - got)^2) / sum(ref^2); each threshold says why it is what it is.
#include <gtest/gtest.h>
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstring>
#include <functional>
#include <numeric>
#include <random>
#include <type_traits>
#include <vector>

#include "backend/cpu/cpu_ops.h"
#include "backend/thread_pool.h"
#include "core/dtype.h"
#include "gguf/gguf_file.h"
#include "model/model.h"
#include "op_test_support.h"
#include "test_support.h"

namespace {

using namespace lumen;
using Bytes = std::vector<uint8_t>;
using test::Guarded;
using test::nmse;
using test::random_floats;
using test::random_weight_bytes;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

// IEEE 754 binary16, from its definition.
double half_value(uint16_t h) {
    const int sign = h >> 15, exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
    double v;
    if (exp == 0)
        v = std::ldexp(double(mant), -24);
    else if (exp == 31)
        v = mant ? NAN : INFINITY;
    else
        v = std::ldexp(double(1024 + mant), exp - 25);
    return sign ? -v : v;
}
bool half_is_nan(uint16_t h) {
    return (h & 0x7C00) == 0x7C00 && (h & 0x3FF) != 0;
}

// ---------------------------------------------------------------------------
// fp16 and bf16
// ---------------------------------------------------------------------------

TEST(Fp16, DecodeMatchesTheDefinitionForAllHalves) {
    for (uint32_t h = 0; h < 65536; ++h) {
        const float got = fp16_to_fp32(uint16_t(h));
        const double want = half_value(uint16_t(h));
        if (std::isnan(want)) {
            EXPECT_TRUE(std::isnan(got)) << std::hex << h;
        } else {
            EXPECT_EQ(double(got), want) << std::hex << h;
            EXPECT_EQ(std::signbit(got), (h & 0x8000) != 0) << std::hex << h;
        }
    }
}

TEST(Fp16, EncodeRoundTripsEveryHalfAndRoundsTiesToEven) {
    for (uint32_t h = 0; h < 65536; ++h) {
        const uint16_t back = fp32_to_fp16(fp16_to_fp32(uint16_t(h)));
        if (half_is_nan(uint16_t(h)))
            EXPECT_TRUE(half_is_nan(back)) << std::hex << h;
        else
            EXPECT_EQ(back, h) << std::hex << h;
    }
    // Midpoints between neighbouring halves (exact in float: 12 significant bits) go to the
    // even one; a float ulp either side goes to the nearer one. 0x7BFF..0x7C00 is the
    // overflow threshold 65520: ties go to infinity, as IEEE rounding does.
    for (uint16_t sign : {uint16_t(0), uint16_t(0x8000)}) {
        for (uint16_t h = 0; h < 0x7C00; ++h) {
            const uint16_t lo = uint16_t(sign | h), hi = uint16_t(sign | (h + 1));
            const double mid = (half_value(lo) + (h + 1 == 0x7C00 ? (sign ? -65536.0 : 65536.0) : half_value(hi))) / 2;
            const float midf = float(mid);
            ASSERT_EQ(double(midf), mid);
            const uint16_t even = (lo & 1) == 0 ? lo : hi;
            EXPECT_EQ(fp32_to_fp16(midf), even) << std::hex << lo;
            const float toward_lo = std::nextafter(midf, sign ? INFINITY : -INFINITY);
            const float toward_hi = std::nextafter(midf, sign ? -INFINITY : INFINITY);
            EXPECT_EQ(fp32_to_fp16(toward_lo), lo) << std::hex << lo;
            EXPECT_EQ(fp32_to_fp16(toward_hi), hi) << std::hex << lo;
        }
    }
    EXPECT_EQ(fp32_to_fp16(std::ldexp(1.f, -25)), 0x0000);      // half the smallest subnormal: tie to 0
    EXPECT_EQ(fp32_to_fp16(3 * std::ldexp(1.f, -25)), 0x0002);  // 1.5 subnormal steps: tie to 2
    EXPECT_EQ(fp32_to_fp16(-1e-10f), 0x8000);                   // underflow keeps the sign
    EXPECT_EQ(fp32_to_fp16(1e10f), 0x7C00);
    EXPECT_EQ(fp32_to_fp16(-INFINITY), 0xFC00);
    EXPECT_TRUE(half_is_nan(fp32_to_fp16(NAN)));
    EXPECT_TRUE(half_is_nan(fp32_to_fp16(-std::nanf("0x1"))));
}

__attribute__((target("f16c"))) float f16c_to_float(uint16_t h) {
    return _cvtsh_ss(h);
}
__attribute__((target("f16c"))) uint16_t f16c_from_float(float f) {
    return uint16_t(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT));
}

TEST(Fp16, MatchesTheF16CInstructions) {
    if (!__builtin_cpu_supports("f16c")) GTEST_SKIP() << "this CPU has no F16C instructions";
    for (uint32_t h = 0; h < 65536; ++h) {
        const float got = fp16_to_fp32(uint16_t(h)), want = f16c_to_float(uint16_t(h));
        if (std::isnan(want))
            EXPECT_TRUE(std::isnan(got)) << std::hex << h;
        else
            EXPECT_EQ(std::bit_cast<uint32_t>(got), std::bit_cast<uint32_t>(want)) << std::hex << h;
    }
    std::mt19937 rng(7);
    for (int i = 0; i < (1 << 21); ++i) {
        // Random bit patterns cover every exponent, subnormals and overflow; narrow
        // them to the half range half of the time, where the rounding happens.
        uint32_t bits = rng();
        if (i & 1) bits = (bits & 0x807FFFFF) | ((100 + (bits >> 24) % 45) << 23);  // 2^-27 .. 2^17
        const float f = std::bit_cast<float>(bits);
        const uint16_t got = fp32_to_fp16(f), want = f16c_from_float(f);
        if (half_is_nan(want))
            EXPECT_TRUE(half_is_nan(got)) << std::hex << bits;
        else
            ASSERT_EQ(got, want) << std::hex << bits;
    }
}

// Round to nearest even by choosing between the two neighbouring bf16 values.
uint16_t reference_bf16(float f) {
    const uint32_t bits = std::bit_cast<uint32_t>(f);
    if (std::isnan(f)) return uint16_t((bits >> 16) | 0x40);
    const uint32_t lo = bits & 0xFFFF0000u;
    if ((lo & 0x7FFFFFFF) == 0x7F800000u) return uint16_t(lo >> 16);  // infinity
    const double x = std::fabs(double(f)), vlo = std::fabs(double(std::bit_cast<float>(lo)));
    // The next bf16 up; past the largest finite one it is 2^128, which rounds to infinity.
    const double vhi =
        (lo & 0x7FFFFFFF) == 0x7F7F0000u ? std::ldexp(1.0, 128) : std::fabs(double(std::bit_cast<float>(lo + 0x10000)));
    const bool up = x - vlo > vhi - x || (x - vlo == vhi - x && ((lo >> 16) & 1));
    return uint16_t((lo >> 16) + (up ? 1 : 0));
}

TEST(Bf16, ConversionsMatchTheDefinition) {
    for (uint32_t h = 0; h < 65536; ++h) {
        const float f = bf16_to_fp32(uint16_t(h));
        EXPECT_EQ(std::bit_cast<uint32_t>(f), h << 16);
        if (!std::isnan(f)) EXPECT_EQ(fp32_to_bf16(f), h) << std::hex << h;
    }
    std::mt19937 rng(11);
    for (int i = 0; i < (1 << 20); ++i) {
        uint32_t bits = rng();
        if (i % 4 == 0) bits = (bits & 0xFFFF0000u) | 0x8000u;  // exact ties
        const float f = std::bit_cast<float>(bits);
        const uint16_t got = fp32_to_bf16(f);
        if (std::isnan(f))
            EXPECT_TRUE(std::isnan(bf16_to_fp32(got))) << std::hex << bits;
        else
            ASSERT_EQ(got, reference_bf16(f)) << std::hex << bits;
    }
    EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x7F7FFFFFu)), 0x7F80);  // FLT_MAX rounds up to infinity
    EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x7F7F7FFFu)), 0x7F7F);
}

// ---------------------------------------------------------------------------
// Dequantization of hand-encoded blocks
// ---------------------------------------------------------------------------
//
// Block layouts as ggml states them (ggml-common.h, and the packing loops of the
// reference quantizers in ggml-quants.c), re-derived here as encoders:
//   q4_0: d:f16, qs[16]: element j in the low nibble of qs[j], element j+16 in the high one; w = d*(q-8)
//   q4_1: d:f16, m:f16, qs[16] as q4_0;                                                      w = d*q + m
//   q5_0: d:f16, qh:u32 (bit j = 5th bit of element j), qs[16] as q4_0;                      w = d*(q-16)
//   q5_1: d:f16, m:f16, qh:u32, qs[16];                                                      w = d*q + m
//   q8_0: d:f16, qs:int8[32];                                                                w = d*q
//   q4_k: d:f16, dmin:f16, scales[12] (8 six-bit scales and mins), qs[128]: in each 64-element
//         chunk c, qs[32c+l] holds element 64c+l (low nibble) and 64c+32+l (high nibble);
//         w = d*sc[i/32]*q - dmin*m[i/32]
//   q5_k: d, dmin, scales[12], qh[32] (element 64c+l: bit 2c of qh[l]; 64c+32+l: bit 2c+1), qs[128] as q4_k
//   q6_k: ql[128], qh[64], scales:int8[16], d:f16; in each 128-half h, for l < 32:
//         ql[64h+l] = q(128h+l) | q(128h+64+l)<<4, ql[64h+32+l] = q(128h+32+l) | q(128h+96+l)<<4,
//         qh[32h+l] = bits 4-5 of q(128h+l), q(+32), q(+64), q(+96) at shifts 0, 2, 4, 6;
//         w = d*scales[i/16]*(q-32)
// Scales and quants are chosen so every product is exact in float: the check is equality.

void put_u16(Bytes& b, uint16_t v) {
    b.push_back(uint8_t(v));
    b.push_back(uint8_t(v >> 8));
}
void put_u32(Bytes& b, uint32_t v) {
    for (int i = 0; i < 4; ++i) b.push_back(uint8_t(v >> (8 * i)));
}

// Halves with few significant bits, so products with small integers stay exact.
constexpr uint16_t kHalf_0_5 = 0x3800, kHalf_m0_25 = 0xB400, kHalf_1_75 = 0x3F00, kHalf_3 = 0x4200,
                   kHalf_0_125 = 0x3000, kHalf_0_0625 = 0x2C00, kHalf_m3_5 = 0xC300, kHalf_m2 = 0xC000;

struct Encoded {
    Bytes bytes;
    std::vector<double> expected;
};

void pack_nibbles_32(Bytes& b, const int* q) {  // legacy layout: j low, j+16 high
    for (int j = 0; j < 16; ++j) b.push_back(uint8_t((q[j] & 0xF) | ((q[j + 16] & 0xF) << 4)));
}

Encoded encode_legacy(DType type, int n_blocks) {
    const uint16_t ds[] = {kHalf_0_5, kHalf_m0_25, kHalf_1_75, kHalf_3};
    const uint16_t ms[] = {kHalf_m3_5, kHalf_0_125, kHalf_m2, kHalf_0_0625};
    Encoded e;
    for (int b = 0; b < n_blocks; ++b) {
        const uint16_t d = ds[b % 4], m = ms[b % 4];
        int q[32];
        const int range = type == DType::Q8_0 ? 256 : type == DType::Q5_0 || type == DType::Q5_1 ? 32 : 16;
        for (int j = 0; j < 32; ++j) q[j] = (j * 5 + 3 * b) % range;  // 5 is coprime to every range: all values occur
        put_u16(e.bytes, d);
        if (type == DType::Q4_1 || type == DType::Q5_1) put_u16(e.bytes, m);
        if (type == DType::Q5_0 || type == DType::Q5_1) {
            uint32_t qh = 0;
            for (int j = 0; j < 32; ++j) qh |= uint32_t(q[j] >> 4) << j;
            put_u32(e.bytes, qh);
        }
        if (type == DType::Q8_0)
            for (int j = 0; j < 32; ++j) e.bytes.push_back(uint8_t(q[j] - 128));
        else
            pack_nibbles_32(e.bytes, q);
        for (int j = 0; j < 32; ++j) {
            const double dv = half_value(d), mv = half_value(m);
            switch (type) {
                case DType::Q4_0: e.expected.push_back(dv * (q[j] - 8)); break;
                case DType::Q4_1: e.expected.push_back(dv * q[j] + mv); break;
                case DType::Q5_0: e.expected.push_back(dv * (q[j] - 16)); break;
                case DType::Q5_1: e.expected.push_back(dv * q[j] + mv); break;
                default: e.expected.push_back(dv * (q[j] - 128)); break;
            }
        }
    }
    return e;
}

// Eight 6-bit scales and eight 6-bit mins in 12 bytes: sub-blocks 0-3 keep theirs in the
// low 6 bits of bytes 0-3 (scale) and 4-7 (min); sub-blocks 4-7 put their low 4 bits in
// bytes 8-11 (scale low nibble, min high nibble) and their top 2 bits in the top bits of
// bytes 0-3 (scale) and 4-7 (min).
void pack_scales_k4(Bytes& b, const int* sc, const int* mn) {
    uint8_t s[12] = {};
    for (int j = 0; j < 8; ++j) {
        if (j < 4) {
            s[j] |= uint8_t(sc[j]);
            s[j + 4] |= uint8_t(mn[j]);
        } else {
            s[j + 4] = uint8_t((sc[j] & 0xF) | ((mn[j] & 0xF) << 4));
            s[j - 4] |= uint8_t((sc[j] >> 4) << 6);
            s[j] |= uint8_t((mn[j] >> 4) << 6);
        }
    }
    b.insert(b.end(), s, s + 12);
}

Encoded encode_k(DType type, int n_blocks) {
    Encoded e;
    for (int b = 0; b < n_blocks; ++b) {
        int q[256];
        if (type == DType::Q6_K) {
            int8_t sc[16];
            for (int j = 0; j < 16; ++j) sc[j] = int8_t((j * 23 + b * 7) % 256 - 128);  // -128..127
            for (int i = 0; i < 256; ++i) q[i] = (i * 11 + b * 3) % 64;
            const uint16_t d = b % 2 ? kHalf_0_125 : kHalf_m0_25;
            Bytes ql(128), qh(64);
            for (int h = 0; h < 2; ++h)
                for (int l = 0; l < 32; ++l) {
                    const int* g = q + 128 * h + l;
                    ql[size_t(64 * h + l)] = uint8_t((g[0] & 0xF) | ((g[64] & 0xF) << 4));
                    ql[size_t(64 * h + 32 + l)] = uint8_t((g[32] & 0xF) | ((g[96] & 0xF) << 4));
                    qh[size_t(32 * h + l)] =
                        uint8_t((g[0] >> 4) | ((g[32] >> 4) << 2) | ((g[64] >> 4) << 4) | ((g[96] >> 4) << 6));
                }
            e.bytes.insert(e.bytes.end(), ql.begin(), ql.end());
            e.bytes.insert(e.bytes.end(), qh.begin(), qh.end());
            for (int8_t s : sc) e.bytes.push_back(uint8_t(s));
            put_u16(e.bytes, d);
            for (int i = 0; i < 256; ++i) e.expected.push_back(half_value(d) * sc[i / 16] * (q[i] - 32));
            continue;
        }
        const bool five = type == DType::Q5_K;
        int sc[8], mn[8];
        for (int j = 0; j < 8; ++j) {
            sc[j] = (j * 13 + 7 * b + 1) % 64;
            mn[j] = (j * 29 + 5 * b + 63) % 64;
        }
        for (int i = 0; i < 256; ++i) q[i] = (i * 7 + b) % (five ? 32 : 16);
        const uint16_t d = b % 2 ? kHalf_0_125 : kHalf_0_5, dmin = b % 2 ? kHalf_0_0625 : kHalf_0_125;
        put_u16(e.bytes, d);
        put_u16(e.bytes, dmin);
        pack_scales_k4(e.bytes, sc, mn);
        if (five) {
            Bytes qh(32, 0);
            for (int i = 0; i < 256; ++i) qh[size_t(i % 32)] |= uint8_t((q[i] >> 4) << (2 * (i / 64) + (i % 64) / 32));
            e.bytes.insert(e.bytes.end(), qh.begin(), qh.end());
        }
        for (int c = 0; c < 4; ++c)
            for (int l = 0; l < 32; ++l)
                e.bytes.push_back(uint8_t((q[64 * c + l] & 0xF) | ((q[64 * c + 32 + l] & 0xF) << 4)));
        for (int i = 0; i < 256; ++i)
            e.expected.push_back(half_value(d) * sc[i / 32] * q[i] - half_value(dmin) * mn[i / 32]);
    }
    return e;
}

void expect_dequantizes_to(DType type, const Encoded& e) {
    SCOPED_TRACE(dtype_name(type));
    const int64_t n = int64_t(e.expected.size());
    ASSERT_EQ(e.bytes.size(), row_bytes(type, n)) << "encoder and traits disagree on the block size";
    Guarded out(static_cast<size_t>(n));
    dequantize_row(type, e.bytes.data(), out.data(), n);
    for (int64_t i = 0; i < n; ++i) {
        ASSERT_EQ(double(float(e.expected[size_t(i)])), e.expected[size_t(i)]) << "test values must be exact in float";
        ASSERT_EQ(out.data()[i], float(e.expected[size_t(i)])) << "element " << i;
    }
    EXPECT_TRUE(out.guards_intact());
}

TEST(Dequantize, LegacyBlocksMatchTheGgmlLayout) {
    for (DType t : {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q8_0})
        expect_dequantizes_to(t, encode_legacy(t, 5));
}

TEST(Dequantize, KQuantBlocksMatchTheGgmlLayout) {
    for (DType t : {DType::Q4_K, DType::Q5_K, DType::Q6_K}) expect_dequantizes_to(t, encode_k(t, 3));
}

TEST(Dequantize, PlainFloatTypes) {
    std::mt19937 rng(3);
    Encoded f32, f16, bf16;
    for (float x : random_floats(37, rng, -100.f, 100.f)) {
        const auto* p = reinterpret_cast<const uint8_t*>(&x);
        f32.bytes.insert(f32.bytes.end(), p, p + 4);
        f32.expected.push_back(x);
    }
    for (int i = 0; i < 37; ++i) {
        uint16_t h;
        do h = uint16_t(rng());
        while ((h & 0x7C00) == 0x7C00);  // finite halves, subnormals included
        put_u16(f16.bytes, h);
        f16.expected.push_back(half_value(h));
        const uint16_t b = uint16_t(rng() & 0xBFFF);  // finite bf16 (exponent below 0xFF)
        put_u16(bf16.bytes, b);
        bf16.expected.push_back(std::bit_cast<float>(uint32_t(b) << 16));
    }
    expect_dequantizes_to(DType::F32, f32);
    expect_dequantizes_to(DType::F16, f16);
    expect_dequantizes_to(DType::BF16, bf16);
}

// A Q8_0 file written by llama.cpp from the fp32 llama2.c checkpoint: every weight must be
// within half a quantization step of the original (|w - dq| <= d/2, d = max|w|/127 of the
// block, plus what rounding d to fp16 adds: 127 * |d16 - d|).
TEST(Dequantize, Q8_0FromLlamaCppMatchesTheFp32Checkpoint) {
    const std::string gguf_path = test::shared_dir() + "/testdata/gguf/stories15M-q8_0.gguf";
    const std::string bin_path = test::shared_dir() + "/testdata/stories15M/stories15M.bin";
    if (!test::file_exists(gguf_path) || !test::file_exists(bin_path))
        GTEST_SKIP() << "shared test data not found (" << gguf_path << ", " << bin_path << ")";
    auto g = GgufFile::open(gguf_path);
    ASSERT_TRUE(g.is_ok()) << g.status().message();
    auto m = load_llama2c_model(bin_path, {});
    ASSERT_TRUE(m.is_ok()) << m.status().message();
    const ModelWeights& w = m.value()->weights;
    // convert-llama2c-to-ggml keeps llama2.c's Q/K row order: both use adjacent-pair RoPE,
    // so no rope permutation is applied (checked: the direct comparison below holds for
    // attn_q/attn_k, and a permuted one is off by up to 0.7).
    const std::pair<const char*, const TensorView*> pairs[] = {
        {"token_embd.weight", &w.token_embedding},      {"blk.0.attn_q.weight", &w.layers[0].wq},
        {"blk.0.attn_k.weight", &w.layers[0].wk},       {"blk.2.attn_output.weight", &w.layers[2].wo},
        {"blk.5.ffn_down.weight", &w.layers[5].w_down}, {"blk.3.ffn_gate.weight", &w.layers[3].w_gate},
    };
    for (const auto& [name, fp32] : pairs) {
        SCOPED_TRACE(name);
        const GgufTensorInfo* t = g->find_tensor(name);
        ASSERT_NE(t, nullptr);
        ASSERT_EQ(t->type, DType::Q8_0);
        ASSERT_EQ(t->dims, (std::vector<int64_t>{fp32->cols, fp32->rows}));
        const int64_t cols = fp32->cols, row_stride = int64_t(row_bytes(DType::Q8_0, cols));
        std::vector<float> dq(static_cast<size_t>(cols));
        double worst = 0;  // largest |w - dq| in units of the block's step
        for (int64_t r = 0; r < fp32->rows; ++r) {
            const uint8_t* qrow = t->data + r * row_stride;
            const float* wrow = reinterpret_cast<const float*>(fp32->row(r));
            dequantize_row(DType::Q8_0, qrow, dq.data(), cols);
            for (int64_t b = 0; b < cols / 32; ++b) {
                double amax = 0;
                for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(double(wrow[b * 32 + j])));
                const double d = amax / 127, d16 = half_value(uint16_t(qrow[b * 34] | (qrow[b * 34 + 1] << 8)));
                ASSERT_LE(std::fabs(d16 - d), d * 0x1p-11 + 0x1p-25) << "block scale is not max|w|/127";
                const double bound = d / 2 + 127 * std::fabs(d16 - d) + d * 1e-5;  // 1e-5: float x/d
                for (int j = 0; j < 32; ++j) {
                    const double err = std::fabs(double(wrow[b * 32 + j]) - double(dq[size_t(b * 32 + j)]));
                    ASSERT_LE(err, bound) << "row " << r << " block " << b << " element " << j;
                    if (d > 0) worst = std::max(worst, err / d);
                }
            }
        }
        EXPECT_GT(worst, 0.4) << "suspiciously exact: is the comparison reading the same bytes twice?";
    }
}

// ---------------------------------------------------------------------------
// Elementwise ops and reductions against double precision
// ---------------------------------------------------------------------------

const int64_t kSizes[] = {1, 5, 7, 13, 16, 17, 64, 4097};

// Float sums of up to 4097 products of [-1, 1] values: relative error a few 1e-7 at worst,
// so NMSE over many results stays below 1e-9.
TEST(CpuOps, Dot) {
    std::mt19937 rng(21);
    for (int64_t n : kSizes) {
        std::vector<float> got;
        std::vector<double> ref;
        for (int trial = 0; trial < 64; ++trial) {
            const auto a = random_floats(size_t(n), rng), b = random_floats(size_t(n), rng);
            got.push_back(cpu::dot(a.data(), b.data(), n));
            ref.push_back(std::inner_product(a.begin(), a.end(), b.begin(), 0.0, std::plus<>(),
                                             [](float x, float y) { return double(x) * y; }));
        }
        EXPECT_LT(nmse(got.data(), ref.data(), got.size()), 1e-9) << "n = " << n;
    }
}

// Elementwise results after one reduction: float rounding gives NMSE ~1e-14; 1e-10 leaves room.
TEST(CpuOps, RmsNorm) {
    std::mt19937 rng(22);
    for (int64_t n : kSizes) {
        const auto x = random_floats(size_t(n), rng), wt = random_floats(size_t(n), rng);
        Guarded out(static_cast<size_t>(n));
        cpu::rms_norm(x.data(), wt.data(), out.data(), n, 1e-5f);
        double ss = 0;
        for (float v : x) ss += double(v) * v;
        const double inv = 1 / std::sqrt(ss / double(n) + double(1e-5f));
        std::vector<double> ref(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) ref[size_t(i)] = double(wt[size_t(i)]) * x[size_t(i)] * inv;
        EXPECT_LT(nmse(out.data(), ref.data(), size_t(n)), 1e-10) << "n = " << n;
        EXPECT_TRUE(out.guards_intact());
    }
}

TEST(CpuOps, Softmax) {
    std::mt19937 rng(23);
    for (int64_t n : kSizes) {
        for (float range : {1.f, 60.f}) {  // 60: exp overflows unless the max is subtracted first
            const auto x = random_floats(size_t(n), rng, -range, range);
            Guarded io(static_cast<size_t>(n));
            std::copy(x.begin(), x.end(), io.data());
            cpu::softmax(io.data(), n);
            const double mx = *std::max_element(x.begin(), x.end());
            std::vector<double> ref(static_cast<size_t>(n));
            double sum = 0;
            for (int64_t i = 0; i < n; ++i) sum += ref[size_t(i)] = std::exp(double(x[size_t(i)]) - mx);
            for (auto& r : ref) r /= sum;
            EXPECT_LT(nmse(io.data(), ref.data(), size_t(n)), 1e-10) << "n = " << n << " range " << range;
            EXPECT_TRUE(io.guards_intact());
        }
    }
}

// Pure elementwise: a few float roundings per element, NMSE ~1e-15.
TEST(CpuOps, SiluMulAndAdd) {
    std::mt19937 rng(24);
    for (int64_t n : kSizes) {
        const auto g = random_floats(size_t(n), rng), u = random_floats(size_t(n), rng);
        Guarded out(static_cast<size_t>(n));
        cpu::silu_mul(g.data(), u.data(), out.data(), n);
        std::vector<double> ref(static_cast<size_t>(n)), sum(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) {
            const double gi = g[size_t(i)];
            ref[size_t(i)] = gi / (1 + std::exp(-gi)) * u[size_t(i)];
            sum[size_t(i)] = double(out.data()[i]) + double(g[size_t(i)]);
        }
        EXPECT_LT(nmse(out.data(), ref.data(), size_t(n)), 1e-10) << "n = " << n;
        cpu::add_inplace(out.data(), g.data(), n);
        EXPECT_LT(nmse(out.data(), sum.data(), size_t(n)), 1e-12) << "n = " << n;
        EXPECT_TRUE(out.guards_intact());
    }
}

// RoPE from its definition: pair i of each head turns by angle (pos / scale) * theta^(-2i/rope_dim)
// / freq_factor[i]; "normal" pairs dims (2i, 2i+1), "neox" pairs (i, i + rope_dim/2); dims past
// rope_dim are untouched. The kernel computes angles in float, which costs about pos * 2^-24
// radians, so the NMSE bound grows with the position: 1e-10 + (2 * pos * 2^-24)^2.
TEST(CpuOps, RopeMatchesTheDefinition) {
    std::mt19937 rng(25);
    const int32_t n_heads = 3;
    for (RopeStyle style : {RopeStyle::normal, RopeStyle::neox})
        for (int32_t rope_dim : {64, 32, 2})
            for (bool factors : {false, true})
                for (float scale : {1.f, 4.f})
                    for (float theta : {10000.f, 500000.f})
                        for (int32_t pos : {0, 1, 17, 1000, 4095}) {
                            const int32_t head_dim = 64;
                            cpu::RopeParams p;
                            p.head_dim = head_dim;
                            p.rope_dim = rope_dim;
                            p.theta = theta;
                            p.scale = scale;
                            p.style = style;
                            const auto ff = random_floats(size_t(rope_dim / 2), rng, 1.f, 8.f);
                            if (factors) p.freq_factors = ff.data();
                            const auto x = random_floats(size_t(n_heads * head_dim), rng);
                            Guarded io(x.size());
                            std::copy(x.begin(), x.end(), io.data());
                            cpu::rope(io.data(), n_heads, pos, p);
                            std::vector<double> ref(x.begin(), x.end());
                            for (int32_t h = 0; h < n_heads; ++h)
                                for (int32_t i = 0; i < rope_dim / 2; ++i) {
                                    double freq = std::pow(double(theta), -2.0 * i / rope_dim);
                                    if (factors) freq /= ff[size_t(i)];
                                    const double angle = double(pos) / scale * freq;
                                    const int32_t a = style == RopeStyle::normal ? 2 * i : i;
                                    const int32_t b = style == RopeStyle::normal ? 2 * i + 1 : i + rope_dim / 2;
                                    const double x0 = x[size_t(h * head_dim + a)], x1 = x[size_t(h * head_dim + b)];
                                    ref[size_t(h * head_dim + a)] = x0 * std::cos(angle) - x1 * std::sin(angle);
                                    ref[size_t(h * head_dim + b)] = x0 * std::sin(angle) + x1 * std::cos(angle);
                                }
                            const double bound = 1e-10 + std::pow(2.0 * pos * 0x1p-24, 2);
                            EXPECT_LT(nmse(io.data(), ref.data(), x.size()), bound)
                                << (style == RopeStyle::normal ? "normal" : "neox") << " rope_dim " << rope_dim
                                << " factors " << factors << " scale " << scale << " theta " << theta << " pos " << pos;
                            for (int32_t h = 0; h < n_heads; ++h)
                                for (int32_t d = rope_dim; d < head_dim; ++d)
                                    ASSERT_EQ(io.data()[h * head_dim + d], x[size_t(h * head_dim + d)]);
                            EXPECT_TRUE(io.guards_intact());
                            // The frequencies the backend computes once per model give the same bits.
                            const auto freqs = cpu::rope_frequencies(p);
                            p.frequencies = freqs.data();
                            Guarded io2(x.size());
                            std::copy(x.begin(), x.end(), io2.data());
                            cpu::rope(io2.data(), n_heads, pos, p);
                            EXPECT_EQ(std::memcmp(io.data(), io2.data(), x.size() * sizeof(float)), 0);
                        }
}

// ---------------------------------------------------------------------------
// matmul, every weight type
// ---------------------------------------------------------------------------

// 8-bit activations as ggml's q8_0/q8_1 define them (d = max|x|/127 stored as fp16,
// q = round(x/d); q8_1 adds s = d * sum(q), also stored as fp16), dequantized.
struct Q8Activations {
    std::vector<double> x;  // d16 * q
    std::vector<double> s;  // per block
};
Q8Activations quantize_activations(const float* x, int64_t n) {
    Q8Activations a;
    for (int64_t b = 0; b < n / 32; ++b) {
        double amax = 0;
        for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(double(x[b * 32 + j])));
        const float d = float(amax / 127);
        const double d16 = double(fp16_to_fp32(fp32_to_fp16(d)));
        int sum = 0;
        for (int j = 0; j < 32; ++j) {
            const int q = amax > 0 ? int(std::nearbyint(double(x[b * 32 + j]) * 127 / amax)) : 0;
            sum += q;
            a.x.push_back(d16 * q);
        }
        a.s.push_back(double(fp16_to_fp32(fp32_to_fp16(d * float(sum)))));
    }
    return a;
}

// 8-bit activations as ggml's q8_K defines them for the k-quants: per 256 values the
// value of largest magnitude m (with its sign) maps to -127, q = min(127, round(-127 x / m)),
// and the scale is d = 1 / (-127 / m), kept in f32. Dequantized.
std::vector<double> quantize_activations_q8k(const float* x, int64_t n) {
    std::vector<double> out;
    for (int64_t b = 0; b < n / 256; ++b) {
        float amax = 0, max = 0;
        for (int j = 0; j < 256; ++j)
            if (std::fabs(x[b * 256 + j]) > amax) amax = std::fabs(x[b * 256 + j]), max = x[b * 256 + j];
        const float iscale = amax > 0 ? -127.f / max : 0.f;
        for (int j = 0; j < 256; ++j) {
            const int q = amax > 0 ? std::min(127, int(std::nearbyint(iscale * x[b * 256 + j]))) : 0;
            out.push_back(amax > 0 ? double(1.f / iscale) * q : 0.0);
        }
    }
    return out;
}

// The fp16 minimum m of block `blk` of a q4_1/q5_1 row: bytes 2-3 of the block.
double block_min(DType type, const uint8_t* row, int64_t blk) {
    const uint8_t* b = row + blk * traits(type).block_bytes;
    return half_value(uint16_t(b[2] | (b[3] << 8)));
}

bool uses_8bit_activations(DType t) {
    return t == DType::Q4_0 || t == DType::Q4_1 || t == DType::Q5_0 || t == DType::Q5_1 || t == DType::Q8_0;
}
bool uses_q8k_activations(DType t) {
    return t == DType::Q4_K || t == DType::Q5_K || t == DType::Q6_K;
}

// Reference: the whole matrix dequantized, then double loops. For the quantized types the
// kernel multiplies with 8-bit activations as llama.cpp does, so the reference does too
// (with the block minimum times the activation block sum s for q4_1/q5_1; q8_K for k-quants). Either way the
// only difference left is float accumulation (measured NMSE <= 1e-11): 1e-9 is generous.
// Against plain fp32 activations the 8-bit rounding costs ~1e-5 NMSE on average, up to a
// few 1e-4 for a single short dot product with cancellation: a sanity bound of 5e-3.
TEST(CpuOps, MatmulEveryWeightTypeAndThreadCount) {
    std::mt19937 rng(26);
    ThreadPool one(1), three(3);
    const DType types[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q4_0, DType::Q4_1, DType::Q5_0,
                           DType::Q5_1, DType::Q8_0, DType::Q4_K, DType::Q5_K, DType::Q6_K};
    for (DType type : types) {
        const int64_t block = traits(type).block_elements;
        std::vector<int64_t> col_sizes = block == 1    ? std::vector<int64_t>{1, 5, 13, 4097}
                                         : block == 32 ? std::vector<int64_t>{32, 96, 4128}
                                                       : std::vector<int64_t>{256, 768};
        for (int64_t cols : col_sizes)
            for (int64_t rows : {1, 7, 67})
                for (int64_t n_tokens : {1, 5}) {
                    SCOPED_TRACE(std::string(dtype_name(type)) + " rows " + std::to_string(rows) + " cols " +
                                 std::to_string(cols) + " tokens " + std::to_string(n_tokens));
                    const Bytes wbytes = random_weight_bytes(type, rows, cols, rng);
                    const TensorView w{type, wbytes.data(), rows, cols, "w"};
                    const auto x = random_floats(size_t(n_tokens * cols), rng);

                    std::vector<float> wd(size_t(rows * cols));
                    for (int64_t r = 0; r < rows; ++r) dequantize_row(type, w.row(r), wd.data() + r * cols, cols);
                    const bool q8 = uses_8bit_activations(type), q8k = uses_q8k_activations(type);
                    const bool has_min = type == DType::Q4_1 || type == DType::Q5_1;
                    std::vector<double> ref(size_t(n_tokens * rows)), ref_fp32(ref.size());
                    for (int64_t t = 0; t < n_tokens; ++t) {
                        const Q8Activations a = q8 ? quantize_activations(x.data() + t * cols, cols) : Q8Activations{};
                        const std::vector<double> xk =
                            q8k ? quantize_activations_q8k(x.data() + t * cols, cols) : std::vector<double>{};
                        for (int64_t r = 0; r < rows; ++r) {
                            double acc = 0, acc_fp32 = 0;
                            for (int64_t c = 0; c < cols; ++c) {
                                const double wv = wd[size_t(r * cols + c)];
                                acc_fp32 += wv * x[size_t(t * cols + c)];
                                if (q8k) acc += wv * xk[size_t(c)];
                                if (!q8) continue;
                                // q4_1/q5_1: w = d*q + m; the m part meets the activation block sum s.
                                const int64_t blk = c / 32;
                                const double m = has_min ? block_min(type, w.row(r), blk) : 0.0;
                                acc += (wv - m) * a.x[size_t(c)];
                                if (c % 32 == 0) acc += m * a.s[size_t(blk)];
                            }
                            ref[size_t(t * rows + r)] = q8 || q8k ? acc : acc_fp32;
                            ref_fp32[size_t(t * rows + r)] = acc_fp32;
                        }
                    }
                    Guarded y1(ref.size()), y3(ref.size());
                    cpu::matmul(w, x.data(), n_tokens, y1.data(), one);
                    cpu::matmul(w, x.data(), n_tokens, y3.data(), three);
                    EXPECT_TRUE(y1.guards_intact());
                    EXPECT_TRUE(y3.guards_intact());
                    EXPECT_LT(nmse(y1.data(), ref.data(), ref.size()), 1e-9);
                    EXPECT_LT(nmse(y1.data(), ref_fp32.data(), ref.size()), 5e-3);
                    // Rows are split between threads, never a row's sum: results are bitwise equal.
                    EXPECT_EQ(std::memcmp(y1.data(), y3.data(), ref.size() * 4), 0);
                }
    }
}

// ---------------------------------------------------------------------------
// Paged attention against contiguous attention
// ---------------------------------------------------------------------------

struct AttentionCase {
    int32_t head_dim, block_size, n_ctx;
};

// K/V scattered over shuffled physical blocks, every slot outside the context set to NaN,
// so reading a wrong block or a position past n_ctx poisons the output.
template <typename T>
void check_paged_attention(const AttentionCase& c, std::mt19937& rng, double threshold) {
    SCOPED_TRACE("head_dim " + std::to_string(c.head_dim) + " block " + std::to_string(c.block_size) + " n_ctx " +
                 std::to_string(c.n_ctx));
    const int32_t n_kv_heads = 2, kv_head = 1;
    const int64_t kv_dim = int64_t(n_kv_heads) * c.head_dim;
    const int32_t n_blocks = (c.n_ctx + c.block_size - 1) / c.block_size, n_physical = n_blocks + 3;
    std::vector<int32_t> physical(static_cast<size_t>(n_physical));
    std::iota(physical.begin(), physical.end(), 0);
    std::shuffle(physical.begin(), physical.end(), rng);
    const std::vector<int32_t> table(physical.begin(), physical.begin() + n_blocks);

    const auto keys = random_floats(size_t(c.n_ctx * kv_dim), rng), values = random_floats(keys.size(), rng);
    const auto q = random_floats(size_t(c.head_dim), rng);
    auto store = [](float v) {
        if constexpr (std::is_same_v<T, float>)
            return v;
        else
            return fp32_to_fp16(v);
    };
    auto load = [](T v) {
        if constexpr (std::is_same_v<T, float>)
            return double(v);
        else
            return half_value(v);
    };
    const T poison = store(NAN);
    std::vector<T> k(size_t(n_physical) * c.block_size * kv_dim, poison), v(k.size(), poison);
    cpu::PagedKV<T> kv{k.data(), v.data(), c.block_size, kv_dim, table.data()};
    for (int32_t p = 0; p < c.n_ctx; ++p)
        for (int64_t i = 0; i < kv_dim; ++i) {
            k[size_t(kv.key_offset(p, i))] = store(keys[size_t(p * kv_dim + i)]);
            v[size_t(kv.offset(p) + i)] = store(values[size_t(p * kv_dim + i)]);
        }

    // Contiguous reference in double over the values as stored.
    std::vector<double> scores(static_cast<size_t>(c.n_ctx)), ref(size_t(c.head_dim), 0.0);
    for (int32_t p = 0; p < c.n_ctx; ++p) {
        double s = 0;
        for (int32_t d = 0; d < c.head_dim; ++d)
            s += double(q[size_t(d)]) * load(store(keys[size_t(p * kv_dim + kv_head * c.head_dim + d)]));
        scores[size_t(p)] = s / std::sqrt(double(c.head_dim));
    }
    const double mx = *std::max_element(scores.begin(), scores.end());
    double sum = 0;
    for (auto& s : scores) sum += s = std::exp(s - mx);
    for (int32_t p = 0; p < c.n_ctx; ++p)
        for (int32_t d = 0; d < c.head_dim; ++d)
            ref[size_t(d)] +=
                scores[size_t(p)] / sum * load(store(values[size_t(p * kv_dim + kv_head * c.head_dim + d)]));

    Guarded out(static_cast<size_t>(c.head_dim)), scratch(static_cast<size_t>(c.n_ctx));
    cpu::attention_queries(q.data(), 0, 1, c.n_ctx - 1, kv, kv_head, c.head_dim, scratch.data(), out.data(), 0);
    EXPECT_LT(nmse(out.data(), ref.data(), ref.size()), threshold);
    EXPECT_TRUE(out.guards_intact());
    EXPECT_TRUE(scratch.guards_intact());

    // Four consecutive queries in one call (a prefill tile) give each query exactly what a
    // call of its own gives: the causal limit holds per query, and no score depends on
    // how many queries shared the pass over the keys.
    if (c.n_ctx >= 4) {
        const int32_t first = c.n_ctx - 4;
        const auto qs = random_floats(size_t(4 * c.head_dim), rng);
        Guarded together(size_t(4 * c.head_dim)), scratch4(size_t(4 * c.n_ctx));
        cpu::attention_queries(qs.data(), c.head_dim, 4, first, kv, kv_head, c.head_dim, scratch4.data(),
                               together.data(), c.head_dim);
        EXPECT_TRUE(together.guards_intact() && scratch4.guards_intact());
        for (int t = 0; t < 4; ++t) {
            Guarded alone(static_cast<size_t>(c.head_dim)), scratch1(size_t(first + t + 1));
            cpu::attention_queries(qs.data() + t * c.head_dim, 0, 1, first + t, kv, kv_head, c.head_dim,
                                   scratch1.data(), alone.data(), 0);
            EXPECT_EQ(std::memcmp(alone.data(), together.data() + t * c.head_dim, size_t(c.head_dim) * 4), 0)
                << "query " << t;
        }
    }

    // GQA: the query heads of one KV head in one pass (token-major rows, up to
    // kMaxAttentionRows) give each (token, head) exactly what attention_queries gives it.
    for (int group : {2, 3, 12}) {
        const int n_queries = std::min({4, cpu::kMaxAttentionRows / group, int(c.n_ctx)});
        const int32_t first = c.n_ctx - n_queries;
        const int64_t q_stride = int64_t(group + 1) * c.head_dim;  // as in a step: other heads between tokens
        const auto qs = random_floats(size_t(n_queries * q_stride), rng);
        Guarded grouped(size_t(n_queries * q_stride));
        std::fill(grouped.data(), grouped.data() + grouped.size(), 0.f);
        Guarded scratch(size_t(cpu::attention_group_scratch(n_queries * group, c.n_ctx, c.head_dim)));
        cpu::attention_group(qs.data(), q_stride, n_queries, group, first, kv, kv_head, c.head_dim, scratch.data(),
                             grouped.data(), q_stride);
        EXPECT_TRUE(grouped.guards_intact() && scratch.guards_intact());
        for (int t = 0; t < n_queries; ++t)
            for (int g = 0; g < group; ++g) {
                Guarded alone(static_cast<size_t>(c.head_dim)), scratch1(size_t(first + t + 1));
                cpu::attention_queries(qs.data() + t * q_stride + g * c.head_dim, 0, 1, first + t, kv, kv_head,
                                       c.head_dim, scratch1.data(), alone.data(), 0);
                EXPECT_EQ(
                    std::memcmp(alone.data(), grouped.data() + t * q_stride + g * c.head_dim, size_t(c.head_dim) * 4),
                    0)
                    << "group " << group << " query " << t << " head " << g;
            }
        // The slots between the groups' heads (another KV head's) are untouched.
        for (int t = 0; t < n_queries; ++t)
            for (int32_t d = 0; d < c.head_dim; ++d)
                EXPECT_EQ(grouped.data()[t * q_stride + group * c.head_dim + d], 0.f);
    }
}

const AttentionCase kAttentionCases[] = {
    {64, 16, 1}, {64, 16, 5}, {64, 16, 16}, {64, 16, 17}, {64, 16, 100}, {64, 3, 13}, {5, 7, 29}, {128, 16, 300},
};

// fp32 K/V: two float reductions (scores, weighted sum): NMSE ~1e-13; 1e-9 is generous.
TEST(CpuOps, PagedAttentionMatchesContiguousAttention) {
    std::mt19937 rng(27);
    for (const auto& c : kAttentionCases) check_paged_attention<float>(c, rng, 1e-9);
}

// fp16 K/V: the reference reads the same fp16 values. The kernel may round q and its V
// accumulator to fp16 as llama.cpp does (relative error ~2^-11), so allow NMSE 1e-5.
TEST(CpuOps, PagedAttentionF16MatchesContiguousAttention) {
    std::mt19937 rng(28);
    for (const auto& c : kAttentionCases) check_paged_attention<uint16_t>(c, rng, 1e-5);
}

// ---------------------------------------------------------------------------
// ThreadPool
// ---------------------------------------------------------------------------

TEST(ThreadPool, ParallelForCoversEveryIndexOnce) {
    for (int threads : {1, 2, 3, 4, 7}) {
        ThreadPool pool(threads);
        EXPECT_EQ(pool.size(), threads);
        for (int repeat = 0; repeat < 20; ++repeat)
            for (int64_t n : {0, 1, 2, 3, 4, 5, 7, 8, 64, 1000, 1001}) {
                std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
                std::atomic<int> bad_range{0}, bad_thread{0};
                pool.parallel_for(n, [&](int64_t b, int64_t e, int t) {
                    if (b < 0 || e > n || b >= e) ++bad_range;
                    if (t < 0 || t >= threads) ++bad_thread;
                    for (int64_t i = std::max<int64_t>(b, 0); i < std::min(e, n); ++i) ++hits[size_t(i)];
                });
                ASSERT_EQ(bad_range.load(), 0) << threads << " threads, n " << n;
                ASSERT_EQ(bad_thread.load(), 0) << threads << " threads, n " << n;
                for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[size_t(i)].load(), 1) << "index " << i << " of " << n;
            }
    }
}

}  // namespace
