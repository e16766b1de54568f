// lumen-cli serve-bench: many requests through the serving core, in process,
// reported as vLLM's benchmark_serving does (JSON or markdown).
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/cmd_common.h"
#include "cli/commands.h"
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
    if (prompts.empty()) return Status::error("prompts file '" + path + "' has no non-empty line; expected one prompt per line");
    return prompts;
}

}  // namespace

int cmd_serve_bench(const std::vector<std::string>& argv) {
    auto args = Args::parse(argv,
                            {"--model", "--tokenizer", "--threads", "--ctx", "--kv-type", "--weights", "--weights-mix", "--kv", "--calib", "--calib-samples", "--calib-tokens", "--outlier-threshold", "--device", "--requests",
                             "--preset", "--input-len", "--output-len", "--len-jitter", "--shared-prefix", "--rate",
                             "--max-concurrency", "--prompts", "--batch-tokens", "--max-running", "--seed", "-o",
                             "--steps-csv", "--temperature", "--interfering-prompt", "--n", "--max-itl-factor", "--lookup-draft", "--draft-model", "--draft-tokens"},
                            {"--no-chunked-prefill", "--no-prefix-cache", "--gptq"});
    if (!args) return fail(args.status().message());
    auto model_path = args->required("--model");
    if (!model_path) return fail(model_path.status().message());
    auto options = parse_engine_options(*args);
    if (!options) return fail(options.status().message());

    ServeBenchConfig config;
    if (args->has("--preset") && !apply_serve_bench_preset(args->get("--preset"), &config))
        return fail("option --preset is '" + args->get("--preset") + "', expected " + serve_bench_preset_names());
    auto requests = args->get_int("--requests", config.n_requests, 1, 1 << 20);
    auto input_len = args->get_int("--input-len", config.input_len, 1, 1 << 24);
    auto output_len = args->get_int("--output-len", config.output_len, 1, 1 << 24);
    auto jitter = args->get_double("--len-jitter", config.len_jitter, 0.0, 0.99);
    auto shared = args->get_double("--shared-prefix", 0.0, 0.0, 1.0);
    auto rate = args->get_double("--rate", 0.0, 0.0, 1e9);
    auto concurrency = args->get_int("--max-concurrency", 0, 0, 1 << 20);
    auto batch_tokens = args->get_int("--batch-tokens", 512, 1, 1 << 20);
    auto max_running = args->get_int("--max-running", 64, 1, 1 << 16);
    auto seed = args->get_int("--seed", 1, 0, (1LL << 62));
    auto temperature = args->get_double("--temperature", 0.0, 0.0, 100.0);
    auto interfering = args->get_int("--interfering-prompt", 0, 0, 1 << 24);
    auto samples = args->get_int("--n", 1, 1, 64);
    auto itl_factor = args->get_double("--max-itl-factor", 0.0, 0.0, 1000.0);
    auto lookup_draft = args->get_int("--lookup-draft", 0, 0, 64);
    auto draft_tokens = args->get_int("--draft-tokens", 4, 1, 64);
    for (const Status* s : {&requests.status(), &input_len.status(), &output_len.status(), &jitter.status(),
                            &shared.status(), &rate.status(), &concurrency.status(), &batch_tokens.status(),
                            &max_running.status(), &seed.status(), &temperature.status(), &interfering.status(), &samples.status(),
                            &itl_factor.status(), &lookup_draft.status(),
                            &draft_tokens.status()})
        if (!s->is_ok()) return fail(s->message());
    const std::string format = args->get("-o", "md");
    if (format != "md" && format != "json") return fail("option -o is '" + format + "', expected md or json");
    config.n_requests = int32_t(*requests);
    config.input_len = int32_t(*input_len);
    config.output_len = int32_t(*output_len);
    config.len_jitter = *jitter;
    config.shared_prefix = *shared;
    config.rate = *rate;
    config.max_concurrency = int32_t(*concurrency);
    config.seed = uint64_t(*seed);
    config.sampling.temperature = float(*temperature);
    config.interfering_prompt = int32_t(*interfering);
    config.n = int32_t(*samples);
    config.lookup_draft = int32_t(*lookup_draft);
    if (args->has("--draft-model") && config.lookup_draft > 0)
        return fail("--draft-model and --lookup-draft cannot be combined; choose one draft source");
    if (args->has("--draft-tokens") && !args->has("--draft-model")) return fail("--draft-tokens needs --draft-model PATH");
    if (args->has("--draft-model")) config.draft_model_tokens = int32_t(*draft_tokens);

    LoadOptions load;
    load.tokenizer_path = args->get("--tokenizer");
    auto engine = Engine::load(model_path.value(), load, options.value());
    if (!engine) return fail(engine.status().message());
    Engine& e = *engine.value();
    if (args->has("--prompts")) {
        auto prompts = read_prompts(args->get("--prompts"), e.tokenizer());
        if (!prompts) return fail(prompts.status().message());
        config.prompts = std::move(prompts.value());
    }
    auto workload = make_serve_workload(config, e.model().config.vocab_size);
    if (!workload) return fail(workload.status().message());

    ServingOptions serving_options;
    serving_options.scheduler.max_batch_tokens = int32_t(*batch_tokens);
    serving_options.scheduler.max_running = int32_t(*max_running);
    serving_options.scheduler.chunked_prefill = !args->has("--no-chunked-prefill");
    serving_options.prefix_cache = !args->has("--no-prefix-cache");
    serving_options.max_itl_factor = *itl_factor;
    std::unique_ptr<Engine> draft_engine;
    if (args->has("--draft-model")) {
        auto loaded = Engine::load(args->get("--draft-model"), {}, options.value());
        if (!loaded) return fail("--draft-model: " + loaded.status().message());
        draft_engine = std::move(loaded.value());
        serving_options.draft_engine = draft_engine.get();
    }
    if (*itl_factor != 0 && *itl_factor <= 1)
        return fail("option --max-itl-factor is " + args->get("--max-itl-factor") + ", expected 0 (off) or more than 1");
    if (*itl_factor != 0 && args->has("--no-chunked-prefill"))
        return fail("option --max-itl-factor needs chunked prefill; drop --no-chunked-prefill");
    ServingEngine serving(e, serving_options);
    auto result = run_serve_bench(serving, workload.value(), config.max_concurrency);
    if (!result) return fail(result.status().message());
    const ServeBenchResult& r = result.value();

    if (args->has("--steps-csv")) {
        std::ofstream csv(args->get("--steps-csv"));
        if (!csv) return fail("cannot write '" + args->get("--steps-csv") + "'");
        csv << "step,time_ms,step_ms,running,waiting,prefill_tokens,decode_tokens,preempted,finished,blocks_used,"
               "blocks_free,blocks_cached,hit_rate,tokens_per_s,prefill_limit\n";
        for (const StepMetrics& m : r.step_log)
            csv << m.step << ',' << m.time_ms << ',' << m.step_ms << ',' << m.n_running << ',' << m.n_waiting << ','
                << m.n_prefill_tokens << ',' << m.n_decode_tokens << ',' << m.n_preempted << ',' << m.n_finished << ','
                << m.blocks_used << ',' << m.blocks_free << ',' << m.blocks_cached << ',' << m.hit_rate << ','
                << m.tokens_per_s << ',' << m.prefill_limit << '\n';
    }

    nlohmann::json j;
    j["config"] = {{"model", model_path.value()},
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
                   {"draft_model", args->get("--draft-model")},
                   {"draft_model_tokens", config.draft_model_tokens},
                   {"prefix_cache", serving_options.prefix_cache},
                   {"interfering_prompt", config.interfering_prompt},
                   {"n", config.n},
                   {"kv_blocks", e.kv().n_blocks()},
                   {"block_size", e.kv().layout().block_size},
                   {"prompts", config.prompts.empty() ? "random" : args->get("--prompts")}};
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
    if (format == "json") {
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
    for (auto [name, d] : {std::pair<const char*, const Distribution*>{"TTFT", &r.ttft_ms}, {"TPOT", &r.tpot_ms},
                           {"ITL", &r.itl_ms}, {"E2EL", &r.e2el_ms}, {"queue", &r.queue_ms}})
        std::printf("| %s | %.2f | %.2f | %.2f | %.2f |\n", name, d->mean, d->median, d->p90, d->p99);
    return 0;
}

}  // namespace lumen::cli
