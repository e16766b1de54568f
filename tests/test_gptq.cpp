// GPTQ and RTN on affine group grids (engine/quant/gptq):
//  - RTN: every value inside its group's range is within d/2, codes in range,
//    fp16 params exactly representable, zero and constant groups;
//  - the Hessian (one shot, in batches, threaded) against a direct sum, and
//    the inverse factor against the reference's inverse + upper Cholesky;
//  - GPTQ with a diagonal Hessian is RTN exactly (no compensation), dead columns are zero;
//  - GPTQ matches a plain unblocked transcription of the algorithm, is the same
//    for any thread count and nearly the same for any block size;
//  - GPTQ beats RTN on correlated activations (printed ratios), and bad input is a Status.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "backend/thread_pool.h"
#include "core/dtype.h"
#include "quant/gptq.h"

using namespace lumen;

namespace {

std::vector<float> random_matrix(int64_t rows, int64_t cols, uint32_t seed, float scale = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, scale);
    std::vector<float> m(size_t(rows * cols));
    for (float& v : m) v = dist(rng);
    return m;
}

// Activations with strongly correlated columns: X = Z A + noise, plus outlier columns.
std::vector<float> correlated_activations(int64_t n, int64_t cols, uint32_t seed) {
    const int64_t k = 24;
    const auto z = random_matrix(n, k, seed), a = random_matrix(k, cols, seed + 1);
    auto x = random_matrix(n, cols, seed + 2, 0.05f);
    for (int64_t s = 0; s < n; ++s)
        for (int64_t c = 0; c < cols; ++c) {
            for (int64_t t = 0; t < k; ++t) x[size_t(s * cols + c)] += z[size_t(s * k + t)] * a[size_t(t * cols + c)];
            if (c % 61 == 7) x[size_t(s * cols + c)] *= 12.0f;  // outlier channels
        }
    return x;
}

std::vector<double> diagonal_hessian(int64_t cols, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> dist(0.1, 10.0);
    std::vector<double> h(size_t(cols * cols), 0.0);
    for (int64_t i = 0; i < cols; ++i) h[size_t(i * cols + i)] = dist(rng);
    return h;
}

bool fp16_exact(float v) {
    return fp16_to_fp32(fp32_to_fp16(v)) == v;
}

// ---- the reference implementation's steps, written plainly (small sizes only)

std::vector<double> naive_inverse_factor(std::vector<double> a, int64_t n) {
    std::vector<double> inv(size_t(n * n), 0.0);  // Gauss-Jordan (a is SPD, no pivoting needed)
    for (int64_t i = 0; i < n; ++i) inv[size_t(i * n + i)] = 1;
    for (int64_t p = 0; p < n; ++p) {
        const double d = a[size_t(p * n + p)];
        for (int64_t j = 0; j < n; ++j) a[size_t(p * n + j)] /= d, inv[size_t(p * n + j)] /= d;
        for (int64_t i = 0; i < n; ++i) {
            if (i == p) continue;
            const double f = a[size_t(i * n + p)];
            for (int64_t j = 0; j < n; ++j) {
                a[size_t(i * n + j)] -= f * a[size_t(p * n + j)];
                inv[size_t(i * n + j)] -= f * inv[size_t(p * n + j)];
            }
        }
    }
    std::vector<double> u(size_t(n * n), 0.0);  // upper Cholesky: inv = U^T U
    for (int64_t i = 0; i < n; ++i) {
        double d = inv[size_t(i * n + i)];
        for (int64_t k = 0; k < i; ++k) d -= u[size_t(k * n + i)] * u[size_t(k * n + i)];
        u[size_t(i * n + i)] = std::sqrt(d);
        for (int64_t j = i + 1; j < n; ++j) {
            double s = inv[size_t(i * n + j)];
            for (int64_t k = 0; k < i; ++k) s -= u[size_t(k * n + i)] * u[size_t(k * n + j)];
            u[size_t(i * n + j)] = s / u[size_t(i * n + i)];
        }
    }
    return u;
}

