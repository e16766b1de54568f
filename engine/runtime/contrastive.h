// Contrastive decoding (Li et al., 2023): an expert model and an amateur that
// share a vocabulary. Each next token maximizes
//     log p_expert(t) - lambda * log p_amateur(t)
// over the plausible tokens, those with p_expert(t) >= alpha * max p_expert. The
// amateur is either another model file (its own engine and sequence, fed the
// same tokens) or the expert truncated to its first k layers: an early-exit
// amateur, whose logits come out of the expert's own forward pass
// (StepBatch::exit_layer), so it costs one more output-head product per token and
// no KV of its own. With lambda = 0 the choice is the expert's greedy token.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/engine.h"

namespace lumen {

struct ContrastiveRequest {
    std::vector<int32_t> prompt_ids;
    int32_t max_tokens = 64;
    float alpha = 0.1f;                // plausibility: p_expert >= alpha * max p_expert
    float lambda = 1.0f;               // weight of the amateur's log-probability
    float amateur_temperature = 1.0f;  // the amateur's logits are divided by this first
    Engine* amateur = nullptr;         // another model with the expert's vocabulary, or
    int32_t amateur_layers = 0;        // the expert's first k layers (1 .. n_layers - 1)
    bool stop_at_eos = true;
    int32_t trace_candidates = 5;  // per token, the best-scoring candidates kept for display
};

struct ContrastiveCandidate {
    int32_t token = 0;
    float p_expert = 0;
    float p_amateur = 0;
    double score = 0;  // log p_expert - lambda * log p_amateur
};

struct ContrastiveToken {
    int32_t token = 0;                             // the chosen token (candidates[0])
    int32_t expert_greedy = 0;                     // what the expert alone would have picked
    int32_t n_plausible = 0;                       // tokens that passed the plausibility constraint
    std::vector<ContrastiveCandidate> candidates;  // the best plausible ones by score
};

struct ContrastiveResult {
    std::vector<int32_t> prompt_ids;
    std::vector<int32_t> ids;  // generated ids (a final end-of-generation token included)
    std::vector<ContrastiveToken> trace;
    std::string stop_reason;  // eos, max_tokens, context_full, cancelled
    int32_t n_differs = 0;    // tokens where the choice was not the expert's greedy token
    double elapsed_ms = 0;
};

// Frees every sequence it makes, on every path; bad requests (no amateur, both
// kinds, another vocabulary, a layer count out of range) are errors.
Result<ContrastiveResult> contrastive_generate(Engine& expert, const ContrastiveRequest& request,
                                               const std::atomic<bool>* cancel = nullptr);

}  // namespace lumen
