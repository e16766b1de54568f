// Every SIMD kernel table this CPU supports against the scalar table, which
// test_cpu_ops checks against double-precision definitions. Integer block sums
// are exact, so a faster table may differ only in the order of float additions:
// activation quantization must be bitwise equal, dot products within NMSE 1e-10
// (measured ~1e-14). Levels the CPU lacks are named as not tested.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/cpu_ops.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/packed_weights.h"
#include "backend/thread_pool.h"
#include "model/weights.h"
#include "op_test_support.h"

namespace {

using namespace lumen;
using namespace lumen::cpu;
using test::Guarded;
using test::nmse;
using test::random_floats;
using test::random_weight_bytes;

// Every weight type: GGUF's and Lumen's own (quant/lumen_formats.h).
const DType kAllTypes[] = {DType::I8_W8A8,   DType::F32,     DType::F16,     DType::BF16,     DType::Q4_0,
                           DType::Q4_1,      DType::Q5_0,    DType::Q5_1,    DType::Q8_0,     DType::Q4_K,
                           DType::Q5_K,      DType::Q6_K,    DType::I8_CH,   DType::I4_G32,   DType::I4_G64,
                           DType::I4_G128,   DType::I4Z_G32, DType::I4Z_G64, DType::I4Z_G128, DType::F8_E4M3_CH,
                           DType::F8_E4M3_T, DType::F8_E4M3, DType::F8_E5M2};

std::vector<CpuLevel> fast_levels() {
    std::vector<CpuLevel> out;
    for (CpuLevel l : supported_cpu_levels())
        if (l != CpuLevel::scalar) out.push_back(l);
    return out;
}

std::vector<int64_t> column_sizes(DType type) {
    const int64_t block = traits(type).block_elements;
    if (block == 1) return {1, 7, 16, 33, 4097};
    if (block == 32) return {32, 96, 4128};
    if (block == 256) return {256, 768, 2816};
    return {block, 3 * block, 33 * block};
}

// Activations of n_tokens rows in the format the weight type meets, quantized by `k`.
std::vector<uint8_t> activations(const KernelTable& k, DType type, const std::vector<float>& x, int64_t cols,
                                 int n_tokens) {
    const ActivationFormat f = activation_format(type);
    const size_t stride = activation_row_bytes(f, cols);
    std::vector<uint8_t> out(stride * size_t(n_tokens));
    for (int t = 0; t < n_tokens; ++t) {
        const float* xt = x.data() + t * cols;
        uint8_t* o = out.data() + size_t(t) * stride;
        if (f == ActivationFormat::f32)
            std::memcpy(o, xt, stride);
        else if (f == ActivationFormat::i8_outlier)
            quantize_i8_outlier(xt, cols, 0.9f, o);  // some values above it
        else if (f == ActivationFormat::i16)
            quantize_i16(xt, cols, o);
        else if (f == ActivationFormat::q8)
            k.quantize_q8(xt, cols, reinterpret_cast<ActivationBlockQ8*>(o));
        else
            k.quantize_q8k(xt, cols, reinterpret_cast<ActivationBlockQ8K*>(o));
    }
    return out;
}

}  // namespace

TEST(CpuKernels, ReportsTheLevelsItTests) {
    std::string tested;
    for (CpuLevel l : supported_cpu_levels()) tested += std::string(" ") + cpu_level_name(l);
    std::printf("kernel levels tested on this CPU:%s (active: %s)\n", tested.c_str(),
                cpu_level_name(active_kernels().level));
    EXPECT_EQ(supported_cpu_levels().front(), CpuLevel::scalar);
    if (fast_levels().empty()) std::printf("no SIMD level on this CPU: only the scalar table is tested\n");
}

