// lumen-cli quantize: re-encode a model's matrices (GGUF or llama2.c input) in
// another type or llama.cpp's Q4_K_M mix (or a user's --mix TYPE:embd,output,first,last),
// and report tensor counts and sizes per type.
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "quant/quantize.h"

namespace lumen::cli {

int cmd_quantize(const std::vector<std::string>& argv) {
    auto args = Args::parse(argv, {"--input", "--output", "--type", "--tokenizer", "--mix"}, {});
    if (!args) return fail(args.status().message());
    auto input = args->required("--input");
    if (!input) return fail(input.status().message());
    auto output = args->required("--output");
    if (!output) return fail(output.status().message());
    auto type = args->required("--type");
    if (!type) return fail(type.status().message() + " (one of " + quant_scheme_names(true) + ")");
    if (auto scheme = parse_quant_scheme(type.value()); !scheme)
        return fail("option --type: " + scheme.status().message());
    LoadOptions load;
    load.tokenizer_path = args->get("--tokenizer");
    std::string report;
    Status s = quantize_model(input.value(), output.value(), type.value(), &report, load, args->get("--mix"));
    if (!s.is_ok()) return fail(s.message());
    std::printf("%s", report.c_str());
    std::printf("wrote %s (%s)\n", output.value().c_str(), type.value().c_str());
    return 0;
}

}  // namespace lumen::cli
