// lumen-cli synth: write a random-weight model in the shape of a known model
// (--preset) or of explicit dimensions, in any weight type or quantization scheme.
// Explicit flags override the preset's values (e.g. --layers 2 for a quick file).
#include <cstdio>
#include <filesystem>

#include "cli/args.h"
#include "cli/commands.h"
#include "model/synth.h"

namespace lumen::cli {

namespace {

std::string preset_list() {
    std::string names;
    for (const auto& n : synth_preset_names()) names += (names.empty() ? "" : ", ") + n;
    return names;
}

// An integer option that overrides *field when given; a preset-less run must give it.
Status take_int(const Args& a, const std::string& name, int32_t* field, bool required, long long lo, long long hi) {
    if (required && !a.has(name)) return Status::error("missing required option " + name + " (or give --preset)");
    auto v = a.get_int(name, *field, lo, hi);
    if (!v) return v.status();
    *field = int32_t(v.value());
    return Status::ok();
}

Result<SynthSpec> spec_from_args(const Args& a, std::string* default_vocab_file) {
    SynthSpec spec;
    const bool has_preset = a.has("--preset");
    if (has_preset) {
        auto preset = synth_preset(a.get("--preset"));
        if (!preset)
            return Status::error("option --preset is '" + a.get("--preset") + "', expected one of " + preset_list());
        spec = preset->spec;
        *default_vocab_file = preset->vocab_file;
    }
    LUMEN_TRY(take_int(a, "--dim", &spec.dim, !has_preset, 1, 65536));
    LUMEN_TRY(take_int(a, "--layers", &spec.n_layers, !has_preset, 1, 1024));
    LUMEN_TRY(take_int(a, "--heads", &spec.n_heads, !has_preset, 1, 1024));
    if (!has_preset) spec.n_kv_heads = spec.n_heads;
    LUMEN_TRY(take_int(a, "--kv-heads", &spec.n_kv_heads, false, 1, 1024));
    LUMEN_TRY(take_int(a, "--head-dim", &spec.head_dim, false, 0, 1024));
    LUMEN_TRY(take_int(a, "--ffn", &spec.ffn_dim, !has_preset, 1, 1 << 20));
    LUMEN_TRY(take_int(a, "--ctx", &spec.context_length, false, 1, 1 << 24));
    if (a.has("--arch")) spec.architecture = a.get("--arch");
    if (spec.architecture != "llama" && spec.architecture != "qwen2")
        return Status::error("option --arch is '" + spec.architecture + "', expected llama or qwen2");
    auto theta = a.get_double("--rope-theta", spec.rope_theta, 1, 1e9);
    if (!theta) return theta.status();
    spec.rope_theta = float(theta.value());
    auto std_dev = a.get_double("--std", spec.init_std, 0, 100);
    if (!std_dev) return std_dev.status();
    spec.init_std = float(std_dev.value());
    if (a.has("--untied")) spec.tied_output = false;
    auto seed = a.get_int("--seed", (long long)spec.seed, 0, 1ll << 62);
    if (!seed) return seed.status();
    spec.seed = uint64_t(seed.value());
    if (!a.has("--type")) return Status::error("missing required option --type (one of " + quant_scheme_names() + ")");
    auto scheme = parse_quant_scheme(a.get("--type"));
    if (!scheme) return Status::error("option --type: " + scheme.status().message());
    spec.scheme = scheme.value();
    return spec;
}

// --vocab, else the preset's vocabulary in this source tree's tests/data/tokenizer/.
Result<std::string> vocab_path(const Args& a, const std::string& default_vocab_file) {
    if (a.has("--vocab")) return a.get("--vocab");
    if (default_vocab_file.empty())
        return Status::error("missing required option --vocab (a GGUF whose tokenizer to copy, e.g. "
                             "tests/data/tokenizer/ggml-vocab-llama-spm.gguf)");
    const std::string path = std::string(LUMEN_SOURCE_DIR) + "/tests/data/tokenizer/" + default_vocab_file;
    if (!std::filesystem::exists(path))
        return Status::error("the preset's vocabulary " + default_vocab_file + " is not at " + path +
                             "; pass --vocab PATH/TO/" + default_vocab_file + " (Lumen's tests/data/tokenizer/ has it)");
    return path;
}

}  // namespace

int cmd_synth(const std::vector<std::string>& argv) {
    auto args = Args::parse(argv,
                            {"--preset", "--dim", "--layers", "--heads", "--kv-heads", "--head-dim", "--ffn", "--arch",
                             "--ctx", "--rope-theta", "--vocab", "--type", "--seed", "--std", "--output"},
                            {"--untied"});
    if (!args) return fail(args.status().message());
    auto output = args->required("--output");
    if (!output) return fail(output.status().message());
    std::string default_vocab_file;
    auto spec = spec_from_args(args.value(), &default_vocab_file);
    if (!spec) return fail(spec.status().message());
    auto vocab = vocab_path(args.value(), default_vocab_file);
    if (!vocab) return fail(vocab.status().message());
    Status s = write_synthetic_model(spec.value(), vocab.value(), output.value());
    if (!s.is_ok()) return fail(s.message());
    const SynthSpec& c = spec.value();
    std::printf("wrote %s (%s, dim %d, %d layers, %d heads, %d kv heads, ffn %d, %s, %s output, %.1f MiB)\n",
                output.value().c_str(), c.architecture.c_str(), c.dim, c.n_layers, c.n_heads, c.n_kv_heads, c.ffn_dim,
                quant_scheme_name(*c.scheme), c.tied_output ? "tied" : "untied",
                double(std::filesystem::file_size(output.value())) / 1048576.0);
    return 0;
}

}  // namespace lumen::cli
