// Lumen's Jinja engine for chat templates: renders a model's
// tokenizer.chat_template byte-identically to Python's jinja2 as Hugging Face
// transformers configures it (ImmutableSandboxedEnvironment, trim_blocks,
// lstrip_blocks, loop controls, its tojson, raise_exception, strftime_now and
// the {% generation %} tag). Errors name the template's line and column; the
// limits stop a hostile template from hanging or exhausting the program.
//
//   auto tmpl = JinjaTemplate::parse(source);          // once per model
//   auto text = tmpl->render({{"messages", messages},  // per request
//                             {"add_generation_prompt", true},
//                             {"bos_token", "<s>"}});
#pragma once

#include <cstdint>
#include <ctime>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>

#include "core/status.h"

namespace lumen {

struct JinjaOptions {
    bool trim_blocks = true;  // as transformers sets them
    bool lstrip_blocks = true;
    std::optional<std::tm> now;           // the clock of strftime_now(); local time when unset
    size_t max_output_bytes = 32u << 20;  // the rendered text, and any one string built on the way
    int64_t max_iterations = 1'000'000;   // loop iterations plus macro calls in one render
    int max_call_depth = 100;             // macros calling macros
    int max_nesting = 256;                // nested blocks and expressions in the source
    size_t max_string_work = 1u << 30;    // bytes of strings built in one render
};

class JinjaTemplate {
public:
    // Lexes and parses; a syntax error, or a filter or test jinja2 does not
    // know used outside an if, fails here as it does in jinja2.
    static Result<JinjaTemplate> parse(const std::string& source, const JinjaOptions& options = {});

    // Renders with the context's top-level keys as variables (messages, tools,
    // add_generation_prompt, bos_token, ...). Objects keep their key order.
    Result<std::string> render(const nlohmann::ordered_json& context) const;

private:
    struct Impl;
    std::shared_ptr<const Impl> impl_;
};

// parse + render in one call.
Result<std::string> render_chat_template(const std::string& source, const nlohmann::ordered_json& context,
                                         const JinjaOptions& options = {});

}  // namespace lumen
