// The serving core's runner: many requests in flight through one Engine.
// Each step asks the Scheduler for a plan, feeds every scheduled chunk in one
// ragged forward pass, samples the requests whose pending tokens are done, and
// records per-request and per-step metrics. A request's text goes through its
// StopStringMatcher and its drafts through verify_draft_tokens, as in
// Engine::generate (serving_speculation.cpp holds the drafting side). It is also
// the scheduler's memory manager: sequences start from the prefix cache's longest
// match, finished and preempted requests leave their full blocks in the cache,
// and cached blocks are evicted (LRU) only when the pool needs room.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>

#include "runtime/engine.h"
#include "serving/itl_governor.h"
#include "serving/prefix_cache.h"
#include "serving/scheduler.h"

namespace lumen {

struct ServingOptions {
    SchedulerOptions scheduler;
    bool prefix_cache = true;
    // With chunked prefill: keep decoding requests' steps within this factor of a
    // decode-only step by sizing prompt chunks online (ItlGovernor). 0: off.
    double max_itl_factor = 0;
    // Draft-model speculation for requests that ask for it (ServeRequest::draft_model_tokens):
    // a smaller model with the same vocabulary, not used elsewhere while serving.
    Engine* draft_engine = nullptr;
};

// Engine-wide statistics of one step.
struct StepMetrics {
    int64_t step = 0;
    double time_ms = 0;     // end of the step on the serving clock
    double step_ms = 0;     // wall time of the step (schedule + forward + sampling)
    int32_t n_running = 0;  // after the step
    int32_t n_waiting = 0;
    int32_t n_prefill_tokens = 0;
    int32_t n_decode_tokens = 0;
    int32_t n_preempted = 0;     // in this step
    int32_t prefill_limit = -1;  // prompt tokens allowed beside decodes (ItlGovernor), -1 when unlimited
    int32_t n_finished = 0;      // in this step
    int32_t n_draft_tokens = 0;  // speculative draft tokens fed in this step (beyond the decodes)
    int32_t blocks_used = 0;     // held by sequences or the cache
    int32_t blocks_free = 0;
    int32_t blocks_cached = 0;  // held by the prefix cache (some also by sequences)
    double hit_rate = 0;        // prompt tokens served from the cache / prompt tokens admitted, so far
    double tokens_per_s = 0;    // tokens sampled in this step / step time
};

class ServingEngine : private BlockAllocator {
public:
    ServingEngine(Engine& engine, const ServingOptions& options = {});
    ~ServingEngine() override;

    // Queues a request; returns its id. Errors name what is wrong with it. `on_token`, if
    // given, receives this request's tokens (and its parallel samples'), inside step(),
    // after the engine-wide token callback; the same rules apply to it.
    Result<int64_t> submit(const ServeRequest& request, TokenOutputCallback on_token = {});
    // Ends a request at once (waiting or running); its blocks return to the pool.
    Status cancel(int64_t id);
    // Changes ServingOptions::draft_engine (nullptr: none). Refused while a request
    // holds a draft sequence in the current draft engine.
    Status set_draft_engine(Engine* draft);
    Engine* draft_engine() const { return options_.draft_engine; }
    // Runs one scheduled step. With nothing to do it returns a step with no tokens.
    Result<StepMetrics> step();
    bool idle() const { return scheduler_.running().empty() && scheduler_.waiting().empty(); }

    const RequestState* request(int64_t id) const;
    // Finished (or cancelled) requests since the last call, in finishing order; their state is dropped.
    std::vector<std::unique_ptr<RequestState>> take_finished();
    // The one finished request `id`, if it has finished and was not taken yet; else null.
    std::unique_ptr<RequestState> take_finished(int64_t id);

    // Called for every sampled token, inside step(). It may cancel requests; it must not
    // call step() or take_finished().
    void set_token_callback(TokenOutputCallback cb) { on_token_ = std::move(cb); }
    double now_ms() const;
    Engine& engine() { return engine_; }
    PrefixCache* prefix_cache() { return cache_.get(); }
    const Scheduler& scheduler() const { return scheduler_; }
    const ItlGovernor& itl_governor() const { return governor_; }
    int64_t preemptions() const { return scheduler_.preemptions(); }
    // Checks the pool: refcounts match block tables plus the cache; nothing both free and owned.
    Status check_invariants() const { return engine_.kv().check_invariants(); }

private:
    // One step's work beside the scheduler's plan, per chunk.
    struct StepWork {
        std::vector<bool> decodes;                 // feeds one sampled token (drafts and early exit apply)
        std::vector<std::vector<int32_t>> drafts;  // speculative draft fed after the chunk; empty: none
        std::vector<SequenceInput> inputs;
        StepOptions options;  // early exit when a lone decode asks for it
    };

