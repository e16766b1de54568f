// The Jinja parser: tokens -> syntax tree, with jinja2's grammar and operator
// precedence and the statements chat templates use (if, for, set, macro, call,
// filter, with, break/continue and transformers' generation tag).
#pragma once

#include <vector>

#include "chat/jinja_ast.h"
#include "chat/jinja_lexer.h"

namespace lumen::jinja {

// Whether a filter or test of this name exists (the engine's built-ins).
bool is_known_filter(const std::string& name);
bool is_known_test(const std::string& name);

// Throws TemplateError on a syntax error. Nesting deeper than max_nesting
// (blocks or expressions) is an error, so a hostile template cannot exhaust
// the stack.
Body parse_template(const std::vector<Token>& tokens, int max_nesting);

}  // namespace lumen::jinja
