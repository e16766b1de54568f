// The CUDA weight layout on the host, no GPU needed: repack_rows (gpu_weights.h) turns
// engine rows into chunks, and the shared decoders (quant_decode.cuh) must give back
// exactly lumen::dequantize_row's floats, bit for bit, for every format, row count and
// row length, on quantizer output and on random block bytes (any scale, NaN included).
#include <gtest/gtest.h>

#ifdef LUMEN_HAVE_CUDA

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "gpu_weights.h"
#include "quant/quantize.h"
#include "quant_decode.cuh"

using namespace lumen;
using namespace lumen::cuda;

namespace {

struct Case {
    DType dtype;
    WeightFormat format;
};

const Case kCases[] = {
    {DType::F32, WeightFormat::f32},
    {DType::F16, WeightFormat::f16},
    {DType::BF16, WeightFormat::bf16},
    {DType::Q8_0, WeightFormat::q8_0},
    {DType::Q4_0, WeightFormat::q4_0},
    {DType::Q4_1, WeightFormat::q4_1},
    {DType::Q4_K, WeightFormat::q4_k},
    {DType::Q6_K, WeightFormat::q6_k},
    {DType::F8_E4M3_CH, WeightFormat::fp8_e4m3},
    {DType::F8_E4M3_T, WeightFormat::fp8_e4m3},
};

uint32_t f32_bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}

// A repacked matrix in host memory, each array followed by guard bytes that must survive.
struct HostMatrix {
    static constexpr size_t kGuard = 64;
    static constexpr uint8_t kGuardByte = 0xA5;
    GpuMatrixBytes bytes;
    std::vector<uint8_t> qs, qh, meta, super, scale;

    HostMatrix(WeightFormat format, int64_t rows, int64_t cols, uint8_t fill)
        : bytes(gpu_matrix_bytes(format, rows, cols)) {
        for (auto [v, n] : arrays()) {
            v->assign(n + kGuard, kGuardByte);
            std::fill(v->begin(), v->begin() + std::ptrdiff_t(n), fill);
        }
    }
    std::array<std::pair<std::vector<uint8_t>*, size_t>, 5> arrays() {
        return {
            {{&qs, bytes.qs}, {&qh, bytes.qh}, {&meta, bytes.meta}, {&super, bytes.super}, {&scale, bytes.row_scale}}};
    }
    static uint8_t* ptr(std::vector<uint8_t>& v, size_t n) { return n ? v.data() : nullptr; }
    GpuMatrixHost host() {
        return {ptr(qs, bytes.qs), ptr(qh, bytes.qh), ptr(meta, bytes.meta), ptr(super, bytes.super),
                reinterpret_cast<float*>(ptr(scale, bytes.row_scale))};
    }
    GpuMatrix view(WeightFormat format, int64_t rows, int64_t cols) {
        const GpuMatrixHost h = host();
        return {format, rows, cols, h.qs, h.qh, h.meta, h.super, h.row_scale};
    }
    bool guards_intact() {
        for (auto [v, n] : arrays())
            for (size_t i = n; i < v->size(); ++i)
                if ((*v)[i] != kGuardByte) return false;
        return true;
    }
    bool same_payload(const HostMatrix& o) const {
        return qs == o.qs && qh == o.qh && meta == o.meta && super == o.super && scale == o.scale;
    }
};

// rows × cols engine rows of `dtype`: quantized random values, or (raw) random block bytes.
std::vector<uint8_t> make_rows(DType dtype, int64_t rows, int64_t cols, bool raw, std::mt19937& rng) {
    const size_t stride = row_bytes(dtype, cols);
    std::vector<uint8_t> src(stride * size_t(rows));
    if (raw) {
        for (auto& b : src) b = uint8_t(rng());
        return src;
    }
    std::uniform_real_distribution<float> value(-1.f, 1.f);
    std::uniform_real_distribution<float> exponent(-12.f, 4.f);
    std::vector<float> x(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; ++r) {
        const float scale = std::exp2(exponent(rng));  // rows of different magnitudes
        for (auto& v : x) v = value(rng) * scale;
        EXPECT_TRUE(quantize_row(dtype, x.data(), src.data() + size_t(r) * stride, cols).is_ok());
    }
    return src;
}