// Blocks of 32 with exact ties (x * 127 / amax = k + 0.5), zeros, and a lone extreme.
TEST(CpuKernels, ActivationQuantizationIsBitwiseEqual) {
    std::mt19937 rng(41);
    const int64_t n = 256 * 5;
    std::vector<float> x = random_floats(size_t(n), rng);
    for (int j = 0; j < 32; ++j) x[size_t(j)] = (j - 16 + 0.5f) / 127.f;  // amax 15.5/127: ties after scaling
    x[5] = 16.f / 127.f;
    for (int j = 32; j < 64; ++j) x[size_t(j)] = 0.f;
    x[100] = -50.f;
    // Q8_K takes the first value of largest magnitude, with its sign: +3 before -3 here,
    // -3 before +3 in the next block; the block after is all zeros.
    x[256 + 40] = 3.f, x[256 + 200] = -3.f;
    x[512 + 7] = -3.f, x[512 + 9] = 3.f;
    for (int j = 768; j < 1024; ++j) x[size_t(j)] = 0.f;
    const KernelTable& ref = scalar_kernels();
    std::vector<ActivationBlockQ8> q8_ref(size_t(n / 32)), q8(q8_ref.size());
    std::vector<ActivationBlockQ8K> q8k_ref(size_t(n / 256)), q8k(q8k_ref.size());
    ref.quantize_q8(x.data(), n, q8_ref.data());
    ref.quantize_q8k(x.data(), n, q8k_ref.data());
    for (CpuLevel level : fast_levels()) {
        SCOPED_TRACE(cpu_level_name(level));
        const KernelTable& k = kernel_table(level);
        k.quantize_q8(x.data(), n, q8.data());
        k.quantize_q8k(x.data(), n, q8k.data());
        EXPECT_EQ(std::memcmp(q8.data(), q8_ref.data(), q8.size() * sizeof(q8[0])), 0);
        EXPECT_EQ(std::memcmp(q8k.data(), q8k_ref.data(), q8k.size() * sizeof(q8k[0])), 0);
    }
}

TEST(CpuKernels, DotF32) {
    std::mt19937 rng(42);
    for (int64_t n : {1, 5, 8, 31, 32, 33, 100, 4097}) {
        const auto a = random_floats(size_t(n), rng), b = random_floats(size_t(n), rng);
        double ref = 0;
        for (int64_t i = 0; i < n; ++i) ref += double(a[size_t(i)]) * b[size_t(i)];
        for (CpuLevel level : supported_cpu_levels()) {
            SCOPED_TRACE(std::string(cpu_level_name(level)) + " n " + std::to_string(n));
            const float got = kernel_table(level).dot_f32(a.data(), b.data(), n);
            EXPECT_LT(nmse(&got, &ref, 1), 1e-10);
        }
    }
}

TEST(CpuKernels, Axpy) {
    std::mt19937 rng(45);
    for (int64_t n : {1, 7, 8, 48, 64, 100, 128}) {
        const auto a = random_floats(size_t(n), rng), b = random_floats(size_t(n), rng);
        std::vector<uint16_t> ah(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) ah[size_t(i)] = fp32_to_fp16(a[size_t(i)]);
        std::vector<double> axpy_ref(static_cast<size_t>(n)), axpy16_ref(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) {
            axpy_ref[size_t(i)] = b[size_t(i)] + 0.375 * a[size_t(i)];
            axpy16_ref[size_t(i)] = b[size_t(i)] + 0.375 * fp16_to_fp32(ah[size_t(i)]);
        }
        for (CpuLevel level : supported_cpu_levels()) {
            SCOPED_TRACE(std::string(cpu_level_name(level)) + " n " + std::to_string(n));
            const KernelTable& k = kernel_table(level);
            Guarded y(static_cast<size_t>(n)), y16(static_cast<size_t>(n));
            std::copy(b.begin(), b.end(), y.data());
            std::copy(b.begin(), b.end(), y16.data());
            k.axpy_f32(0.375f, a.data(), y.data(), n);
            k.axpy_f16(0.375f, ah.data(), y16.data(), n);
            EXPECT_LT(nmse(y.data(), axpy_ref.data(), size_t(n)), 1e-12);
            EXPECT_LT(nmse(y16.data(), axpy16_ref.data(), size_t(n)), 1e-12);
            EXPECT_TRUE(y.guards_intact() && y16.guards_intact());
        }
    }
}

