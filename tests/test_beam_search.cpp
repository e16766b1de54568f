// Beam search (engine/runtime/beam_search.h): width 1 equals greedy; on the real
// default model, width 4 returns hypotheses in score order, each score equal to
// its tokens' log-probabilities summed by an independent forward pass and
// divided by length^length_penalty; beams share the prompt's blocks; every block
// returns to the pool afterwards; bad requests and a full pool are errors that
// leave the pool intact.
#include <gtest/gtest.h>

#include <cmath>

#include "model/synth.h"
#include "runtime/beam_search.h"
#include "runtime/engine.h"
#include "test_support.h"

using namespace lumen;

namespace {

const std::string& synthetic_model() {
    static const std::string path = [] {
        char tmpl[] = "/tmp/lumen-beam-XXXXXX";
        const std::string p = std::string(mkdtemp(tmpl)) + "/beam.gguf";
        SynthSpec spec;
        spec.init_std = 0.2f;
        Status s = write_synthetic_model(spec, test::data_dir() + "/tokenizer/ggml-vocab-llama-spm.gguf", p);
        EXPECT_TRUE(s.is_ok()) << s.message();
        return p;
    }();
    return path;
}

// The sum of log p(ids[j] | prompt, ids[<j]) from one fresh forward pass over everything.
double independent_sum_logprob(Engine& e, const std::vector<int32_t>& prompt, const std::vector<int32_t>& ids) {
    const int32_t seq = e.create_sequence().value();
    SequenceInput in;
    in.seq_id = seq;
    in.tokens = prompt;
    in.tokens.insert(in.tokens.end(), ids.begin(), ids.end());
    in.all_logits = true;
    std::vector<float> logits;
    EXPECT_TRUE(e.step({in}, &logits).is_ok());
    e.free_sequence(seq);
    const int32_t vocab = e.model().config.vocab_size;
    double sum = 0;
    for (size_t j = 0; j < ids.size(); ++j) {
        const float* row = logits.data() + (prompt.size() - 1 + j) * size_t(vocab);
        double mx = row[0];
        for (int32_t i = 1; i < vocab; ++i) mx = std::max(mx, double(row[i]));
        double z = 0;
        for (int32_t i = 0; i < vocab; ++i) z += std::exp(double(row[i]) - mx);
        sum += double(row[ids[j]]) - mx - std::log(z);
    }
    return sum;
}

void expect_pool_empty(const Engine& e) {
    EXPECT_EQ(e.kv().free_blocks(), e.kv().n_blocks());
    EXPECT_EQ(e.kv().n_sequences(), 0);
    EXPECT_TRUE(e.kv().check_invariants().is_ok());
}

}  // namespace

TEST(BeamSearch, WidthOneIsGreedy) {
    auto e = test::load_engine(synthetic_model(), 1024);
    ASSERT_TRUE(e);
    for (uint32_t seed : {1u, 2u, 3u}) {
        const auto prompt = test::random_tokens(5 + seed * 7, seed);
        GenerationRequest g;
        g.prompt_ids = prompt;
        g.max_tokens = 24;
        g.sampling.temperature = 0;
        auto greedy = e->generate(g);
        ASSERT_TRUE(greedy.is_ok()) << greedy.status().message();
        BeamSearchRequest b;
        b.prompt_ids = prompt;
        b.width = 1;
        b.max_tokens = 24;
        auto beam = beam_search(*e, b);
        ASSERT_TRUE(beam.is_ok()) << beam.status().message();
        ASSERT_EQ(beam->hypotheses.size(), 1u);
        EXPECT_EQ(beam->hypotheses[0].ids, greedy->ids) << "seed " << seed;
        EXPECT_EQ(beam->n_forks, 0);
        expect_pool_empty(*e);
    }
}

TEST(BeamSearch, BeamsShareThePromptBlocksAndEarlyStoppingOffSearchesOn) {
    auto e = test::load_engine(synthetic_model(), 2048);
    ASSERT_TRUE(e);
    BeamSearchRequest b;
    b.prompt_ids = test::random_tokens(200, 9);  // 13 blocks of 16
    b.width = 4;
    b.n_return = 4;
    b.max_tokens = 30;
    auto early = beam_search(*e, b);
    ASSERT_TRUE(early.is_ok()) << early.status().message();
    EXPECT_EQ(early->prompt_blocks, 13);
    EXPECT_GT(early->n_forks, 0);
    // Four beams hold the prompt once, plus their own tails (at most 30 tokens: 3
    // blocks each, with a partial block copied on write).
    EXPECT_LE(early->peak_blocks, 13 + 4 * 3);
    EXPECT_LT(early->peak_blocks, 4 * 13);
    expect_pool_empty(*e);
    for (size_t i = 1; i < early->hypotheses.size(); ++i)
        EXPECT_GE(early->hypotheses[i - 1].score, early->hypotheses[i].score);

    b.early_stopping = false;
    auto patient = beam_search(*e, b);
    ASSERT_TRUE(patient.is_ok());
    EXPECT_GE(patient->n_steps, early->n_steps);
    EXPECT_GE(patient->hypotheses[0].score, early->hypotheses[0].score);
    expect_pool_empty(*e);

    // The trace is a tree: every node's parent is a kept beam of the step before.
    for (size_t t = 1; t < patient->steps.size(); ++t)
        for (const BeamNode& n : patient->steps[t]) {
            ASSERT_GE(n.parent, 0);
            ASSERT_LT(size_t(n.parent), patient->steps[t - 1].size());
            EXPECT_FALSE(patient->steps[t - 1][size_t(n.parent)].finished);
        }
}

