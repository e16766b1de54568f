// lumen-cli tokenize: text to ids (special tokens not parsed), as JSON or one id per line.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/commands.h"
#include "model/model.h"

namespace lumen::cli {

int cmd_tokenize(const std::vector<std::string>& argv) {
    auto args = Args::parse(argv, {"--model", "--tokenizer", "--text"}, {"--no-bos", "--json"});
    if (!args) return fail(args.status().message());
    auto model_path = args->required("--model");
    if (!model_path) return fail(model_path.status().message());
    auto text = args->required("--text");
    if (!text) return fail(text.status().message());
    LoadOptions load;
    load.tokenizer_path = args->get("--tokenizer");
    auto model = load_model(model_path.value(), load);
    if (!model) return fail(model.status().message());
    const Tokenizer& tok = *model.value()->tokenizer;
    const bool add_bos = tok.vocab().add_bos && !args->has("--no-bos");
    const auto ids = tok.encode(text.value(), add_bos, /*parse_special=*/false);
    if (args->has("--json")) {
        std::puts(nlohmann::json({{"ids", ids}}).dump().c_str());
    } else {
        for (int32_t id : ids) std::printf("%d\t'%s'\n", id, tok.decode_token(id, true).c_str());
    }
    return 0;
}

}  // namespace lumen::cli
