// Parsing of the sampling and engine options shared by generate and chat.
#include "cli/cmd_common.h"

#include <cstdio>

#include "cli/commands.h"
#include "kv/block_pool.h"
#include "quant/quantize.h"

namespace lumen::cli {

const std::set<std::string> kSamplingOptions = {"--temperature",    "--top-k",           "--top-p", "--min-p",
                                                "--repeat-penalty", "--presence-penalty", "--frequency-penalty",
                                                "--seed",           "--repeat-last-n",   "--no-repeat-ngram"};

Result<SamplingParams> parse_sampling(const Args& a) {
    SamplingParams p;
    auto temp = a.get_double("--temperature", p.temperature, 0, 100);
    if (!temp) return temp.status();
    auto top_k = a.get_int("--top-k", p.top_k, 0, 1 << 30);
    if (!top_k) return top_k.status();
    auto top_p = a.get_double("--top-p", p.top_p, 0, 1);
    if (!top_p) return top_p.status();
    auto min_p = a.get_double("--min-p", p.min_p, 0, 1);
    if (!min_p) return min_p.status();
    auto rep = a.get_double("--repeat-penalty", p.repeat_penalty, 0.01, 100);
    if (!rep) return rep.status();
    auto pres = a.get_double("--presence-penalty", p.presence_penalty, -100, 100);
    if (!pres) return pres.status();
    auto freq = a.get_double("--frequency-penalty", p.frequency_penalty, -100, 100);
    if (!freq) return freq.status();
    auto last_n = a.get_int("--repeat-last-n", p.penalty_last_n, -1, 1 << 30);
    if (!last_n) return last_n.status();
    auto seed = a.get_int("--seed", (long long)(p.seed & 0x7FFFFFFFFFFFFFFFull), 0, (1ll << 62));
    if (!seed) return seed.status();
    auto no_repeat = a.get_int("--no-repeat-ngram", 0, 0, 1 << 16);
    if (!no_repeat) return no_repeat.status();
    p.no_repeat_ngram = int32_t(no_repeat.value());
    p.temperature = float(temp.value());
    p.top_k = int32_t(top_k.value());
    p.top_p = float(top_p.value());
    p.min_p = float(min_p.value());
    p.repeat_penalty = float(rep.value());
    p.presence_penalty = float(pres.value());
    p.frequency_penalty = float(freq.value());
    p.penalty_last_n = int32_t(last_n.value());
    p.seed = uint64_t(seed.value());
    return p;
}

Result<EngineOptions> parse_engine_options(const Args& a, bool gptq_implied) {
    EngineOptions o;
    auto threads = a.get_int("--threads", 0, 0, 1024);
    if (!threads) return threads.status();
    auto ctx = a.get_int("--ctx", 0, 0, 1 << 24);
    if (!ctx) return ctx.status();
    if (a.has("--kv") && a.has("--kv-type")) return Status::error("options --kv and --kv-type name the same setting; give one");
    const char* kv_flag = a.has("--kv") ? "--kv" : "--kv-type";
    auto kv_type = parse_kv_cache_type(a.get(kv_flag, "f16"));
    if (!kv_type) return Status::error(std::string("option ") + kv_flag + ": " + kv_type.status().message());
    o.kv_type = kv_type.value();
    o.backend.device = a.get("--device", "cpu");
    o.backend.n_threads = int(threads.value());
    o.kv_tokens = int32_t(ctx.value());
    if (a.has("--weights")) {
        auto scheme = parse_quant_scheme(a.get("--weights"));
        if (!scheme) return Status::error("option --weights: " + scheme.status().message());
        o.weights_scheme = a.get("--weights");
    }
    if (a.has("--weights-mix")) {
        auto mix = parse_quant_mix(a.get("--weights-mix"));
        if (!mix) return Status::error("option --weights-mix: " + mix.status().message());
        if (!a.has("--weights")) return Status::error("option --weights-mix needs --weights for the other tensors");
        o.weights_mix = a.get("--weights-mix");
    }
    const bool calibrating = a.has("--calib") || a.has("--calib-samples") || a.has("--calib-tokens");
    const bool gptq = a.has("--gptq") || gptq_implied;
    if ((gptq || calibrating) && !a.has("--weights"))
        return Status::error("option --gptq (and --calib*) needs --weights, the format GPTQ quantizes to");
    if (calibrating && !gptq) return Status::error("options --calib* set up GPTQ's calibration; add --gptq");
    o.weights_gptq = gptq;
    if (a.has("--outlier-threshold")) {
        auto t = a.get_double("--outlier-threshold", 6.0, 0.0, 1e30);
        if (!t) return t.status();
        if (a.get("--weights") != "int8-w8a8") return Status::error("option --outlier-threshold applies to --weights int8-w8a8");
        o.outlier_threshold = float(t.value());
    }
    o.calibration.text_path = a.get("--calib", o.calibration.text_path);
    auto samples = a.get_int("--calib-samples", o.calibration.samples, 1, 1 << 16);
    if (!samples) return samples.status();
    auto sample_tokens = a.get_int("--calib-tokens", o.calibration.sample_tokens, 2, 1 << 20);
    if (!sample_tokens) return sample_tokens.status();
    o.calibration.samples = int32_t(samples.value());
    o.calibration.sample_tokens = int32_t(sample_tokens.value());
    return o;
}

int fail(const std::string& message) {
    std::fprintf(stderr, "lumen-cli: %s\n", message.c_str());
    return 1;
}

}  // namespace lumen::cli