// Decodes every chunk with decode_chunk (the format switch over decode_chunk_t) and compares each
// row with dequantize_row bit for bit. Returns the number of floats compared.
int64_t expect_decodes_like_reference(const Case& c, const std::vector<uint8_t>& src, HostMatrix& m, int64_t rows,
                                      int64_t cols, const char* what) {
    const size_t stride = row_bytes(c.dtype, cols);
    const GpuMatrix w = m.view(c.format, rows, cols);
    std::vector<float> ref(static_cast<size_t>(cols)), got(static_cast<size_t>(cols));
    int64_t compared = 0;
    int failures = 0;
    for (int64_t r = 0; r < rows; ++r) {
        dequantize_row(c.dtype, src.data() + size_t(r) * stride, ref.data(), cols);
        for (int64_t ch = 0; ch < cols / kChunk; ++ch) decode_chunk(w, r, ch, got.data() + ch * kChunk);
        for (int64_t e = 0; e < cols; ++e) {
            ++compared;
            if (f32_bits(got[size_t(e)]) == f32_bits(ref[size_t(e)])) continue;
            if (++failures <= 5)
                ADD_FAILURE() << dtype_name(c.dtype) << " (" << what << ") rows " << rows << " cols " << cols
                              << ": row " << r << " element " << e << " decoded " << got[size_t(e)] << " (0x"
                              << std::hex << f32_bits(got[size_t(e)]) << "), reference " << ref[size_t(e)] << " (0x"
                              << f32_bits(ref[size_t(e)]) << std::dec << ")";
        }
    }
    EXPECT_EQ(failures, 0) << dtype_name(c.dtype) << " (" << what << ") rows " << rows << " cols " << cols;
    return compared;
}

}  // namespace

// ------------------------------------------------------------------ mapping and sizes

TEST(CudaLayout, WeightFormatForMapsEngineTypes) {
    const std::pair<uint32_t, WeightFormat> supported[] = {
        {0, WeightFormat::f32},        {1, WeightFormat::f16},   {2, WeightFormat::q4_0},
        {3, WeightFormat::q4_1},       {8, WeightFormat::q8_0},  {12, WeightFormat::q4_k},
        {14, WeightFormat::q6_k},      {30, WeightFormat::bf16}, {1007, WeightFormat::fp8_e4m3},
        {1008, WeightFormat::fp8_e4m3}};
    for (auto [dtype, expected] : supported) {
        WeightFormat f = WeightFormat::f32;
        EXPECT_TRUE(weight_format_for(dtype, &f)) << dtype;
        EXPECT_EQ(f, expected) << dtype;
        EXPECT_EQ(uint32_t(f) == dtype, dtype != 1008) << "formats are numbered as their DType";
    }
    for (uint32_t dtype : {6u, 7u, 13u, 1000u, 1001u, 1004u, 1009u, 1010u, 1011u, 4u, 99u}) {
        WeightFormat f = WeightFormat::q8_0;
        EXPECT_FALSE(weight_format_for(dtype, &f)) << dtype;
        EXPECT_EQ(f, WeightFormat::q8_0) << "untouched on failure";
    }
}

TEST(CudaLayout, RowMultipleAndByteSizes) {
    for (const Case& c : kCases)
        EXPECT_EQ(format_row_multiple(c.format),
                  c.format == WeightFormat::q4_k || c.format == WeightFormat::q6_k ? 256 : 32);
    EXPECT_EQ(format_row_multiple(WeightFormat(6)), 0);

    struct Expected {
        WeightFormat f;
        size_t qs, qh, meta, super, row_scale;
    };
    const int64_t rows = 3, cols = 512, chunks = rows * cols / 32;  // 48 chunks, 6 super-blocks
    const Expected expected[] = {{WeightFormat::f32, 128 * chunks, 0, 0, 0, 0},
                                 {WeightFormat::f16, 64 * chunks, 0, 0, 0, 0},
                                 {WeightFormat::bf16, 64 * chunks, 0, 0, 0, 0},
                                 {WeightFormat::q8_0, 32 * chunks, 0, 2 * chunks, 0, 0},
                                 {WeightFormat::q4_0, 16 * chunks, 0, 2 * chunks, 0, 0},
                                 {WeightFormat::q4_1, 16 * chunks, 0, 4 * chunks, 0, 0},
                                 {WeightFormat::q4_k, 16 * chunks, 0, 2 * chunks, 4 * 6, 0},
                                 {WeightFormat::q6_k, 16 * chunks, 8 * chunks, 2 * chunks, 2 * 6, 0},
                                 {WeightFormat::fp8_e4m3, 32 * chunks, 0, 0, 0, 4 * rows}};
    for (const Expected& e : expected) {
        const GpuMatrixBytes b = gpu_matrix_bytes(e.f, rows, cols);
        EXPECT_EQ(b.qs, e.qs) << uint32_t(e.f);
        EXPECT_EQ(b.qh, e.qh) << uint32_t(e.f);
        EXPECT_EQ(b.meta, e.meta) << uint32_t(e.f);
        EXPECT_EQ(b.super, e.super) << uint32_t(e.f);
        EXPECT_EQ(b.row_scale, e.row_scale) << uint32_t(e.f);
        EXPECT_EQ(b.total(), e.qs + e.qh + e.meta + e.super + e.row_scale);
    }
    // Sizes match the engine's bytes per row (fp8's row header becomes row_scale), except
    // q4_k, whose 12 packed bytes of 6-bit scales and mins unpack to 16.
    for (const Case& c : kCases) {
        const GpuMatrixBytes b = gpu_matrix_bytes(c.format, 5, 768);
        const size_t unpacked = c.format == WeightFormat::q4_k ? 5 * 3 * 4 : 0;
        EXPECT_EQ(b.total(), 5 * row_bytes(c.dtype, 768) + unpacked) << dtype_name(c.dtype);
    }
    EXPECT_EQ(gpu_matrix_bytes(WeightFormat::q4_k, 2, 96).total(), 0u);  // not a row multiple
    EXPECT_EQ(gpu_matrix_bytes(WeightFormat::q4_0, -1, 64).total(), 0u);
    EXPECT_EQ(gpu_matrix_bytes(WeightFormat(6), 2, 64).total(), 0u);
}

