// The option groups that several lumen-cli subcommands share, each declared once
// on a CLI11 App: the model, the engine (threads, context, KV cache, device), load-time
// quantization, the sampling chain and speculative drafts. Each group binds to a plain
// struct that the command converts to engine options after parsing; ranges, choices,
// conflicts (excludes) and dependencies (needs) are declared on the options.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "runtime/engine.h"

namespace lumen::cli {

struct ModelArgs {
    std::string model;
    std::string tokenizer;
    LoadOptions load_options() const;
};

struct EngineArgs {
    int threads = 0;
    int ctx = 0;
    std::string kv = "f16";
    std::string device = "cpu";
    // Load-time quantization (add_quantization_options).
    std::string weights;
    std::string weights_mix;
    bool gptq = false;
    std::string calib;
    int calib_samples = CalibrationOptions{}.samples;
    int calib_tokens = CalibrationOptions{}.sample_tokens;
    double outlier_threshold = 6.0;
    CLI::Option* outlier_option = nullptr;

    // The engine options these describe; an error for combinations no option can declare.
    Result<EngineOptions> to_engine_options() const;
};

struct SpeculativeArgs {
    int lookup_draft = 0;
    int lookup_ngram = 3;
    bool lookup_adaptive = false;
    std::string draft_model;
    int draft_tokens = kDefaultDraftTokens;
    bool draft_adaptive = false;
};

// --model (required) and --tokenizer.
void add_model_options(CLI::App& app, ModelArgs& args);
// --threads --ctx --kv/--kv-type --device.
void add_engine_options(CLI::App& app, EngineArgs& args);
// --weights --weights-mix and GPTQ's --gptq --calib --calib-samples --calib-tokens, and
// --outlier-threshold. Without `gptq_flag` (calibrate: GPTQ is what it runs) the --calib*
// options need only --weights.
void add_quantization_options(CLI::App& app, EngineArgs& args, bool gptq_flag = true);
// --temperature --top-k --top-p --min-p --repeat-penalty --presence-penalty
// --frequency-penalty --repeat-last-n --no-repeat-ngram --seed.
void add_sampling_options(CLI::App& app, SamplingParams& params);
// --lookup-draft --draft-model --draft-tokens, and with `tuning` --lookup-ngram
// --lookup-adaptive --draft-adaptive.
void add_speculative_options(CLI::App& app, SpeculativeArgs& args, bool tuning = true);

// A range check whose message names the value and the expected range plainly
// ("'lots' is not an integer; expected an integer in 0..16777216").
CLI::Validator in_range(long long lo, long long hi);
CLI::Validator in_range(double lo, double hi);
inline CLI::Validator in_range(int lo, int hi) {
    return in_range((long long)lo, (long long)hi);
}

// A CLI11 check that runs an engine parser (kv format, quantization scheme, mix) and
// reports its message.
template <typename Parse>
CLI::Validator engine_check(const std::string& description, Parse parse) {
    return CLI::Validator(
        [parse](std::string& value) -> std::string {
            auto parsed = parse(value);
            return parsed ? std::string() : parsed.status().message();
        },
        description);
}

// The usage error for a combination of values that no declaration covers: one line
// "lumen-cli: <message>" on stderr; returns exit code 2.
int usage_error(const std::string& message);
// A runtime error (bad file, full pool, ...): one line on stderr; returns exit code 1.
int fail(const std::string& message);

}  // namespace lumen::cli
