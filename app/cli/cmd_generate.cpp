// lumen-cli generate: raw completion of a prompt, streamed or as one JSON object.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "cli/cmd_common.h"
#include "cli/commands.h"
#include "cli/decoding_strategies.h"
#include "runtime/speculative.h"

namespace lumen::cli {



int cmd_generate(const std::vector<std::string>& argv) {
    std::set<std::string> valued = {"--model", "--tokenizer", "--prompt", "--max-tokens", "--threads", "--ctx", "--kv-type", "--weights", "--weights-mix", "--kv", "--calib", "--calib-samples", "--calib-tokens", "--outlier-threshold", "--device", "--stop", "--lookup-draft", "--lookup-ngram",
                                   "--draft-model", "--draft-tokens", "--beams", "--beam-return", "--length-penalty",
                                   "--contrastive-amateur", "--contrastive-layers", "--contrastive-alpha",
                                   "--contrastive-lambda", "--amateur-temperature", "--early-exit-entropy",
                                   "--early-exit-first-layer", "--early-exit-every"};
    valued.insert(kSamplingOptions.begin(), kSamplingOptions.end());
    auto args = Args::parse(argv, valued, {"--json", "--chat", "--no-special", "--lookup-adaptive", "--draft-adaptive", "--no-early-stopping", "--gptq"});
    if (!args) return fail(args.status().message());
    auto model_path = args->required("--model");
    if (!model_path) return fail(model_path.status().message());
    auto prompt = args->required("--prompt");
    if (!prompt) return fail(prompt.status().message());
    auto max_tokens = args->get_int("--max-tokens", 128, 0, 1 << 24);
    auto lookup_draft = args->get_int("--lookup-draft", 0, 0, 64);
    if (!lookup_draft) return fail(lookup_draft.status().message());
    auto lookup_ngram = args->get_int("--lookup-ngram", 3, 1, 64);
    if (!lookup_ngram) return fail(lookup_ngram.status().message());
    auto draft_tokens = args->get_int("--draft-tokens", kDefaultDraftTokens, 1, 64);
    if (!draft_tokens) return fail(draft_tokens.status().message());
    const bool draft_model = args->has("--draft-model");
    if (draft_model && lookup_draft.value() > 0)
        return fail("--draft-model and --lookup-draft cannot be combined; choose one draft source");
    if (draft_model && args->has("--beams"))
        return fail("--beams and --draft-model cannot be combined; choose one decoding strategy");
    if (!draft_model && (args->has("--draft-tokens") || args->has("--draft-adaptive")))
        return fail("--draft-tokens and --draft-adaptive need --draft-model PATH");
    if (!max_tokens) return fail(max_tokens.status().message());
    auto sampling = parse_sampling(*args);
    if (!sampling) return fail(sampling.status().message());
    auto options = parse_engine_options(*args);
    if (!options) return fail(options.status().message());
    const bool json = args->has("--json");

    LoadOptions load;
    load.tokenizer_path = args->get("--tokenizer");
    auto engine = Engine::load(model_path.value(), load, options.value());
    if (!engine) return fail(engine.status().message());
    // The draft model runs beside the target with the same engine options (threads, context,
    // KV type, device); Engine::generate checks that the vocabularies match.
    std::unique_ptr<Engine> draft_engine;
    if (draft_model) {
        auto loaded = Engine::load(args->get("--draft-model"), {}, options.value());
        if (!loaded) return fail("--draft-model: " + loaded.status().message());
        if (Status s = check_same_vocabulary(*engine.value(), *loaded.value()); !s.is_ok())
            return fail("--draft-model: " + s.message());
        draft_engine = std::move(loaded.value());
    }

    GenerationRequest req;
    // Like llama.cpp, special-token text in the prompt (e.g. "<|im_start|>") becomes
    // the special token unless --no-special is given. --chat wraps the prompt as one
    // user turn in the model's chat template.
    req.parse_special = !args->has("--no-special");
    req.prompt = prompt.value();
    if (args->has("--chat")) {
        auto kind = detect_chat_template(engine.value()->tokenizer().vocab().chat_template);
        if (!kind) return fail("--chat: the model has no recognized chat template (tokenizer.chat_template)");
        req.prompt = apply_chat_template(*kind, {{"user", prompt.value()}}, true);
        req.parse_special = true;
    }
    req.max_tokens = int32_t(max_tokens.value());
    req.lookup_draft = int32_t(lookup_draft.value());
    req.lookup_ngram = int32_t(lookup_ngram.value());
    req.lookup_adaptive = args->has("--lookup-adaptive") || args->has("--draft-adaptive");
    req.draft_engine = draft_engine.get();
    if (draft_model) req.draft_tokens = int32_t(draft_tokens.value());
    req.sampling = sampling.value();
    if (args->has("--early-exit-entropy")) {
        const int32_t layers = engine.value()->model().config.n_layers;
        auto entropy = args->get_double("--early-exit-entropy", 0.0, 1e-6, 100.0);
        if (!entropy) return fail(entropy.status().message());
        auto first = args->get_int("--early-exit-first-layer", std::max(1, layers / 2), 1, std::max(1, layers - 1));
        if (!first) return fail(first.status().message());
        auto every = args->get_int("--early-exit-every", 1, 1, 1 << 10);
        if (!every) return fail(every.status().message());
        req.early_exit = {float(*entropy), int32_t(*first), int32_t(*every)};
    } else if (args->has("--early-exit-first-layer") || args->has("--early-exit-every")) {
        return fail("--early-exit-first-layer and --early-exit-every need --early-exit-entropy H");
    }
    if (args->has("--stop")) req.stop_strings.push_back(args->get("--stop"));
    const bool contrastive = args->has("--contrastive-amateur") || args->has("--contrastive-layers");
    if (contrastive && (args->has("--beams") || req.lookup_draft > 0 || draft_engine))
        return fail("contrastive decoding cannot be combined with --beams, --lookup-draft or --draft-model; choose one "
                    "decoding strategy");
    if (contrastive) return run_contrastive(*engine.value(), *args, req, options.value(), json);
    if (args->has("--beams")) {
        if (req.lookup_draft > 0) return fail("--beams and --lookup-draft cannot be combined; choose one decoding strategy");
        return run_beam_search(*engine.value(), *args, req, json);
    }
    TokenCallback stream;
    if (!json) {
        std::fputs(req.prompt.c_str(), stdout);
        stream = [](const TokenEvent& ev) {
            std::fputs(ev.text.c_str(), stdout);
            std::fflush(stdout);
        };
    }
    auto result = engine.value()->generate(req, stream);
    if (!result) return fail(result.status().message());
    const auto& r = result.value();
    if (json) {
        nlohmann::json j;
        j["prompt_ids"] = r.prompt_ids;
        j["ids"] = r.ids;
        j["text"] = r.text;
        j["stop_reason"] = r.stop_reason;
        j["stats"] = {{"load_ms", engine.value()->load_ms()}, {"ttft_ms", r.stats.ttft_ms},
                      {"prefill_tps", r.stats.prefill_tps},   {"decode_tps", r.stats.decode_tps},
                      {"n_prompt", r.stats.n_prompt},         {"n_gen", r.stats.n_gen}};
        if (req.lookup_draft > 0 || draft_engine) {
            j["speculative"] = {{"mode", draft_engine ? "draft_model" : "prompt_lookup"},
                                {"drafted", r.stats.n_drafted},
                                {"accepted", r.stats.n_draft_accepted},
                                {"verify_steps", r.stats.n_verify_steps},
                                {"acceptance_rate", r.stats.n_drafted ? double(r.stats.n_draft_accepted) / r.stats.n_drafted : 0.0},
                                {"mean_accepted_per_step", r.stats.n_verify_steps
                                                               ? double(r.stats.n_draft_accepted) / r.stats.n_verify_steps
                                                               : 0.0},
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
        std::fprintf(stderr, "\n\n[%d prompt tokens, %d generated; TTFT %.1f ms, prefill %.1f tok/s, decode %.1f tok/s; %s]\n",
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

}  // namespace lumen::cli
