// A request in the serving core: what the client asked for, its state as the
// scheduler moves it between the waiting and running queues, and its metrics.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "runtime/speculative.h"
#include "runtime/stop_strings.h"
#include "sampling/logprobs.h"
#include "sampling/sampler.h"

namespace lumen {

struct ServeRequest {
    std::vector<int32_t> prompt;  // token ids
    int32_t max_tokens = 128;
    SamplingParams sampling;
    bool stop_at_eos = true;
    // The request ends when its text contains one of these (finish_reason "stop_string");
    // the text is cut where the stop string begins. Matched across tokens (StopStringMatcher).
    std::vector<std::string> stop_strings;
    int32_t priority = 0;  // higher runs first; ties in arrival order (FCFS)
    int32_t n = 1;         // parallel samples: after the prompt, n sequences share its blocks
    // Prompt-lookup speculative decoding in the serving core: each decode step feeds up to
    // lookup_draft tokens that followed the latest earlier occurrence of the context's last
    // 1..lookup_ngram tokens, verified by rejection sampling (the output distribution is
    // unchanged; greedy output is identical). Drafts use spare step budget only. 0: off.
    int32_t lookup_draft = 0;
    int32_t lookup_ngram = 3;
    // Draft-model speculation: up to this many tokens proposed greedily by the serving
    // engine's draft model (ServingOptions::draft_engine), verified the same way. 0: off.
    int32_t draft_model_tokens = 0;
    // Adapt the draft length of either source (DraftLengthPolicy): one more after a step that
    // accepted the whole draft, half as many after one that accepted none.
    bool draft_adaptive = false;
    // Early exit (lossy, for study): a decode step that runs alone in its forward pass stops at
    // the first checked layer whose logits have an entropy below max_entropy (EarlyExitRule);
    // batched with other work it runs every layer. Not with speculative drafts. The KV of
    // such tokens is approximate, so they never enter the prefix cache.
    EarlyExitRule early_exit;
    // Log-probabilities of the generated tokens (TokenOutput::logprobs, RequestState::logprobs):
    // -1 none, 0 the chosen token's only, N also the N most likely tokens (at most kMaxTopLogprobs).
    int32_t top_logprobs = -1;
};

// One generated token, as the serving engine reports it.
struct TokenOutput {
    int64_t request_id = 0;
    int32_t token = 0;
    int32_t index = 0;   // among the request's generated tokens
    double time_ms = 0;  // on the serving engine's clock
    std::string text;    // text now safe to show (StopStringMatcher::release; all of it at the end)
    const TokenLogprobs* logprobs = nullptr;  // with ServeRequest::top_logprobs >= 0
};
using TokenOutputCallback = std::function<void(const TokenOutput&)>;

// Per-request latency metrics, in milliseconds on the serving engine's clock.
struct RequestMetrics {
    double arrival_ms = 0;
    double first_scheduled_ms = -1;
    double first_token_ms = -1;
    double last_token_ms = -1;
    double finished_ms = -1;
    std::vector<double> itl_ms;  // every inter-token latency
    int32_t n_input = 0;
    int32_t n_output = 0;
    int32_t n_cached = 0;  // prompt tokens served from the prefix cache (first admission)
    int32_t n_preemptions = 0;
    int32_t n_drafted = 0;                   // speculative draft tokens fed
    int32_t n_draft_accepted = 0;            // of which accepted
    int32_t n_verify_steps = 0;              // decode steps that carried a draft
    std::vector<int32_t> draft_accepted_at;  // accepted count per draft position (0 = first draft token)
    double draft_ms = 0;                     // wall time of the draft-model steps that drafted for this request
    // Early exit: decode steps by the number of layers they ran (index 1..n_layers).
    std::vector<int32_t> exit_layer_counts;

    double queue_ms() const { return first_scheduled_ms - arrival_ms; }
    double ttft_ms() const { return first_token_ms - arrival_ms; }
    double e2e_ms() const { return finished_ms - arrival_ms; }
    // Time per output token after the first.
    double tpot_ms() const { return n_output > 1 ? (finished_ms - first_token_ms) / double(n_output - 1) : 0; }
};

enum class RequestStatus { waiting, running, finished };

struct RequestState {
    int64_t id = 0;
    ServeRequest request;
    std::vector<int32_t> tokens;  // prompt, then generated tokens
    int32_t n_prompt = 0;
    int32_t n_computed = 0;           // tokens whose KV the sequence holds
    int32_t seq_id = -1;              // engine sequence while running
    int32_t draft_seq = -1;           // its sequence on the draft engine (draft-model speculation)
    int32_t cached_at_admission = 0;  // prompt tokens the prefix cache supplied at the latest admission
    RequestStatus status = RequestStatus::waiting;
    std::string finish_reason;  // eos, stop_string, max_tokens, context_full, cancelled
    RequestMetrics metrics;
    std::unique_ptr<Sampler> sampler;
    StopStringMatcher text;  // the generated text (an EOS that ends it not included), stop string removed
    DraftLengthPolicy draft_length{0, false};  // tokens to draft next (speculative requests)
    TokenOutputCallback on_token;  // this request's tokens (ServingEngine::submit), besides the engine-wide callback
    uint64_t arrival_order = 0;
    int64_t group_id = 0;                 // the submitted request's id, shared by its parallel samples
    int32_t sample_index = 0;             // 0 for the submitted request, 1..n-1 for its forks
    std::vector<TokenLogprobs> logprobs;  // per generated token, with ServeRequest::top_logprobs >= 0

    int32_t n_generated() const { return int32_t(tokens.size()) - n_prompt; }
    int32_t pending() const { return int32_t(tokens.size()) - n_computed; }  // tokens still to feed
};

}  // namespace lumen
