// The AVX-512 kernel tables against the AVX2 table and the scalar reference. Their
// packed kernels add exact integer sums in another grouping and then do the AVX2
// kernels' float work, so every result must equal the AVX2 table's bit for bit.
// The code is compiled here through SIMDe's portable AVX-512 intrinsics (this
// machine may lack AVX-512); where the CPU has AVX-512, the engine's own tables,
// compiled for it, are checked the same way.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/cpu_ops.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/packed_weights.h"
#include "backend/thread_pool.h"
#include "core/dtype.h"
#include "model/weights.h"
#include "op_test_support.h"

namespace lumen::cpu {
namespace avx512_simde {
const KernelTable& kernels();
}
namespace avx512_vnni_simde {
const KernelTable& kernels();
}
}  // namespace lumen::cpu

namespace {

using namespace lumen;
using namespace lumen::cpu;
using test::Guarded;
using test::nmse;
using test::random_floats;
using test::random_weight_bytes;

struct NamedTable {
    std::string name;
    const KernelTable* table;
};

bool cpu_has(CpuLevel level) {
    for (CpuLevel l : supported_cpu_levels())
        if (l == level) return true;
    return false;
}

// The SIMDe-compiled tables always; the engine's own where this CPU runs them.
std::vector<NamedTable> tables_under_test() {
    std::vector<NamedTable> out{{"avx512 (SIMDe)", &avx512_simde::kernels()},
                                {"avx512_vnni (SIMDe)", &avx512_vnni_simde::kernels()}};
    for (CpuLevel level : {CpuLevel::avx512, CpuLevel::avx512_vnni})
        if (cpu_has(level)) out.push_back({cpu_level_name(level), &kernel_table(level)});
    return out;
}

const DType kPackable[] = {DType::Q4_0, DType::Q4_1, DType::Q8_0, DType::Q4_K, DType::Q6_K};

int max_tokens(DType type) {
    return type == DType::Q4_0 ? kMaxTokensPerPackedQ4_0Pass : kMaxTokensPerRowPass;
}

std::vector<uint8_t> quantized_activations(DType type, const std::vector<float>& x, int64_t cols, int n_tokens) {
    const ActivationFormat f = activation_format(type);
    const size_t stride = activation_row_bytes(f, cols);
    std::vector<uint8_t> out(stride * size_t(n_tokens));
    for (int t = 0; t < n_tokens; ++t) {
        uint8_t* o = out.data() + size_t(t) * stride;
        if (f == ActivationFormat::q8)
            scalar_kernels().quantize_q8(x.data() + t * cols, cols, reinterpret_cast<ActivationBlockQ8*>(o));
        else
            scalar_kernels().quantize_q8k(x.data() + t * cols, cols, reinterpret_cast<ActivationBlockQ8K*>(o));
    }
    return out;
}

// Every 8-row group of `packed` through `table` and through the AVX2 table, for 1..max
// tokens: the outputs must be the same bits, and close to the scalar table's rows.
void expect_packed_equal_avx2(const NamedTable& t, DType type, const std::vector<uint8_t>& weight_bytes, int64_t rows,
                              int64_t cols, const std::vector<uint8_t>& xa, const std::string& what) {
    const TensorView w{type, weight_bytes.data(), rows, cols, "w"};
    std::vector<uint8_t> packed(weight_bytes.size());
    pack_rows8(w, packed.data());
    const size_t x_stride = activation_row_bytes(activation_format(type), cols);
    for (int nt = 1; nt <= max_tokens(type); ++nt) {
        SCOPED_TRACE(t.name + " " + dtype_name(type) + " " + what + " cols " + std::to_string(cols) + " tokens " +
                     std::to_string(nt));
        for (int64_t g = 0; g < rows / kPackedRows; ++g) {
            const uint8_t* group = packed.data() + size_t(g) * kPackedRows * w.row_stride();
            Guarded got(size_t(nt * kPackedRows)), want(size_t(nt * kPackedRows));
            t.table->dot_packed8(type, group, xa.data(), x_stride, nt, cols, got.data());
            avx2_kernels().dot_packed8(type, group, xa.data(), x_stride, nt, cols, want.data());
            ASSERT_TRUE(got.guards_intact());
            ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0) << "group " << g;
            std::vector<double> ref(got.size());
            for (int tok = 0; tok < nt; ++tok)
                for (int r = 0; r < kPackedRows; ++r) {
                    float y;
                    scalar_kernels().dot_row(type, w.row(g * kPackedRows + r), xa.data() + size_t(tok) * x_stride,
                                             x_stride, 1, cols, &y);
                    ref[size_t(tok * kPackedRows + r)] = y;
                }
            EXPECT_LT(nmse(got.data(), ref.data(), ref.size()), 1e-10);
        }
    }
}

TEST(CpuKernelsAvx512, TablesAreTheAvx2TableWithTheirPackedKernels) {
    for (const NamedTable& t : tables_under_test()) {
        SCOPED_TRACE(t.name);
        const KernelTable& k = *t.table;
        const KernelTable& a = avx2_kernels();
        EXPECT_TRUE(k.level == CpuLevel::avx512 || k.level == CpuLevel::avx512_vnni);
        EXPECT_NE(k.dot_packed8, nullptr);
        EXPECT_NE(k.dot_packed8, a.dot_packed8);
        EXPECT_EQ(k.dot_row, a.dot_row);
        EXPECT_EQ(k.dot_rows, a.dot_rows);
        EXPECT_EQ(k.quantize_q8, a.quantize_q8);
        EXPECT_EQ(k.quantize_q8k, a.quantize_q8k);
        EXPECT_EQ(k.key_scores, a.key_scores);
    }
    std::printf("AVX-512 on this CPU: %s, VNNI: %s\n", cpu_has(CpuLevel::avx512) ? "yes" : "no",
                cpu_has(CpuLevel::avx512_vnni) ? "yes" : "no");
}

