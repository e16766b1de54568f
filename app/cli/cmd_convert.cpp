// lumen-cli convert: write any loadable model (e.g. a llama2.c checkpoint) as GGUF.
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "model/model_writer.h"

namespace lumen::cli {

int cmd_convert(const std::vector<std::string>& argv) {
    auto args = Args::parse(argv, {"--model", "--tokenizer", "--output"}, {});
    if (!args) return fail(args.status().message());
    auto model_path = args->required("--model");
    if (!model_path) return fail(model_path.status().message());
    auto output = args->required("--output");
    if (!output) return fail(output.status().message());
    LoadOptions load;
    load.tokenizer_path = args->get("--tokenizer");
    auto model = load_model(model_path.value(), load);
    if (!model) return fail(model.status().message());
    Status s = write_model_gguf(*model.value(), output.value());
    if (!s.is_ok()) return fail(s.message());
    std::printf("wrote %s (%lld parameters)\n", output.value().c_str(), (long long)model.value()->n_parameters());
    return 0;
}

}  // namespace lumen::cli