// Four cache positions at once: the value accumulation has the roundings of four single
// axpy_f16 calls (bitwise).
// Scores against transposed keys: every level gives the scalar table's bits (one fused
// multiply-add per dimension, in order), whatever the rows and slots in the call, and
// the scalar table is close to a double reference.
TEST(CpuKernels, KeyScoresAgainstTransposedKeys) {
    std::mt19937 rng(41);
    const KernelTable& ref = kernel_table(CpuLevel::scalar);
    for (DType type : {DType::F32, DType::F16})
        for (int64_t head_dim : {5, 64})
            for (int n_slots : {1, 7, 8, 15, 16, 23, 37}) {
                const int n_rows = 12;
                const int64_t key_stride = n_slots + 3;  // padding between dimensions is never read as a slot
                std::vector<float> keys_f(size_t(head_dim * key_stride)), q(size_t(n_rows * head_dim));
                std::normal_distribution<float> nd(0.f, 1.f);
                for (auto& x : keys_f) x = nd(rng);
                for (auto& x : q) x = nd(rng);
                std::vector<uint16_t> keys_h(keys_f.size());
                for (size_t i = 0; i < keys_f.size(); ++i) keys_h[i] = fp32_to_fp16(keys_f[i]);
                const void* keys = type == DType::F16 ? static_cast<const void*>(keys_h.data()) : keys_f.data();
                std::vector<float> expected(size_t(n_rows * n_slots));
                ref.key_scores(type, keys, key_stride, n_slots, q.data(), head_dim, n_rows, head_dim, expected.data(),
                               n_slots);
                for (int r = 0; r < n_rows; ++r)
                    for (int s = 0; s < n_slots; ++s) {
                        double dot = 0;
                        for (int64_t d = 0; d < head_dim; ++d) {
                            const double key = type == DType::F16
                                                   ? double(fp16_to_fp32(keys_h[size_t(d * key_stride + s)]))
                                                   : double(keys_f[size_t(d * key_stride + s)]);
                            dot += double(q[size_t(r * head_dim + d)]) * key;
                        }
                        EXPECT_NEAR(expected[size_t(r * n_slots + s)], dot, 1e-4 * (1 + std::fabs(dot)));
                    }
                for (CpuLevel level : fast_levels())
                    for (int rows : {1, 5, 6, 7, 12}) {
                        std::vector<float> got(size_t(rows * n_slots), NAN);
                        kernel_table(level).key_scores(type, keys, key_stride, n_slots, q.data(), head_dim, rows,
                                                       head_dim, got.data(), n_slots);
                        EXPECT_EQ(std::memcmp(got.data(), expected.data(), got.size() * sizeof(float)), 0)
                            << cpu_level_name(level) << " " << dtype_name(type) << " head_dim " << head_dim << " slots "
                            << n_slots << " rows " << rows;
                    }
            }
}

TEST(CpuKernels, AxpyFourPositionsAtOnce) {
    std::mt19937 rng(48);
    for (int64_t n : {1, 7, 8, 48, 64, 100, 128}) {
        std::vector<std::vector<uint16_t>> kv(4, std::vector<uint16_t>(size_t(n)));
        for (auto& row : kv) {
            const auto f = random_floats(size_t(n), rng);
            for (int64_t i = 0; i < n; ++i) row[size_t(i)] = fp32_to_fp16(f[size_t(i)]);
        }
        const uint16_t* rows[4] = {kv[0].data(), kv[1].data(), kv[2].data(), kv[3].data()};
        const auto y0 = random_floats(size_t(n), rng);
        const float alpha[4] = {0.375f, -1.25f, 0.0625f, 2.5f};
        for (CpuLevel level : supported_cpu_levels()) {
            SCOPED_TRACE(std::string(cpu_level_name(level)) + " n " + std::to_string(n));
            const KernelTable& k = kernel_table(level);
            Guarded four{size_t(n)}, one_by_one{size_t(n)};
            std::copy(y0.begin(), y0.end(), four.data());
            std::copy(y0.begin(), y0.end(), one_by_one.data());
            k.axpy4_f16(alpha, 4, 1, rows, four.data(), 0, n);
            for (int j = 0; j < 4; ++j) k.axpy_f16(alpha[j], rows[j], one_by_one.data(), n);
            EXPECT_TRUE(four.guards_intact());
            EXPECT_EQ(std::memcmp(four.data(), one_by_one.data(), size_t(n) * 4), 0);
            // Three outputs (queries) sharing the pass, each with its own weights.
            const float alphas[3][4] = {
                {0.5f, -0.25f, 1.5f, 0.125f}, {-2.f, 0.75f, 0.f, 1.f}, {0.375f, -1.25f, 0.0625f, 2.5f}};
            const int64_t stride = n + 3;
            Guarded shared{size_t(3 * stride)};
            std::vector<float> alone(size_t(3 * stride));
            for (int o = 0; o < 3; ++o) {
                std::copy(y0.begin(), y0.end(), shared.data() + o * stride);
                std::copy(y0.begin(), y0.end(), alone.begin() + o * stride);
                for (int j = 0; j < 4; ++j) k.axpy_f16(alphas[o][j], rows[j], alone.data() + o * stride, n);
            }
            k.axpy4_f16(&alphas[0][0], 4, 3, rows, shared.data(), stride, n);
            EXPECT_TRUE(shared.guards_intact());
            for (int o = 0; o < 3; ++o)
                EXPECT_EQ(std::memcmp(shared.data() + o * stride, alone.data() + o * stride, size_t(n) * 4), 0) << o;
        }
    }
}

