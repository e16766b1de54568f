// The shared option groups of lumen-cli, declared once.
#include "cli/options.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "kv/block_pool.h"
#include "quant/quantize.h"

namespace lumen::cli {

namespace {

constexpr const char* kModelGroup = "Model";
constexpr const char* kEngineGroup = "Engine";
constexpr const char* kQuantGroup = "Load-time quantization";
constexpr const char* kSamplingGroup = "Sampling";
constexpr const char* kSpeculativeGroup = "Speculative decoding";

// A message on one line, its control bytes as \xNN: a message may quote user input.
std::string escaped_line(const std::string& message) {
    std::string out;
    for (unsigned char c : message) {
        if (c == '\n' || c == '\r' || c == '\t') {
            out += ' ';
        } else if (c < 0x20 || c == 0x7f) {
            char hex[8];
            std::snprintf(hex, sizeof hex, "\\x%02X", c);
            out += hex;
        } else {
            out += char(c);
        }
    }
    return out;
}

std::string format_number(double v) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", v);
    return text;
}

}  // namespace

CLI::Validator in_range(long long lo, long long hi) {
    const std::string expected = "expected an integer in " + std::to_string(lo) + ".." + std::to_string(hi);
    return CLI::Validator(
        [lo, hi, expected](std::string& value) -> std::string {
            errno = 0;
            char* end = nullptr;
            const long long v = std::strtoll(value.c_str(), &end, 10);
            if (errno || end == value.c_str() || *end != '\0') return "'" + value + "' is not an integer; " + expected;
            if (v < lo || v > hi) return "'" + value + "' is out of range; " + expected;
            return {};
        },
        "[" + std::to_string(lo) + ".." + std::to_string(hi) + "]");
}

CLI::Validator in_range(double lo, double hi) {
    const std::string range = format_number(lo) + ".." + format_number(hi);
    const std::string expected = "expected a number in " + range;
    return CLI::Validator(
        [lo, hi, expected](std::string& value) -> std::string {
            errno = 0;
            char* end = nullptr;
            const double v = std::strtod(value.c_str(), &end);
            if (errno || end == value.c_str() || *end != '\0' || !std::isfinite(v))
                return "'" + value + "' is not a number; " + expected;
            if (v < lo || v > hi) return "'" + value + "' is out of range; " + expected;
            return {};
        },
        "[" + range + "]");
}

LoadOptions ModelArgs::load_options() const {
    LoadOptions load;
    load.tokenizer_path = tokenizer;
    return load;
}

void add_model_options(CLI::App& app, ModelArgs& args) {
    app.add_option("--model,-m", args.model, "model file: GGUF, or a llama2.c checkpoint")
        ->required()
        ->type_name("PATH")
        ->group(kModelGroup);
    app.add_option("--tokenizer", args.tokenizer, "llama2.c tokenizer.bin to use instead of the model's own vocabulary")
        ->type_name("PATH")
        ->group(kModelGroup);
}

void add_engine_options(CLI::App& app, EngineArgs& args) {
    app.add_option("--threads,-t", args.threads, "CPU threads (0: one per core)")
        ->check(in_range(0, 1024))
        ->capture_default_str()
        ->group(kEngineGroup);
    app.add_option("--ctx", args.ctx, "KV cache capacity in tokens (0: the model's context, at most 4096)")
        ->check(in_range(0, 1 << 24))
        ->capture_default_str()
        ->group(kEngineGroup);
    app.add_option("--kv,--kv-type", args.kv, "the KV cache's format: " + kv_cache_type_names())
        ->check(engine_check("FMT", [](const std::string& v) { return parse_kv_cache_type(v); }))
        ->capture_default_str()
        ->group(kEngineGroup);
    app.add_option("--device", args.device, "compute device; cuda and auto fall back to the CPU with a warning")
        ->check(CLI::IsMember({"cpu", "cuda", "auto"}))
        ->capture_default_str()
        ->group(kEngineGroup);
}

void add_quantization_options(CLI::App& app, EngineArgs& args, bool gptq_flag) {
    CLI::Option* weights =
        app.add_option("--weights", args.weights, "re-encode the weights at load time: " + quant_scheme_names())
            ->check(engine_check("FMT", [](const std::string& v) { return parse_quant_scheme(v); }))
            ->group(kQuantGroup);
    app.add_option("--weights-mix", args.weights_mix,
                   "TYPE:embd,output,first,last keeps those tensors in TYPE (mixed precision)")
        ->check(engine_check("MIX", [](const std::string& v) { return parse_quant_mix(v); }))
        ->needs(weights)
        ->group(kQuantGroup);
    CLI::Option* calib_base = weights;
    if (gptq_flag)
        calib_base = app.add_flag("--gptq", args.gptq, "GPTQ instead of round-to-nearest for --weights")
                         ->needs(weights)
                         ->group(kQuantGroup);
    app.add_option("--calib", args.calib, "GPTQ's calibration text file (default: the bundled text)")
        ->type_name("FILE")
        ->needs(calib_base)
        ->group(kQuantGroup);
    app.add_option("--calib-samples", args.calib_samples, "calibration samples")
        ->check(in_range(1, 1 << 16))
        ->capture_default_str()
        ->needs(calib_base)
        ->group(kQuantGroup);
    app.add_option("--calib-tokens", args.calib_tokens, "tokens per calibration sample")
        ->check(in_range(2, 1 << 20))
        ->capture_default_str()
        ->needs(calib_base)
        ->group(kQuantGroup);
    args.outlier_option = app.add_option("--outlier-threshold", args.outlier_threshold,
                                         "int8-w8a8 (LLM.int8): activations above this magnitude stay f32")
                              ->check(in_range(0.0, 1e30))
                              ->capture_default_str()
                              ->needs(weights)
                              ->group(kQuantGroup);
}