// Symmetric int4, fp16 scales, group 16; eager updates of every later column.
std::vector<int> naive_gptq_sym4(const std::vector<float>& w, int64_t rows, int64_t cols, std::vector<double> h,
                                 double damp_percent) {
    double mean = 0;
    for (int64_t i = 0; i < cols; ++i) mean += h[size_t(i * cols + i)] / double(cols);
    for (int64_t i = 0; i < cols; ++i) h[size_t(i * cols + i)] += damp_percent * mean;
    const auto u = naive_inverse_factor(h, cols);
    std::vector<int> codes(size_t(rows * cols));
    for (int64_t r = 0; r < rows; ++r) {
        std::vector<double> x(w.begin() + r * cols, w.begin() + (r + 1) * cols);
        float d = 0;
        for (int64_t i = 0; i < cols; ++i) {
            if (i % 16 == 0) {
                double absmax = 0;
                for (int64_t c = i; c < std::min(i + 16, cols); ++c) absmax = std::max(absmax, std::fabs(x[size_t(c)]));
                d = fp16_to_fp32(fp32_to_fp16(float(absmax / 7)));
            }
            const float m = -8.0f * d;
            const int q = int(std::clamp(std::nearbyint((x[size_t(i)] - m) / d), 0.0, 15.0));
            codes[size_t(r * cols + i)] = q;
            const double e = (x[size_t(i)] - double(d * float(q) + m)) / u[size_t(i * cols + i)];
            for (int64_t j = i + 1; j < cols; ++j) x[size_t(j)] -= e * u[size_t(i * cols + j)];
        }
    }
    return codes;
}

double error_of(const std::vector<float>& x, int64_t n, int64_t cols, const std::vector<float>& w, int64_t rows,
                const GroupQuantized& q) {
    const auto wq = q.dequantized();
    return reconstruction_error(x.data(), n, cols, w.data(), wq.data(), rows);
}

}  // namespace

// ---------------------------------------------------------------- RTN

TEST(Rtn, EveryValueInsideTheGridIsWithinHalfAStep) {
    const int64_t rows = 16, cols = 320;  // the last group of 128 is partial
    auto w = random_matrix(rows, cols, 1);
    w[5] = 9.0f;  // an outlier in one group
    for (bool symmetric : {true, false})
        for (int qmax : {15, 254})
            for (int group : {32, 64, 128, 0})
                for (bool fp16 : {true, false}) {
                    SCOPED_TRACE(testing::Message()
                                 << "sym " << symmetric << " qmax " << qmax << " group " << group << " fp16 " << fp16);
                    const QuantGrid grid{qmax, symmetric, group, fp16};
                    auto q = rtn_quantize(w.data(), rows, cols, grid);
                    ASSERT_TRUE(q) << q.status().message();
                    const int64_t gs = group == 0 ? cols : group;
                    ASSERT_EQ(q->groups_per_row, (cols + gs - 1) / gs);
                    ASSERT_EQ(q->scales.size(), size_t(rows * q->groups_per_row));
                    const auto dq = q->dequantized();
                    const int zero = (qmax + 1) / 2;
                    int64_t inside = 0;
                    for (int64_t r = 0; r < rows; ++r)
                        for (int64_t c = 0; c < cols; ++c) {
                            const size_t g = size_t(r * q->groups_per_row + c / gs), i = size_t(r * cols + c);
                            const float d = q->scales[g], m = q->offsets[g], v = w[i];
                            ASSERT_LE(int(q->codes[i]), qmax);
                            ASSERT_EQ(dq[i], q->value(r, c));
                            if (symmetric && fp16) {
                                ASSERT_EQ(dq[i], d * float(int(q->codes[i]) - zero));
                            }
                            if (v < m || v > m + d * float(qmax)) continue;
                            ++inside;
                            ASSERT_LE(std::fabs(v - dq[i]), 0.5f * d * (1 + 1e-5f) + 1e-6f) << "at " << r << "," << c;
                        }
                    EXPECT_GT(inside, rows * cols * 95 / 100);
                    for (size_t g = 0; g < q->scales.size(); ++g) {
                        ASSERT_GT(q->scales[g], 0.0f);
                        if (fp16) {
                            ASSERT_TRUE(fp16_exact(q->scales[g]));
                        }
                        if (fp16 && !symmetric) {
                            ASSERT_TRUE(fp16_exact(q->offsets[g]));
                        }
                        if (symmetric) {
                            ASSERT_EQ(q->offsets[g], -float(zero) * q->scales[g]);
                        }
                    }
                }
}