TEST(CudaLayout, RepackRefusesBadShapes) {
    std::vector<uint8_t> src(4096), out(1 << 16);
    float scales[8];
    const GpuMatrixHost dst{out.data(), out.data(), out.data(), out.data(), scales};
    EXPECT_FALSE(repack_rows(WeightFormat::q4_0, src.data(), 64, 0, 1, 1, 48, dst));    // 48 % 32
    EXPECT_FALSE(repack_rows(WeightFormat::f16, src.data(), 64, 0, 1, 1, 16, dst));     // 16 % 32
    EXPECT_FALSE(repack_rows(WeightFormat::q4_k, src.data(), 512, 0, 1, 1, 128, dst));  // 128 % 256
    EXPECT_FALSE(repack_rows(WeightFormat::q6_k, src.data(), 512, 0, 1, 1, 96, dst));
    EXPECT_FALSE(repack_rows(WeightFormat::q4_0, src.data(), 18, 0, 1, 1, 0, dst));
    EXPECT_FALSE(repack_rows(WeightFormat(6), src.data(), 22, 0, 1, 1, 32, dst));
    EXPECT_FALSE(repack_rows(WeightFormat::q4_0, src.data(), 18, 2, 2, 3, 32, dst));  // past rows_total
    EXPECT_FALSE(repack_rows(WeightFormat::q4_0, src.data(), 18, -1, 1, 3, 32, dst));
    EXPECT_FALSE(repack_rows(WeightFormat::q4_0, src.data(), 17, 0, 1, 1, 32, dst));  // row stride < a row
    EXPECT_FALSE(repack_rows(WeightFormat::q4_0, nullptr, 18, 0, 1, 1, 32, dst));
    EXPECT_FALSE(repack_rows(WeightFormat::q6_k, src.data(), 210, 0, 1, 1, 256,
                             {out.data(), nullptr, out.data(), out.data(), nullptr}));
    EXPECT_FALSE(repack_rows(WeightFormat::fp8_e4m3, src.data(), 36, 0, 1, 1, 32,
                             {out.data(), nullptr, nullptr, nullptr, nullptr}));
    EXPECT_TRUE(repack_rows(WeightFormat::q4_0, src.data(), 18, 0, 1, 1, 32, dst));
    EXPECT_TRUE(repack_rows(WeightFormat::q4_0, src.data(), 18, 3, 0, 3, 32, dst));  // nothing to do
    EXPECT_TRUE(repack_rows(WeightFormat::q4_k, src.data(), 144, 0, 1, 1, 256, dst));
}

// ------------------------------------------------------------------ scalar conversions

