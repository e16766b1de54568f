// lumen-cli tokenize: text to ids (special tokens not parsed), as JSON or one id per
// line. It reads only the vocabulary, so a vocabulary-only GGUF (llama.cpp's
// ggml-vocab-*.gguf) works as well as a whole model.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/options.h"
#include "model/model.h"

namespace lumen::cli {

namespace {

struct TokenizeArgs {
    ModelArgs model;
    std::string text;
    bool no_bos = false;
    bool json = false;
};

int run_tokenize(const TokenizeArgs& a) {
    auto tokenizer = load_tokenizer(a.model.model, a.model.load_options());
    if (!tokenizer) return fail(tokenizer.status().message());
    const Tokenizer& tok = *tokenizer.value();
    const bool add_bos = tok.vocab().add_bos && !a.no_bos;
    const auto ids = tok.encode(a.text, add_bos, /*parse_special=*/false);
    if (a.json) {
        std::puts(nlohmann::json({{"ids", ids}}).dump().c_str());
        return 0;
    }
    for (int32_t id : ids) std::printf("%d\t'%s'\n", id, tok.decode_token(id, true).c_str());
    return 0;
}

}  // namespace

Command add_tokenize_command(CLI::App& root) {
    auto args = std::make_shared<TokenizeArgs>();
    CLI::App* app = root.add_subcommand("tokenize", "text to token ids (a vocabulary-only GGUF is enough)");
    add_model_options(*app, args->model);
    app->add_option("--text", args->text, "the text to tokenize")->required();
    app->add_flag("--no-bos", args->no_bos, "do not add BOS even where the vocabulary adds it");
    app->add_flag("--json", args->json, "print {\"ids\": [...]}");
    return {app, [args] { return run_tokenize(*args); }};
}

}  // namespace lumen::cli
