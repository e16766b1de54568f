// kernels/gemv.cu's device code, executed by the CPU emulator (no GPU needed), for every
// GPU weight format: gemv for 1..8 tokens against a double reference built from the
// engine's dequantize_row (rows not a multiple of a block's rows, a grid smaller than the
// row groups, the column-slice path taken when x does not fit the shared-memory budget,
// with and without the opt-in above 48 KiB), dequantize_to_f16 bitwise against
// fp32_to_fp16(dequantize_row), and embedding_rows exactly, on aligned and unaligned
// outputs (vector and scalar stores). Outputs are guarded against stray writes.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "emu_test_support.h"
#include "op_test_support.h"

namespace lumen::emu_test {
namespace {

constexpr float kSentinel = -31337.25f;

int gemv_launches() {
    return int(std::count_if(emu::launches().begin(), emu::launches().end(),
                             [](const emu::LaunchRecord& l) { return l.kernel == "kernel" && l.error == 0; }));
}

// y = W x for n_tokens random tokens, against sum_c double(W[r][c]) * x[t][c].
void check_gemv(const Matrix& m, int n_tokens, std::mt19937& rng) {
    SCOPED_TRACE(dtype_label(m.dtype) + " rows " + std::to_string(m.rows) + " cols " + std::to_string(m.cols) +
                 " tokens " + std::to_string(n_tokens));
    const std::vector<float> x = test::random_floats(size_t(n_tokens * m.cols), rng);
    Buffer<float> y(size_t(n_tokens * m.rows), kSentinel);
    ASSERT_EQ(kc::gemv(m.view, x.data(), n_tokens, y.data(), nullptr), 0);
    std::vector<double> ref(y.size());
    for (int t = 0; t < n_tokens; ++t)
        for (int64_t r = 0; r < m.rows; ++r) {
            double s = 0;
            for (int64_t c = 0; c < m.cols; ++c)
                s += double(m.dequantized[size_t(r * m.cols + c)]) * x[size_t(t * m.cols + c)];
            ref[size_t(t * m.rows + r)] = s;
        }
    EXPECT_LT(test::nmse(y.data(), ref.data(), ref.size()), 1e-9);
    EXPECT_TRUE(y.guards_intact()) << "gemv wrote outside y";
    EXPECT_TRUE(no_faults());
}

class EmulatedGemv : public ::testing::TestWithParam<DType> {};

// 13 rows: two row groups of 8 for one token (one warp per row), one of 16 for 3+ tokens
// (two rows per warp: row 13's partner re-reads row 12 and its sum is dropped).
TEST_P(EmulatedGemv, TokenCountsAndWidths) {
    std::mt19937 rng(11);
    for (int64_t cols : {256, 512}) {
        const Matrix m = make_matrix(GetParam(), 13, cols, rng);
        for (int n_tokens : {1, 3, 8}) check_gemv(m, n_tokens, rng);
        if (cols == 256)
            for (int n_tokens : {2, 4, 5, 6, 7}) check_gemv(m, n_tokens, rng);
    }
}

// x for all tokens does not fit the shared-memory budget: the row is cut into column
// slices (later launches add to y). On the H100-like device the first slice uses more
// than 48 KiB (cudaFuncSetAttribute's opt-in); on the small device the budget is 48 KiB.
TEST_P(EmulatedGemv, ColumnSlices) {
    struct Slice {
        int device, n_tokens;
        int64_t cols;
        bool opt_in;  // the first slice needs more than 48 KiB
    };
    // A pass holds budget / (tokens * 33 floats) chunks of 32 columns, rounded down to a
    // multiple of 32 when the row does not fit: 93 -> 64 chunks for 8 tokens at 96 KiB.
    const Slice slices[] = {
        {0, 8, 3072, true},    // 96 KiB budget: 64 + 32 chunks
        {0, 3, 8192, true},    // 224 + 32 chunks
        {0, 1, 24576, true},   // 736 + 32 chunks
        {1, 8, 1536, false},   // 48 KiB budget: 32 + 16 chunks
        {1, 1, 12032, false},  // 352 + 24 chunks
    };
    std::mt19937 rng(12);
    for (const Slice& s : slices) {
        SCOPED_TRACE("device " + std::to_string(s.device));
        DeviceScope device(s.device);
        const Matrix m = make_matrix(GetParam(), 3, s.cols, rng);
        emu::clear_launches();
        check_gemv(m, s.n_tokens, rng);
        EXPECT_EQ(gemv_launches(), 2) << "expected two column slices";
        ASSERT_FALSE(emu::launches().empty());
        EXPECT_EQ(emu::launches().front().smem > 48 * 1024, s.opt_in);
    }
}

// The small device holds fewer blocks than there are row groups: blocks loop over them.
TEST_P(EmulatedGemv, GridSmallerThanRowGroups) {
    DeviceScope device(1);
    std::mt19937 rng(13);
    const Matrix m = make_matrix(GetParam(), 200, 512, rng);
    for (int n_tokens : {1, 8}) {
        emu::clear_launches();
        check_gemv(m, n_tokens, rng);
        const int64_t rows_per_group = n_tokens >= 3 ? 16 : 8;
        ASSERT_EQ(gemv_launches(), 1);
        EXPECT_LT(int64_t(emu::launches().front().grid[0]), (m.rows + rows_per_group - 1) / rows_per_group);
    }
}

// W decoded to fp16 is fp32_to_fp16 of the reference dequantization, bit for bit; the
// output 16-byte aligned (vector stores) and 2-byte aligned (scalar stores).
TEST_P(EmulatedGemv, DequantizeToF16Bitwise) {
    std::mt19937 rng(14);
    const Matrix m = make_matrix(GetParam(), 3, 512, rng);
    for (size_t offset : {0, 1}) {
        SCOPED_TRACE("offset " + std::to_string(offset));
        Buffer<uint16_t> out(size_t(m.rows * m.cols), 0xDEAD, offset);
        ASSERT_EQ(kc::dequantize_to_f16(m.view, out.data(), nullptr), 0);
        for (size_t i = 0; i < out.size(); ++i) {
            const float want = m.dequantized[i];
            if (std::isnan(want)) {
                ASSERT_TRUE((out[i] & 0x7C00) == 0x7C00 && (out[i] & 0x3FF) != 0) << "element " << i;
            } else {
                ASSERT_EQ(out[i], fp32_to_fp16(want)) << "element " << i;
            }
        }
        EXPECT_TRUE(out.guards_intact());
        EXPECT_TRUE(no_faults());
    }
}

// Rows gathered exactly as the reference decodes them; ids out of range give zeros.
TEST_P(EmulatedGemv, EmbeddingRowsExact) {
    std::mt19937 rng(15);
    const Matrix m = make_matrix(GetParam(), 6, 256, rng);
    const std::vector<int32_t> ids = {3, 0, 5, -1, 6, 3};
    Buffer<int32_t> tokens(ids, -9);
    for (size_t offset : {0, 1}) {
        SCOPED_TRACE("offset " + std::to_string(offset));
        Buffer<float> out(ids.size() * size_t(m.cols), kSentinel, offset);
        ASSERT_EQ(kc::embedding_rows(m.view, tokens.data(), int(ids.size()), out.data(), nullptr), 0);
        for (size_t t = 0; t < ids.size(); ++t) {
            std::vector<float> want(size_t(m.cols), 0.f);
            if (ids[t] >= 0 && ids[t] < m.rows)
                std::copy_n(m.dequantized.begin() + ids[t] * m.cols, m.cols, want.begin());
            EXPECT_EQ(std::memcmp(out.data() + t * size_t(m.cols), want.data(), want.size() * sizeof(float)), 0)
                << "token " << t << " (id " << ids[t] << ")";
        }
        EXPECT_TRUE(out.guards_intact());
        EXPECT_TRUE(no_faults());
    }
}

// Only x's staging is shared between the warps of a block; any order of the threads
// between barriers must give bitwise the same y (two column slices, 8 tokens).
TEST_P(EmulatedGemv, OutputIndependentOfThreadOrder) {
    std::mt19937 rng(17);
    const Matrix m = make_matrix(GetParam(), 21, 3072, rng);
    const std::vector<float> x = test::random_floats(size_t(8 * m.cols), rng);
    std::vector<std::vector<float>> ys;
    for (emu::Schedule s : {emu::Schedule::forward, emu::Schedule::reverse, emu::Schedule::shuffled}) {
        emu::set_schedule(s, 3);
        Buffer<float> y(size_t(8 * m.rows), kSentinel);
        EXPECT_EQ(kc::gemv(m.view, x.data(), 8, y.data(), nullptr), 0);
        ys.push_back(y.values());
    }
    emu::set_schedule(emu::Schedule::forward);
    EXPECT_TRUE(ys[0] == ys[1] && ys[0] == ys[2]);
    EXPECT_TRUE(no_faults());
}

std::string dtype_test_name(const ::testing::TestParamInfo<DType>& info) {
    std::string s = dtype_label(info.param);
    for (char& c : s)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    return s;
}

std::vector<DType> gemv_dtypes() {
    std::vector<DType> v = gpu_weight_dtypes();
    v.push_back(DType::F8_E4M3_T);  // one scale per tensor, read as fp8_e4m3 too
    return v;
}

INSTANTIATE_TEST_SUITE_P(Formats, EmulatedGemv, ::testing::ValuesIn(gemv_dtypes()), dtype_test_name);

TEST(EmulatedGemvEdges, EmptyAndInvalidShapes) {
    std::mt19937 rng(16);
    // No columns: an empty sum, y zeroed (cudaMemsetAsync).
    kc::GpuMatrix empty{kc::WeightFormat::q4_0, 5, 0, nullptr, nullptr, nullptr, nullptr, nullptr};
    Buffer<float> y(15, kSentinel);
    EXPECT_EQ(kc::gemv(empty, nullptr, 3, y.data(), nullptr), 0);
    for (size_t i = 0; i < y.size(); ++i) EXPECT_EQ(y[i], 0.f);
    EXPECT_TRUE(y.guards_intact());

    Matrix m = make_matrix(DType::Q8_0, 4, 256, rng);
    const std::vector<float> x = test::random_floats(9 * 256, rng);
    Buffer<float> y9(9 * 4, kSentinel);
    emu::clear_launches();
    EXPECT_EQ(kc::gemv(m.view, x.data(), 9, y9.data(), nullptr), 1);  // more than kGemvMaxTokens
    EXPECT_EQ(kc::gemv(m.view, x.data(), 0, y9.data(), nullptr), 0);  // nothing to do
    kc::GpuMatrix shifted = m.view;
    shifted.qs += 4;  // not 16-byte aligned
    EXPECT_EQ(kc::gemv(shifted, x.data(), 1, y9.data(), nullptr), 716);
    EXPECT_TRUE(emu::launches().empty());
    for (size_t i = 0; i < y9.size(); ++i) EXPECT_EQ(y9[i], kSentinel);
    EXPECT_TRUE(no_faults());
}

}  // namespace
}  // namespace lumen::emu_test
