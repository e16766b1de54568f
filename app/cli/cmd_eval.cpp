// lumen-cli eval: perplexity of a model on a text file (chunked as llama-perplexity),
// and with --reference the KL divergence and top-1 agreement against another model.
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.h"
#include "cli/options.h"
#include "runtime/evaluate.h"

namespace lumen::cli {

namespace {

struct EvalArgs {
    ModelArgs model;
    EngineArgs engine;
    std::string text;
    int ctx = 512;
    int chunks = -1;
    std::string reference;
    bool json = false;
};

int run_eval(const EvalArgs& a);

}  // namespace

Command add_eval_command(CLI::App& root) {
    auto args = std::make_shared<EvalArgs>();
    CLI::App* app = root.add_subcommand(
        "eval", "perplexity on a text file, and KL divergence against a reference model (as llama-perplexity)");
    add_model_options(*app, args->model);
    app->add_option("--text", args->text, "the text file to score")->required()->type_name("FILE");
    add_engine_options(*app, args->engine);
    // eval's --ctx is its chunk length (llama-perplexity's -c); it replaces the engine's.
    app->remove_option(app->get_option("--ctx"));
    app->add_option("--ctx,-c", args->ctx, "tokens per chunk")->check(in_range(4, 1 << 20))->capture_default_str();
    app->add_option("--chunks", args->chunks, "chunks to score at most (-1: all)")
        ->check(in_range(-1, 1 << 30))
        ->capture_default_str();
    app->add_option("--reference", args->reference, "a model to compare with: KL divergence and top-1 agreement")
        ->type_name("PATH");
    app->add_flag("--json", args->json, "print one JSON object");
    add_quantization_options(*app, args->engine);
    return {app, [args] { return run_eval(*args); }};
}

namespace {

int run_eval(const EvalArgs& a) {
    auto options = a.engine.to_engine_options();
    if (!options) return usage_error(options.status().message());
    std::ifstream in(a.text, std::ios::binary);
    if (!in) return fail("cannot open the text file '" + a.text + "'");
    std::stringstream buffer;
    buffer << in.rdbuf();

    EngineOptions engine_options = options.value();
    engine_options.kv_tokens = int32_t(a.ctx);
    auto engine = Engine::load(a.model.model, a.model.load_options(), engine_options);
    if (!engine) return fail(engine.status().message());
    std::unique_ptr<Engine> reference;
    if (!a.reference.empty()) {
        EngineOptions reference_options = engine_options;
        // The reference keeps its file's types and a KV cache in f16 (f32 when asked for).
        reference_options.weights_scheme.clear();
        reference_options.weights_mix.clear();
        reference_options.weights_gptq = false;
        if (reference_options.kv_type != DType::F32) reference_options.kv_type = DType::F16;
        auto ref = Engine::load(a.reference, {}, reference_options);
        if (!ref) return fail("--reference: " + ref.status().message());
        reference = std::move(ref.value());
    }
    const Tokenizer& tok = engine.value()->tokenizer();
    const std::vector<int32_t> tokens = tok.encode(buffer.str(), tok.vocab().add_bos, false);
    EvalOptions eval;
    eval.n_ctx = int32_t(a.ctx);
    eval.max_chunks = int32_t(a.chunks);
    const bool json = a.json;
    auto result = evaluate_perplexity(*engine.value(), tokens, eval, reference.get(), [&](int32_t c, double ppl) {
        if (!json) std::fprintf(stderr, "[%d]%.4f,", c + 1, ppl);
    });
    if (!json) std::fputc('\n', stderr);
    if (!result) return fail(result.status().message());
    const EvalResult& r = result.value();
    if (json) {
        nlohmann::json j = {
            {"model", a.model.model},
            {"text", a.text},
            {"tokens", tokens.size()},
            {"n_ctx", eval.n_ctx},
            {"chunks", r.n_chunks},
            {"scored", r.n_scored},
            {"perplexity", r.perplexity},
            {"perplexity_error", r.perplexity_error},
            {"chunk_perplexity", r.chunk_perplexity},
            {"weights", engine_options.weights_scheme.empty() ? "as stored" : engine_options.weights_scheme},
            {"weights_mix", engine_options.weights_mix},
            {"kv", dtype_name(engine_options.kv_type)}};
        if (engine_options.weights_gptq)
            j["calibration"] = calibration_report_json(engine.value()->calibration_report());
        if (r.has_reference)
            j["reference"] = {{"model", a.reference},   {"perplexity", r.reference_perplexity},
                              {"kld_mean", r.kld_mean}, {"kld_p99", r.kld_p99},
                              {"kld_max", r.kld_max},   {"top1_agreement", r.top1_agreement}};
        std::puts(j.dump(2).c_str());
        return 0;
    }
    std::printf("PPL = %.4f +/- %.5f (%d chunks of %d tokens, %lld predictions scored)\n", r.perplexity,
                r.perplexity_error, r.n_chunks, eval.n_ctx, (long long)r.n_scored);
    if (r.has_reference)
        std::printf("reference PPL = %.4f; KLD mean %.6f, p99 %.6f, max %.6f; top-1 agreement %.2f %%\n",
                    r.reference_perplexity, r.kld_mean, r.kld_p99, r.kld_max, 100.0 * r.top1_agreement);
    return 0;
}

}  // namespace

}  // namespace lumen::cli
