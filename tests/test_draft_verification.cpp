// verify_draft_tokens, the one draft-verification routine of speculative decoding
// (Engine::generate and the serving core): greedy verdicts (accept all, reject the
// first, partial acceptance) equal plain greedy decoding token for token, penalties
// see the accepted drafts, and at temperature > 0 the tokens that come out are
// distributed as plain sampling's.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "runtime/speculative.h"

using namespace lumen;

namespace {

constexpr int32_t kVocab = 6;

SamplingParams greedy() {
    SamplingParams p;
    p.temperature = 0;
    return p;
}

// Rows (one per fed token) whose argmax is the given token.
std::vector<float> rows_with_argmax(const std::vector<int32_t>& argmax) {
    std::vector<float> rows(argmax.size() * kVocab, 0.f);
    for (size_t i = 0; i < argmax.size(); ++i) {
        for (int32_t v = 0; v < kVocab; ++v) rows[i * kVocab + size_t(v)] = 0.1f * float(v % 3);
        rows[i * kVocab + size_t(argmax[i])] = 5.f;
    }
    return rows;
}

// Plain decoding over the same rows: one sample per row, the history growing by each.
std::vector<int32_t> sample_each_row(Sampler& s, std::vector<float> rows, size_t n, std::vector<int32_t> history) {
    std::vector<int32_t> out;
    for (size_t i = 0; i < n; ++i) {
        out.push_back(s.sample(rows.data() + i * kVocab, kVocab, history));
        history.push_back(out.back());
    }
    return out;
}

}  // namespace

TEST(DraftVerification, GreedyAcceptsTheWholeDraftAndAddsTheNextToken) {
    Sampler s(greedy());
    auto rows = rows_with_argmax({3, 1, 4, 2});
    const DraftVerdict v = verify_draft_tokens(s, rows.data(), kVocab, {0}, {3, 1, 4});
    EXPECT_EQ(v.n_accepted, 3u);
    EXPECT_EQ(v.tokens, (std::vector<int32_t>{3, 1, 4, 2}));
}

TEST(DraftVerification, GreedyRejectsTheFirstToken) {
    Sampler s(greedy());
    auto rows = rows_with_argmax({5, 1, 4});
    const DraftVerdict v = verify_draft_tokens(s, rows.data(), kVocab, {0}, {3, 1});
    EXPECT_EQ(v.n_accepted, 0u);
    EXPECT_EQ(v.tokens, (std::vector<int32_t>{5}));  // the target's own token replaces the draft
}

TEST(DraftVerification, GreedyPartialAcceptance) {
    Sampler s(greedy());
    auto rows = rows_with_argmax({3, 1, 2, 0, 4});
    const DraftVerdict v = verify_draft_tokens(s, rows.data(), kVocab, {0}, {3, 1, 4, 0});
    EXPECT_EQ(v.n_accepted, 2u);
    EXPECT_EQ(v.tokens, (std::vector<int32_t>{3, 1, 2}));
}

TEST(DraftVerification, EmptyDraftIsOnePlainSample) {
    Sampler s(greedy());
    auto rows = rows_with_argmax({4});
    const DraftVerdict v = verify_draft_tokens(s, rows.data(), kVocab, {0}, {});
    EXPECT_EQ(v.n_accepted, 0u);
    EXPECT_EQ(v.tokens, (std::vector<int32_t>{4}));
}