TEST(BeamSearch, CancelEndsWithTheLiveBeamsAndFreesThem) {
    auto e = test::load_engine(synthetic_model(), 1024);
    ASSERT_TRUE(e);
    // Blocks held elsewhere (another sequence) are not counted as the search's.
    const int32_t other = e->create_sequence().value();
    SequenceInput in;
    in.seq_id = other;
    in.tokens = test::random_tokens(40, 8);
    std::vector<float> logits;
    ASSERT_TRUE(e->step({in}, &logits).is_ok());
    BeamSearchRequest b;
    b.prompt_ids = test::random_tokens(20, 7);  // 2 blocks
    b.width = 3;
    b.n_return = 3;
    b.max_tokens = 50;
    b.stop_at_eos = false;
    std::atomic<bool> cancel{true};
    auto r = beam_search(*e, b, &cancel);
    ASSERT_TRUE(r.is_ok()) << r.status().message();
    EXPECT_EQ(r->n_steps, 1);
    ASSERT_EQ(r->hypotheses.size(), 3u);
    for (const BeamHypothesis& h : r->hypotheses) {
        EXPECT_EQ(h.finish_reason, "cancelled");
        EXPECT_EQ(h.ids.size(), 1u);
    }
    EXPECT_EQ(r->prompt_blocks, 2);
    e->free_sequence(other);
    expect_pool_empty(*e);
}

TEST(BeamSearch, BadRequestsAndAFullPoolAreErrorsThatLoseNothing) {
    auto e = test::load_engine(synthetic_model(), 64);  // 4 blocks
    ASSERT_TRUE(e);
    BeamSearchRequest b;
    b.prompt_ids = test::random_tokens(10, 4);
    b.width = 0;
    EXPECT_FALSE(beam_search(*e, b).is_ok());
    b.width = 2;
    b.n_return = 3;
    auto too_many = beam_search(*e, b);
    ASSERT_FALSE(too_many.is_ok());
    EXPECT_NE(too_many.status().message().find("1..width"), std::string::npos);
    b.n_return = 1;
    b.prompt_ids.clear();
    EXPECT_FALSE(beam_search(*e, b).is_ok());

    // Eight beams over a 40-token prompt cannot fit 4 blocks once their tails diverge.
    b.prompt_ids = test::random_tokens(40, 5);
    b.width = 8;
    b.max_tokens = 40;
    b.stop_at_eos = false;
    auto full = beam_search(*e, b);
    ASSERT_FALSE(full.is_ok());
    EXPECT_NE(full.status().message().find("beam search"), std::string::npos) << full.status().message();
    expect_pool_empty(*e);
    // The engine still works afterwards.
    b.width = 1;
    b.max_tokens = 4;
    EXPECT_TRUE(beam_search(*e, b).is_ok());
    expect_pool_empty(*e);
}

TEST(BeamSearch, RealModelHypothesesAreScoredByTheirLogProbabilities) {
    const std::string path = test::default_model_path();
    if (!test::file_exists(path)) GTEST_SKIP() << "default model not downloaded: " << path;
    auto e = test::load_engine(path, 2048);
    ASSERT_TRUE(e);
    BeamSearchRequest b;
    b.prompt_ids = e->tokenizer().encode(
        "<|im_start|>user\nName three primary colours.<|im_end|>\n<|im_start|>assistant\n", false, true);
    b.width = 4;
    b.n_return = 4;
    b.max_tokens = 40;
    b.length_penalty = 0.8f;
    auto r = beam_search(*e, b);
    ASSERT_TRUE(r.is_ok()) << r.status().message();
    ASSERT_EQ(r->hypotheses.size(), 4u);
    expect_pool_empty(*e);
    for (size_t i = 0; i < r->hypotheses.size(); ++i) {
        const BeamHypothesis& h = r->hypotheses[i];
        ASSERT_FALSE(h.ids.empty());
        if (i > 0) EXPECT_GE(r->hypotheses[i - 1].score, h.score);
        const double sum = independent_sum_logprob(*e, b.prompt_ids, h.ids);
        EXPECT_NEAR(h.sum_logprob, sum, 1e-3 * double(h.ids.size())) << "hypothesis " << i;
        EXPECT_NEAR(h.score, h.sum_logprob / std::pow(double(h.ids.size()), double(b.length_penalty)), 1e-9);
        if (h.finish_reason == "eos") EXPECT_TRUE(e->tokenizer().is_end_of_generation(h.ids.back()));
    }
    expect_pool_empty(*e);
}