TEST(CpuKernels, SoftmaxAgainstDouble) {
    std::mt19937 rng(49);
    for (int64_t n : {1, 5, 8, 33, 512}) {
        auto x = random_floats(size_t(n), rng);
        for (float& v : x) v *= 20.f;  // spread the exponents over a wide range
        std::vector<double> want(x.begin(), x.end());
        const double max = *std::max_element(want.begin(), want.end());
        double sum = 0;
        for (double& v : want) sum += (v = std::exp(v - max));
        for (double& v : want) v /= sum;
        for (CpuLevel level : supported_cpu_levels()) {
            SCOPED_TRACE(std::string(cpu_level_name(level)) + " n " + std::to_string(n));
            Guarded y{size_t(n)};
            std::copy(x.begin(), x.end(), y.data());
            kernel_table(level).softmax(y.data(), n);
            EXPECT_TRUE(y.guards_intact());
            EXPECT_LT(nmse(y.data(), want.data(), size_t(n)), 1e-12);
            for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(y.data()[i], want[size_t(i)], 1e-6 + 1e-5 * want[size_t(i)]);
        }
    }
}

TEST(CpuKernels, SiluMulAgainstDouble) {
    std::mt19937 rng(50);
    for (int64_t n : {1, 9, 64, 1000}) {
        auto gate = random_floats(size_t(n), rng), up = random_floats(size_t(n), rng);
        for (float& g : gate) g *= 30.f;  // both tails of the sigmoid, past exp's clamp
        std::vector<double> want(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) {
            const double g = gate[size_t(i)];
            want[size_t(i)] = g / (1.0 + std::exp(-g)) * up[size_t(i)];
        }
        for (CpuLevel level : supported_cpu_levels()) {
            SCOPED_TRACE(std::string(cpu_level_name(level)) + " n " + std::to_string(n));
            Guarded out{size_t(n)};
            kernel_table(level).silu_mul(gate.data(), up.data(), out.data(), n);
            EXPECT_TRUE(out.guards_intact());
            EXPECT_LT(nmse(out.data(), want.data(), size_t(n)), 1e-12);
        }
    }
}

// The KV cache's fp16 conversion: bitwise the scalar encoder (round to nearest even,
// subnormals, overflow to infinity, signed zero).
TEST(CpuKernels, F32ToF16IsBitwiseTheEncoder) {
    std::mt19937 rng(51);
    std::vector<float> x = random_floats(1000, rng);
    for (size_t i = 0; i < 200; ++i) x[i] *= 1e-5f;   // fp16 subnormals
    for (size_t i = 200; i < 260; ++i) x[i] *= 1e5f;  // beyond 65504: infinity
    x[300] = -0.f, x[301] = 65504.f, x[302] = 65520.f, x[303] = 5.9604645e-8f, x[304] = 2.9802322e-8f;
    std::vector<uint16_t> want(x.size());
    for (size_t i = 0; i < x.size(); ++i) want[i] = fp32_to_fp16(x[i]);
    for (CpuLevel level : supported_cpu_levels()) {
        SCOPED_TRACE(cpu_level_name(level));
        std::vector<uint16_t> got(x.size() + 1, 0xABCD);
        kernel_table(level).f32_to_f16(x.data(), got.data(), int64_t(x.size()));
        EXPECT_EQ(got.back(), 0xABCD) << "wrote past the end";
        got.pop_back();
        EXPECT_EQ(got, want);
    }
}

