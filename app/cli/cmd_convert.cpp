// lumen-cli convert: write any loadable model (e.g. a llama2.c checkpoint) as GGUF,
// optionally keeping only its first K layers (a layer-truncated draft or amateur:
// the kept layers, the final norm and the output head are the model's own).
#include <algorithm>
#include <cstdio>

#include "cli/commands.h"
#include "cli/options.h"
#include "model/model_writer.h"

namespace lumen::cli {

namespace {

struct ConvertArgs {
    ModelArgs model;
    std::string output;
    int keep_layers = 0;  // 0: all
};

int run_convert(const ConvertArgs& a) {
    auto model = load_model(a.model.model, a.model.load_options());
    if (!model) return fail(model.status().message());
    Model& m = *model.value();
    if (a.keep_layers > 0) {
        if (a.keep_layers >= m.config.n_layers)
            return usage_error("option --keep-layers is " + std::to_string(a.keep_layers) + ", expected 1.." +
                               std::to_string(std::max(1, m.config.n_layers - 1)) + " (the model has " +
                               std::to_string(m.config.n_layers) + " layers)");
        m.config.n_layers = int32_t(a.keep_layers);
        m.weights.layers.resize(size_t(a.keep_layers));
    }
    const std::string& output = a.output;
    Status s = write_model_gguf(m, output);
    if (!s.is_ok()) return fail(s.message());
    std::printf("wrote %s (%lld parameters)\n", output.c_str(), (long long)model.value()->n_parameters());
    return 0;
}

}  // namespace

Command add_convert_command(CLI::App& root) {
    auto args = std::make_shared<ConvertArgs>();
    CLI::App* app = root.add_subcommand("convert", "write any loadable model (e.g. a llama2.c checkpoint) as GGUF");
    add_model_options(*app, args->model);
    app->add_option("--output,-o", args->output, "the GGUF file to write")->required()->type_name("OUT.gguf");
    app->add_option("--keep-layers", args->keep_layers, "keep only the first K layers (a truncated draft or amateur)")
        ->type_name("K")
        ->check(in_range(1, 1 << 20));
    return {app, [args] { return run_convert(*args); }};
}

}  // namespace lumen::cli
