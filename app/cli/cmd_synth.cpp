// lumen-cli synth: write a random-weight model in the shape of a known model
// (--preset) or of explicit dimensions, in any weight type or quantization scheme.
// Explicit flags override the preset's values (e.g. --layers 2 for a quick file).
#include <cstdio>
#include <filesystem>
#include <system_error>
#include <vector>

#include "cli/commands.h"
#include "cli/options.h"
#include "model/synth.h"

namespace lumen::cli {

namespace {

std::string preset_list() {
    std::string names;
    for (const auto& n : synth_preset_names()) names += (names.empty() ? "" : ", ") + n;
    return names;
}

struct SynthArgs {
    std::string preset;
    std::string arch;
    std::string vocab;
    std::string type;
    std::string output;
    SynthSpec flags;  // the values given by flags; which were given is asked of the App
    bool untied = false;
};

// An integer option that overrides *field when given; a preset-less run must give it.
Status take_int(const CLI::App& app, const char* name, int32_t given, int32_t* field, bool required) {
    if (app.count(name) == 0) {
        if (required) return Status::error(std::string("missing required option ") + name + " (or give --preset)");
        return Status::ok();
    }
    *field = given;
    return Status::ok();
}

Result<SynthSpec> spec_from_args(const SynthArgs& a, const CLI::App& app, std::string* default_vocab_file) {
    SynthSpec spec;
    const bool has_preset = !a.preset.empty();
    if (has_preset) {
        auto preset = synth_preset(a.preset);
        if (!preset) return Status::error("option --preset is '" + a.preset + "', expected one of " + preset_list());
        spec = preset->spec;
        *default_vocab_file = preset->vocab_file;
    }
    const SynthSpec& f = a.flags;
    LUMEN_TRY(take_int(app, "--dim", f.dim, &spec.dim, !has_preset));
    LUMEN_TRY(take_int(app, "--layers", f.n_layers, &spec.n_layers, !has_preset));
    LUMEN_TRY(take_int(app, "--heads", f.n_heads, &spec.n_heads, !has_preset));
    if (!has_preset) spec.n_kv_heads = spec.n_heads;
    LUMEN_TRY(take_int(app, "--kv-heads", f.n_kv_heads, &spec.n_kv_heads, false));
    LUMEN_TRY(take_int(app, "--head-dim", f.head_dim, &spec.head_dim, false));
    LUMEN_TRY(take_int(app, "--ffn", f.ffn_dim, &spec.ffn_dim, !has_preset));
    LUMEN_TRY(take_int(app, "--ctx", f.context_length, &spec.context_length, false));
    if (!a.arch.empty()) spec.architecture = a.arch;
    if (app.count("--rope-theta")) spec.rope_theta = f.rope_theta;
    if (app.count("--std")) spec.init_std = f.init_std;
    if (app.count("--seed")) spec.seed = f.seed;
    if (a.untied) spec.tied_output = false;
    auto scheme = parse_quant_scheme(a.type);
    if (!scheme) return Status::error("option --type: " + scheme.status().message());
    spec.scheme = scheme.value();
    return spec;
}

// Where a preset's vocabulary lies: an installed lumen-cli reads <prefix>/share/lumen/vocab/
// beside its bin/ (the package puts the preset vocabularies there), so it needs no source
// tree; a binary in the build tree falls back to this source tree's tests/data/tokenizer/.
std::vector<std::filesystem::path> vocab_dirs() {
    std::vector<std::filesystem::path> dirs;
    std::error_code ec;
    const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) dirs.push_back(exe.parent_path().parent_path() / "share/lumen/vocab");
    dirs.push_back(std::filesystem::path(LUMEN_SOURCE_DIR) / "tests/data/tokenizer");
    return dirs;
}

// --vocab, else the preset's vocabulary from the first of vocab_dirs() that has it.
Result<std::string> vocab_path(const SynthArgs& a, const std::string& default_vocab_file) {
    if (!a.vocab.empty()) return a.vocab;
    if (default_vocab_file.empty())
        return Status::error(
            "missing required option --vocab (a GGUF whose tokenizer to copy, e.g. "
            "tests/data/tokenizer/ggml-vocab-llama-spm.gguf)");
    std::string searched;
    for (const auto& dir : vocab_dirs()) {
        const std::filesystem::path path = dir / default_vocab_file;
        if (std::filesystem::exists(path)) return path.string();
        searched += (searched.empty() ? "" : " or ") + dir.string();
    }
    return Status::error("the preset's vocabulary " + default_vocab_file + " is not in " + searched +
                         "; pass --vocab PATH/TO/" + default_vocab_file + " (Lumen's tests/data/tokenizer/ has it)");
}

int run_synth(const SynthArgs& a, const CLI::App& app) {
    std::string default_vocab_file;
    auto spec = spec_from_args(a, app, &default_vocab_file);
    if (!spec) return usage_error(spec.status().message());
    auto vocab = vocab_path(a, default_vocab_file);
    if (!vocab) return usage_error(vocab.status().message());
    Status s = write_synthetic_model(spec.value(), vocab.value(), a.output);
    if (!s.is_ok()) return fail(s.message());
    const SynthSpec& c = spec.value();
    std::printf("wrote %s (%s, dim %d, %d layers, %d heads, %d kv heads, ffn %d, %s, %s output, %.1f MiB)\n",
                a.output.c_str(), c.architecture.c_str(), c.dim, c.n_layers, c.n_heads, c.n_kv_heads, c.ffn_dim,
                quant_scheme_name(*c.scheme), c.tied_output ? "tied" : "untied",
                double(std::filesystem::file_size(a.output)) / 1048576.0);
    return 0;
}

void add_shape_options(CLI::App& app, SynthSpec& f) {
    const char* group = "Shape (overrides the preset)";
    app.add_option("--dim", f.dim, "embedding width")->check(in_range(1, 65536))->group(group);
    app.add_option("--layers", f.n_layers, "transformer blocks")->check(in_range(1, 1024))->group(group);
    app.add_option("--heads", f.n_heads, "attention heads")->check(in_range(1, 1024))->group(group);
    app.add_option("--kv-heads", f.n_kv_heads, "KV heads (default: --heads)")->check(in_range(1, 1024))->group(group);
    app.add_option("--head-dim", f.head_dim, "head dimension (0: dim / heads)")->check(in_range(0, 1024))->group(group);
    app.add_option("--ffn", f.ffn_dim, "feed-forward width")->check(in_range(1, 1 << 20))->group(group);
    app.add_option("--ctx", f.context_length, "context length")->check(in_range(1, 1 << 24))->group(group);
    app.add_option("--rope-theta", f.rope_theta, "RoPE base")->check(in_range(1.0, 1e9))->group(group);
}

}  // namespace

