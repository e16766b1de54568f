// Token log-probabilities: the log-softmax itself, and what the serving core reports
// per generated token (the chosen token and its alternatives), checked against the
// logits of an independent forward pass and across speculative verification.
#include <gtest/gtest.h>

#include <unistd.h>
#include <cmath>

#include "model/synth.h"
#include "runtime/engine.h"
#include "sampling/logprobs.h"
#include "serving/served_generation.h"
#include "test_support.h"

using namespace lumen;

namespace {

std::unique_ptr<Engine> synth_engine() {
    SynthSpec spec;
    spec.init_std = 0.2f;
    const std::string path = ::testing::TempDir() + "lumen-logprobs-" + std::to_string(getpid()) + ".gguf";
    Status s = write_synthetic_model(spec, test::data_dir() + "/tokenizer/ggml-vocab-llama-spm.gguf", path);
    EXPECT_TRUE(s.is_ok()) << s.message();
    EngineOptions options;
    options.kv_type = DType::F32;
    options.kv_tokens = 256;
    auto e = Engine::load(path, {}, options);
    EXPECT_TRUE(e.is_ok()) << e.status().message();
    return e ? std::move(e.value()) : nullptr;
}

GenerationRequest greedy_request(int32_t top_logprobs) {
    GenerationRequest req;
    req.prompt = "Once upon a time, once upon a time";
    req.max_tokens = 12;
    req.sampling.temperature = 0;
    req.top_logprobs = top_logprobs;
    return req;
}

}  // namespace

TEST(Logprobs, LogSoftmaxOfKnownLogits) {
    // Probabilities 1/8, 2/8, 4/8, 1/8: logits ln 1, ln 2, ln 4, ln 1.
    const float logits[] = {0.f, std::log(2.f), std::log(4.f), 0.f};
    const TokenLogprobs lp = token_logprobs(logits, 4, 1, 3);
    EXPECT_NEAR(lp.logprob, std::log(0.25), 1e-6);
    ASSERT_EQ(lp.top.size(), 3u);
    EXPECT_EQ(lp.top[0].token, 2);
    EXPECT_NEAR(lp.top[0].logprob, std::log(0.5), 1e-6);
    EXPECT_EQ(lp.top[1].token, 1);
    EXPECT_EQ(lp.top[2].token, 0) << "a tie goes to the lower id";
    EXPECT_NEAR(lp.top[2].logprob, std::log(0.125), 1e-6);
    EXPECT_EQ(token_logprobs(logits, 4, 0, 100).top.size(), 4u) << "top_n is clamped to the vocabulary";
    EXPECT_TRUE(token_logprobs(logits, 4, 0, 0).top.empty());
}

TEST(Logprobs, ServedGreedyTokensAreTheMostLikelyAndMatchTheLogits) {
    auto e = synth_engine();
    ASSERT_NE(e, nullptr);
    ServingEngine serving(*e, single_stream_serving_options(*e));
    std::vector<const TokenLogprobs*> streamed;
    auto r =
        generate_served(serving, greedy_request(3), [&](const TokenEvent& ev) { streamed.push_back(ev.logprobs); });
    ASSERT_TRUE(r.is_ok()) << r.status().message();
    ASSERT_EQ(r->logprobs.size(), r->ids.size());
    ASSERT_EQ(streamed.size(), r->ids.size());
    for (size_t i = 0; i < r->ids.size(); ++i) {
        const TokenLogprobs& lp = r->logprobs[i];
        ASSERT_NE(streamed[i], nullptr);
        ASSERT_EQ(lp.top.size(), 3u);
        EXPECT_EQ(lp.top[0].token, r->ids[i]) << "greedy picks the most likely token";
        EXPECT_EQ(lp.top[0].logprob, lp.logprob);
        EXPECT_LE(lp.logprob, 0.f);
        EXPECT_GE(lp.top[0].logprob, lp.top[1].logprob);
        EXPECT_GE(lp.top[1].logprob, lp.top[2].logprob);
    }
    // The first token's figures against the prompt's logits from a plain forward pass.
    std::vector<float> logits;
    auto seq = e->create_sequence();
    ASSERT_TRUE(seq.is_ok());
    ASSERT_TRUE(e->feed(seq.value(), r->prompt_ids, &logits).is_ok());
    const int32_t vocab = e->model().config.vocab_size;
    double max = logits[0];
    for (int32_t i = 0; i < vocab; ++i) max = std::max(max, double(logits[size_t(i)]));
    double sum = 0;
    for (int32_t i = 0; i < vocab; ++i) sum += std::exp(double(logits[size_t(i)]) - max);
    const double expected = double(logits[size_t(r->ids[0])]) - max - std::log(sum);
    EXPECT_NEAR(r->logprobs[0].logprob, expected, 1e-4);
    e->free_sequence(seq.value());
}

// Verification rows report what plain decoding reports. stories15M repeats its phrases,
// so prompt lookup drafts often; a random model would never be drafted for.
TEST(Logprobs, SpeculativeVerificationReportsTheSameFigures) {
    const std::string stories = test::shared_dir() + "/testdata/stories15M/stories15M.bin";
    if (!test::file_exists(stories)) GTEST_SKIP() << "stories15M (../shared/testdata) absent";
    auto e = test::load_engine(stories, 256);
    ASSERT_NE(e, nullptr);
    GenerationRequest req = greedy_request(2);
    req.prompt = "Once upon a time";
    req.max_tokens = 48;
    ServingEngine serving(*e, single_stream_serving_options(*e));
    auto plain = generate_served(serving, req);
    ASSERT_TRUE(plain.is_ok()) << plain.status().message();
    req.lookup_draft = 4;
    ServingEngine serving2(*e, single_stream_serving_options(*e));
    auto drafted = generate_served(serving2, req);
    ASSERT_TRUE(drafted.is_ok()) << drafted.status().message();
    ASSERT_EQ(drafted->ids, plain->ids);
    ASSERT_GT(drafted->stats.n_draft_accepted, 0) << "the drafts must have gone through verification";
    ASSERT_EQ(drafted->logprobs.size(), plain->logprobs.size());
    for (size_t i = 0; i < plain->logprobs.size(); ++i) {
        EXPECT_NEAR(drafted->logprobs[i].logprob, plain->logprobs[i].logprob, 1e-4) << "token " << i;
        EXPECT_EQ(drafted->logprobs[i].top[1].token, plain->logprobs[i].top[1].token) << "token " << i;
    }
}

TEST(Logprobs, RefusedWhereTheyCannotBeReported) {
    auto e = synth_engine();
    ASSERT_NE(e, nullptr);
    auto direct = e->generate(greedy_request(0));
    EXPECT_FALSE(direct.is_ok());
    ServingEngine serving(*e, single_stream_serving_options(*e));
    auto too_many = generate_served(serving, greedy_request(kMaxTopLogprobs + 1));
    ASSERT_FALSE(too_many.is_ok());
    EXPECT_NE(too_many.status().message().find("top logprobs"), std::string::npos);
}
