// lumen-cli quantize: re-encode a model's matrices (GGUF or llama2.c input) in
// another type or llama.cpp's Q4_K_M mix (or a user's --mix TYPE:embd,output,first,last),
// and report tensor counts and sizes per type.
#include <cstdio>

#include "cli/commands.h"
#include "cli/options.h"
#include "quant/quantize.h"

namespace lumen::cli {

namespace {

struct QuantizeArgs {
    std::string input;
    std::string tokenizer;
    std::string output;
    std::string type;
    std::string mix;
};

int run_quantize(const QuantizeArgs& a) {
    LoadOptions load;
    load.tokenizer_path = a.tokenizer;
    std::string report;
    Status s = quantize_model(a.input, a.output, a.type, &report, load, a.mix);
    if (!s.is_ok()) return fail(s.message());
    std::printf("%s", report.c_str());
    std::printf("wrote %s (%s)\n", a.output.c_str(), a.type.c_str());
    return 0;
}

}  // namespace

Command add_quantize_command(CLI::App& root) {
    auto args = std::make_shared<QuantizeArgs>();
    CLI::App* app = root.add_subcommand("quantize", "re-encode a model's matrices in another GGUF type or mix");
    app->add_option("--input,-i", args->input, "GGUF model or llama2.c checkpoint")->required()->type_name("PATH");
    app->add_option("--tokenizer", args->tokenizer, "llama2.c tokenizer.bin for a llama2.c input")->type_name("PATH");
    app->add_option("--output,-o", args->output, "the GGUF file to write")->required()->type_name("OUT.gguf");
    app->add_option("--type", args->type, "the type: " + quant_scheme_names(true))
        ->required()
        ->check(engine_check("TYPE", [](const std::string& v) { return parse_quant_scheme(v); }));
    app->add_option("--mix", args->mix, "TYPE:embd,output,first,last keeps those tensors in TYPE")
        ->check(engine_check("MIX", [](const std::string& v) { return parse_quant_mix(v); }));
    return {app, [args] { return run_quantize(*args); }};
}

}  // namespace lumen::cli