TEST(CudaLayout, ScalarConversionsMatchReferenceForEveryCode) {
    int bad_half = 0, bad_bf16 = 0, bad_e4m3 = 0;
    for (uint32_t h = 0; h < 65536; ++h) {
        bad_half += f32_bits(half_to_f32(h)) != f32_bits(fp16_to_fp32(uint16_t(h)));
        bad_bf16 += f32_bits(bf16_to_f32(h)) != f32_bits(bf16_to_fp32(uint16_t(h)));
    }
    for (uint32_t v = 0; v < 256; ++v) bad_e4m3 += f32_bits(e4m3_to_f32(v)) != f32_bits(fp8_e4m3_to_fp32(uint8_t(v)));
    EXPECT_EQ(bad_half, 0);
    EXPECT_EQ(bad_bf16, 0);
    EXPECT_EQ(bad_e4m3, 0);
    for (uint32_t q = 0; q < 256; ++q) {
        EXPECT_EQ(f32_bits(int_f32(q, 0.f)), f32_bits(float(q)));
        EXPECT_EQ(f32_bits(int_f32(q ^ 0x80u, 128.f)), f32_bits(float(int8_t(q))));
        if (q < 64) {
            EXPECT_EQ(f32_bits(int_f32(q, 32.f)), f32_bits(float(int(q) - 32)));
        }
        if (q < 16) {
            EXPECT_EQ(f32_bits(int_f32(q, 8.f)), f32_bits(float(int(q) - 8)));
        }
    }
}

// ------------------------------------------------------------------ repack + decode

TEST(CudaLayout, DecodedChunksEqualDequantizeRowBitForBit) {
    std::mt19937 rng(1234);
    int64_t compared = 0;
    for (const Case& c : kCases) {
        const int64_t multiple = format_row_multiple(c.format);
        for (int64_t cols : {32, 96, 256, 512, 768}) {
            if (cols % multiple) continue;
            for (int64_t rows : {1, 3, 17}) {
                for (bool raw : {false, true}) {
                    const char* what = raw ? "random bytes" : "quantized";
                    SCOPED_TRACE(std::string(dtype_name(c.dtype)) + " " + what + " rows " + std::to_string(rows) +
                                 " cols " + std::to_string(cols));
                    const std::vector<uint8_t> src = make_rows(c.dtype, rows, cols, raw, rng);
                    const size_t stride = row_bytes(c.dtype, cols);

                    // Whole matrix at once, into buffers pre-filled with 0x00 and 0xFF: equal
                    // results prove every byte of every array is written.
                    HostMatrix whole(c.format, rows, cols, 0x00), whole_ff(c.format, rows, cols, 0xFF);
                    ASSERT_TRUE(repack_rows(c.format, src.data(), stride, 0, rows, rows, cols, whole.host()));
                    ASSERT_TRUE(repack_rows(c.format, src.data(), stride, 0, rows, rows, cols, whole_ff.host()));
                    EXPECT_TRUE(whole.same_payload(whole_ff)) << "a byte of the layout is left unwritten";
                    EXPECT_TRUE(whole.guards_intact()) << "repack_rows wrote past an array";

                    // In two slices (the second starting at row_begin = split).
                    const int64_t split = rows / 2 + 1;  // rows 1: an empty second slice
                    HostMatrix sliced(c.format, rows, cols, 0x00);
                    ASSERT_TRUE(repack_rows(c.format, src.data(), stride, 0, split, rows, cols, sliced.host()));
                    ASSERT_TRUE(repack_rows(c.format, src.data() + size_t(split) * stride, stride, split, rows - split,
                                            rows, cols, sliced.host()));
                    EXPECT_TRUE(sliced.same_payload(whole)) << "slices differ from the whole at split " << split;
                    EXPECT_TRUE(sliced.guards_intact());

                    compared += expect_decodes_like_reference(c, src, whole, rows, cols, what);
                }
            }
        }
    }
    EXPECT_GT(compared, 100000);
}

// A source row stride larger than a row (rows inside a bigger buffer) is honoured.
TEST(CudaLayout, RepackHonoursSourceRowStride) {
    std::mt19937 rng(99);
    for (const Case& c : kCases) {
        const int64_t rows = 5, cols = 256;
        const size_t stride = row_bytes(c.dtype, cols), padded = stride + 40;
        const std::vector<uint8_t> src = make_rows(c.dtype, rows, cols, false, rng);
        std::vector<uint8_t> spread(padded * rows, 0xEE);
        for (int64_t r = 0; r < rows; ++r) std::memcpy(&spread[size_t(r) * padded], &src[size_t(r) * stride], stride);
        HostMatrix a(c.format, rows, cols, 0), b(c.format, rows, cols, 0);
        ASSERT_TRUE(repack_rows(c.format, src.data(), stride, 0, rows, rows, cols, a.host()));
        ASSERT_TRUE(repack_rows(c.format, spread.data(), padded, 0, rows, rows, cols, b.host()));
        EXPECT_TRUE(a.same_payload(b)) << dtype_name(c.dtype);
    }
}

#else  // LUMEN_HAVE_CUDA

TEST(CudaLayout, Skipped) {
    GTEST_SKIP() << "built without CUDA";
}

#endif  // LUMEN_HAVE_CUDA
