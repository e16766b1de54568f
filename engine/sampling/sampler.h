// The sampling chain: small named stages applied in a fixed, documented order
// to one row of logits. Each stage corresponds to one UI control.
//
//   penalties (repetition, presence, frequency over the last N tokens)
//   -> no-repeat-ngram (a hard ban) -> top-k -> top-p -> min-p -> temperature -> draw (seeded)
// With temperature <= 0 the chain is greedy: argmax after the penalties.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace lumen {

struct SamplingParams {
    float temperature = 0.8f;       // <= 0: greedy
    int32_t top_k = 40;             // keep the k most likely tokens; <= 0 disables
    float top_p = 0.95f;            // keep the smallest set with cumulative probability >= p; 1 disables
    float min_p = 0.05f;            // drop tokens below min_p * p(max); 0 disables
    float repeat_penalty = 1.0f;    // divide positive logits (multiply negative) of recent tokens; 1 disables
    float presence_penalty = 0.f;   // subtract once from logits of tokens seen in the window
    float frequency_penalty = 0.f;  // subtract count × this from logits of tokens seen in the window
    int32_t penalty_last_n = 64;    // window of recent tokens the penalties look at; -1 = all
    int32_t no_repeat_ngram =
        0;                     // ban a token that would repeat an n-gram of this size seen anywhere before; 0 disables
    uint64_t seed = 0xC0FFEE;  // fixed seed gives reproducible draws

    bool greedy() const { return temperature <= 0.f; }
};

// Stage names in application order, for display and docs.
std::vector<std::string> sampling_chain_order();

class Sampler {
public:
    explicit Sampler(const SamplingParams& params);
    // Picks the next token from `logits` (modified in place by the penalties),
    // given the tokens so far (prompt and generated) for the penalty window.
    int32_t sample(float* logits, int32_t n_vocab, const std::vector<int32_t>& history);
    // Speculative decoding: checks a deterministic draft token against this chain's
    // distribution p. Returns the draft (accepted, probability p(draft)) or a token drawn
    // from p without it; either way the result is distributed exactly as sample()'s.
    int32_t verify_draft(float* logits, int32_t n_vocab, const std::vector<int32_t>& history, int32_t draft,
                         bool* accepted);
    // Only the stages that change logits without truncating them: the penalties and the
    // no-repeat-ngram ban (beam search scores every token after these).
    void constrain(float* logits, int32_t n_vocab, const std::vector<int32_t>& history);
    const SamplingParams& params() const { return params_; }

private:
    struct Candidate {
        int32_t id;
        float logit;
        float p;
    };
    // Runs the chain up to the draw: candidates_[0, n) with probabilities p (greedy: the argmax alone).
    size_t distribution(float* logits, int32_t n_vocab, const std::vector<int32_t>& history);
    void apply_penalties(float* logits, int32_t n_vocab, const std::vector<int32_t>& history) const;
    void ban_repeated_ngrams(float* logits, int32_t n_vocab, const std::vector<int32_t>& history);

    SamplingParams params_;
    std::mt19937_64 rng_;
    std::vector<Candidate> candidates_;
    std::vector<int32_t> banned_;
};

}  // namespace lumen
