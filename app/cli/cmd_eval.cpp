// lumen-cli eval: perplexity of a model on a text file (chunked as llama-perplexity),
// and with --reference the KL divergence and top-1 agreement against another model.
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/cmd_common.h"
#include "cli/commands.h"
#include "runtime/evaluate.h"

namespace lumen::cli {

int cmd_eval(const std::vector<std::string>& argv) {
    auto args = Args::parse(argv, {"--model", "--tokenizer", "--text", "--ctx", "--chunks", "--reference", "--threads",
                                   "--kv-type", "--weights", "--weights-mix", "--kv", "--calib", "--calib-samples", "--calib-tokens", "--outlier-threshold", "--device"},
                            {"--json", "--gptq"});
    if (!args) return fail(args.status().message());
    auto model_path = args->required("--model");
    if (!model_path) return fail(model_path.status().message());
    auto text_path = args->required("--text");
    if (!text_path) return fail(text_path.status().message());
    auto n_ctx = args->get_int("--ctx", 512, 4, 1 << 20);
    if (!n_ctx) return fail(n_ctx.status().message());
    auto chunks = args->get_int("--chunks", -1, -1, 1 << 30);
    if (!chunks) return fail(chunks.status().message());
    auto options = parse_engine_options(*args);
    if (!options) return fail(options.status().message());
    std::ifstream in(text_path.value(), std::ios::binary);
    if (!in) return fail("cannot open the text file '" + text_path.value() + "'");
    std::stringstream buffer;
    buffer << in.rdbuf();

    EngineOptions engine_options = options.value();
    engine_options.kv_tokens = int32_t(n_ctx.value());
    LoadOptions load;
    load.tokenizer_path = args->get("--tokenizer");
    auto engine = Engine::load(model_path.value(), load, engine_options);
    if (!engine) return fail(engine.status().message());
    std::unique_ptr<Engine> reference;
    if (args->has("--reference")) {
        EngineOptions reference_options = engine_options;
        // The reference keeps its file's types and a KV cache in f16 (f32 when asked for).
        reference_options.weights_scheme.clear();
        reference_options.weights_mix.clear();
        reference_options.weights_gptq = false;
        if (reference_options.kv_type != DType::F32) reference_options.kv_type = DType::F16;
        auto ref = Engine::load(args->get("--reference"), {}, reference_options);
        if (!ref) return fail("--reference: " + ref.status().message());
        reference = std::move(ref.value());
    }
    const Tokenizer& tok = engine.value()->tokenizer();
    const std::vector<int32_t> tokens = tok.encode(buffer.str(), tok.vocab().add_bos, false);
    EvalOptions eval;
    eval.n_ctx = int32_t(n_ctx.value());
    eval.max_chunks = int32_t(chunks.value());
    const bool json = args->has("--json");
    auto result = evaluate_perplexity(*engine.value(), tokens, eval, reference.get(), [&](int32_t c, double ppl) {
        if (!json) std::fprintf(stderr, "[%d]%.4f,", c + 1, ppl);
    });
    if (!json) std::fputc('\n', stderr);
    if (!result) return fail(result.status().message());
    const EvalResult& r = result.value();
    if (json) {
        nlohmann::json j = {{"model", model_path.value()}, {"text", text_path.value()},  {"tokens", tokens.size()},
                            {"n_ctx", eval.n_ctx},         {"chunks", r.n_chunks},       {"scored", r.n_scored},
                            {"perplexity", r.perplexity},  {"perplexity_error", r.perplexity_error},
                            {"chunk_perplexity", r.chunk_perplexity},
                            {"weights", engine_options.weights_scheme.empty() ? "as stored" : engine_options.weights_scheme},
                            {"weights_mix", engine_options.weights_mix},
                            {"kv", dtype_name(engine_options.kv_type)}};
        if (engine_options.weights_gptq) j["calibration"] = calibration_report_json(engine.value()->calibration_report());
        if (r.has_reference)
            j["reference"] = {{"model", args->get("--reference")},
                              {"perplexity", r.reference_perplexity},
                              {"kld_mean", r.kld_mean},
                              {"kld_p99", r.kld_p99},
                              {"kld_max", r.kld_max},
                              {"top1_agreement", r.top1_agreement}};
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

}  // namespace lumen::cli
