// lumen-cli chat: an interactive conversation on the terminal using the
// model's chat template (or completion mode for a model without one).
#include <cstdio>
#include <iostream>

#include "chat/chat_template.h"
#include "cli/cmd_common.h"
#include "cli/commands.h"

namespace lumen::cli {

int cmd_chat(const std::vector<std::string>& argv) {
    std::set<std::string> valued = {"--model", "--tokenizer", "--system", "--template", "--max-tokens", "--threads", "--ctx", "--kv-type", "--weights", "--weights-mix", "--kv", "--calib", "--calib-samples", "--calib-tokens", "--outlier-threshold", "--device"};
    valued.insert(kSamplingOptions.begin(), kSamplingOptions.end());
    auto args = Args::parse(argv, valued, {"--gptq"});
    if (!args) return fail(args.status().message());
    auto model_path = args->required("--model");
    if (!model_path) return fail(model_path.status().message());
    auto max_tokens = args->get_int("--max-tokens", 512, 1, 1 << 24);
    if (!max_tokens) return fail(max_tokens.status().message());
    auto sampling = parse_sampling(*args);
    if (!sampling) return fail(sampling.status().message());
    auto options = parse_engine_options(*args);
    if (!options) return fail(options.status().message());
    LoadOptions load;
    load.tokenizer_path = args->get("--tokenizer");
    auto engine = Engine::load(model_path.value(), load, options.value());
    if (!engine) return fail(engine.status().message());
    Engine& e = *engine.value();

    std::optional<ChatTemplateKind> kind;
    if (args->has("--template")) {
        kind = chat_template_from_name(args->get("--template"));
        if (!kind) return fail("option --template is '" + args->get("--template") + "', expected chatml, llama2, llama3, phi3 or zephyr");
    } else {
        kind = detect_chat_template(e.tokenizer().vocab().chat_template);
    }
    std::fprintf(stderr, "Lumen chat — %s, %s. Type /reset to start over, /exit or Ctrl-D to quit.\n",
                 e.model().config.name.empty() ? e.model().path.c_str() : e.model().config.name.c_str(),
                 kind ? (std::string("template ") + chat_template_name(*kind)).c_str() : "no chat template: completion mode");

    std::vector<ChatMessage> history;
    if (args->has("--system")) history.push_back({"system", args->get("--system")});
    const size_t base = history.size();
    // One kept sequence: each turn reuses the KV of the conversation so far (its longest
    // common prefix with the new prompt) and computes only what is new.
    auto seq = e.create_sequence();
    if (!seq) return fail(seq.status().message());
    std::string line;
    for (;;) {
        std::fprintf(stderr, "\n> ");
        if (!std::getline(std::cin, line) || line == "/exit") break;
        if (line == "/reset") {
            history.resize(base);
            continue;
        }
        if (line.empty()) continue;
        GenerationRequest req;
        req.max_tokens = int32_t(max_tokens.value());
        req.sampling = sampling.value();
        req.seq_id = seq.value();
        if (kind) {
            history.push_back({"user", line});
            req.prompt = apply_chat_template(*kind, history, true);
            req.parse_special = true;
        } else {
            req.prompt = line;
        }
        auto result = e.generate(req, [](const TokenEvent& ev) {
            std::fputs(ev.text.c_str(), stdout);
            std::fflush(stdout);
        });
        if (!result) {
            std::fprintf(stderr, "\nerror: %s\n", result.status().message().c_str());
            if (kind) history.pop_back();
            continue;
        }
        if (kind) history.push_back({"assistant", result->text});
        std::fprintf(stderr, "\n[%d tokens, %.1f tok/s, %d prompt tokens reused]", result->stats.n_gen,
                     result->stats.decode_tps, result->stats.n_cached);
    }
    std::fputc('\n', stderr);
    return 0;
}

}  // namespace lumen::cli