// Dispatch: each level the CPU reports has its own table, named as the level; VNNI is
// offered only with the rest of AVX-512, and AVX-512 only with AVX2.
TEST(CpuKernelsAvx512, DispatchFollowsTheCpu) {
    __builtin_cpu_init();
    const bool f = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                   __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    EXPECT_EQ(cpu_has(CpuLevel::avx512), f && cpu_has(CpuLevel::avx2));
    EXPECT_EQ(cpu_has(CpuLevel::avx512_vnni), cpu_has(CpuLevel::avx512) && __builtin_cpu_supports("avx512vnni"));
    for (CpuLevel level : supported_cpu_levels()) EXPECT_EQ(kernel_table(level).level, level) << cpu_level_name(level);
    EXPECT_STREQ(cpu_level_name(CpuLevel::avx512), "avx512");
    EXPECT_STREQ(cpu_level_name(CpuLevel::avx512_vnni), "avx512_vnni");
    if (!std::getenv("LUMEN_CPU_LEVEL")) EXPECT_EQ(active_kernels().level, supported_cpu_levels().back());
}

TEST(CpuKernelsAvx512, PackedKernelsEqualAvx2OnRandomWeights) {
    std::mt19937 rng(512);
    for (const NamedTable& t : tables_under_test())
        for (DType type : kPackable)
            for (int64_t cols : traits(type).block_elements == 256 ? std::vector<int64_t>{256, 768, 2816}
                                                                   : std::vector<int64_t>{32, 96, 4128}) {
                constexpr int64_t kRows = 16;
                const auto wb = random_weight_bytes(type, kRows, cols, rng);
                const auto x = random_floats(size_t(max_tokens(type) * cols), rng);
                const auto xa = quantized_activations(type, x, cols, max_tokens(type));
                expect_packed_equal_avx2(t, type, wb, kRows, cols, xa, "random");
            }
}

// The largest magnitudes each format can hold (every quant byte the same: 0xFF, then
// 0x80 and 0x77) against activations that quantize to +127 or -127 throughout: the
// int16 sums are at their bounds, where a saturating or wrapping mistake would show.
TEST(CpuKernelsAvx512, PackedKernelsEqualAvx2AtTheIntegerBounds) {
    for (const NamedTable& t : tables_under_test())
        for (DType type : kPackable)
            for (uint8_t fill : {uint8_t(0xFF), uint8_t(0x80), uint8_t(0x77)})
                for (float sign : {1.f, -1.f}) {
                    const int64_t rows = 8, cols = 512;
                    const DTypeTraits& tr = traits(type);
                    std::vector<uint8_t> wb(size_t(rows * cols / tr.block_elements) * tr.block_bytes, fill);
                    // Valid fp16 scales (1.0, and 0.5 for minimums) where each format keeps them.
                    for (size_t b = 0; b < wb.size(); b += tr.block_bytes) {
                        const uint16_t one = fp32_to_fp16(1.f), half = fp32_to_fp16(0.5f);
                        if (type == DType::Q6_K) {
                            std::memcpy(&wb[b + 208], &one, 2);
                        } else {
                            std::memcpy(&wb[b], &one, 2);
                            if (type == DType::Q4_1 || type == DType::Q4_K) std::memcpy(&wb[b + 2], &half, 2);
                        }
                    }
                    const std::vector<float> x(size_t(max_tokens(type) * cols), sign);
                    const auto xa = quantized_activations(type, x, cols, max_tokens(type));
                    expect_packed_equal_avx2(t, type, wb, rows, cols, xa,
                                             "fill " + std::to_string(fill) + " x " + std::to_string(sign));
                }
}

// The matmul driver with each table, packed, on one and three threads: the AVX2 table's
// bits, and within the usual tolerance of the scalar table.
TEST(CpuKernelsAvx512, MatmulWithPackedWeights) {
    std::mt19937 rng(513);
    ThreadPool one(1), three(3);
    for (const NamedTable& t : tables_under_test())
        for (DType type : kPackable)
            for (int64_t n_tokens : {1, 5, 70}) {
                SCOPED_TRACE(t.name + " " + dtype_name(type) + " tokens " + std::to_string(n_tokens));
                const int64_t rows = 40, cols = traits(type).block_elements == 256 ? 512 : 96;
                const auto wb = random_weight_bytes(type, rows, cols, rng);
                const TensorView w{type, wb.data(), rows, cols, "w"};
                std::vector<uint8_t> packed(wb.size());
                pack_rows8(w, packed.data());
                const auto x = random_floats(size_t(n_tokens * cols), rng);
                Guarded ref(size_t(rows * n_tokens)), avx2(ref.size()), y1(ref.size()), y3(ref.size());
                matmul_with_kernels(scalar_kernels(), w, x.data(), n_tokens, ref.data(), one);
                matmul_with_kernels(avx2_kernels(), w, x.data(), n_tokens, avx2.data(), one, packed.data());
                matmul_with_kernels(*t.table, w, x.data(), n_tokens, y1.data(), one, packed.data());
                matmul_with_kernels(*t.table, w, x.data(), n_tokens, y3.data(), three, packed.data());
                EXPECT_TRUE(y1.guards_intact() && y3.guards_intact());
                EXPECT_EQ(std::memcmp(y1.data(), avx2.data(), ref.size() * 4), 0);
                EXPECT_EQ(std::memcmp(y1.data(), y3.data(), ref.size() * 4), 0);
                const std::vector<double> ref_d(ref.data(), ref.data() + ref.size());
                EXPECT_LT(nmse(y1.data(), ref_d.data(), ref_d.size()), 1e-10);
            }
}

}  // namespace
