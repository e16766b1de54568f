// lumen-cli generate: raw completion of a prompt, streamed or as one JSON object.
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "cli/commands.h"
#include "cli/decoding_strategies.h"
#include "cli/options.h"
#include "runtime/speculative.h"
#include "serving/served_generation.h"

namespace lumen::cli {

namespace {

struct GenerateArgs {
    ModelArgs model;
    EngineArgs engine;
    SamplingParams sampling;
    SpeculativeArgs speculative;
    BeamArgs beam;
    ContrastiveArgs contrastive;
    EarlyExitArgs early_exit;
    std::string prompt;
    int max_tokens = 128;
    std::vector<std::string> stop;
    bool chat = false;
    bool no_special = false;
    bool json = false;
    int top_logprobs = -1;
};

// The strategies that replace the sampling loop exclude each other and the drafts.
void declare_strategy_conflicts(CLI::App& app, CLI::Option* beams, std::pair<CLI::Option*, CLI::Option*> contrastive,
                                CLI::Option* early_exit) {
    CLI::Option* lookup = app.get_option("--lookup-draft");
    CLI::Option* draft = app.get_option("--draft-model");
    for (CLI::Option* amateur : {contrastive.first, contrastive.second}) {
        amateur->excludes(beams)->excludes(lookup)->excludes(draft);
        early_exit->excludes(amateur);
    }
    beams->excludes(lookup)->excludes(draft);
    early_exit->excludes(beams)->excludes(lookup)->excludes(draft);
}

// Options that tune contrastive decoding need one of its two amateurs.
Status check_contrastive_tuning(const CLI::App& app, const ContrastiveArgs& args) {
    if (args.enabled()) return Status::ok();
    for (const char* name : {"--contrastive-alpha", "--contrastive-lambda", "--amateur-temperature"})
        if (app.count(name) > 0)
            return Status::error(std::string("option ") + name +
                                 " needs --contrastive-amateur PATH or --contrastive-layers K");
    return Status::ok();
}

int run_generate(const GenerateArgs& a, const CLI::App& app);

// "logprobs": per token its id, text, log-probability and alternatives, as OpenAI's
// API nests them; "logprob_summary": the reply's mean log-probability and perplexity.
void add_logprobs_json(nlohmann::json& j, const GenerationResult& r, const Tokenizer& tok) {
    nlohmann::json tokens = nlohmann::json::array();
    double sum = 0;
    for (size_t i = 0; i < r.logprobs.size() && i < r.ids.size(); ++i) {
        const TokenLogprobs& lp = r.logprobs[i];
        nlohmann::json top = nlohmann::json::array();
        for (const TokenLogprob& alt : lp.top)
            top.push_back(
                {{"token", alt.token}, {"text", tok.decode_token(alt.token, true)}, {"logprob", alt.logprob}});
        tokens.push_back({{"token", r.ids[i]},
                          {"text", tok.decode_token(r.ids[i], true)},
                          {"logprob", lp.logprob},
                          {"top_logprobs", top}});
        sum += lp.logprob;
    }
    const double n = double(tokens.size());
    const double mean = n > 0 ? sum / n : 0.0;
    j["logprobs"] = tokens;
    j["logprob_summary"] = {{"tokens", tokens.size()}, {"mean_logprob", mean}, {"perplexity", std::exp(-mean)}};
}

}  // namespace

Command add_generate_command(CLI::App& root) {
    auto args = std::make_shared<GenerateArgs>();
    CLI::App* app = root.add_subcommand("generate", "complete a prompt (streamed, or one JSON object with --json)");
    add_model_options(*app, args->model);
    app->add_option("--prompt", args->prompt, "the text to continue")->required();
    app->add_option("--max-tokens", args->max_tokens, "tokens to generate at most")
        ->check(in_range(0, 1 << 24))
        ->capture_default_str();
    app->add_option("--stop", args->stop, "stop when the output contains TEXT (repeatable)")
        ->type_name("TEXT")
        ->allow_extra_args(false);
    app->add_flag("--chat", args->chat, "wrap the prompt as one user turn in the model's chat template");
    app->add_flag("--no-special", args->no_special, "treat special-token text in the prompt as plain text");
    CLI::Option* json =
        app->add_flag("--json", args->json, "print one JSON object: ids, text, stop reason and statistics");
    CLI::Option* top_logprobs =
        app->add_option("--top-logprobs", args->top_logprobs,
                        "with --json: each token's log-probability and the N most likely alternatives (0: none)")
            ->type_name("N")
            ->check(in_range(0, kMaxTopLogprobs))
            ->needs(json);
    add_engine_options(*app, args->engine);
    add_quantization_options(*app, args->engine);
    add_sampling_options(*app, args->sampling);
    add_speculative_options(*app, args->speculative);
    CLI::Option* beams = add_beam_options(*app, args->beam);
    auto contrastive = add_contrastive_options(*app, args->contrastive);
    CLI::Option* early_exit = add_early_exit_options(*app, args->early_exit);
    declare_strategy_conflicts(*app, beams, contrastive, early_exit);
    top_logprobs->excludes(beams)->excludes(contrastive.first)->excludes(contrastive.second);
    return {app, [args, app] { return run_generate(*args, *app); }};
}

namespace {

int run_generate(const GenerateArgs& a, const CLI::App& app) {
    if (Status s = check_contrastive_tuning(app, a.contrastive); !s) return usage_error(s.message());
    auto options = a.engine.to_engine_options();
    if (!options) return usage_error(options.status().message());
    auto engine = Engine::load(a.model.model, a.model.load_options(), options.value());
    if (!engine) return fail(engine.status().message());
    // The draft model runs beside the target with the same engine options (threads, context,
    // KV type, device); the vocabularies must match.
    std::unique_ptr<Engine> draft_engine;
    const SpeculativeArgs& spec = a.speculative;
    if (!spec.draft_model.empty()) {
        auto loaded = Engine::load(spec.draft_model, {}, options.value());
        if (!loaded) return fail("--draft-model: " + loaded.status().message());
        if (Status s = check_same_vocabulary(*engine.value(), *loaded.value()); !s.is_ok())
            return fail("--draft-model: " + s.message());
        draft_engine = std::move(loaded.value());
    }

    GenerationRequest req;
    // Like llama.cpp, special-token text in the prompt (e.g. "<|im_start|>") becomes
    // the special token unless --no-special is given. --chat wraps the prompt as one
    // user turn in the model's chat template.
    req.parse_special = !a.no_special;
    req.prompt = a.prompt;
    if (a.chat) {
        auto kind = detect_chat_template(engine.value()->tokenizer().vocab().chat_template);
        if (!kind) return fail("--chat: the model has no recognized chat template (tokenizer.chat_template)");
        req.prompt = apply_chat_template(*kind, {{"user", a.prompt}}, true);
        req.parse_special = true;
    }
    req.max_tokens = int32_t(a.max_tokens);
    req.lookup_draft = int32_t(spec.lookup_draft);
    req.lookup_ngram = int32_t(spec.lookup_ngram);
    req.lookup_adaptive = spec.lookup_adaptive || spec.draft_adaptive;
    req.draft_engine = draft_engine.get();
    if (draft_engine) req.draft_tokens = int32_t(spec.draft_tokens);
    req.sampling = a.sampling;
    req.stop_strings = a.stop;
    req.top_logprobs = a.top_logprobs;
    if (a.early_exit.max_entropy > 0) {
        auto rule = early_exit_rule(a.early_exit, *engine.value());
        if (!rule) return usage_error(rule.status().message());
        req.early_exit = rule.value();
    }
    const bool json = a.json;
    if (a.contrastive.enabled()) return run_contrastive(*engine.value(), a.contrastive, req, options.value(), json);
    if (a.beam.width > 0) return run_beam_search(*engine.value(), a.beam, req, json);
    TokenCallback stream;
    if (!json) {
        std::fputs(req.prompt.c_str(), stdout);
        stream = [](const TokenEvent& ev) {
            std::fputs(ev.text.c_str(), stdout);
            std::fflush(stdout);
        };
    }
    // The serving core runs the request, as the workstation's and chat's replies run.
    ServingEngine serving(*engine.value(), single_stream_serving_options(*engine.value()));
    auto result = generate_served(serving, req, stream);
    if (!result) return fail(result.status().message());
    const auto& r = result.value();
    if (json) {
        nlohmann::json j;
        j["prompt_ids"] = r.prompt_ids;
        j["ids"] = r.ids;
        j["text"] = r.text;
        j["stop_reason"] = r.stop_reason;
        if (req.top_logprobs >= 0) add_logprobs_json(j, r, engine.value()->tokenizer());
        j["stats"] = {{"load_ms", engine.value()->load_ms()}, {"ttft_ms", r.stats.ttft_ms},
                      {"prefill_tps", r.stats.prefill_tps},   {"decode_tps", r.stats.decode_tps},
                      {"n_prompt", r.stats.n_prompt},         {"n_gen", r.stats.n_gen}};
        if (req.lookup_draft > 0 || draft_engine) {
            j["speculative"] = {
                {"mode", draft_engine ? "draft_model" : "prompt_lookup"},
                {"drafted", r.stats.n_drafted},
                {"accepted", r.stats.n_draft_accepted},
                {"verify_steps", r.stats.n_verify_steps},
                {"acceptance_rate", r.stats.n_drafted ? double(r.stats.n_draft_accepted) / r.stats.n_drafted : 0.0},
                {"mean_accepted_per_step",
                 r.stats.n_verify_steps ? double(r.stats.n_draft_accepted) / r.stats.n_verify_steps : 0.0},
                {"accepted_at_position", r.stats.draft_accepted_at},
                {"draft_ms", r.stats.draft_ms}};
            if (draft_engine) {
                j["speculative"]["draft_tokens"] = req.draft_tokens;
                j["speculative"]["draft_load_ms"] = draft_engine->load_ms();
            }
        }
        if (req.early_exit.enabled()) {
            nlohmann::json counts = nlohmann::json::object();
            for (size_t l = 1; l < r.stats.exit_layer_counts.size(); ++l)
                if (r.stats.exit_layer_counts[l] > 0) counts[std::to_string(l)] = r.stats.exit_layer_counts[l];
            j["early_exit"] = {{"lossy", true},
                               {"max_entropy", req.early_exit.max_entropy},
                               {"first_layer", req.early_exit.first_layer},
                               {"every", req.early_exit.every},
                               {"n_layers", engine.value()->model().config.n_layers},
                               {"mean_layers", r.stats.mean_layers_run()},
                               {"steps_by_layers_run", counts}};
        }
        std::puts(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    } else {
        std::fprintf(stderr,
                     "\n\n[%d prompt tokens, %d generated; TTFT %.1f ms, prefill %.1f tok/s, decode %.1f tok/s; %s]\n",
                     r.stats.n_prompt, r.stats.n_gen, r.stats.ttft_ms, r.stats.prefill_tps, r.stats.decode_tps,
                     r.stop_reason.c_str());
        if (r.stats.n_verify_steps > 0)
            std::fprintf(stderr, "[speculative (%s): %d of %d drafts accepted in %d verify steps; %.1f ms drafting]\n",
                         draft_engine ? "draft model" : "prompt lookup", r.stats.n_draft_accepted, r.stats.n_drafted,
                         r.stats.n_verify_steps, r.stats.draft_ms);
        if (req.early_exit.enabled())
            std::fprintf(stderr, "[early exit (lossy): decode steps ran %.1f of %d layers on average]\n",
                         r.stats.mean_layers_run(), engine.value()->model().config.n_layers);
    }
    return 0;
}

}  // namespace

}  // namespace lumen::cli
