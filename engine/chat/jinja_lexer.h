// The Jinja lexer: template source -> tokens, with jinja2's whitespace rules
// (`{%-`/`-%}` stripping, trim_blocks, lstrip_blocks, the single trailing
// newline dropped, \r\n and \r read as \n) and its raw blocks and comments.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "chat/jinja_error.h"

namespace lumen::jinja {

enum class TokenType : uint8_t {
    data,            // template text, whitespace rules already applied
    variable_begin,  // {{
    variable_end,    // }}
    block_begin,     // {%
    block_end,       // %}
    name,
    string,    // text holds the unescaped value
    integer,   // int_value
    floating,  // float_value
    op,        // text holds the operator: + - * / // % ** ~ == != < <= > >= = . , : | ( ) [ ] { } ;
    eof,
};

struct Token {
    TokenType type = TokenType::eof;
    std::string text;
    int64_t int_value = 0;
    double float_value = 0.0;
    SourcePos pos;
};

struct LexerOptions {
    bool trim_blocks = true;    // drop the first newline after a block tag or comment
    bool lstrip_blocks = true;  // drop spaces and tabs before a block tag or comment on its own line
};

// Throws TemplateError on a lexical error (unclosed comment or raw block,
// unexpected character, unbalanced brackets, bad string escape).
std::vector<Token> tokenize(const std::string& source, const LexerOptions& options);

}  // namespace lumen::jinja