    Status check_request(const ServeRequest& request);
    // A new request's or parallel sample's state: id, request, sampler, text, draft length.
    void init_state(RequestState& r, const ServeRequest& request);
    bool admit(RequestState& r) override;
    bool reserve(RequestState& r, int32_t n_tokens) override;
    int32_t reservable(const RequestState& r, int32_t max_tokens) const override;
    void release(RequestState& r) override;
    void finish(RequestState& r, const std::string& reason);
    // Offers r's full computed blocks to the prefix cache (none after its prompt with early exit).
    void cache_computed_blocks(RequestState& r);
    // Forward pass of a non-empty plan, then sampling.
    Status run_plan(const StepPlan& plan, double start, StepMetrics& m, int32_t& sampled);
    // Drafts for the plan's decode chunks, within the token budget the plan left over.
    void propose_drafts(const StepPlan& plan, StepWork& work);
    void build_inputs(const StepPlan& plan, StepWork& work, StepMetrics& m);
    // After the forward pass: computed tokens, first scheduling, shareable blocks, exit layers.
    void record_step(const StepPlan& plan, const StepWork& work, double start);
    Status sample_chunks(const StepPlan& plan, const StepWork& work, StepMetrics& m, int32_t& sampled);
    // Why the token just appended to r ends it: "eos", "stop_string", "max_tokens",
    // "context_full", or "" when r goes on. Appends the token's text to r.text.
    std::string end_reason(RequestState& r, int32_t token);
    // Samples r's next token from a logits row (modified: penalties), reports it, finishes r if done.
    void sample_into(RequestState& r, float* logits_row, double t, StepMetrics& m, int32_t& sampled);
    // Appends a chosen token to r: metrics, the token callback, and the stop conditions;
    // with the position's logits before sampling (raw_logits), also its log-probabilities.
    void emit(RequestState& r, int32_t token, double t, StepMetrics& m, int32_t& sampled,
              const float* raw_logits = nullptr);
    // How many draft tokens r may feed this step within `spare` budget tokens (0: none).
    int32_t draft_room(const RequestState& r, int32_t spare) const;
    // Reserves the KV of r's decode token and its draft; false when it does not fit.
    bool reserve_draft(RequestState& r, const std::vector<int32_t>& draft);
    // Draft-model proposals, batched on the draft engine: request i gets up to rooms[i]
    // greedy tokens in (*drafts)[i]. A draft pool that is full just gives no drafts.
    void propose_with_draft_model(const std::vector<RequestState*>& requests, const std::vector<int32_t>& rooms,
                                  std::vector<std::vector<int32_t>*>& drafts);
    // Verifies r's draft against its rows (row i follows the i-th fed token) with
    // verify_draft_tokens, emits the accepted tokens and one more, and drops the KV of
    // rejected drafts.
    Status verify_draft(RequestState& r, const std::vector<int32_t>& draft, float* rows, double t, StepMetrics& m,
                        int32_t& sampled);
    // The n-1 parallel samples of r, forked from its sequence once its prompt is computed.
    Status fork_samples(RequestState& r, std::vector<RequestState*>* forks);

    Engine& engine_;
    ServingOptions options_;
    Scheduler scheduler_;
    std::unique_ptr<PrefixCache> cache_;
    ItlGovernor governor_;
    std::map<int64_t, std::unique_ptr<RequestState>> requests_;
    std::vector<std::unique_ptr<RequestState>> finished_;
    TokenOutputCallback on_token_;
    std::chrono::steady_clock::time_point t0_;
    int64_t next_id_ = 1;
    uint64_t arrivals_ = 0;
    int64_t steps_ = 0;
    int64_t prompt_tokens_admitted_ = 0;
    int64_t prompt_tokens_cached_ = 0;
    bool draft_vocabulary_checked_ = false;
    std::vector<float> logits_;
};

}  // namespace lumen
