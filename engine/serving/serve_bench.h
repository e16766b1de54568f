// serve-bench, in process: a workload of requests with input/output length
// distributions, optional shared prefixes, Poisson arrivals or a fixed
// concurrency, run through the ServingEngine; the result holds the latency
// distributions and throughput (as vLLM's benchmark_serving reports them).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "serving/serving_engine.h"

namespace lumen {

struct ServeBenchConfig {
    int32_t n_requests = 32;
    int32_t input_len = 512;
    int32_t output_len = 64;
    double len_jitter = 0.0;      // lengths uniform in [len·(1−j), len·(1+j)]
    double shared_prefix = 0.0;   // fraction of each input taken from one common prefix
    double rate = 0.0;            // Poisson arrivals, requests/s; 0: all at once
    int32_t max_concurrency = 0;  // requests in flight at most; 0: unlimited (passed to run_serve_bench)
    uint64_t seed = 1;
    std::vector<std::vector<int32_t>> prompts;  // from a file; empty: random tokens
    // > 0: one more request with a prompt this long (and one output token) arrives once
    // every other request has its first token; the latency figures then show how much
    // its prefill disturbs the running requests. It is left out of the distributions.
    int32_t interfering_prompt = 0;
    SamplingParams sampling;         // default: greedy
    int32_t n = 1;                   // parallel samples per request (they share its prompt's blocks)
    int32_t lookup_draft = 0;        // prompt-lookup speculation per request (ServeRequest::lookup_draft)
    int32_t draft_model_tokens = 0;  // draft-model speculation per request (needs ServingOptions::draft_engine)
    ServeBenchConfig() { sampling.temperature = 0; }
};

// Named presets after the seed's query patterns.
bool apply_serve_bench_preset(const std::string& name, ServeBenchConfig* config);
const char* serve_bench_preset_names();  // "long-in-short-out, short-in-long-out, long-in-long-out"

struct Distribution {
    double mean = 0, median = 0, p90 = 0, p99 = 0, max = 0;
    int64_t count = 0;
};
Distribution summarize(std::vector<double> values);

struct ServeBenchResult {
    int32_t completed = 0;
    double duration_s = 0;
    int64_t input_tokens = 0;
    int64_t output_tokens = 0;
    double request_throughput = 0;      // requests/s
    double output_throughput = 0;       // generated tokens/s
    double total_token_throughput = 0;  // (input + generated) tokens/s
    double decode_throughput = 0;       // decode tokens/s over decode-only steps (llama-batched-bench's S_TG)
    double prefill_throughput = 0;      // prompt tokens/s over prefill-only steps (S_PP)
    Distribution ttft_ms, tpot_ms, itl_ms, e2el_ms, queue_ms;
    Distribution kv_utilization;    // blocks in use (sequences + cache) / pool, per step
    Distribution running, waiting;  // per step
    double prefix_hit_rate = 0;
    int64_t preemptions = 0;
    int64_t drafted = 0;         // speculative draft tokens fed
    int64_t draft_accepted = 0;  // of which accepted
    int64_t steps = 0;
    double interfering_ttft_ms = 0;  // the interfering request's TTFT (0 if none)
    std::vector<StepMetrics> step_log;
};

struct ServeBenchRequestPlan {
    ServeRequest request;
    double arrival_ms = 0;            // offset from the start
    bool after_first_tokens = false;  // arrives once every earlier request has its first token
    bool measured = true;             // counted in the latency distributions
};
// The requests and arrival times for a config, over a vocabulary of n_vocab ids.
Result<std::vector<ServeBenchRequestPlan>> make_serve_workload(const ServeBenchConfig& config, int32_t n_vocab);

// Runs the workload to completion (or until *stop) with at most max_concurrency
// requests in flight (0: no limit). on_step sees every step's metrics.
// on_request sees every measured request when it finishes.
Result<ServeBenchResult> run_serve_bench(ServingEngine& serving, const std::vector<ServeBenchRequestPlan>& workload,
                                         int32_t max_concurrency = 0,
                                         const std::function<void(const StepMetrics&)>& on_step = {},
                                         const std::atomic<bool>* stop = nullptr,
                                         const std::function<void(const RequestState&)>& on_request = {});

}  // namespace lumen
