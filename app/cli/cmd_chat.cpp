// lumen-cli chat: an interactive conversation on the terminal using the
// model's chat template (or completion mode for a model without one).
#include <cstdio>
#include <iostream>

#include "chat/chat_template.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "serving/served_generation.h"

namespace lumen::cli {

namespace {

struct ChatArgs {
    ModelArgs model;
    EngineArgs engine;
    SamplingParams sampling;
    std::string system;
    std::string template_name;
    int max_tokens = 512;
};

int run_chat(const ChatArgs& a);

}  // namespace

Command add_chat_command(CLI::App& root) {
    auto args = std::make_shared<ChatArgs>();
    CLI::App* app =
        root.add_subcommand("chat", "an interactive conversation on the terminal, in the model's chat template");
    add_model_options(*app, args->model);
    app->add_option("--system", args->system, "the system prompt")->type_name("TEXT");
    app->add_option("--template", args->template_name, "the chat template instead of the model's own")
        ->check(CLI::IsMember({"chatml", "llama2", "llama3", "phi3", "zephyr"}));
    app->add_option("--max-tokens", args->max_tokens, "tokens per reply at most")
        ->check(in_range(1, 1 << 24))
        ->capture_default_str();
    add_engine_options(*app, args->engine);
    add_quantization_options(*app, args->engine);
    add_sampling_options(*app, args->sampling);
    return {app, [args] { return run_chat(*args); }};
}

namespace {

int run_chat(const ChatArgs& a) {
    auto options = a.engine.to_engine_options();
    if (!options) return usage_error(options.status().message());
    auto engine = Engine::load(a.model.model, a.model.load_options(), options.value());
    if (!engine) return fail(engine.status().message());
    Engine& e = *engine.value();

    std::optional<ChatTemplateKind> kind = a.template_name.empty()
                                               ? detect_chat_template(e.tokenizer().vocab().chat_template)
                                               : chat_template_from_name(a.template_name);
    std::fprintf(
        stderr, "Lumen chat — %s, %s. Type /reset to start over, /exit or Ctrl-D to quit.\n",
        e.model().config.name.empty() ? e.model().path.c_str() : e.model().config.name.c_str(),
        kind ? (std::string("template ") + chat_template_name(*kind)).c_str() : "no chat template: completion mode");

    std::vector<ChatMessage> history;
    if (!a.system.empty()) history.push_back({"system", a.system});
    const size_t base = history.size();
    // Every turn runs through the serving core, as the workstation's replies do: the
    // prefix cache keeps the conversation's full KV blocks, so a turn computes only what
    // follows them.
    ServingEngine serving(e, single_stream_serving_options(e));
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
        req.max_tokens = int32_t(a.max_tokens);
        req.sampling = a.sampling;
        if (kind) {
            history.push_back({"user", line});
            req.prompt = apply_chat_template(*kind, history, true);
            req.parse_special = true;
        } else {
            req.prompt = line;
        }
        auto result = generate_served(serving, req, [](const TokenEvent& ev) {
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

}  // namespace

}  // namespace lumen::cli