Command add_synth_command(CLI::App& root) {
    auto args = std::make_shared<SynthArgs>();
    CLI::App* app = root.add_subcommand(
        "synth", "write a random-weight model in a known model's shape (--preset) or explicit dimensions");
    app->add_option("--preset", args->preset, "a known shape: " + preset_list());
    add_shape_options(*app, args->flags);
    app->add_option("--arch", args->arch, "architecture")->check(CLI::IsMember({"llama", "qwen2"}));
    app->add_flag("--untied", args->untied, "a separate output matrix instead of the tied embedding");
    app->add_option("--std", args->flags.init_std, "standard deviation of the random weights")
        ->check(in_range(0.0, 100.0));
    app->add_option("--seed", args->flags.seed, "random seed")->check(in_range(0LL, 1LL << 62));
    app->add_option("--vocab", args->vocab, "a GGUF whose tokenizer to copy (default: the preset's)")
        ->type_name("PATH");
    app->add_option("--type", args->type, "weight type or scheme: " + quant_scheme_names())
        ->required()
        ->check(engine_check("TYPE", [](const std::string& v) { return parse_quant_scheme(v); }));
    app->add_option("--output,-o", args->output, "the GGUF file to write")->required()->type_name("OUT.gguf");
    return {app, [args, app] { return run_synth(*args, *app); }};
}

}  // namespace lumen::cli