// Random rows and drafts, some agreeing with the target: the verdict is always the
// prefix of plain greedy decoding up to and including the first disagreement, with
// penalties (repetition, no-repeat-ngram) that depend on the accepted drafts.
TEST(DraftVerification, GreedyVerdictEqualsPlainGreedyDecoding) {
    std::mt19937 rng(11);
    std::normal_distribution<float> normal(0.f, 1.f);
    SamplingParams params = greedy();
    params.repeat_penalty = 1.5f;
    params.no_repeat_ngram = 2;
    for (int trial = 0; trial < 200; ++trial) {
        const size_t n_draft = 1 + size_t(trial % 5);
        std::vector<float> rows((n_draft + 1) * kVocab);
        for (float& x : rows) x = normal(rng);
        const std::vector<int32_t> history = {int32_t(trial % kVocab), 2, 5};
        Sampler plain(params);
        const std::vector<int32_t> expected = sample_each_row(plain, rows, n_draft + 1, history);
        // The draft follows the target for a random number of tokens, then guesses.
        std::vector<int32_t> draft(expected.begin(), expected.begin() + long(n_draft));
        const size_t agree = size_t(rng() % (n_draft + 1));
        for (size_t i = agree; i < n_draft; ++i) draft[i] = int32_t(rng() % kVocab);
        Sampler verifier(params);
        std::vector<float> verify_rows = rows;
        const DraftVerdict v = verify_draft_tokens(verifier, verify_rows.data(), kVocab, history, draft);
        size_t matching = 0;
        while (matching < n_draft && draft[matching] == expected[matching]) ++matching;
        ASSERT_EQ(v.n_accepted, matching) << "trial " << trial;
        ASSERT_EQ(v.tokens, std::vector<int32_t>(expected.begin(), expected.begin() + long(matching) + 1))
            << "trial " << trial;
    }
}

// Temperature 1 over two positions: the first token out is distributed as p0 whatever
// the draft proposes, and after an accepted first draft token the next token is
// distributed as p1 (here the sample after the whole draft).
TEST(DraftVerification, SampledTokensKeepTheTargetDistribution) {
    SamplingParams params;
    params.temperature = 1.f;
    params.top_k = 0;
    params.top_p = 1.f;
    params.min_p = 0.f;
    params.seed = 5;
    const std::vector<float> logits = {1.0f, 0.2f, -0.5f, 0.7f, -1.0f, 0.0f, /* row 1 */ -0.3f,
                                       1.2f, 0.4f, -2.f,  0.9f, 0.1f};
    auto probabilities = [&](size_t row) {
        std::vector<double> p(kVocab);
        double sum = 0;
        for (int32_t v = 0; v < kVocab; ++v) sum += p[size_t(v)] = std::exp(double(logits[row * kVocab + size_t(v)]));
        for (double& x : p) x /= sum;
        return p;
    };
    const auto p0 = probabilities(0), p1 = probabilities(1);
    Sampler s(params);
    std::vector<double> first(kVocab, 0), after_accept(kVocab, 0);
    const int trials = 40000;
    int accepted = 0;
    for (int t = 0; t < trials; ++t) {
        std::vector<float> rows = logits;
        const DraftVerdict v = verify_draft_tokens(s, rows.data(), kVocab, {}, {3});
        first[size_t(v.tokens[0])] += 1;
        if (v.n_accepted == 1) {
            ++accepted;
            after_accept[size_t(v.tokens[1])] += 1;
        }
    }
    for (int32_t v = 0; v < kVocab; ++v) {
        EXPECT_NEAR(first[size_t(v)] / trials, p0[size_t(v)], 0.012) << "first token " << v;
        EXPECT_NEAR(after_accept[size_t(v)] / accepted, p1[size_t(v)], 0.025) << "token after the draft " << v;
    }
    EXPECT_NEAR(double(accepted) / trials, p0[3], 0.012);  // a draft token is accepted with its probability
}

TEST(DraftVerification, CountsTheVerdictInSpeculativeStatistics) {
    GenerationStats stats;
    DraftVerdict partial;
    partial.tokens = {3, 1, 2};
    partial.n_accepted = 2;
    count_verdict(stats, 4, partial);
    DraftVerdict all;
    all.tokens = {3, 4};
    all.n_accepted = 1;
    count_verdict(stats, 1, all);
    EXPECT_EQ(stats.n_drafted, 5);
    EXPECT_EQ(stats.n_draft_accepted, 3);
    EXPECT_EQ(stats.n_verify_steps, 2);
    // Positions examined: 0..2 of the first draft (the third rejected), 0 of the second.
    EXPECT_EQ(stats.draft_accepted_at, (std::vector<int32_t>{2, 1, 0}));
}