// Each row of each type, 1..4 tokens per pass, against the scalar table; and a token's
// result never depends on how many tokens share the pass (bitwise).
TEST(CpuKernels, DotRowEveryTypeAndTokenCount) {
    std::mt19937 rng(43);
    constexpr int kRows = 5;
    for (DType type : kAllTypes)
        for (int64_t cols : column_sizes(type)) {
            const auto w = random_weight_bytes(type, kRows, cols, rng);
            const auto x = random_floats(size_t(4 * cols), rng);
            const size_t row_stride = row_bytes(type, cols);
            const size_t x_stride = activation_row_bytes(activation_format(type), cols);
            const auto xa_ref = activations(scalar_kernels(), type, x, cols, 4);
            std::vector<double> ref(kRows * 4);
            for (int r = 0; r < kRows; ++r) {
                float y[4];
                scalar_kernels().dot_row(type, w.data() + r * row_stride, xa_ref.data(), x_stride, 4, cols, y);
                for (int t = 0; t < 4; ++t) ref[size_t(r * 4 + t)] = y[t];
            }
            for (CpuLevel level : fast_levels()) {
                const KernelTable& k = kernel_table(level);
                const auto xa = activations(k, type, x, cols, 4);
                for (int nt = 1; nt <= 4; ++nt) {
                    SCOPED_TRACE(std::string(cpu_level_name(level)) + " " + dtype_name(type) + " cols " +
                                 std::to_string(cols) + " tokens " + std::to_string(nt));
                    std::vector<float> got(kRows * 4, NAN);
                    std::vector<double> want(kRows * 4, 0.0);
                    for (int r = 0; r < kRows; ++r) {
                        Guarded y(4);
                        k.dot_row(type, w.data() + r * row_stride, xa.data(), x_stride, nt, cols, y.data());
                        EXPECT_TRUE(y.guards_intact());
                        for (int t = 0; t < nt; ++t) {
                            got[size_t(r * 4 + t)] = y.data()[t];
                            want[size_t(r * 4 + t)] = ref[size_t(r * 4 + t)];
                            float alone;  // the same token in a pass of its own
                            k.dot_row(type, w.data() + r * row_stride, xa.data() + size_t(t) * x_stride, x_stride, 1,
                                      cols, &alone);
                            EXPECT_EQ(std::memcmp(&alone, &y.data()[t], 4), 0) << "row " << r << " token " << t;
                        }
                        for (int t = nt; t < 4; ++t) got[size_t(r * 4 + t)] = 0.f;
                    }
                    EXPECT_LT(nmse(got.data(), want.data(), got.size()), 1e-10);
                }
            }
        }
}

// dot_rows tiles rows and tokens as the level likes; every result must equal the level's
// dot_row for that row and token bitwise, whatever the tile.
TEST(CpuKernels, DotRowsEqualsDotRowBitwise) {
    std::mt19937 rng(47);
    constexpr int kTokens = kMaxTokensPerRowsPass;
    for (CpuLevel level : supported_cpu_levels()) {
        const KernelTable& k = kernel_table(level);
        for (DType type : kAllTypes) {
            const int64_t cols = column_sizes(type)[1];
            constexpr int kRows = 9;
            const auto w = random_weight_bytes(type, kRows, cols, rng);
            const auto x = random_floats(size_t(kTokens * cols), rng);
            const size_t row_stride = row_bytes(type, cols);
            const size_t x_stride = activation_row_bytes(activation_format(type), cols);
            const auto xa = activations(k, type, x, cols, kTokens);
            // Each (row, token) in a pass of its own.
            std::vector<float> alone(size_t(kRows * kTokens));
            for (int r = 0; r < kRows; ++r)
                for (int t = 0; t < kTokens; ++t)
                    k.dot_row(type, w.data() + r * row_stride, xa.data() + size_t(t) * x_stride, x_stride, 1, cols,
                              &alone[size_t(t * kRows + r)]);
            for (int n_rows = 1; n_rows <= kRows; ++n_rows)
                for (int nt = 1; nt <= kTokens; ++nt) {
                    SCOPED_TRACE(std::string(cpu_level_name(level)) + " " + dtype_name(type) + " rows " +
                                 std::to_string(n_rows) + " tokens " + std::to_string(nt));
                    // Laid out as a matmul output with kRows + 2 columns: row r, token t at y[t * stride + r].
                    constexpr int kStride = kRows + 2;
                    Guarded y(size_t(nt * kStride));
                    std::fill(y.data(), y.data() + nt * kStride, -1.f);
                    k.dot_rows(type, w.data(), row_stride, n_rows, xa.data(), x_stride, nt, cols, y.data(), kStride);
                    EXPECT_TRUE(y.guards_intact());
                    for (int t = 0; t < nt; ++t)
                        for (int r = 0; r < kStride; ++r) {
                            const float got = y.data()[t * kStride + r];
                            if (r < n_rows)
                                EXPECT_EQ(std::memcmp(&got, &alone[size_t(t * kRows + r)], 4), 0)
                                    << "row " << r << " token " << t;
                            else
                                EXPECT_EQ(got, -1.f) << "written outside the rows";
                        }
                }
        }
    }
}

