// The sampling chain: greedy, each filtering stage, the penalty formulas,
// temperature, and seeded reproducibility.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "sampling/sampler.h"

using namespace lumen;

namespace {
SamplingParams plain(float temperature) {
    SamplingParams p;
    p.temperature = temperature;
    p.top_k = 0;
    p.top_p = 1.f;
    p.min_p = 0.f;
    return p;
}
}  // namespace

TEST(Sampler, ChainOrderIsDocumented) {
    EXPECT_EQ(sampling_chain_order(), (std::vector<std::string>{"penalties", "no_repeat_ngram", "top_k", "top_p",
                                                                "min_p", "temperature", "dist"}));
}

TEST(Sampler, TemperatureZeroIsArgmax) {
    Sampler s(plain(0.f));
    std::vector<float> logits = {0.1f, 2.5f, -1.f, 2.4f};
    EXPECT_EQ(s.sample(logits.data(), 4, {}), 1);
}

TEST(Sampler, PenaltiesFollowTheirFormulas) {
    SamplingParams p = plain(0.f);
    p.repeat_penalty = 2.f;
    p.presence_penalty = 0.5f;
    p.frequency_penalty = 0.25f;
    p.penalty_last_n = 3;
    Sampler s(p);
    std::vector<float> logits = {4.f, -1.f, 3.f, 1.f};
    // window = last 3 of history: {1, 0, 0}: token 0 twice, token 1 once; token 3 is outside the window.
    s.sample(logits.data(), 4, {3, 1, 0, 0});
    EXPECT_FLOAT_EQ(logits[0], 4.f / 2.f - 2 * 0.25f - 0.5f);
    EXPECT_FLOAT_EQ(logits[1], -1.f * 2.f - 1 * 0.25f - 0.5f);
    EXPECT_FLOAT_EQ(logits[2], 3.f);
    EXPECT_FLOAT_EQ(logits[3], 1.f);
}

TEST(Sampler, TopKOneIsGreedyAtAnyTemperature) {
    SamplingParams p = plain(5.f);
    p.top_k = 1;
    Sampler s(p);
    for (int i = 0; i < 50; ++i) {
        std::vector<float> logits = {0.f, 1.f, 0.9f, -3.f};
        EXPECT_EQ(s.sample(logits.data(), 4, {}), 1);
    }
}

