// kernels/elementwise.cu's device code, executed by the CPU emulator (no GPU needed):
// rms_norm (plain and fused with the residual add) and rope (normal and neox, full and
// partial rotation) against the engine's CPU ops; swiglu against a double reference;
// add, add_bias, gather_rows, to_f16 and to_bf16 bit for bit (the conversions against
// lumen::fp32_to_fp16/bf16, specials and rounding ties included). Guards catch stray writes.
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "backend/cpu/cpu_ops.h"
#include "emu_test_support.h"
#include "op_test_support.h"

namespace lumen::emu_test {
namespace {

constexpr float kSentinel = -31337.25f;

// max |got - want| / max |want|
double rel_err(const float* got, const float* want, size_t n) {
    double err = 0, scale = 0;
    for (size_t i = 0; i < n; ++i) {
        if (!std::isfinite(got[i])) return INFINITY;
        err = std::max(err, std::abs(double(got[i]) - want[i]));
        scale = std::max(scale, std::abs(double(want[i])));
    }
    return scale > 0 ? err / scale : err;
}

bool bits_equal(const float* a, const float* b, size_t n) {
    return std::memcmp(a, b, n * sizeof(float)) == 0;
}

TEST(EmulatedElementwise, RmsNormWithAndWithoutResidual) {
    std::mt19937 rng(21);
    const int n_tokens = 3;
    for (int n : {200, 700}) {  // fewer and more elements than the block's 256 threads
        SCOPED_TRACE("n " + std::to_string(n));
        const std::vector<float> x0 = test::random_floats(size_t(n_tokens * n), rng, -2.f, 2.f);
        const std::vector<float> res = test::random_floats(x0.size(), rng);
        const std::vector<float> weight = test::random_floats(size_t(n), rng, 0.5f, 1.5f);
        const float eps = 1e-5f;
        for (bool fused : {false, true}) {
            Buffer<float> x(x0, kSentinel), out(x0.size(), kSentinel);
            ASSERT_EQ(kc::rms_norm(x.data(), fused ? res.data() : nullptr, weight.data(), out.data(), n_tokens, n, eps,
                                   nullptr),
                      0);
            std::vector<float> sum = x0, want(x0.size());
            if (fused) cpu::add_inplace(sum.data(), res.data(), int64_t(sum.size()));
            for (int t = 0; t < n_tokens; ++t)
                cpu::rms_norm(sum.data() + t * n, weight.data(), want.data() + t * n, n, eps);
            EXPECT_TRUE(bits_equal(x.data(), sum.data(), sum.size())) << "x must be x + residual (or unchanged)";
            EXPECT_LT(rel_err(out.data(), want.data(), want.size()), 2e-6) << (fused ? "fused" : "plain");
            EXPECT_TRUE(x.guards_intact() && out.guards_intact());
            EXPECT_TRUE(no_faults());
        }
    }
}

// block_sum shares partial sums and the total through shared memory: any order of the
// threads between its barriers must give bitwise the same norm.
TEST(EmulatedElementwise, RmsNormIndependentOfThreadOrder) {
    std::mt19937 rng(27);
    const int n_tokens = 2, n = 1000;
    const std::vector<float> x0 = test::random_floats(size_t(n_tokens * n), rng),
                             w = test::random_floats(size_t(n), rng);
    std::vector<std::vector<float>> outs;
    for (emu::Schedule s : {emu::Schedule::forward, emu::Schedule::reverse, emu::Schedule::shuffled}) {
        emu::set_schedule(s, 9);
        Buffer<float> x(x0, kSentinel), out(x0.size(), kSentinel);
        EXPECT_EQ(kc::rms_norm(x.data(), nullptr, w.data(), out.data(), n_tokens, n, 1e-6f, nullptr), 0);
        outs.push_back(out.values());
    }
    emu::set_schedule(emu::Schedule::forward);
    EXPECT_TRUE(outs[0] == outs[1] && outs[0] == outs[2]);
    EXPECT_TRUE(no_faults());
}

TEST(EmulatedElementwise, RopeNormalAndNeox) {
    std::mt19937 rng(22);
    const int n_tokens = 3, n_heads = 6, head_dim = 64;  // up to 192 pairs: two per thread of 128
    const std::vector<int32_t> positions = {0, 7, 1234};
    for (RopeStyle style : {RopeStyle::normal, RopeStyle::neox})
        for (int rope_dim : {64, 32})
            for (float scale : {1.f, 4.f}) {
                SCOPED_TRACE(std::string(style == RopeStyle::neox ? "neox" : "normal") + " rope_dim " +
                             std::to_string(rope_dim) + " scale " + std::to_string(scale));
                cpu::RopeParams rp;
                rp.head_dim = head_dim;
                rp.rope_dim = rope_dim;
                rp.theta = 10000.f;
                rp.scale = scale;
                rp.style = style;
                const std::vector<float> freq = cpu::rope_frequencies(rp);
                rp.frequencies = freq.data();
                const std::vector<float> x0 = test::random_floats(size_t(n_tokens * n_heads * head_dim), rng);
                Buffer<float> x(x0, kSentinel);
                ASSERT_EQ(kc::rope(x.data(), n_tokens, n_heads, head_dim, rope_dim, positions.data(), freq.data(),
                                   scale, style == RopeStyle::neox, nullptr),
                          0);
                std::vector<float> want = x0;
                for (int t = 0; t < n_tokens; ++t)
                    cpu::rope(want.data() + t * n_heads * head_dim, n_heads, positions[size_t(t)], rp);
                EXPECT_LT(rel_err(x.data(), want.data(), want.size()), 1e-6);
                for (size_t i = 0; i < want.size(); ++i) {  // dims past rope_dim are left alone
                    if (int(i % head_dim) >= rope_dim) {
                        ASSERT_EQ(x[i], x0[i]) << "element " << i;
                    }
                }
                EXPECT_TRUE(x.guards_intact());
                EXPECT_TRUE(no_faults());
            }
}

TEST(EmulatedElementwise, Swiglu) {
    std::mt19937 rng(23);
    const size_t n = 1000;  // four blocks, the last one partly idle
    const std::vector<float> g0 = test::random_floats(n, rng, -8.f, 8.f), up = test::random_floats(n, rng, -2.f, 2.f);
    Buffer<float> gate(g0, kSentinel);
    ASSERT_EQ(kc::swiglu(gate.data(), up.data(), int64_t(n), nullptr), 0);
    for (size_t i = 0; i < n; ++i) {
        const double g = g0[i], want = g / (1.0 + std::exp(-g)) * up[i];
        EXPECT_NEAR(gate[i], want, 1e-6 * std::max(1.0, std::abs(want))) << "element " << i;
    }
    EXPECT_TRUE(gate.guards_intact());
    EXPECT_TRUE(no_faults());
}

TEST(EmulatedElementwise, AddAndAddBiasBitwise) {
    std::mt19937 rng(24);
    const int n_tokens = 3, n = 300;
    const std::vector<float> x0 = test::random_floats(size_t(n_tokens * n), rng),
                             y = test::random_floats(x0.size(), rng);
    const std::vector<float> bias = test::random_floats(size_t(n), rng);
    Buffer<float> x(x0, kSentinel);
    ASSERT_EQ(kc::add(x.data(), y.data(), int64_t(x0.size()), nullptr), 0);
    std::vector<float> want = x0;
    cpu::add_inplace(want.data(), y.data(), int64_t(want.size()));
    EXPECT_TRUE(bits_equal(x.data(), want.data(), want.size()));
    ASSERT_EQ(kc::add_bias(x.data(), bias.data(), n_tokens, n, nullptr), 0);
    for (size_t i = 0; i < want.size(); ++i) want[i] += bias[i % size_t(n)];
    EXPECT_TRUE(bits_equal(x.data(), want.data(), want.size()));
    EXPECT_TRUE(x.guards_intact());
    EXPECT_TRUE(no_faults());
}

TEST(EmulatedElementwise, GatherRows) {
    std::mt19937 rng(25);
    const int n = 300;
    const std::vector<float> src = test::random_floats(size_t(7 * n), rng);
    const std::vector<int32_t> rows = {6, 0, 6, 3};
    Buffer<float> dst(rows.size() * size_t(n), kSentinel);
    ASSERT_EQ(kc::gather_rows(src.data(), rows.data(), int32_t(rows.size()), n, dst.data(), nullptr), 0);
    for (size_t r = 0; r < rows.size(); ++r)
        EXPECT_TRUE(bits_equal(dst.data() + r * size_t(n), src.data() + size_t(rows[r]) * size_t(n), size_t(n)));
    EXPECT_TRUE(dst.guards_intact());
    EXPECT_TRUE(no_faults());
}

// Values that exercise every branch of the conversions: signed zeros, f32 denormals,
// the fp16 subnormal range and its rounding ties, the largest finite values and their
// overflow thresholds, infinities, NaNs; then random bit patterns over all exponents.
std::vector<float> conversion_inputs(std::mt19937& rng) {
    auto f = [](uint32_t bits) {
        float v;
        std::memcpy(&v, &bits, 4);
        return v;
    };
    std::vector<float> v = {0.f,
                            -0.f,
                            1.f,
                            -1.f,
                            65504.f,
                            -65504.f,
                            65519.f,
                            65520.f,
                            -65520.f,
                            70000.f,
                            6.1035156e-05f,
                            5.9604645e-08f,
                            2.9802322e-08f,
                            2.9802326e-08f,
                            8.940697e-08f,
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::quiet_NaN(),
                            f(0xFFC00001u),
                            f(0x7F800001u),
                            f(0x00000001u),
                            f(0x80400000u),
                            3.3895314e38f,
                            f(0x7F7FFFFFu),
                            f(0x3F808000u),
                            f(0x3F818000u),
                            f(0x3F800001u),
                            f(0x3F807FFFu)};
    for (uint32_t base = 0x33000000u; base <= 0x38800000u; base += 0x00400000u)  // fp16 subnormal ties
        for (uint32_t d : {0u, 1u, 0xFFFu, 0x1000u, 0x1001u}) v.push_back(f(base + d));
    std::uniform_int_distribution<uint32_t> bits;
    for (int i = 0; i < 4000; ++i) v.push_back(f(bits(rng)));
    return v;
}

TEST(EmulatedElementwise, ToF16AndBf16Bitwise) {
    std::mt19937 rng(26);
    const std::vector<float> x = conversion_inputs(rng);
    Buffer<uint16_t> h(x.size(), 0xDEAD), b(x.size(), 0xDEAD);
    ASSERT_EQ(kc::to_f16(x.data(), h.data(), int64_t(x.size()), nullptr), 0);
    ASSERT_EQ(kc::to_bf16(x.data(), b.data(), int64_t(x.size()), nullptr), 0);
    for (size_t i = 0; i < x.size(); ++i) {
        if (std::isnan(x[i])) {  // any NaN (the device's is the canonical 0x7FFF)
            EXPECT_TRUE((h[i] & 0x7C00) == 0x7C00 && (h[i] & 0x3FF)) << "f16 of NaN, element " << i;
            EXPECT_TRUE((b[i] & 0x7F80) == 0x7F80 && (b[i] & 0x7F)) << "bf16 of NaN, element " << i;
            continue;
        }
        ASSERT_EQ(h[i], fp32_to_fp16(x[i])) << "f16 of " << x[i] << ", element " << i;
        ASSERT_EQ(b[i], fp32_to_bf16(x[i])) << "bf16 of " << x[i] << ", element " << i;
    }
    EXPECT_TRUE(h.guards_intact() && b.guards_intact());
    EXPECT_TRUE(no_faults());
}

}  // namespace
}  // namespace lumen::emu_test