// The matmul driver's tiling (16-row chunks, 12- and 4-token passes, 60-token blocks) with each
// table and thread count, on the plain rows and, where the shape allows, on the rows
// packed in groups of 8: every output written once, same values as the scalar table.
TEST(CpuKernels, MatmulTilingEveryLevel) {
    std::mt19937 rng(44);
    ThreadPool one(1), three(3);
    for (DType type : {DType::F16, DType::Q4_0, DType::Q4_1, DType::Q8_0, DType::Q4_K, DType::Q6_K})
        for (int64_t rows : {1, 17, 40})
            for (int64_t n_tokens : {1, 6, 70}) {
                const int64_t cols = traits(type).block_elements == 256 ? 512 : 96;
                const auto wb = random_weight_bytes(type, rows, cols, rng);
                const TensorView w{type, wb.data(), rows, cols, "w"};
                std::vector<uint8_t> packed;
                if (can_pack(w)) {
                    packed.resize(size_t(w.n_bytes()));
                    pack_rows8(w, packed.data());
                }
                const auto x = random_floats(size_t(n_tokens * cols), rng);
                Guarded ref(size_t(rows * n_tokens));
                matmul_with_kernels(scalar_kernels(), w, x.data(), n_tokens, ref.data(), one);
                const std::vector<double> ref_d(ref.data(), ref.data() + ref.size());
                for (CpuLevel level : supported_cpu_levels())
                    for (const uint8_t* p :
                         std::vector<const uint8_t*>{nullptr, packed.empty() ? nullptr : packed.data()}) {
                        SCOPED_TRACE(std::string(cpu_level_name(level)) + " " + dtype_name(type) + " rows " +
                                     std::to_string(rows) + " tokens " + std::to_string(n_tokens) +
                                     (p ? " packed" : ""));
                        Guarded y1(ref.size()), y3(ref.size());
                        matmul_with_kernels(kernel_table(level), w, x.data(), n_tokens, y1.data(), one, p);
                        matmul_with_kernels(kernel_table(level), w, x.data(), n_tokens, y3.data(), three, p);
                        EXPECT_TRUE(y1.guards_intact() && y3.guards_intact());
                        EXPECT_LT(nmse(y1.data(), ref_d.data(), ref_d.size()), 1e-10);
                        EXPECT_EQ(std::memcmp(y1.data(), y3.data(), ref.size() * 4), 0);
                    }
            }
}

// Matrices sharing an input in one pass (q/k/v, gate/up): every output bitwise what its
// own matmul gives, packed or not, with unequal row counts; mixed activation formats
// fall back to separate passes.
TEST(CpuKernels, MatmulTargetsEqualSeparateMatmuls) {
    std::mt19937 rng(52);
    ThreadPool pool(3);
    struct Case {
        std::vector<DType> types;
        std::vector<int64_t> rows;
    };
    const Case cases[] = {{{DType::Q4_0, DType::Q4_0, DType::Q8_0}, {40, 16, 24}},
                          {{DType::Q4_K, DType::Q6_K}, {48, 8}},
                          {{DType::F32, DType::F16, DType::F32}, {33, 7, 16}},
                          {{DType::Q8_0, DType::F16}, {16, 9}}};  // q8 and f32 activations: separate passes
    for (const Case& c : cases)
        for (int64_t n_tokens : {1, 5, 70}) {
            const int64_t cols = 512;
            std::vector<std::vector<uint8_t>> weights, packed;
            std::vector<TensorView> views;
            for (size_t i = 0; i < c.types.size(); ++i) {
                weights.push_back(random_weight_bytes(c.types[i], c.rows[i], cols, rng));
                views.push_back(TensorView{c.types[i], weights.back().data(), c.rows[i], cols, "w"});
            }
            for (const TensorView& v : views) {
                packed.emplace_back(can_pack(v) ? size_t(v.n_bytes()) : 0);
                if (can_pack(v)) pack_rows8(v, packed.back().data());
            }
            const auto x = random_floats(size_t(n_tokens * cols), rng);
            for (CpuLevel level : supported_cpu_levels()) {
                SCOPED_TRACE(std::string(cpu_level_name(level)) + " " + dtype_name(c.types[0]) + " tokens " +
                             std::to_string(n_tokens));
                const KernelTable& k = kernel_table(level);
                std::vector<Guarded> together, alone;
                std::vector<MatmulTarget> targets;
                for (size_t i = 0; i < views.size(); ++i) {
                    together.emplace_back(size_t(n_tokens * c.rows[i]));
                    alone.emplace_back(size_t(n_tokens * c.rows[i]));
                }
                for (size_t i = 0; i < views.size(); ++i) {
                    const uint8_t* p = packed[i].empty() ? nullptr : packed[i].data();
                    targets.push_back(MatmulTarget{&views[i], together[i].data(), p});
                    matmul_with_kernels(k, views[i], x.data(), n_tokens, alone[i].data(), pool, p);
                }
                matmul_targets(k, targets.data(), int(targets.size()), x.data(), n_tokens, pool);
                for (size_t i = 0; i < views.size(); ++i) {
                    EXPECT_TRUE(together[i].guards_intact());
                    EXPECT_EQ(std::memcmp(together[i].data(), alone[i].data(), together[i].size() * 4), 0) << i;
                }
            }
        }
}

