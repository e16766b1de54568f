// The Jinja engine's internal error: thrown while lexing, parsing or
// rendering, and turned into a Status with the template's line and column at
// the public API (jinja_template.cpp), so no exception leaves the engine.
#pragma once

#include <string>
#include <utility>

namespace lumen::jinja {

struct SourcePos {
    int line = 0;  // 1-based; 0 means "not known yet"
    int column = 0;
};

struct TemplateError {
    std::string message;
    SourcePos pos;
};

// Throws a TemplateError; the evaluator adds the position of the node it was
// evaluating when the error has none.
[[noreturn]] inline void fail(std::string message, SourcePos pos = {}) {
    throw TemplateError{std::move(message), pos};
}

}  // namespace lumen::jinja
