// lumen-cli convert: write any loadable model (e.g. a llama2.c checkpoint) as GGUF,
// optionally keeping only its first K layers (a layer-truncated draft or amateur:
// the kept layers, the final norm and the output head are the model's own).
#include <algorithm>
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "model/model_writer.h"

namespace lumen::cli {

int cmd_convert(const std::vector<std::string>& argv) {
    auto args = Args::parse(argv, {"--model", "--tokenizer", "--output", "--keep-layers"}, {});
    if (!args) return fail(args.status().message());
    auto model_path = args->required("--model");
    if (!model_path) return fail(model_path.status().message());
    auto output = args->required("--output");
    if (!output) return fail(output.status().message());
    LoadOptions load;
    load.tokenizer_path = args->get("--tokenizer");
    auto model = load_model(model_path.value(), load);
    if (!model) return fail(model.status().message());
    Model& m = *model.value();
    if (args->has("--keep-layers")) {
        auto keep = args->get_int("--keep-layers", m.config.n_layers, 1, std::max(1, m.config.n_layers - 1));
        if (!keep) return fail(keep.status().message() + " (the model has " + std::to_string(m.config.n_layers) + " layers)");
        m.config.n_layers = int32_t(*keep);
        m.weights.layers.resize(size_t(*keep));
    }
    Status s = write_model_gguf(m, output.value());
    if (!s.is_ok()) return fail(s.message());
    std::printf("wrote %s (%lld parameters)\n", output.value().c_str(), (long long)model.value()->n_parameters());
    return 0;
}

}  // namespace lumen::cli