// Packing into groups of 8 rows moves every byte and loses none; only packable types
// and shapes are packed.
TEST(PackedWeights, PackThenUnpackIsTheIdentity) {
    std::mt19937 rng(45);
    for (DType type : {DType::Q4_0, DType::Q4_1, DType::Q8_0, DType::Q4_K, DType::Q6_K})
        for (int64_t rows : {8, 24})
            for (int64_t cols : {256, 768}) {
                SCOPED_TRACE(std::string(dtype_name(type)) + " " + std::to_string(rows) + "x" + std::to_string(cols));
                const auto wb = random_weight_bytes(type, rows, cols, rng);
                const TensorView w{type, wb.data(), rows, cols, "w"};
                ASSERT_TRUE(can_pack(w));
                std::vector<uint8_t> packed(wb.size()), back(wb.size());
                pack_rows8(w, packed.data());
                EXPECT_NE(packed, wb);  // the layout really differs
                unpack_rows8(type, packed.data(), rows, cols, back.data());
                EXPECT_EQ(back, wb);
            }
    const std::vector<uint8_t> bytes(size_t(16 * row_bytes(DType::Q6_K, 256)));
    EXPECT_FALSE(can_pack(TensorView{DType::Q5_K, bytes.data(), 8, 256, "no packed Q5_K layout"}));
    EXPECT_FALSE(can_pack(TensorView{DType::Q4_0, bytes.data(), 12, 32, "rows not a multiple of 8"}));
    EXPECT_FALSE(can_pack(TensorView{DType::F16, bytes.data(), 8, 32, "float"}));
    PackedWeights store;
    const auto wb = random_weight_bytes(DType::Q8_0, 16, 64, rng);
    const TensorView w{DType::Q8_0, wb.data(), 16, 64, "w"};
    EXPECT_TRUE(store.add(w));
    EXPECT_TRUE(store.add(w));  // a tied tensor is packed once
    EXPECT_EQ(store.bytes(), w.n_bytes());
    ASSERT_NE(store.find(w), nullptr);
    std::vector<uint8_t> back(wb.size());
    unpack_rows8(DType::Q8_0, store.find(w), 16, 64, back.data());
    EXPECT_EQ(back, wb);

    // The plain rows' pages are handed back to the OS, but keep their contents: a tied
    // embedding is still read from them. 64 rows of 4096 Q8_0 weights span many pages.
    const auto big = random_weight_bytes(DType::Q8_0, 64, 4096, rng);
    const std::vector<uint8_t> copy = big;
    EXPECT_TRUE(store.add(TensorView{DType::Q8_0, big.data(), 64, 4096, "big"}));
    EXPECT_EQ(big, copy);
}

