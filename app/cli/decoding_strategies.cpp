// lumen-cli generate's decoding strategies other than the sampling chain.
#include "cli/decoding_strategies.h"

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/cmd_common.h"
#include "cli/commands.h"
#include "runtime/beam_search.h"
#include "runtime/contrastive.h"

namespace lumen::cli {

// --beams N: beam search instead of sampling; prints the hypotheses best first.
int run_beam_search(Engine& engine, const Args& args, const GenerationRequest& req, bool json) {
    auto width = args.get_int("--beams", 4, 1, 64);
    if (!width) return fail(width.status().message());
    auto n_return = args.get_int("--beam-return", 1, 1, 64);
    if (!n_return) return fail(n_return.status().message());
    auto length_penalty = args.get_double("--length-penalty", 1.0, -10.0, 10.0);
    if (!length_penalty) return fail(length_penalty.status().message());
    BeamSearchRequest beam;
    const bool add_bos = engine.tokenizer().vocab().add_bos;
    beam.prompt_ids = engine.tokenizer().encode(req.prompt, add_bos, req.parse_special);
    beam.width = int32_t(*width);
    beam.n_return = int32_t(*n_return);
    beam.max_tokens = req.max_tokens;
    beam.length_penalty = float(*length_penalty);
    beam.early_stopping = !args.has("--no-early-stopping");
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
        j["stats"] = {{"width", beam.width},          {"length_penalty", beam.length_penalty},
                      {"early_stopping", beam.early_stopping}, {"steps", r.n_steps},
                      {"forks", r.n_forks},           {"prompt_blocks", r.prompt_blocks},
                      {"peak_blocks", r.peak_blocks}, {"elapsed_ms", r.elapsed_ms}};
        std::puts(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
        return 0;
    }
    for (size_t i = 0; i < r.hypotheses.size(); ++i) {
        const BeamHypothesis& h = r.hypotheses[i];
        std::printf("[%zu] score %.4f (sum log p %.4f, %zu tokens, %s)\n%s%s\n\n", i + 1, h.score, h.sum_logprob,
                    h.ids.size(), h.finish_reason.c_str(), req.prompt.c_str(), engine.tokenizer().decode(h.ids).c_str());
    }
    std::fprintf(stderr, "[beam search: width %d, %d steps, %d forks, KV blocks %d for the prompt, %d at the peak, %.1f ms]\n",
                 beam.width, r.n_steps, r.n_forks, r.prompt_blocks, r.peak_blocks, r.elapsed_ms);
    return 0;
}


// --contrastive-amateur PATH | --contrastive-layers K: contrastive decoding against
// another model or the expert's first K layers; --json adds the per-token trace.
int run_contrastive(Engine& expert, const Args& args, const GenerationRequest& req, const EngineOptions& options,
                    bool json) {
    if (args.has("--contrastive-amateur") && args.has("--contrastive-layers"))
        return fail("--contrastive-amateur and --contrastive-layers cannot be combined; choose one amateur");
    auto layers = args.get_int("--contrastive-layers", 0, 1, expert.model().config.n_layers - 1);
    if (args.has("--contrastive-layers") && !layers) return fail(layers.status().message());
    auto alpha = args.get_double("--contrastive-alpha", 0.1, 0.0, 1.0);
    if (!alpha) return fail(alpha.status().message());
    auto lambda = args.get_double("--contrastive-lambda", 1.0, 0.0, 10.0);
    if (!lambda) return fail(lambda.status().message());
    auto amateur_temperature = args.get_double("--amateur-temperature", 1.0, 0.01, 10.0);
    if (!amateur_temperature) return fail(amateur_temperature.status().message());
    std::unique_ptr<Engine> amateur;
    if (args.has("--contrastive-amateur")) {
        auto loaded = Engine::load(args.get("--contrastive-amateur"), {}, options);
        if (!loaded) return fail("--contrastive-amateur: " + loaded.status().message());
        amateur = std::move(loaded.value());
    }
    ContrastiveRequest c;
    const Tokenizer& tok = expert.tokenizer();
    c.prompt_ids = tok.encode(req.prompt, tok.vocab().add_bos, req.parse_special);
    c.max_tokens = req.max_tokens;
    c.alpha = float(*alpha);
    c.lambda = float(*lambda);
    c.amateur_temperature = float(*amateur_temperature);
    c.amateur = amateur.get();
    c.amateur_layers = args.has("--contrastive-layers") ? int32_t(*layers) : 0;
    auto result = contrastive_generate(expert, c);
    if (!result) return fail(result.status().message());
    const ContrastiveResult& r = result.value();
    if (!json) {
        std::printf("%s%s\n", req.prompt.c_str(), tok.decode(r.ids).c_str());
        std::fprintf(stderr, "[contrastive decoding: %zu tokens, %d differ from the expert's greedy choice; %s; %.1f ms]\n",
                     r.ids.size(), r.n_differs, r.stop_reason.c_str(), r.elapsed_ms);
        return 0;
    }
    nlohmann::json trace = nlohmann::json::array();
    for (const ContrastiveToken& t : r.trace) {
        nlohmann::json candidates = nlohmann::json::array();
        for (const ContrastiveCandidate& k : t.candidates)
            candidates.push_back({{"token", k.token}, {"text", tok.decode_token(k.token, true)}, {"p_expert", k.p_expert},
                                  {"p_amateur", k.p_amateur}, {"score", k.score}});
        trace.push_back({{"token", t.token}, {"expert_greedy", t.expert_greedy}, {"n_plausible", t.n_plausible},
                         {"candidates", candidates}});
    }
    nlohmann::json j;
    j["prompt_ids"] = r.prompt_ids;
    j["ids"] = r.ids;
    j["text"] = tok.decode(r.ids);
    j["stop_reason"] = r.stop_reason;
    j["contrastive"] = {{"amateur", amateur ? args.get("--contrastive-amateur") : "first " + std::to_string(c.amateur_layers) + " layers"},
                        {"alpha", c.alpha}, {"lambda", c.lambda}, {"amateur_temperature", c.amateur_temperature},
                        {"differs_from_greedy", r.n_differs}, {"elapsed_ms", r.elapsed_ms}, {"trace", trace}};
    std::puts(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return 0;
}

}  // namespace lumen::cli