TEST(Sampler, TopPAndMinPCutTheTail) {
    // probabilities ~ {0.5, 0.3, 0.15, 0.05}
    const std::vector<float> base = {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
    SamplingParams p = plain(1.f);
    p.top_p = 0.7f;  // keeps {0, 1}
    Sampler top_p(p);
    p = plain(1.f);
    p.min_p = 0.35f;  // threshold 0.175: keeps {0, 1}
    Sampler min_p(p);
    std::map<int, int> seen_p, seen_m;
    for (int i = 0; i < 2000; ++i) {
        auto a = base, b = base;
        seen_p[top_p.sample(a.data(), 4, {})]++;
        seen_m[min_p.sample(b.data(), 4, {})]++;
    }
    EXPECT_EQ(seen_p.count(2) + seen_p.count(3), 0u);
    EXPECT_EQ(seen_m.count(2) + seen_m.count(3), 0u);
    EXPECT_GT(seen_p[1], 600);  // renormalized: 0.3/0.8 = 0.375 of 2000 = 750
    EXPECT_GT(seen_m[1], 600);
}

TEST(Sampler, DrawsFollowTheDistribution) {
    const std::vector<float> base = {std::log(0.6f), std::log(0.3f), std::log(0.1f)};
    Sampler s(plain(1.f));
    std::vector<int> counts(3);
    const int n = 20000;
    for (int i = 0; i < n; ++i) {
        auto l = base;
        counts[size_t(s.sample(l.data(), 3, {}))]++;
    }
    EXPECT_NEAR(counts[0] / double(n), 0.6, 0.02);
    EXPECT_NEAR(counts[1] / double(n), 0.3, 0.02);
    EXPECT_NEAR(counts[2] / double(n), 0.1, 0.02);
}

TEST(Sampler, LowTemperatureSharpens) {
    const std::vector<float> base = {1.f, 0.f};
    Sampler cold(plain(0.1f));
    int top = 0;
    for (int i = 0; i < 1000; ++i) {
        auto l = base;
        top += cold.sample(l.data(), 2, {}) == 0;
    }
    EXPECT_GT(top, 995);  // p = 1/(1+e^-10)
}

TEST(Sampler, SameSeedSameDraws) {
    SamplingParams p = plain(1.f);
    p.seed = 1234;
    Sampler a(p), b(p);
    p.seed = 99;
    Sampler c(p);
    std::vector<int32_t> da, db, dc;
    for (int i = 0; i < 64; ++i) {
        std::vector<float> l(50);
        for (int j = 0; j < 50; ++j) l[size_t(j)] = float(j % 7) * 0.1f;
        auto l2 = l, l3 = l;
        da.push_back(a.sample(l.data(), 50, {}));
        db.push_back(b.sample(l2.data(), 50, {}));
        dc.push_back(c.sample(l3.data(), 50, {}));
    }
    EXPECT_EQ(da, db);
    EXPECT_NE(da, dc);
}

// No-repeat-ngram: a token that would complete an n-gram already in the history is
// banned, however likely; other tokens are untouched; n = 0 bans nothing.
TEST(Sampler, NoRepeatNgramBansCompletions) {
    SamplingParams p;
    p.temperature = 0;
    p.no_repeat_ngram = 3;
    const std::vector<int32_t> history = {5, 6, 7, 1, 5, 6};  // "5 6 7" exists, the tail is "5 6"
    std::vector<float> logits(10, 0.f);
    logits[7] = 10.f;  // the repeat is by far the most likely
    logits[8] = 5.f;
    Sampler s(p);
    EXPECT_EQ(s.sample(logits.data(), 10, history), 8);
    EXPECT_TRUE(std::isinf(logits[7]) && logits[7] < 0);
    EXPECT_EQ(logits[8], 5.f);

    // Every earlier occurrence of the tail counts.
    const std::vector<int32_t> twice = {5, 6, 7, 5, 6, 9, 5, 6};
    std::vector<float> l2(10, 0.f);
    l2[7] = 3.f;
    l2[9] = 2.f;
    l2[2] = 1.f;
    EXPECT_EQ(Sampler(p).sample(l2.data(), 10, twice), 2);

    // Size 1 bans every token seen; size 0 bans nothing.
    p.no_repeat_ngram = 1;
    std::vector<float> l3 = {9.f, 8.f, 1.f};
    EXPECT_EQ(Sampler(p).sample(l3.data(), 3, {0, 1}), 2);
    p.no_repeat_ngram = 0;
    std::vector<float> l4 = {9.f, 8.f, 1.f};
    EXPECT_EQ(Sampler(p).sample(l4.data(), 3, {0, 1}), 0);

    // A ban of the whole vocabulary is dropped rather than leaving nothing to pick.
    p.no_repeat_ngram = 1;
    std::vector<float> l5 = {1.f, 2.f};
    EXPECT_EQ(Sampler(p).sample(l5.data(), 2, {0, 1}), 1);
}

// Speculative verification of a deterministic draft: whatever the draft, the token that
// comes out is distributed as the chain's own distribution (rejection sampling).
TEST(Sampler, VerifyDraftKeepsTheDistribution) {
    SamplingParams p;
    p.temperature = 1.f;
    p.top_k = 0;
    p.top_p = 1.f;
    p.min_p = 0.f;
    const std::vector<float> logits = {2.0f, 1.0f, 0.5f, -1.0f};
    std::vector<double> expected(4);
    double z = 0;
    for (float l : logits) z += std::exp(double(l));
    for (size_t i = 0; i < 4; ++i) expected[i] = std::exp(double(logits[i])) / z;
    for (int32_t draft : {0, 2, 3}) {
        Sampler s(p);
        std::vector<int> counts(4, 0);
        int accepted_count = 0;
        const int trials = 40000;
        for (int t = 0; t < trials; ++t) {
            std::vector<float> l = logits;
            bool accepted = false;
            const int32_t tok = s.verify_draft(l.data(), 4, {}, draft, &accepted);
            ASSERT_GE(tok, 0);
            ASSERT_LT(tok, 4);
            EXPECT_EQ(accepted, tok == draft);
            ++counts[size_t(tok)];
            accepted_count += accepted;
        }
        for (size_t i = 0; i < 4; ++i)  // 40k draws: the standard error is below 0.0025
            EXPECT_NEAR(double(counts[i]) / trials, expected[i], 0.012) << "draft " << draft << " token " << i;
        EXPECT_NEAR(double(accepted_count) / trials, expected[size_t(draft)], 0.012);
    }
    // Greedy: the draft is accepted exactly when it is the argmax.
    p.temperature = 0;
    Sampler g(p);
    std::vector<float> l = logits;
    bool accepted = false;
    EXPECT_EQ(g.verify_draft(l.data(), 4, {}, 0, &accepted), 0);
    EXPECT_TRUE(accepted);
    l = logits;
    EXPECT_EQ(g.verify_draft(l.data(), 4, {}, 2, &accepted), 0);
    EXPECT_FALSE(accepted);
}
