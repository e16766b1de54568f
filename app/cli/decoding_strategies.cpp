// lumen-cli generate's decoding strategies other than the sampling chain.
#include "cli/decoding_strategies.h"

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/options.h"
#include "runtime/beam_search.h"
#include "runtime/contrastive.h"

namespace lumen::cli {

CLI::Option* add_beam_options(CLI::App& app, BeamArgs& args) {
    const char* group = "Beam search";
    CLI::Option* beams = app.add_option("--beams", args.width, "beam search with W beams instead of sampling")
                             ->type_name("W")
                             ->check(in_range(1, 64))
                             ->group(group);
    app.add_option("--beam-return", args.n_return, "hypotheses to print, best first")
        ->check(in_range(1, 64))
        ->capture_default_str()
        ->needs(beams)
        ->group(group);
    app.add_option("--length-penalty", args.length_penalty, "score = sum log p / length^A")
        ->type_name("A")
        ->check(in_range(-10.0, 10.0))
        ->capture_default_str()
        ->needs(beams)
        ->group(group);
    app.add_flag("--no-early-stopping", args.no_early_stopping, "keep searching after W hypotheses have finished")
        ->needs(beams)
        ->group(group);
    return beams;
}

std::pair<CLI::Option*, CLI::Option*> add_contrastive_options(CLI::App& app, ContrastiveArgs& args) {
    const char* group = "Contrastive decoding";
    CLI::Option* amateur = app.add_option("--contrastive-amateur", args.amateur_path,
                                          "contrast against this smaller model (same vocabulary)")
                               ->type_name("PATH")
                               ->group(group);
    CLI::Option* layers = app.add_option("--contrastive-layers", args.amateur_layers,
                                         "contrast against the model's own first K layers (early-exit amateur)")
                              ->type_name("K")
                              ->check(in_range(1, 1023))
                              ->excludes(amateur)
                              ->group(group);
    app.add_option("--contrastive-alpha", args.alpha, "plausibility: keep tokens with p >= alpha * p(max)")
        ->check(in_range(0.0, 1.0))
        ->capture_default_str()
        ->group(group);
    app.add_option("--contrastive-lambda", args.lambda, "weight of the amateur's log-probabilities")
        ->check(in_range(0.0, 10.0))
        ->capture_default_str()
        ->group(group);
    app.add_option("--amateur-temperature", args.amateur_temperature, "temperature of the amateur's distribution")
        ->check(in_range(0.01, 10.0))
        ->capture_default_str()
        ->group(group);
    return {amateur, layers};
}

CLI::Option* add_early_exit_options(CLI::App& app, EarlyExitArgs& args) {
    const char* group = "Early exit (lossy)";
    CLI::Option* entropy =
        app.add_option("--early-exit-entropy", args.max_entropy,
                       "a decode step stops at the first checked layer whose logits' entropy is below H nats")
            ->type_name("H")
            ->check(in_range(1e-6, 100.0))
            ->group(group);
    app.add_option("--early-exit-first-layer", args.first_layer, "first layer checked (default: half the layers)")
        ->type_name("L")
        ->check(in_range(1, 1023))
        ->needs(entropy)
        ->group(group);
    app.add_option("--early-exit-every", args.every, "check every N layers from the first")
        ->check(in_range(1, 1 << 10))
        ->capture_default_str()
        ->needs(entropy)
        ->group(group);
    return entropy;
}

Result<EarlyExitRule> early_exit_rule(const EarlyExitArgs& args, const Engine& engine) {
    const int32_t layers = engine.model().config.n_layers;
    EarlyExitRule rule;
    rule.max_entropy = float(args.max_entropy);
    rule.first_layer = args.first_layer > 0 ? int32_t(args.first_layer) : std::max(1, layers / 2);
    rule.every = int32_t(args.every);
    if (layers < 2) return Status::error("early exit needs a model with at least 2 layers; this one has 1");
    if (rule.first_layer > layers - 1)
        return Status::error("option --early-exit-first-layer is " + std::to_string(rule.first_layer) +
                             ", expected 1.." + std::to_string(layers - 1) + " (the model has " +
                             std::to_string(layers) + " layers)");
    return rule;
}

// --beams N: beam search instead of sampling; prints the hypotheses best first.
int run_beam_search(Engine& engine, const BeamArgs& args, const GenerationRequest& req, bool json) {
    BeamSearchRequest beam;
    const bool add_bos = engine.tokenizer().vocab().add_bos;
    beam.prompt_ids = engine.tokenizer().encode(req.prompt, add_bos, req.parse_special);
    beam.width = int32_t(args.width);
    beam.n_return = int32_t(args.n_return);
    beam.max_tokens = req.max_tokens;
    beam.length_penalty = float(args.length_penalty);
    beam.early_stopping = !args.no_early_stopping;
    beam.constraints = req.sampling;
    auto result = beam_search(engine, beam);
    if (!result) return fail(result.status().message());
    const BeamSearchResult& r = result.value();
    if (json) {
        nlohmann::json hyps = nlohmann::json::array();
        for (const BeamHypothesis& h : r.hypotheses)
            hyps.push_back({{"text", engine.tokenizer().decode(h.ids)},
                            {"ids", h.ids},
                            {"sum_logprob", h.sum_logprob},
                            {"score", h.score},
                            {"finish_reason", h.finish_reason}});
        nlohmann::json j;
        j["prompt_ids"] = beam.prompt_ids;
        j["hypotheses"] = hyps;
        j["stats"] = {{"width", beam.width},
                      {"length_penalty", beam.length_penalty},
                      {"early_stopping", beam.early_stopping},
                      {"steps", r.n_steps},
                      {"forks", r.n_forks},
                      {"prompt_blocks", r.prompt_blocks},
                      {"peak_blocks", r.peak_blocks},
                      {"elapsed_ms", r.elapsed_ms}};
        std::puts(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
        return 0;
    }
    for (size_t i = 0; i < r.hypotheses.size(); ++i) {
        const BeamHypothesis& h = r.hypotheses[i];
        std::printf("[%zu] score %.4f (sum log p %.4f, %zu tokens, %s)\n%s%s\n\n", i + 1, h.score, h.sum_logprob,
                    h.ids.size(), h.finish_reason.c_str(), req.prompt.c_str(),
                    engine.tokenizer().decode(h.ids).c_str());
    }
    std::fprintf(stderr,
                 "[beam search: width %d, %d steps, %d forks, KV blocks %d for the prompt, %d at the peak, %.1f ms]\n",
                 beam.width, r.n_steps, r.n_forks, r.prompt_blocks, r.peak_blocks, r.elapsed_ms);
    return 0;
}

// --contrastive-amateur PATH | --contrastive-layers K: contrastive decoding against
// another model or the expert's first K layers; --json adds the per-token trace.
int run_contrastive(Engine& expert, const ContrastiveArgs& args, const GenerationRequest& req,
                    const EngineOptions& options, bool json) {
    const int32_t n_layers = expert.model().config.n_layers;
    if (args.amateur_layers >= n_layers)
        return usage_error("option --contrastive-layers is " + std::to_string(args.amateur_layers) + ", expected 1.." +
                           std::to_string(n_layers - 1) + " (the model has " + std::to_string(n_layers) + " layers)");
    std::unique_ptr<Engine> amateur;
    if (!args.amateur_path.empty()) {
        auto loaded = Engine::load(args.amateur_path, {}, options);
        if (!loaded) return fail("--contrastive-amateur: " + loaded.status().message());
        amateur = std::move(loaded.value());
    }
    ContrastiveRequest c;
    const Tokenizer& tok = expert.tokenizer();
    c.prompt_ids = tok.encode(req.prompt, tok.vocab().add_bos, req.parse_special);
    c.max_tokens = req.max_tokens;
    c.alpha = float(args.alpha);
    c.lambda = float(args.lambda);
    c.amateur_temperature = float(args.amateur_temperature);
    c.amateur = amateur.get();
    c.amateur_layers = int32_t(args.amateur_layers);
    auto result = contrastive_generate(expert, c);
    if (!result) return fail(result.status().message());
    const ContrastiveResult& r = result.value();
    if (!json) {
        std::printf("%s%s\n", req.prompt.c_str(), tok.decode(r.ids).c_str());
        std::fprintf(stderr,
                     "[contrastive decoding: %zu tokens, %d differ from the expert's greedy choice; %s; %.1f ms]\n",
                     r.ids.size(), r.n_differs, r.stop_reason.c_str(), r.elapsed_ms);
        return 0;
    }
    nlohmann::json trace = nlohmann::json::array();
    for (const ContrastiveToken& t : r.trace) {
        nlohmann::json candidates = nlohmann::json::array();
        for (const ContrastiveCandidate& k : t.candidates)
            candidates.push_back({{"token", k.token},
                                  {"text", tok.decode_token(k.token, true)},
                                  {"p_expert", k.p_expert},
                                  {"p_amateur", k.p_amateur},
                                  {"score", k.score}});
        trace.push_back({{"token", t.token},
                         {"expert_greedy", t.expert_greedy},
                         {"n_plausible", t.n_plausible},
                         {"candidates", candidates}});
    }
    nlohmann::json j;
    j["prompt_ids"] = r.prompt_ids;
    j["ids"] = r.ids;
    j["text"] = tok.decode(r.ids);
    j["stop_reason"] = r.stop_reason;
    j["contrastive"] = {
        {"amateur", amateur ? args.amateur_path : "first " + std::to_string(c.amateur_layers) + " layers"},
        {"alpha", c.alpha},
        {"lambda", c.lambda},
        {"amateur_temperature", c.amateur_temperature},
        {"differs_from_greedy", r.n_differs},
        {"elapsed_ms", r.elapsed_ms},
        {"trace", trace}};
    std::puts(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return 0;
}

}  // namespace lumen::cli
