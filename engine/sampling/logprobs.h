// Token log-probabilities for inspection (the workstation's token view, `generate
// --top-logprobs`, the API's logprobs): the log-softmax of the model's raw logits,
// before penalties, temperature and truncation, as OpenAI's API and vLLM report them.
#pragma once

#include <cstdint>
#include <vector>

namespace lumen {

struct TokenLogprob {
    int32_t token = 0;
    float logprob = 0;
};

// One generated token: its log-probability and the most likely tokens at its position.
struct TokenLogprobs {
    float logprob = 0;
    std::vector<TokenLogprob> top;  // most likely first; ties by lower id
};

// Most alternatives one position reports (OpenAI's top_logprobs limit).
constexpr int32_t kMaxTopLogprobs = 20;

// `chosen`'s log-probability and the top_n (0..kMaxTopLogprobs) most likely tokens under
// log-softmax(logits[0..n_vocab)).
TokenLogprobs token_logprobs(const float* logits, int32_t n_vocab, int32_t chosen, int32_t top_n);

}  // namespace lumen