TEST(Rtn, ZeroAndConstantGroups) {
    std::vector<float> w(64, 0.0f);
    std::fill(w.begin() + 32, w.end(), 0.375f);  // fp16-exact constant
    for (bool symmetric : {true, false}) {
        auto q = rtn_quantize(w.data(), 1, 64, QuantGrid{15, symmetric, 32, true});
        ASSERT_TRUE(q);
        const auto dq = q->dequantized();
        // A constant group is exact only where its value is the offset (asymmetric).
        for (int c = 0; c < (symmetric ? 32 : 64); ++c)
            EXPECT_EQ(dq[size_t(c)], w[size_t(c)]) << "sym " << symmetric << " col " << c;
        for (int c = 0; c < 32; ++c) EXPECT_EQ(q->codes[size_t(c)], symmetric ? 8 : 0);
        if (symmetric) {
            EXPECT_EQ(q->codes[40], 15);
        }
    }
}

// ---------------------------------------------------------------- Hessian and its factor

TEST(Hessian, MatchesDirectSumInBatchesAndThreads) {
    const int64_t n = 5, cols = 4;
    const std::vector<float> x = {1, 2, 0, -1, 0.5f, -3, 2, 4, 0, 0, 1, 1, -2, 1, 1, 0.25f, 3, 3, -1, 2};
    const auto h = hessian_from_activations(x.data(), n, cols);
    ASSERT_EQ(h.size(), size_t(cols * cols));
    for (int64_t i = 0; i < cols; ++i)
        for (int64_t j = 0; j < cols; ++j) {
            double direct = 0;
            for (int64_t s = 0; s < n; ++s) direct += double(x[size_t(s * cols + i)]) * x[size_t(s * cols + j)];
            EXPECT_NEAR(h[size_t(i * cols + j)], 2.0 * direct / n, 1e-12);
        }
    ThreadPool pool(2);
    HessianAccumulator acc(cols);
    ASSERT_TRUE(acc.add(x.data(), 2, &pool));
    ASSERT_TRUE(acc.add(x.data() + 2 * cols, 3, &pool));
    EXPECT_EQ(acc.samples(), 5);
    const auto batched = acc.finish();
    for (size_t i = 0; i < h.size(); ++i) EXPECT_NEAR(batched[i], h[i], 1e-12);
}

TEST(Hessian, InverseFactorMatchesInverseThenUpperCholesky) {
    const int64_t n = 150, samples = 400;  // odd size: partial panels and column blocks
    const auto x = correlated_activations(samples, n, 3);
    auto h = hessian_from_activations(x.data(), samples, n);
    for (int64_t i = 0; i < n; ++i) h[size_t(i * n + i)] += 0.01;
    ThreadPool pool(2);
    auto u = inverse_hessian_factor(h, n, &pool);
    ASSERT_TRUE(u) << u.status().message();
    const auto expected = naive_inverse_factor(h, n);
    double max_diff = 0, max_abs = 0;
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) {
            const double a = (*u)[size_t(i * n + j)], b = expected[size_t(i * n + j)];
            if (j < i) {
                ASSERT_EQ(a, 0.0);
            }
            max_diff = std::max(max_diff, std::fabs(a - b));
            max_abs = std::max(max_abs, std::fabs(b));
        }
    EXPECT_LT(max_diff, 1e-9 * max_abs);
}

// ---------------------------------------------------------------- GPTQ