// Each level's packed kernels for every packable type and 1..4 tokens (1..8 for Q4_0) against the
// scalar table on the plain rows; a token's result never depends on its tile.
TEST(PackedWeights, DotPacked8AgreesWithTheScalarRows) {
    std::mt19937 rng(46);
    int tested_levels = 0;
    for (CpuLevel level : fast_levels()) {
        const KernelTable& k = kernel_table(level);
        if (!k.dot_packed8) continue;
        ++tested_levels;
        for (DType type : {DType::Q4_0, DType::Q4_1, DType::Q8_0, DType::Q4_K, DType::Q6_K})
            for (int64_t cols : column_sizes(type)) {
                constexpr int kRows = 16;
                const auto wb = random_weight_bytes(type, kRows, cols, rng);
                const TensorView w{type, wb.data(), kRows, cols, "w"};
                std::vector<uint8_t> packed(wb.size());
                pack_rows8(w, packed.data());
                const int max_tokens = type == DType::Q4_0 ? kMaxTokensPerPackedQ4_0Pass : kMaxTokensPerRowPass;
                const auto x = random_floats(size_t(max_tokens * cols), rng);
                const size_t x_stride = activation_row_bytes(activation_format(type), cols);
                const auto xa = activations(k, type, x, cols, max_tokens);
                std::vector<double> want(size_t(kRows * max_tokens));
                for (int r = 0; r < kRows; ++r)
                    for (int t = 0; t < max_tokens; ++t) {
                        float y;
                        scalar_kernels().dot_row(type, w.row(r), xa.data() + size_t(t) * x_stride, x_stride, 1, cols,
                                                 &y);
                        want[size_t(t * kRows + r)] = y;
                    }
                for (int nt = 1; nt <= max_tokens; ++nt) {
                    SCOPED_TRACE(std::string(cpu_level_name(level)) + " " + dtype_name(type) + " cols " +
                                 std::to_string(cols) + " tokens " + std::to_string(nt));
                    std::vector<float> got(size_t(kRows * max_tokens), 0.f);
                    std::vector<double> expect(size_t(kRows * max_tokens), 0.0);
                    for (int g = 0; g < kRows / kPackedRows; ++g) {
                        const uint8_t* group = packed.data() + size_t(g) * kPackedRows * w.row_stride();
                        Guarded y(size_t(nt * kPackedRows));
                        k.dot_packed8(type, group, xa.data(), x_stride, nt, cols, y.data());
                        EXPECT_TRUE(y.guards_intact());
                        for (int t = 0; t < nt; ++t) {
                            Guarded alone(kPackedRows);
                            k.dot_packed8(type, group, xa.data() + size_t(t) * x_stride, x_stride, 1, cols,
                                          alone.data());
                            EXPECT_EQ(std::memcmp(alone.data(), y.data() + t * kPackedRows, 4 * kPackedRows), 0);
                            for (int r = 0; r < kPackedRows; ++r) {
                                const size_t i = size_t(t * kRows + g * kPackedRows + r);
                                got[i] = y.data()[t * kPackedRows + r];
                                expect[i] = want[i];
                            }
                        }
                    }
                    EXPECT_LT(nmse(got.data(), expect.data(), got.size()), 1e-10);
                }
            }
    }
    if (tested_levels == 0) GTEST_SKIP() << "no kernel level on this CPU has packed kernels";
}

// Types with no SIMD kernel (Q2_K, Q3_K, the i-quants, the ternary types) take the scalar
// reference in every table: each level's dot_row equals sum(dequantized row * x).
TEST(CpuKernels, TypesWithoutASimdKernelFallBackToTheScalarRows) {
    const DType types[] = {DType::Q2_K,  DType::Q3_K,    DType::IQ4_NL, DType::IQ4_XS, DType::IQ3_XXS,
                           DType::IQ3_S, DType::IQ2_XXS, DType::IQ2_XS, DType::IQ2_S,  DType::IQ1_S,
                           DType::IQ1_M, DType::TQ1_0,   DType::TQ2_0};
    std::mt19937 rng(7);
    for (CpuLevel level : supported_cpu_levels()) {
        const KernelTable& k = kernel_table(level);
        for (DType type : types) {
            const int64_t cols = traits(type).block_elements * 2;
            ASSERT_EQ(activation_format(type), ActivationFormat::f32) << dtype_name(type);
            std::uniform_real_distribution<float> uni(-1.f, 1.f);
            std::vector<float> x(static_cast<size_t>(cols));
            for (float& v : x) v = uni(rng);
            int checked = 0;
            for (int attempt = 0; attempt < 64; ++attempt) {
                std::vector<uint8_t> row(row_bytes(type, cols));
                for (auto& byte : row) byte = uint8_t(rng());
                std::vector<float> w(static_cast<size_t>(cols));
                dequantize_row(type, row.data(), w.data(), cols);
                double expected = 0, magnitude = 0;
                for (int64_t i = 0; i < cols; ++i) {
                    expected += double(w[size_t(i)]) * x[size_t(i)];
                    magnitude += std::fabs(double(w[size_t(i)]) * x[size_t(i)]);
                }
                if (!std::isfinite(magnitude) || magnitude > 1e30) continue;  // a random f16 scale of inf or NaN
                float y = 0;
                k.dot_row(type, row.data(), reinterpret_cast<const uint8_t*>(x.data()), 0, 1, cols, &y);
                EXPECT_NEAR(y, expected, 1e-4 * magnitude + 1e-6) << cpu_level_name(level) << " " << dtype_name(type);
                ++checked;
            }
            EXPECT_GE(checked, 16) << dtype_name(type);
        }
    }
}
