// Lumen's Jinja engine: the public API (see jinja_template.h). Internal
// TemplateErrors, and any allocation failure, become a Status here, so no
// exception leaves the engine.
#include "chat/jinja_template.h"

#include <exception>
#include <new>
#include <nlohmann/json.hpp>

#include "chat/jinja_eval.h"
#include "chat/jinja_json.h"
#include "chat/jinja_lexer.h"
#include "chat/jinja_parser.h"

namespace lumen {

struct JinjaTemplate::Impl {
    jinja::Body body;
    JinjaOptions options;
};

namespace {

Status to_status(const jinja::TemplateError& error) {
    if (error.pos.line == 0) return Status::error("chat template: " + error.message);
    return Status::error("chat template line " + std::to_string(error.pos.line) + ", column " +
                         std::to_string(error.pos.column) + ": " + error.message);
}

// Runs f, turning every failure into a Status.
template <typename T, typename F>
Result<T> guarded(F&& f) {
    try {
        return f();
    } catch (const jinja::TemplateError& error) {
        return to_status(error);
    } catch (const std::bad_alloc&) {
        return Status::error("chat template: out of memory");
    } catch (const std::exception& error) {
        return Status::error(std::string("chat template: ") + error.what());
    }
}

}  // namespace

Result<JinjaTemplate> JinjaTemplate::parse(const std::string& source, const JinjaOptions& options) {
    return guarded<JinjaTemplate>([&]() -> Result<JinjaTemplate> {
        auto impl = std::make_shared<Impl>();
        impl->options = options;
        const jinja::LexerOptions lexer_options{options.trim_blocks, options.lstrip_blocks};
        impl->body = jinja::parse_template(jinja::tokenize(source, lexer_options), options.max_nesting);
        JinjaTemplate tmpl;
        tmpl.impl_ = std::move(impl);
        return tmpl;
    });
}

Result<std::string> JinjaTemplate::render(const nlohmann::ordered_json& context) const {
    if (!impl_) return Status::error("chat template: render() on a template that was never parsed");
    if (!context.is_object()) return Status::error("chat template: the render context must be a JSON object");
    return guarded<std::string>([&]() -> Result<std::string> {
        const JinjaOptions& o = impl_->options;
        auto globals = std::make_shared<jinja::Scope>();
        jinja::install_globals(*globals);
        auto scope = std::make_shared<jinja::Scope>(globals);
        for (const auto& [key, value] : context.items()) scope->set(key, jinja::value_from_json(value));
        jinja::RenderLimits limits;
        limits.max_output_bytes = o.max_output_bytes;
        limits.max_iterations = o.max_iterations;
        limits.max_call_depth = o.max_call_depth;
        limits.max_string_work = o.max_string_work;
        jinja::Renderer renderer(limits, o.now);
        return renderer.render(impl_->body, scope);
    });
}

Result<std::string> render_chat_template(const std::string& source, const nlohmann::ordered_json& context,
                                         const JinjaOptions& options) {
    Result<JinjaTemplate> tmpl = JinjaTemplate::parse(source, options);
    if (!tmpl) return tmpl.status();
    return tmpl->render(context);
}

}  // namespace lumen