TEST(Gptq, DiagonalHessianIsRtn) {
    const int64_t rows = 24, cols = 192;
    const auto w = random_matrix(rows, cols, 4);
    auto h = diagonal_hessian(cols, 5);
    for (int64_t dead : {3, 64, 100}) h[size_t(dead * cols + dead)] = 0;
    auto w_dead = w;  // what RTN must see: dead columns are zeros
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t dead : {3, 64, 100}) w_dead[size_t(r * cols + dead)] = 0;
    ThreadPool pool(2);
    for (const QuantGrid grid : {QuantGrid{15, true, 32, true}, QuantGrid{15, false, 128, true},
                                 QuantGrid{254, true, 0, false}, QuantGrid{15, false, 48, false}})
        for (bool act_order : {false, true})
            for (int block : {1, 7, 128}) {
                SCOPED_TRACE(testing::Message() << "qmax " << grid.qmax << " sym " << grid.symmetric << " group "
                                                << grid.group_size << " act_order " << act_order << " block " << block);
                auto g = gptq_quantize(w.data(), rows, cols, h, GptqOptions{grid, 0.01, block, act_order}, &pool);
                ASSERT_TRUE(g) << g.status().message();
                auto r = rtn_quantize(w_dead.data(), rows, cols, grid);
                ASSERT_TRUE(r);
                EXPECT_EQ(g->codes, r->codes);
                EXPECT_EQ(g->scales, r->scales);
                EXPECT_EQ(g->offsets, r->offsets);
            }
}

TEST(Gptq, MatchesPlainTranscriptionAndIsThreadAndBlockIndependent) {
    const int64_t rows = 12, cols = 96, n = 300;
    const auto w = random_matrix(rows, cols, 6);
    const auto x = correlated_activations(n, cols, 7);
    const auto h = hessian_from_activations(x.data(), n, cols);
    const GptqOptions options{QuantGrid{15, true, 16, true}, 0.01, 32, false};
    auto serial = gptq_quantize(w.data(), rows, cols, h, options);
    ASSERT_TRUE(serial) << serial.status().message();
    const auto expected = naive_gptq_sym4(w, rows, cols, h, 0.01);
    int64_t same = 0;
    for (size_t i = 0; i < expected.size(); ++i) same += expected[i] == int(serial->codes[i]);
    // Rounding-order differences may flip a code that sits on a rounding boundary.
    EXPECT_GE(same, int64_t(expected.size()) * 99 / 100) << same << " of " << expected.size();

    ThreadPool pool(2);
    auto threaded = gptq_quantize(w.data(), rows, cols, h, options, &pool);
    ASSERT_TRUE(threaded);
    EXPECT_EQ(threaded->codes, serial->codes);
    EXPECT_EQ(threaded->scales, serial->scales);
    for (int block : {1, 5, 128}) {
        GptqOptions other = options;
        other.block_size = block;
        auto q = gptq_quantize(w.data(), rows, cols, h, other, &pool);
        ASSERT_TRUE(q);
        int64_t equal = 0;
        for (size_t i = 0; i < q->codes.size(); ++i) equal += q->codes[i] == serial->codes[i];
        EXPECT_GE(equal, int64_t(q->codes.size()) * 99 / 100) << "block " << block;
    }
}

TEST(Gptq, BeatsRtnOnCorrelatedActivations) {
    const int64_t n = 512, cols = 256, rows = 128;
    const auto x = correlated_activations(n, cols, 8);
    const auto w = random_matrix(rows, cols, 9, 0.02f);
    ThreadPool pool(2);
    HessianAccumulator acc(cols);
    for (int64_t s = 0; s < n; s += 100)  // calibration arrives in batches
        ASSERT_TRUE(acc.add(x.data() + s * cols, std::min<int64_t>(100, n - s), &pool));
    const auto h = acc.finish();
    struct Case {
        const char* name;
        QuantGrid grid;
        bool act_order;
    };
    for (const Case& c :
         {Case{"int4 sym g32", {15, true, 32, true}, false}, Case{"int4 sym g32 act_order", {15, true, 32, true}, true},
          Case{"int4 asym g128", {15, false, 128, true}, false},
          Case{"int8 sym per-row", {254, true, 0, true}, false}}) {
        auto rtn = rtn_quantize(w.data(), rows, cols, c.grid);
        auto gptq = gptq_quantize(w.data(), rows, cols, h, GptqOptions{c.grid, 0.01, 128, c.act_order}, &pool);
        ASSERT_TRUE(rtn);
        ASSERT_TRUE(gptq) << gptq.status().message();
        const double e_rtn = error_of(x, n, cols, w, rows, *rtn), e_gptq = error_of(x, n, cols, w, rows, *gptq);
        std::printf("  %-24s RTN %.4e  GPTQ %.4e  GPTQ/RTN %.3f\n", c.name, e_rtn, e_gptq, e_gptq / e_rtn);
        EXPECT_LT(e_gptq, 0.8 * e_rtn) << c.name;
    }
}

