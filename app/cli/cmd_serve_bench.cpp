// lumen-cli serve-bench: many requests through the serving core, in process,
// reported as vLLM's benchmark_serving does (JSON or markdown).
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/options.h"
#include "serving/serve_bench.h"

namespace lumen::cli {

namespace {

nlohmann::json to_json(const Distribution& d) {
    return {{"mean", d.mean}, {"median", d.median}, {"p90", d.p90}, {"p99", d.p99}, {"max", d.max}, {"count", d.count}};
}

Result<std::vector<std::vector<int32_t>>> read_prompts(const std::string& path, const Tokenizer& tok) {
    std::ifstream in(path);
    if (!in) return Status::error("cannot open prompts file '" + path + "'");
    std::vector<std::vector<int32_t>> prompts;
    std::string line;
    while (std::getline(in, line))
        if (!line.empty()) prompts.push_back(tok.encode(line, tok.vocab().add_bos, false));
    if (prompts.empty())
        return Status::error("prompts file '" + path + "' has no non-empty line; expected one prompt per line");
    return prompts;
}

struct ServeBenchArgs {
    ModelArgs model;
    EngineArgs engine;
    SpeculativeArgs speculative;
    std::string preset;
    ServeBenchConfig config;  // the flags' values; a preset fills those not given
    std::string prompts;
    int batch_tokens = 512;
    int max_running = 64;
    bool no_chunked_prefill = false;
    bool no_prefix_cache = false;
    double max_itl_factor = 0;
    float temperature = 0;
    std::string steps_csv;
    std::string output = "md";
};

// The workload: the preset's values, then every flag the user gave.
Result<ServeBenchConfig> workload_config(const ServeBenchArgs& a, const CLI::App& app) {
    ServeBenchConfig config;
    if (!a.preset.empty() && !apply_serve_bench_preset(a.preset, &config))
        return Status::error("option --preset is '" + a.preset + "', expected " + serve_bench_preset_names());
    const ServeBenchConfig& f = a.config;
    if (app.count("--requests")) config.n_requests = f.n_requests;
    if (app.count("--input-len")) config.input_len = f.input_len;
    if (app.count("--output-len")) config.output_len = f.output_len;
    if (app.count("--len-jitter")) config.len_jitter = f.len_jitter;
    config.shared_prefix = f.shared_prefix;
    config.rate = f.rate;
    config.max_concurrency = f.max_concurrency;
    config.seed = f.seed;
    config.interfering_prompt = f.interfering_prompt;
    config.n = f.n;
    config.sampling.temperature = a.temperature;
    config.lookup_draft = int32_t(a.speculative.lookup_draft);
    if (!a.speculative.draft_model.empty()) config.draft_model_tokens = int32_t(a.speculative.draft_tokens);
    return config;
}

void add_workload_options(CLI::App& app, ServeBenchArgs& a) {
    const char* group = "Workload";
    ServeBenchConfig& c = a.config;
    app.add_option("--preset", a.preset, std::string("a workload: ") + serve_bench_preset_names())->group(group);
    app.add_option("--requests", c.n_requests, "requests")
        ->check(in_range(1, 1 << 20))
        ->capture_default_str()
        ->group(group);
    app.add_option("--input-len", c.input_len, "prompt tokens per request")
        ->check(in_range(1, 1 << 24))
        ->capture_default_str()
        ->group(group);
    app.add_option("--output-len", c.output_len, "generated tokens per request")
        ->check(in_range(1, 1 << 24))
        ->capture_default_str()
        ->group(group);
    app.add_option("--len-jitter", c.len_jitter, "lengths vary uniformly by this fraction")
        ->check(in_range(0.0, 0.99))
        ->capture_default_str()
        ->group(group);
    app.add_option("--shared-prefix", c.shared_prefix, "fraction of each prompt shared by all")
        ->check(in_range(0.0, 1.0))
        ->capture_default_str()
        ->group(group);
    CLI::Option* rate = app.add_option("--rate", c.rate, "Poisson arrivals per second (0: all at once)")
                            ->check(in_range(0.0, 1e9))
                            ->group(group);
    app.add_option("--max-concurrency", c.max_concurrency, "requests in flight at most (0: unlimited)")
        ->check(in_range(0, 1 << 20))
        ->excludes(rate)
        ->group(group);
    app.add_option("--prompts", a.prompts, "a text file with one prompt per line instead of random tokens")
        ->type_name("FILE")
        ->group(group);
    app.add_option("--seed", c.seed, "random seed of the workload")
        ->check(in_range(0LL, 1LL << 62))
        ->capture_default_str()
        ->group(group);
    app.add_option("--temperature", a.temperature, "sampling temperature (0: greedy)")
        ->check(in_range(0.0, 100.0))
        ->capture_default_str()
        ->group(group);
    app.add_option("--n", c.n, "parallel samples per request")
        ->check(in_range(1, 64))
        ->capture_default_str()
        ->group(group);
    app.add_option("--interfering-prompt", c.interfering_prompt, "one extra long prompt of N tokens arriving mid-run")
        ->check(in_range(0, 1 << 24))
        ->group(group);
}

void add_scheduler_options(CLI::App& app, ServeBenchArgs& a) {
    const char* group = "Scheduler";
    app.add_option("--batch-tokens", a.batch_tokens, "tokens per step")
        ->check(in_range(1, 1 << 20))
        ->capture_default_str()
        ->group(group);
    app.add_option("--max-running", a.max_running, "requests running at once")
        ->check(in_range(1, 1 << 16))
        ->capture_default_str()
        ->group(group);
    CLI::Option* whole =
        app.add_flag("--no-chunked-prefill", a.no_chunked_prefill, "compute each prompt in one step")->group(group);
    app.add_flag("--no-prefix-cache", a.no_prefix_cache, "no reuse of cached prompt blocks")->group(group);
    app.add_option("--max-itl-factor", a.max_itl_factor,
                   "keep decode steps within F times a decode-only step (0: off; more than 1)")
        ->check(in_range(0.0, 1000.0))
        ->excludes(whole)
        ->group(group);
}

int run_serve_bench(const ServeBenchArgs& a, const CLI::App& app) {
    auto options = a.engine.to_engine_options();
    if (!options) return usage_error(options.status().message());
    auto workload_cfg = workload_config(a, app);
    if (!workload_cfg) return usage_error(workload_cfg.status().message());
    ServeBenchConfig config = workload_cfg.value();
    if (a.max_itl_factor != 0 && a.max_itl_factor <= 1)
        return usage_error("option --max-itl-factor is " + std::to_string(a.max_itl_factor) +
                           ", expected 0 (off) or more than 1");

    auto engine = Engine::load(a.model.model, a.model.load_options(), options.value());
    if (!engine) return fail(engine.status().message());
    Engine& e = *engine.value();
    if (!a.prompts.empty()) {
        auto prompts = read_prompts(a.prompts, e.tokenizer());
        if (!prompts) return fail(prompts.status().message());
        config.prompts = std::move(prompts.value());
    }
    auto workload = make_serve_workload(config, e.model().config.vocab_size);
    if (!workload) return fail(workload.status().message());

    ServingOptions serving_options;
    serving_options.scheduler.max_batch_tokens = int32_t(a.batch_tokens);
    serving_options.scheduler.max_running = int32_t(a.max_running);
    serving_options.scheduler.chunked_prefill = !a.no_chunked_prefill;
    serving_options.prefix_cache = !a.no_prefix_cache;
    serving_options.max_itl_factor = a.max_itl_factor;
    std::unique_ptr<Engine> draft_engine;
    if (!a.speculative.draft_model.empty()) {
        auto loaded = Engine::load(a.speculative.draft_model, {}, options.value());
        if (!loaded) return fail("--draft-model: " + loaded.status().message());
        draft_engine = std::move(loaded.value());
        serving_options.draft_engine = draft_engine.get();
    }
    ServingEngine serving(e, serving_options);
    auto result = run_serve_bench(serving, workload.value(), config.max_concurrency);
    if (!result) return fail(result.status().message());
    const ServeBenchResult& r = result.value();

    if (!a.steps_csv.empty()) {
        std::ofstream csv(a.steps_csv);
        if (!csv) return fail("cannot write '" + a.steps_csv + "'");
        csv << "step,time_ms,step_ms,running,waiting,prefill_tokens,decode_tokens,preempted,finished,blocks_used,"
               "blocks_free,blocks_cached,hit_rate,tokens_per_s,prefill_limit\n";
        for (const StepMetrics& m : r.step_log)
            csv << m.step << ',' << m.time_ms << ',' << m.step_ms << ',' << m.n_running << ',' << m.n_waiting << ','
                << m.n_prefill_tokens << ',' << m.n_decode_tokens << ',' << m.n_preempted << ',' << m.n_finished << ','
                << m.blocks_used << ',' << m.blocks_free << ',' << m.blocks_cached << ',' << m.hit_rate << ','
                << m.tokens_per_s << ',' << m.prefill_limit << '\n';
    }

    nlohmann::json j;
    j["config"] = {{"model", a.model.model},
                   {"requests", config.n_requests},
                   {"input_len", config.input_len},
                   {"output_len", config.output_len},
                   {"len_jitter", config.len_jitter},
                   {"shared_prefix", config.shared_prefix},
                   {"rate", config.rate},
                   {"max_concurrency", config.max_concurrency},
                   {"batch_tokens", serving_options.scheduler.max_batch_tokens},
                   {"chunked_prefill", serving_options.scheduler.chunked_prefill},
                   {"max_itl_factor", serving_options.max_itl_factor},
                   {"lookup_draft", config.lookup_draft},
                   {"draft_model", a.speculative.draft_model},
                   {"draft_model_tokens", config.draft_model_tokens},
                   {"prefix_cache", serving_options.prefix_cache},
                   {"interfering_prompt", config.interfering_prompt},
                   {"n", config.n},
                   {"kv_blocks", e.kv().n_blocks()},
                   {"block_size", e.kv().layout().block_size},
                   {"prompts", config.prompts.empty() ? std::string("random") : a.prompts}};
    j["completed"] = r.completed;
    j["duration_s"] = r.duration_s;
    j["total_input_tokens"] = r.input_tokens;
    j["total_output_tokens"] = r.output_tokens;
    j["request_throughput"] = r.request_throughput;
    j["output_throughput"] = r.output_throughput;
    j["total_token_throughput"] = r.total_token_throughput;
    j["decode_throughput"] = r.decode_throughput;
    j["prefill_throughput"] = r.prefill_throughput;
    j["ttft_ms"] = to_json(r.ttft_ms);
    j["tpot_ms"] = to_json(r.tpot_ms);
    j["itl_ms"] = to_json(r.itl_ms);
    j["e2el_ms"] = to_json(r.e2el_ms);
    j["queue_ms"] = to_json(r.queue_ms);
    j["kv_utilization"] = to_json(r.kv_utilization);
    j["running"] = to_json(r.running);
    j["waiting"] = to_json(r.waiting);
    j["prefix_hit_rate"] = r.prefix_hit_rate;
    j["preemptions"] = r.preemptions;
    if (config.lookup_draft > 0 || config.draft_model_tokens > 0)
        j["speculative"] = {{"drafted", r.drafted},
                            {"accepted", r.draft_accepted},
                            {"acceptance_rate", r.drafted ? double(r.draft_accepted) / double(r.drafted) : 0.0}};
    j["steps"] = r.steps;
    if (config.interfering_prompt > 0) j["interfering_ttft_ms"] = r.interfering_ttft_ms;
    if (a.output == "json") {
        std::puts(j.dump(2).c_str());
        return 0;
    }
    std::printf("## serve-bench: %d requests, input %d, output %d, rate %s, concurrency %s\n\n", config.n_requests,
                config.input_len, config.output_len, config.rate > 0 ? std::to_string(config.rate).c_str() : "inf",
                config.max_concurrency > 0 ? std::to_string(config.max_concurrency).c_str() : "unlimited");
    std::printf("| metric | value |\n|---|---|\n");
    std::printf("| completed | %d in %.2f s |\n", r.completed, r.duration_s);
    std::printf("| request throughput | %.2f req/s |\n", r.request_throughput);
    std::printf("| output throughput | %.1f tok/s |\n", r.output_throughput);
    std::printf("| total token throughput | %.1f tok/s |\n", r.total_token_throughput);
    std::printf("| decode throughput (decode-only steps) | %.1f tok/s |\n", r.decode_throughput);
    std::printf("| prefill throughput (prefill-only steps) | %.1f tok/s |\n", r.prefill_throughput);
    std::printf("| prefix hit rate | %.1f %% |\n", 100.0 * r.prefix_hit_rate);
    std::printf("| preemptions | %lld |\n", (long long)r.preemptions);
    std::printf("| KV utilization mean / max | %.1f %% / %.1f %% |\n\n", 100.0 * r.kv_utilization.mean,
                100.0 * r.kv_utilization.max);
    std::printf("| latency (ms) | mean | median | p90 | p99 |\n|---|---|---|---|---|\n");
    for (auto [name, d] : {std::pair<const char*, const Distribution*>{"TTFT", &r.ttft_ms},
                           {"TPOT", &r.tpot_ms},
                           {"ITL", &r.itl_ms},
                           {"E2EL", &r.e2el_ms},
                           {"queue", &r.queue_ms}})
        std::printf("| %s | %.2f | %.2f | %.2f | %.2f |\n", name, d->mean, d->median, d->p90, d->p99);
    return 0;
}

}  // namespace

Command add_serve_bench_command(CLI::App& root) {
    auto args = std::make_shared<ServeBenchArgs>();
    CLI::App* app = root.add_subcommand(
        "serve-bench", "many requests through the serving core, reported as vLLM's benchmark_serving does");
    add_model_options(*app, args->model);
    add_workload_options(*app, *args);
    add_scheduler_options(*app, *args);
    app->add_option("--steps-csv", args->steps_csv, "write every step's metrics to FILE")->type_name("FILE");
    app->add_option("-o,--output", args->output, "md (tables) or json")
        ->check(CLI::IsMember({"md", "json"}))
        ->capture_default_str();
    add_engine_options(*app, args->engine);
    add_quantization_options(*app, args->engine);
    add_speculative_options(*app, args->speculative, /*tuning=*/false);
    return {app, [args, app] { return run_serve_bench(*args, *app); }};
}

}  // namespace lumen::cli
