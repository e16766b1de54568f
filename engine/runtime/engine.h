// The engine API: load a model onto a backend with a paged KV pool, run ragged
// batch steps, and generate text with the sampling chain. Everything returns a
// Status; nothing here aborts on bad input.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "kv/block_pool.h"
#include "model/model.h"
#include "quant/calibration.h"
#include "sampling/logprobs.h"
#include "sampling/sampler.h"

namespace lumen {

class Engine;

struct EngineOptions {
    BackendOptions backend;
    int32_t kv_tokens = 0;           // KV pool capacity in tokens; 0 = min(model context, 4096)
    int32_t block_size = 16;         // tokens per KV block
    DType kv_type = DType::F16;      // element type of the KV cache (f16 as llama.cpp; f32 for exact fp32 work)
    int32_t max_batch_tokens = 512;  // prompt tokens per forward step (prefill chunk)
    // Load-time quantization: re-encode the weights for this scheme ("q8_0", "q4_k_m", ...,
    // as `lumen-cli quantize --type`) after reading them; empty keeps the file's types.
    std::string weights_scheme;
    // Mixed precision on top of the scheme: "TYPE:embd,output,first,last" (quantize.h's QuantMix).
    std::string weights_mix;
    // Calibrated load-time quantization (quant/calibration.h): GPTQ on the types with an
    // integer grid, after running `calibration` text through the unquantized model; the
    // per-matrix RTN/GPTQ errors land in Engine::calibration_report().
    bool weights_gptq = false;
    CalibrationOptions calibration;
    // int8-w8a8 (LLM.int8): activation values above this magnitude stay f32.
    float outlier_threshold = 6.0f;
    // Called between the stages of Engine::load with a stage name and the fraction
    // done (0..1); returning false cancels the load ("loading cancelled").
    std::function<bool(const std::string& stage, float fraction)> on_load_progress;
};

// What a step computes beyond the logits (StepBatch's fields of the same names):
// exit_layer = k > 0 appends each row's logits after the first k layers (the
// early-exit amateur of contrastive decoding); early_exit lets a one-token step stop
// at a confident layer.
struct StepOptions {
    int32_t exit_layer = 0;
    EarlyExitRule early_exit;
};

// Tokens to append to one sequence in a step.
struct SequenceInput {
    int32_t seq_id = 0;
    std::vector<int32_t> tokens;
    bool all_logits = false;  // logits for every token, else only for the last one
    bool logits = true;       // false: no logits rows at all (a prompt chunk that does not end the prompt)
};

struct GenerationRequest {
    std::string prompt;               // used when prompt_ids is empty
    std::vector<int32_t> prompt_ids;  // pre-tokenized prompt (takes precedence)
    int add_bos = -1;                 // -1: as the vocab says; 0/1 to force
    bool parse_special = false;       // match special-token text in the prompt (chat templates)
    int32_t max_tokens = 128;
    SamplingParams sampling;
    std::vector<std::string> stop_strings;
    bool stop_at_eos = true;
    // -1: a fresh sequence, freed at the end. Otherwise an existing sequence to
    // continue: the longest common prefix of its tokens and the prompt is reused
    // (its KV is not recomputed), the rest is dropped, and the sequence is kept.
    // Engine::generate only: through the serving core (generate_served) a conversation
    // reuses its KV through the prefix cache instead.
    int32_t seq_id = -1;
    // Prompt-lookup speculative decoding: up to lookup_draft tokens that followed the latest
    // earlier occurrence of the context's last 1..lookup_ngram tokens are verified in one
    // step, with rejection sampling (the output distribution is the chain's exactly; at
    // temperature 0 the output equals plain greedy). 0: off.
    int32_t lookup_draft = 0;
    int32_t lookup_ngram = 3;
    // Draft-model speculative decoding: a smaller model with the same vocabulary proposes up
    // to draft_tokens tokens greedily on its own sequence (freed at the end); they are verified
    // exactly as the prompt-lookup drafts are, so the output distribution is unchanged. The
    // draft engine must not be used from another thread during the call. draft_tokens 0 means
    // kDefaultDraftTokens. Cannot be combined with lookup_draft.
    Engine* draft_engine = nullptr;
    int32_t draft_tokens = 0;
    // Adapt the draft length (of either source): grow by one after a step that accepts every
    // draft, halve after one that accepts none (between 1 and lookup_draft or draft_tokens).
    bool lookup_adaptive = false;
    // Early exit (lossy, for study): each decode step stops at the first checked layer whose
    // intermediate logits have an entropy below early_exit.max_entropy (EarlyExitRule). Not
    // with speculative decoding. 0: off.
    EarlyExitRule early_exit;
    // Log-probabilities of the generated tokens (TokenEvent::logprobs, GenerationResult::logprobs):
    // -1 none, 0 the chosen token's only, N also the N most likely (at most kMaxTopLogprobs).
    // Reported through the serving core (generate_served); Engine::generate refuses them.
    int32_t top_logprobs = -1;
};

constexpr int32_t kDefaultDraftTokens = 4;

// A request's early-exit rule against a model of n_layers: off, or valid and without
// speculative decoding (a step that verifies a draft has several tokens; early exit
// works on one-token steps).
Status check_early_exit(const EarlyExitRule& rule, bool speculative, int32_t n_layers);

// The prompt-lookup draft for a context: see GenerationRequest::lookup_draft.
std::vector<int32_t> prompt_lookup_draft(const std::vector<int32_t>& history, int32_t max_ngram, int32_t max_draft);

struct GenerationStats {
    double ttft_ms = 0;      // request start to first generated token
    double prefill_tps = 0;  // prompt tokens per second
    double decode_tps = 0;   // generated tokens per second after the first
    int32_t n_prompt = 0;
    int32_t n_gen = 0;
    int32_t n_cached = 0;  // prompt tokens whose KV was reused from the sequence (seq_id >= 0)
    // Speculative decoding (lookup_draft > 0 or a draft_engine):
    int32_t n_drafted = 0;                   // draft tokens proposed
    int32_t n_draft_accepted = 0;            // of which accepted
    int32_t n_verify_steps = 0;              // steps that verified a draft
    std::vector<int32_t> draft_accepted_at;  // accepted count per draft position (0 = first draft token)
    double draft_ms = 0;                     // wall time in the draft model (0 for prompt lookup)
    // Early exit: decode steps by the number of layers they ran (index 1..n_layers).
    std::vector<int32_t> exit_layer_counts;
    double mean_layers_run() const;  // over exit_layer_counts; 0 without early exit
};

// One forward step of a generation, for live statistics.
struct StepEvent {
    int32_t step = 0;       // 0-based within the request
    bool prefill = false;   // a prompt chunk, else one decode token
    int32_t n_tokens = 0;   // tokens processed by the step
    double step_ms = 0;     // wall time of the step
    double elapsed_ms = 0;  // since the request started, at the end of the step
};

struct TokenEvent {
    int32_t id = 0;
    std::string text;       // text now safe to show (StopStringMatcher: held back while it may start a
                            // stop string or ends inside a UTF-8 character; the last event has the rest)
    int32_t index = 0;      // 0-based index among generated tokens
    double elapsed_ms = 0;  // since the request started
    const TokenLogprobs* logprobs = nullptr;  // with GenerationRequest::top_logprobs >= 0
};

struct GenerationResult {
    std::vector<int32_t> prompt_ids;
    std::vector<int32_t> ids;  // generated ids (a final EOS is included)
    std::string text;          // generated text only, stop string removed
    std::string stop_reason;   // "eos", "max_tokens", "stop_string", "context_full", "cancelled"
    GenerationStats stats;
    std::vector<TokenLogprobs> logprobs;  // per generated token, with GenerationRequest::top_logprobs >= 0
};

using TokenCallback = std::function<void(const TokenEvent&)>;
using StepCallback = std::function<void(const StepEvent&)>;

class Engine {
public:
    static Result<std::unique_ptr<Engine>> load(const std::string& path, const LoadOptions& load_options = {},
                                                const EngineOptions& options = {});
    ~Engine();