TEST(Gptq, ReconstructionErrorMatchesDirectSum) {
    const std::vector<float> x = {1, 2, -1, 0.5f, 3, 1}, w = {1, 0, 2, -1, 1, 1}, wq = {1.5f, 0, 2, -1, 0.75f, 1};
    // d = w - wq = [[-0.5, 0, 0], [0, 0.25, 0]]; X d^T = [[-0.5, 0.5], [-0.25, 0.75]]
    EXPECT_DOUBLE_EQ(reconstruction_error(x.data(), 2, 3, w.data(), wq.data(), 2), 0.25 + 0.25 + 0.0625 + 0.5625);
}

TEST(Gptq, BadInputIsAStatus) {
    const int64_t rows = 4, cols = 16;
    auto w = random_matrix(rows, cols, 10);
    const GptqOptions options;
    auto mismatch = gptq_quantize(w.data(), rows, cols, std::vector<double>(15 * 15, 1.0), options);
    ASSERT_FALSE(mismatch);
    EXPECT_NE(mismatch.status().message().find("16 x 16"), std::string::npos) << mismatch.status().message();

    auto x = random_matrix(64, cols, 11);
    for (int64_t s = 0; s < 64; ++s) x[size_t(s * cols + 5)] = x[size_t(s * cols + 3)];  // a duplicated channel
    const auto singular = hessian_from_activations(x.data(), 64, cols);
    GptqOptions undamped;
    undamped.damp_percent = 0;
    auto failed = gptq_quantize(w.data(), rows, cols, singular, undamped);
    ASSERT_FALSE(failed);
    EXPECT_NE(failed.status().message().find("not positive definite"), std::string::npos) << failed.status().message();
    EXPECT_TRUE(gptq_quantize(w.data(), rows, cols, singular, options));  // damping makes it usable

    const auto few = hessian_from_activations(x.data(), 8, cols);  // 8 samples for 16 columns
    EXPECT_FALSE(gptq_quantize(w.data(), rows, cols, few, undamped));
    EXPECT_FALSE(gptq_quantize(w.data(), rows, cols, std::vector<double>(cols * cols, 0.0), options));
    EXPECT_FALSE(inverse_hessian_factor(std::vector<double>(4, 0.0), 2));

    GptqOptions bad_grid;
    bad_grid.grid.qmax = 1;  // symmetric needs two codes either side
    EXPECT_FALSE(gptq_quantize(w.data(), rows, cols, singular, bad_grid));
    EXPECT_FALSE(rtn_quantize(w.data(), rows, cols, QuantGrid{300, false, 32, true}));
    EXPECT_FALSE(rtn_quantize(w.data(), rows, cols, QuantGrid{15, true, -1, true}));
    EXPECT_FALSE(rtn_quantize(w.data(), 0, cols, QuantGrid{}));
    w[7] = std::nanf("");
    EXPECT_FALSE(rtn_quantize(w.data(), rows, cols, QuantGrid{}));
    EXPECT_FALSE(gptq_quantize(w.data(), rows, cols, singular, options));
    HessianAccumulator acc(cols);
    EXPECT_FALSE(acc.add(w.data(), rows));
    EXPECT_TRUE(hessian_from_activations(w.data(), rows, cols).empty());
}
