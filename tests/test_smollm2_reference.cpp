// The default model, SmolLM2-135M-Instruct (Q4_1), against llama.cpp's greedy ids
// for a few ChatML prompts (tests/data/smollm2, with the program and command that
// made them). Prompt ids must match exactly. Generation is checked by teacher
// forcing the reference ids. Two correct engines round differently (8-bit
// activations, summation order), so where llama.cpp itself saw a near-tie (its own
// top-2 margin, recorded beside each id) the argmax may flip; everywhere else it
// may not. Free-running greedy output must equal the reference up to the first
// near-tie. A wrong kernel moves logits by whole units and fails.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <set>
#include <sstream>

#include "chat/chat_template.h"
#include "runtime/engine.h"
#include "test_support.h"

using namespace lumen;

namespace {

// A step is a near-tie when llama.cpp's own top-2 margin is below this; there our
// argmax may differ, but the reference token must then be within this margin of it
// too. Elsewhere our argmax must be llama.cpp's. Measured on these prompts: we differ
// at three steps, where llama.cpp's margins are 0.013, 0.021 and 0.10 logits and our
// gaps at most 0.33 (the gaps move with the kernels' summation order), so 0.5 bounds
// the cross-engine rounding noise with room to spare.
constexpr float kNearTieLogits = 0.5f;

struct Reference {
    std::string question;
    std::vector<int32_t> prompt_ids, ids;
    std::vector<float> margins;  // llama.cpp's top1 - top2 logit at each generated step
};

template <typename T>
std::vector<T> parse_numbers(const std::string& s) {
    std::vector<T> out;
    std::stringstream ss(s);
    T v;
    while (ss >> v) out.push_back(v);
    return out;
}

std::vector<Reference> read_references() {
    std::vector<Reference> refs;
    for (const auto& line :
         test::split_lines(test::read_text_file(test::data_dir() + "/smollm2/reference_greedy.tsv"))) {
        if (line.empty() || line[0] == '#') continue;
        std::vector<std::string> f;
        std::stringstream ss(line);
        std::string field;
        while (std::getline(ss, field, '\t')) f.push_back(field);
        if (f.size() == 4)
            refs.push_back(
                {f[0], parse_numbers<int32_t>(f[1]), parse_numbers<int32_t>(f[2]), parse_numbers<float>(f[3])});
    }
    return refs;
}

class SmolLM2 : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        test::skip_unless_exists(test::default_model_path(), "default model (run installer/fetch-model.sh)");
        auto e = Engine::load(test::default_model_path());
        ASSERT_TRUE(e.is_ok()) << e.status().message();
        engine_ = std::move(e.value()).release();
    }
    static void TearDownTestSuite() { delete engine_; }
    static Engine* engine_;
};
Engine* SmolLM2::engine_ = nullptr;

}  // namespace

TEST_F(SmolLM2, ModelShapeAndTemplate) {
    const ModelConfig& c = engine_->model().config;
    EXPECT_EQ(c.architecture, "llama");
    EXPECT_EQ(c.n_layers, 30);
    EXPECT_EQ(c.n_heads, 9);
    EXPECT_EQ(c.n_kv_heads, 3);
    EXPECT_EQ(c.dim, 576);
    EXPECT_TRUE(c.tied_output);
    EXPECT_EQ(engine_->tokenizer().vocab().pre, "smollm");
    auto kind = detect_chat_template(engine_->tokenizer().vocab().chat_template);
    ASSERT_TRUE(kind.has_value());
    EXPECT_EQ(*kind, ChatTemplateKind::chatml);
    EXPECT_TRUE(engine_->tokenizer().is_end_of_generation(engine_->tokenizer().find_token("<|im_end|>")))
        << "<|im_end|> ends a turn";
}