    const Model& model() const { return *model_; }
    const Tokenizer& tokenizer() const { return *model_->tokenizer; }
    Backend& backend() { return *backend_; }
    const KVCacheManager& kv() const { return *kv_; }
    KVCacheManager& kv_manager() { return *kv_; }  // for the serving core's reservations
    const EngineOptions& options() const { return options_; }
    // Tokens the KV pool holds in all (n_blocks x block_size).
    int32_t kv_capacity() const;
    double load_ms() const { return load_ms_; }
    // What calibrated quantization measured (empty without weights_gptq).
    const CalibrationReport& calibration_report() const { return calibration_report_; }

    Result<int32_t> create_sequence();
    // A sequence starting with `prefix_tokens` whose KV the (shared) `blocks` already hold.
    Result<int32_t> create_sequence_from(const std::vector<int32_t>& blocks, const std::vector<int32_t>& prefix_tokens);
    // A new sequence sharing all of `seq_id`'s blocks; appending copies a shared partial block.
    Result<int32_t> fork_sequence(int32_t seq_id);
    void free_sequence(int32_t seq_id);
    // Drops the tokens of `seq_id` from position n_tokens on (its blocks return to the pool).
    Status truncate_sequence(int32_t seq_id, int32_t n_tokens);
    // The tokens whose KV the sequence holds, in order (empty for an unknown sequence).
    const std::vector<int32_t>& sequence_tokens(int32_t seq_id) const;
    // Appends each input's tokens to its sequence in one forward step. Logit rows
    // come back in input order. On failure no sequence changes (blocks rolled back).
    Status step(const std::vector<SequenceInput>& inputs, std::vector<float>* logits, const StepOptions& options = {});
    // Feeds tokens to one sequence in steps of at most max_batch_tokens; logits (and
    // any early-exit rows the options ask for) for the last token only.
    Status feed(int32_t seq_id, const std::vector<int32_t>& tokens, std::vector<float>* logits,
                const StepOptions& options = {});

    // The request's prompt ids (prompt_ids, or the prompt tokenized with add_bos and
    // parse_special); an error if it is empty or does not fit the KV pool with one more token.
    Result<std::vector<int32_t>> tokenize_prompt(const GenerationRequest& request) const;
    // Generates for one request, on a fresh sequence freed at the end or on the
    // request's seq_id. `cancel` is checked after every step. Stop strings go through
    // StopStringMatcher and drafts through verify_draft_tokens, as in the serving core
    // (serving/served_generation.h runs the same request there).
    Result<GenerationResult> generate(const GenerationRequest& request, const TokenCallback& on_token = {},
                                      const std::atomic<bool>* cancel = nullptr, const StepCallback& on_step = {});

private:
    Engine() = default;
    std::unique_ptr<Model> model_;
    std::unique_ptr<Backend> backend_;
    std::unique_ptr<KVCacheManager> kv_;
    EngineOptions options_;
    StepBatch batch_;
    std::map<int32_t, std::vector<int32_t>> sequence_tokens_;  // tokens each sequence's KV holds
    double load_ms_ = 0;
    CalibrationReport calibration_report_;
};

}  // namespace lumen
