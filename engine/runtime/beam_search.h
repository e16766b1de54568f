// Beam search over the paged KV cache. The beams of a step are sequences of one
// engine that share their common prefix's blocks: a beam that continues in k
// ways forks k - 1 times (KVCacheManager::fork_sequence), a shared, partly filled
// last block is copied on the first write (copy-on-write), and a beam that no
// candidate continues is freed. So n beams cost one prompt's KV plus their
// differing tails. All live beams decode in one ragged step.
//
// Scores follow Hugging Face's beam search: a candidate's score is its beam's sum
// of log-probabilities (log-softmax after the penalties and the no-repeat-ngram
// ban) plus the token's; the 2 * width best candidates of the step are walked in
// order, an end-of-generation token among the first `width` ends a hypothesis,
// and the first `width` others become the next beams. A finished hypothesis is
// ranked by sum_logprob / length^length_penalty, length counting its generated
// tokens. early_stopping ends the search once `width` hypotheses are finished;
// otherwise it goes on while the best live beam could still beat the worst kept
// hypothesis.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/engine.h"

namespace lumen {

struct BeamSearchRequest {
    std::vector<int32_t> prompt_ids;
    int32_t width = 4;     // beams kept per step (1: greedy)
    int32_t n_return = 1;  // hypotheses returned, best first (<= width)
    int32_t max_tokens = 64;
    float length_penalty = 1.0f;  // score = sum_logprob / length^length_penalty
    bool early_stopping = true;
    bool stop_at_eos = true;
    SamplingParams constraints;  // only the penalties and no_repeat_ngram apply (Sampler::constrain)
};

struct BeamHypothesis {
    std::vector<int32_t> ids;   // generated ids (a final end-of-generation token included)
    double sum_logprob = 0;     // sum of the tokens' log-probabilities
    double score = 0;           // sum_logprob / length^length_penalty
    std::string finish_reason;  // "eos", "max_tokens", "context_full", "cancelled"
};

// One beam after a step, for showing the search as a tree.
struct BeamNode {
    int32_t parent = -1;  // index in the previous step's beams (-1: the prompt)
    int32_t token = 0;
    double sum_logprob = 0;
    bool finished = false;  // an end-of-generation token ended this hypothesis here
};

struct BeamSearchResult {
    std::vector<BeamHypothesis> hypotheses;    // n_return of them, best score first
    std::vector<std::vector<BeamNode>> steps;  // per step: the kept beams, then the hypotheses it finished
    int32_t n_steps = 0;                       // decode steps run
    int32_t n_forks = 0;                       // sequences forked from a parent beam
    int32_t peak_blocks = 0;                   // KV blocks the search held at its widest point
    int32_t prompt_blocks = 0;                 // blocks the prompt alone takes
    double elapsed_ms = 0;
};

// Runs beam search for one request. Every sequence it makes is freed before it
// returns, on success and on error (a full KV pool is an error naming the need).
// `cancel`, checked before every step, ends the search early: the live beams
// become hypotheses with finish_reason "cancelled".
Result<BeamSearchResult> beam_search(Engine& engine, const BeamSearchRequest& request,
                                     const std::atomic<bool>* cancel = nullptr);

}  // namespace lumen