TEST_F(SmolLM2, GreedyIdsMatchLlamaCpp) {
    const auto refs = read_references();
    ASSERT_EQ(refs.size(), 4u);
    const int32_t vocab = engine_->model().config.vocab_size;
    int exact = 0, positions = 0;
    for (const auto& ref : refs) {
        const std::string prompt = apply_chat_template(ChatTemplateKind::chatml, {{"user", ref.question}}, true);
        const auto prompt_ids = engine_->tokenizer().encode(prompt, engine_->tokenizer().vocab().add_bos, true);
        ASSERT_EQ(prompt_ids, ref.prompt_ids) << ref.question;

        // Teacher forcing: one step over prompt + reference, logits at every position.
        std::vector<int32_t> all = prompt_ids;
        all.insert(all.end(), ref.ids.begin(), ref.ids.end() - 1);
        auto seq = engine_->create_sequence();
        ASSERT_TRUE(seq.is_ok());
        std::vector<float> logits;
        Status s = engine_->step({{seq.value(), all, true}}, &logits);
        engine_->free_sequence(seq.value());
        ASSERT_TRUE(s.is_ok()) << s.message();
        ASSERT_EQ(ref.margins.size(), ref.ids.size());
        size_t first_near_tie = ref.ids.size();
        for (size_t i = 0; i < ref.ids.size(); ++i) {
            const float* row = logits.data() + (prompt_ids.size() - 1 + i) * size_t(vocab);
            const int32_t top = int32_t(std::max_element(row, row + vocab) - row);
            const float gap = row[top] - row[ref.ids[i]];
            const bool near_tie = ref.margins[i] < kNearTieLogits;
            if (near_tie) {
                first_near_tie = std::min(first_near_tie, i);
                EXPECT_LE(gap, kNearTieLogits)
                    << ref.question << ": at step " << i << " (a near-tie for llama.cpp, margin " << ref.margins[i]
                    << ") reference token " << ref.ids[i] << " is " << gap << " logits below our argmax " << top;
            } else {
                EXPECT_EQ(top, ref.ids[i])
                    << ref.question << ": at step " << i << " llama.cpp chose " << ref.ids[i] << " by a margin of "
                    << ref.margins[i] << "; it is " << gap << " logits below our argmax " << top;
            }
            if (top == ref.ids[i]) ++exact;
            ++positions;
        }

        // Free-running greedy output equals the reference up to the first near-tie.
        GenerationRequest req;
        req.prompt = prompt;
        req.parse_special = true;
        req.max_tokens = int32_t(ref.ids.size());
        req.sampling.temperature = 0;
        auto r = engine_->generate(req);
        ASSERT_TRUE(r.is_ok()) << r.status().message();
        const size_t compare = std::min(first_near_tie + 1, ref.ids.size());
        ASSERT_GE(r->ids.size(), compare);
        EXPECT_TRUE(
            std::equal(ref.ids.begin(), ref.ids.begin() + long(std::min(first_near_tie, compare)), r->ids.begin()))
            << ref.question;
        std::printf("%-45s %2zu tokens, first near-tie at %zu: %s\n", ref.question.c_str(), ref.ids.size(),
                    first_near_tie, r->text.c_str());
    }
    std::printf("reference token is our exact argmax at %d of %d positions\n", exact, positions);
    EXPECT_GE(exact, positions * 9 / 10);
}

TEST_F(SmolLM2, AnswersAQuestionSensibly) {
    GenerationRequest req;
    req.prompt = apply_chat_template(ChatTemplateKind::chatml, {{"user", "What is the capital of France?"}}, true);
    req.parse_special = true;
    req.max_tokens = 24;
    req.sampling.temperature = 0;
    auto r = engine_->generate(req);
    ASSERT_TRUE(r.is_ok()) << r.status().message();
    EXPECT_NE(r->text.find("Paris"), std::string::npos) << r->text;
    EXPECT_EQ(r->stop_reason, "eos");
}

// No-repeat-ngram over 500 generated tokens with a repetitive prompt: greedy decoding
// repeats the prompt's trigrams throughout, and with the ban no trigram that ends in the
// output appears twice in prompt + output.
TEST_F(SmolLM2, NoRepeatNgramHoldsOver500Tokens) {
    GenerationRequest g;
    g.prompt = "The cat sat on the mat. The cat sat on the mat. The cat sat on the mat.";
    g.max_tokens = 500;
    g.sampling.temperature = 0;
    g.stop_at_eos = false;
    auto repeats_in_output = [](const GenerationResult& r) {
        std::vector<int32_t> all = r.prompt_ids;
        all.insert(all.end(), r.ids.begin(), r.ids.end());
        std::set<std::vector<int32_t>> seen;
        int repeats = 0;
        for (size_t i = 0; i + 3 <= all.size(); ++i) {
            const bool new_trigram = seen.insert({all[i], all[i + 1], all[i + 2]}).second;
            if (!new_trigram && i + 2 >= r.prompt_ids.size()) ++repeats;
        }
        return repeats;
    };
    auto plain = engine_->generate(g);
    ASSERT_TRUE(plain.is_ok()) << plain.status().message();
    EXPECT_GT(repeats_in_output(*plain), 100);  // the check can fail
    g.sampling.no_repeat_ngram = 3;
    auto banned = engine_->generate(g);
    ASSERT_TRUE(banned.is_ok()) << banned.status().message();
    ASSERT_EQ(banned->ids.size(), 500u);
    EXPECT_EQ(repeats_in_output(*banned), 0);
}