Result<EngineOptions> EngineArgs::to_engine_options() const {
    EngineOptions o;
    o.backend.n_threads = threads;
    o.backend.device = device;
    o.kv_tokens = ctx;
    auto kv_type = parse_kv_cache_type(kv);
    if (!kv_type) return kv_type.status();
    o.kv_type = kv_type.value();
    o.weights_scheme = weights;
    o.weights_mix = weights_mix;
    o.weights_gptq = gptq;
    if (outlier_option && outlier_option->count() > 0 && weights != "int8-w8a8")
        return Status::error("option --outlier-threshold applies to --weights int8-w8a8, not '" + weights + "'");
    o.outlier_threshold = float(outlier_threshold);
    if (!calib.empty()) o.calibration.text_path = calib;
    o.calibration.samples = calib_samples;
    o.calibration.sample_tokens = calib_tokens;
    return o;
}

void add_sampling_options(CLI::App& app, SamplingParams& p) {
    app.add_option("--temperature", p.temperature, "0 or less: greedy")
        ->check(in_range(0.0, 100.0))
        ->capture_default_str()
        ->group(kSamplingGroup);
    app.add_option("--top-k", p.top_k, "keep the k most likely tokens (0: off)")
        ->check(in_range(0, 1 << 30))
        ->capture_default_str()
        ->group(kSamplingGroup);
    app.add_option("--top-p", p.top_p, "nucleus: the smallest set with this much probability (1: off)")
        ->check(in_range(0.0, 1.0))
        ->capture_default_str()
        ->group(kSamplingGroup);
    app.add_option("--min-p", p.min_p, "drop tokens below min-p times the top probability (0: off)")
        ->check(in_range(0.0, 1.0))
        ->capture_default_str()
        ->group(kSamplingGroup);
    app.add_option("--repeat-penalty", p.repeat_penalty, "penalty for recent tokens (1: off)")
        ->check(in_range(0.01, 100.0))
        ->capture_default_str()
        ->group(kSamplingGroup);
    app.add_option("--presence-penalty", p.presence_penalty, "subtracted once from recent tokens' logits")
        ->check(in_range(-100.0, 100.0))
        ->capture_default_str()
        ->group(kSamplingGroup);
    app.add_option("--frequency-penalty", p.frequency_penalty, "subtracted per occurrence from recent tokens' logits")
        ->check(in_range(-100.0, 100.0))
        ->capture_default_str()
        ->group(kSamplingGroup);
    app.add_option("--repeat-last-n", p.penalty_last_n, "the penalties' window of recent tokens (-1: all)")
        ->check(in_range(-1, 1 << 30))
        ->capture_default_str()
        ->group(kSamplingGroup);
    app.add_option("--no-repeat-ngram", p.no_repeat_ngram, "never repeat an n-gram of this size (0: off)")
        ->check(in_range(0, 1 << 16))
        ->capture_default_str()
        ->group(kSamplingGroup);
    app.add_option("--seed", p.seed, "random seed; the same seed gives the same draws")
        ->check(in_range(0LL, 1LL << 62))
        ->capture_default_str()
        ->group(kSamplingGroup);
}

void add_speculative_options(CLI::App& app, SpeculativeArgs& args, bool tuning) {
    CLI::Option* lookup =
        app.add_option("--lookup-draft", args.lookup_draft, "prompt-lookup drafts of up to K tokens (0: off)")
            ->type_name("K")
            ->check(in_range(0, 64))
            ->group(kSpeculativeGroup);
    CLI::Option* draft_model =
        app.add_option("--draft-model", args.draft_model, "a smaller model with the same vocabulary drafts tokens")
            ->type_name("PATH")
            ->excludes(lookup)
            ->group(kSpeculativeGroup);
    app.add_option("--draft-tokens", args.draft_tokens, "tokens the draft model proposes per step")
        ->type_name("K")
        ->check(in_range(1, 64))
        ->capture_default_str()
        ->needs(draft_model)
        ->group(kSpeculativeGroup);
    if (!tuning) return;
    app.add_option("--lookup-ngram", args.lookup_ngram, "longest n-gram prompt lookup matches")
        ->check(in_range(1, 64))
        ->capture_default_str()
        ->needs(lookup)
        ->group(kSpeculativeGroup);
    app.add_flag("--lookup-adaptive", args.lookup_adaptive, "adapt the prompt-lookup draft length to acceptance")
        ->needs(lookup)
        ->group(kSpeculativeGroup);
    app.add_flag("--draft-adaptive", args.draft_adaptive, "adapt the draft model's draft length to acceptance")
        ->needs(draft_model)
        ->group(kSpeculativeGroup);
}

int usage_error(const std::string& message) {
    std::fprintf(stderr, "lumen-cli: %s\n", escaped_line(message).c_str());
    return 2;
}

int fail(const std::string& message) {
    std::fprintf(stderr, "lumen-cli: %s\n", escaped_line(message).c_str());
    return 1;
}

}  // namespace lumen::cli
