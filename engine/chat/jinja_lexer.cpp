// The Jinja lexer (see jinja_lexer.h). It follows jinja2's lexer.py rule for
// rule: the same tag delimiters, the same whitespace control and the same
// token grammar, because a chat template's output depends on every newline
// these rules keep or drop.
#include "chat/jinja_lexer.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <string_view>

#include "chat/jinja_text.h"

namespace lumen::jinja {

namespace {

// \r\n and \r become \n, and one trailing newline is dropped (keep_trailing_newline=False).
std::string normalize_newlines(const std::string& source) {
    std::string out;
    out.reserve(source.size());
    for (size_t i = 0; i < source.size(); ++i) {
        if (source[i] == '\r') {
            out += '\n';
            if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
        } else {
            out += source[i];
        }
    }
    if (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_name_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_name_char(char c) {
    return is_name_start(c) || is_digit(c);
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Python's unicode-escape decoding of a string literal's body.
std::string unescape_string(std::string_view body) {
    std::string out;
    for (size_t i = 0; i < body.size(); ++i) {
        if (body[i] != '\\' || i + 1 >= body.size()) {
            out += body[i];
            continue;
        }
        const char e = body[++i];
        switch (e) {
            case '\n': break;  // a backslash-newline continues the line
            case '\\': out += '\\'; break;
            case '\'': out += '\''; break;
            case '"': out += '"'; break;
            case 'a': out += '\a'; break;
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'n': out += '\n'; break;
            case 'r': out += '\r'; break;
            case 't': out += '\t'; break;
            case 'v': out += '\v'; break;
            case 'x':
            case 'u':
            case 'U': {
                const size_t digits = e == 'x' ? 2 : (e == 'u' ? 4 : 8);
                char32_t cp = 0;
                for (size_t k = 1; k <= digits; ++k) {
                    const int h = i + k < body.size() ? hex_value(body[i + k]) : -1;
                    if (h < 0) fail(std::string("truncated \\") + e + " escape in a string literal");
                    cp = cp * 16 + static_cast<char32_t>(h);
                }
                if (cp > 0x10FFFF) fail("illegal Unicode character in a string literal");
                utf8_append(out, cp);
                i += digits;
                break;
            }
            default:
                if (e >= '0' && e <= '7') {  // up to three octal digits
                    char32_t cp = 0;
                    size_t k = 0;
                    while (k < 3 && i + k < body.size() && body[i + k] >= '0' && body[i + k] <= '7') {
                        cp = cp * 8 + static_cast<char32_t>(body[i + k] - '0');
                        ++k;
                    }
                    utf8_append(out, cp);
                    i += k - 1;
                } else {  // an unknown escape keeps its backslash
                    out += '\\';
                    out += e;
                }
        }
    }
    return out;
}

class Lexer {
public:
    Lexer(const std::string& source, const LexerOptions& options)
        : src_(normalize_newlines(source)), options_(options) {
        line_starts_.push_back(0);
        for (size_t i = 0; i < src_.size(); ++i) {
            if (src_[i] == '\n') line_starts_.push_back(i + 1);
        }
    }

    std::vector<Token> run() {
        while (pos_ < src_.size()) lex_root();
        push(TokenType::eof, src_.size());
        return std::move(tokens_);
    }

private:
    // Tokens arrive in source order, so the column is counted on from the last
    // one on the same line (counting from the line start each time is quadratic).
    SourcePos position_of(size_t offset) const {
        const auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
        const size_t line = static_cast<size_t>(it - line_starts_.begin());
        if (line != cached_line_ || offset < cached_offset_) {
            cached_line_ = line;
            cached_offset_ = line_starts_[line - 1];
            cached_column_ = 1;
        }
        cached_column_ += code_point_count(std::string_view(src_).substr(cached_offset_, offset - cached_offset_));
        cached_offset_ = offset;
        return {static_cast<int>(line), static_cast<int>(cached_column_)};
    }

    [[noreturn]] void fail_at(size_t offset, const std::string& message) const { fail(message, position_of(offset)); }

    Token& push(TokenType type, size_t offset, std::string text = {}) {
        Token token;
        token.type = type;
        token.text = std::move(text);
        token.pos = position_of(offset);
        tokens_.push_back(std::move(token));
        return tokens_.back();
    }

    bool starts_with(size_t at, std::string_view s) const { return std::string_view(src_).substr(at, s.size()) == s; }

    size_t skip_space(size_t at) const {
        while (at < src_.size()) {
            if (static_cast<unsigned char>(src_[at]) < 0x80) {
                if (!is_py_space(static_cast<char32_t>(src_[at]))) break;
                ++at;
                continue;
            }
            const std::u32string one = utf8_decode(std::string_view(src_).substr(at, 4));
            if (!is_py_space(one[0])) break;
            std::string encoded;
            utf8_append(encoded, one[0]);
            at += encoded.size();
        }
        return at;
    }

    // The match of a rule ended at `end`; jinja2 remembers whether it ended a line.
    void finish_match(size_t end) {
        pos_ = end;
        line_starting_ = end > 0 && src_[end - 1] == '\n';
    }

    // Whitespace control on the text before a tag: `-` strips it, lstrip_blocks
    // drops the indentation of a block tag or comment that starts its line.
    std::string strip_before_tag(std::string text, char sign, bool is_variable) const {
        if (sign == '-') return py_strip(text, StripSide::right);
        if (sign == '+' || !options_.lstrip_blocks || is_variable) return text;
        const size_t line_pos = text.rfind('\n') + 1;  // npos + 1 == 0
        if (line_pos == 0 && !line_starting_) return text;
        const std::string_view indentation = std::string_view(text).substr(line_pos);
        if (!indentation.empty() && py_isspace(indentation)) text.resize(line_pos);
        return text;
    }

    void emit_data(std::string text, size_t offset) {
        if (!text.empty()) push(TokenType::data, offset, std::move(text));
    }

    void lex_root() {
        size_t tag = pos_;
        while (true) {
            tag = src_.find('{', tag);
            if (tag == std::string::npos || tag + 1 >= src_.size()) {
                emit_data(src_.substr(pos_), pos_);
                pos_ = src_.size();
                return;
            }
            const char kind = src_[tag + 1];
            if (kind == '{' || kind == '%' || kind == '#') break;
            ++tag;
        }
        const char kind = src_[tag + 1];
        size_t after = tag + 2;
        char sign = 0;
        if (after < src_.size() && (src_[after] == '-' || src_[after] == '+')) sign = src_[after++];
        const size_t raw_end = kind == '%' ? match_raw_begin(after) : 0;
        emit_data(strip_before_tag(src_.substr(pos_, tag - pos_), sign, kind == '{'), pos_);
        if (raw_end) {
            finish_match(raw_end);
            lex_raw_body(tag);
        } else if (kind == '#') {
            finish_match(after);
            lex_comment(tag);
        } else {
            finish_match(after);
            lex_tag(kind == '%', tag);
        }
    }

    // `{% raw %}` (the sign after `{%` already consumed): where the match ends, or 0.
    size_t match_raw_begin(size_t at) const {
        at = skip_space(at);
        if (!starts_with(at, "raw")) return 0;
        at = skip_space(at + 3);
        if (starts_with(at, "-%}")) return skip_space(at + 3);
        if (starts_with(at, "%}")) return at + 2;
        return 0;
    }

    void lex_raw_body(size_t tag) {
        for (size_t at = src_.find("{%", pos_); at != std::string::npos; at = src_.find("{%", at + 1)) {
            size_t k = at + 2;
            char sign = 0;
            if (k < src_.size() && (src_[k] == '-' || src_[k] == '+')) sign = src_[k++];
            k = skip_space(k);
            if (!starts_with(k, "endraw")) continue;
            k = skip_space(k + 6);
            size_t end = 0;
            if (starts_with(k, "+%}")) {
                end = k + 3;
            } else if (starts_with(k, "-%}")) {
                end = skip_space(k + 3);
            } else if (starts_with(k, "%}")) {
                end = k + 2;
                if (options_.trim_blocks && end < src_.size() && src_[end] == '\n') ++end;
            } else {
                continue;
            }
            emit_data(strip_before_tag(src_.substr(pos_, at - pos_), sign, false), pos_);
            finish_match(end);
            return;
        }
        fail_at(tag, "Missing end of raw directive");
    }

    void lex_comment(size_t tag) {
        const size_t close = src_.find("#}", pos_);
        if (close == std::string::npos) fail_at(tag, "Missing end of comment tag");
        size_t end = close + 2;
        const char sign = close > pos_ ? src_[close - 1] : 0;
        if (sign == '-') {
            end = skip_space(end);
        } else if (sign != '+' && options_.trim_blocks && end < src_.size() && src_[end] == '\n') {
            ++end;
        }
        finish_match(end);
    }

    // The tokens of a {{ ... }} or {% ... %} tag, up to and including its end.
    void lex_tag(bool is_block, size_t tag) {
        push(is_block ? TokenType::block_begin : TokenType::variable_begin, tag);
        std::vector<char> open_brackets;
        while (pos_ < src_.size()) {
            if (open_brackets.empty() && lex_tag_end(is_block)) return;
            const size_t spaced = skip_space(pos_);
            if (spaced != pos_) {
                finish_match(spaced);
                continue;
            }
            lex_expression_token(open_brackets);
        }
        // The template ended inside the tag; the parser reports it.
    }

    bool lex_tag_end(bool is_block) {
        const size_t at = pos_;
        size_t end = 0;
        if (is_block) {
            if (starts_with(at, "+%}")) {
                end = at + 3;
            } else if (starts_with(at, "-%}")) {
                end = skip_space(at + 3);
            } else if (starts_with(at, "%}")) {
                end = at + 2;
                if (options_.trim_blocks && end < src_.size() && src_[end] == '\n') ++end;
            }
        } else if (starts_with(at, "-}}")) {
            end = skip_space(at + 3);
        } else if (starts_with(at, "}}")) {
            end = at + 2;
        }
        if (!end) return false;
        push(is_block ? TokenType::block_end : TokenType::variable_end, at);
        finish_match(end);
        return true;
    }

    void lex_expression_token(std::vector<char>& open_brackets) {
        const size_t at = pos_;
        const char c = src_[at];
        if (is_digit(c) && lex_number(at)) return;
        if (is_name_start(c)) {
            size_t end = at;
            while (end < src_.size() && is_name_char(src_[end])) ++end;
            push(TokenType::name, at, src_.substr(at, end - at));
            finish_match(end);
            return;
        }
        if (c == '\'' || c == '"') {
            size_t end = at + 1;
            while (end < src_.size() && src_[end] != c) end += src_[end] == '\\' ? 2 : 1;
            if (end >= src_.size()) fail_at(at, std::string("unexpected char '") + c + "'");
            try {
                push(TokenType::string, at, unescape_string(std::string_view(src_).substr(at + 1, end - at - 1)));
            } catch (TemplateError& error) {
                fail_at(at, error.message);
            }
            finish_match(end + 1);
            return;
        }
        lex_operator(open_brackets);
    }

    void lex_operator(std::vector<char>& open_brackets) {
        const size_t at = pos_;
        static const char* const two_char[] = {"//", "**", "==", "!=", ">=", "<="};
        for (const char* op : two_char) {
            if (starts_with(at, op)) {
                push(TokenType::op, at, op);
                finish_match(at + 2);
                return;
            }
        }
        const char c = src_[at];
        if (std::string_view("+-/*%~[](){}.:,|=<>;").find(c) == std::string_view::npos) {
            const std::u32string one = utf8_decode(std::string_view(src_).substr(at, 4));
            std::string shown;
            utf8_append(shown, one.empty() ? U'?' : one[0]);
            fail_at(at, "unexpected char '" + shown + "'");
        }
        if (c == '(' || c == '[' || c == '{') {
            open_brackets.push_back(c == '(' ? ')' : (c == '[' ? ']' : '}'));
        } else if (c == ')' || c == ']' || c == '}') {
            if (open_brackets.empty()) fail_at(at, std::string("unexpected '") + c + "'");
            if (open_brackets.back() != c) {
                fail_at(at, std::string("unexpected '") + c + "', expected '" + open_brackets.back() + "'");
            }
            open_brackets.pop_back();
        }
        push(TokenType::op, at, std::string(1, c));
        finish_match(at + 1);
    }

    size_t digits_end(size_t at) const {  // \d+ with single underscores between digits
        size_t end = at;
        while (end < src_.size() && (is_digit(src_[end]) || (src_[end] == '_' && end + 1 < src_.size() &&
                                                             is_digit(src_[end + 1]) && end > at))) {
            ++end;
        }
        return end;
    }

    bool lex_number(size_t at) {
        std::string cleaned;
        const size_t int_end = digits_end(at);
        size_t end = int_end;
        bool is_float = false;
        // A float may not follow a dot (jinja2's float_re lookbehind).
        if (at == 0 || src_[at - 1] != '.') {
            size_t k = int_end;
            if (k + 1 < src_.size() && src_[k] == '.' && is_digit(src_[k + 1])) {
                k = digits_end(k + 1);
                is_float = true;
            }
            if (k < src_.size() && (src_[k] == 'e' || src_[k] == 'E')) {
                size_t e = k + 1;
                if (e < src_.size() && (src_[e] == '+' || src_[e] == '-')) ++e;
                if (e < src_.size() && is_digit(src_[e])) {
                    k = digits_end(e);
                    is_float = true;
                }
            }
            if (is_float) end = k;
        }
        if (!is_float) return lex_integer(at);
        for (size_t i = at; i < end; ++i) {
            if (src_[i] != '_') cleaned += src_[i];
        }
        Token& token = push(TokenType::floating, at);
        token.float_value = std::strtod(cleaned.c_str(), nullptr);
        finish_match(end);
        return true;
    }

    bool lex_integer(size_t at) {
        int base = 10;
        size_t begin = at, end;
        if (src_[at] == '0' && at + 1 < src_.size() &&
            std::string_view("bBoOxX").find(src_[at + 1]) != std::string_view::npos) {
            const char b = static_cast<char>(src_[at + 1] | 0x20);
            base = b == 'b' ? 2 : (b == 'o' ? 8 : 16);
            begin = end = at + 2;
            while (end < src_.size() &&
                   (src_[end] == '_' || (hex_value(src_[end]) >= 0 && hex_value(src_[end]) < base)))
                ++end;
            if (end == begin) return false;
        } else if (src_[at] == '0') {
            end = at + 1;
            while (end + 1 < src_.size() && src_[end] == '_' && src_[end + 1] == '0') end += 2;
            while (end < src_.size() && src_[end] == '0') ++end;
        } else {
            end = digits_end(at);
        }
        std::string digits;
        for (size_t i = begin; i < end; ++i) {
            if (src_[i] != '_') digits += src_[i];
        }
        errno = 0;
        const long long value = std::strtoll(digits.c_str(), nullptr, base);
        if (errno == ERANGE) fail_at(at, "integer literal too large");
        Token& token = push(TokenType::integer, at);
        token.int_value = value;
        finish_match(end);
        return true;
    }

    std::string src_;
    LexerOptions options_;
    std::vector<size_t> line_starts_;
    std::vector<Token> tokens_;
    size_t pos_ = 0;
    bool line_starting_ = true;
    mutable size_t cached_line_ = 0;
    mutable size_t cached_offset_ = 0;
    mutable int64_t cached_column_ = 1;
};

}  // namespace

std::vector<Token> tokenize(const std::string& source, const LexerOptions& options) {
    return Lexer(source, options).run();
}

}  // namespace lumen::jinja
