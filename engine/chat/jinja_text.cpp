// Python's str behaviour on UTF-8 text (see jinja_text.h).
#include "chat/jinja_text.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "chat/jinja_error.h"

namespace lumen::jinja {

// ---------------------------------------------------------------------------
// UTF-8

namespace {

constexpr char32_t escaped_byte_base = 0xDC80;  // surrogateescape: byte b (>= 0x80) -> U+DC00+b

int sequence_length(unsigned char lead) {
    if (lead < 0x80) return 1;
    if ((lead & 0xE0) == 0xC0) return 2;
    if ((lead & 0xF0) == 0xE0) return 3;
    if ((lead & 0xF8) == 0xF0) return 4;
    return 0;
}

// Decodes one code point at s[i]; an invalid sequence yields its first byte, escaped.
char32_t decode_one(std::string_view s, size_t& i) {
    const auto lead = static_cast<unsigned char>(s[i]);
    const int n = sequence_length(lead);
    if (n == 1) return s[i++];
    if (n == 0 || i + n > s.size()) {
        ++i;
        return escaped_byte_base + lead - 0x80;
    }
    char32_t cp = lead & (0x7F >> n);
    for (int k = 1; k < n; ++k) {
        const auto c = static_cast<unsigned char>(s[i + k]);
        if ((c & 0xC0) != 0x80) return escaped_byte_base + (s[i++] & 0xFF) - 0x80;
        cp = (cp << 6) | (c & 0x3F);
    }
    static constexpr char32_t min_for_length[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_for_length[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return escaped_byte_base + (s[i++] & 0xFF) - 0x80;
    }
    i += n;
    return cp;
}

}  // namespace

void utf8_append(std::string& out, char32_t cp) {
    if (cp >= 0xDC80 && cp <= 0xDCFF) {  // an escaped invalid byte goes back unchanged
        out += static_cast<char>(cp - 0xDC00);
    } else if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

std::u32string utf8_decode(std::string_view s) {
    std::u32string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) out += decode_one(s, i);
    return out;
}

std::string utf8_encode(std::u32string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char32_t c : s) utf8_append(out, c);
    return out;
}

bool is_ascii(std::string_view s) {
    for (char c : s) {
        if (static_cast<unsigned char>(c) >= 0x80) return false;
    }
    return true;
}

int64_t code_point_count(std::string_view s) {
    if (is_ascii(s)) return static_cast<int64_t>(s.size());
    return static_cast<int64_t>(utf8_decode(s).size());
}

// ---------------------------------------------------------------------------
// Character classes and case

bool is_py_space(char32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

namespace {

// Lower -> upper for the scripts with case that chat templates meet.
char32_t upper_of(char32_t c) {
    if (c >= 'a' && c <= 'z') return c - 32;
    if (c < 0x80) return c;
    if (c == 0xB5) return 0x39C;
    if (c == 0x131) return 'I';  // dotless i
    if (c == 0x17F) return 'S';  // long s
    if (c == 0x130 || c == 0x138 || c == 0x149) return c;
    if (c == 0xFF) return 0x178;
    if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 32;
    if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) return c & ~char32_t{1};
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return (c % 2 == 0) ? c - 1 : c;
    if (c == 0x3C2) return 0x3A3;
    if (c >= 0x3B1 && c <= 0x3C9) return c - 32;
    if (c >= 0x430 && c <= 0x44F) return c - 32;
    if (c >= 0x450 && c <= 0x45F) return c - 80;
    return c;
}

char32_t lower_of(char32_t c) {
    if (c >= 'A' && c <= 'Z') return c + 32;
    if (c < 0x80) return c;
    if (c == 0x131 || c == 0x138 || c == 0x149 || c == 0x17F) return c;
    if (c == 0x178) return 0xFF;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
    if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) return c | 1;
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return (c % 2 == 1) ? c + 1 : c;
    if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 32;
    if (c >= 0x410 && c <= 0x42F) return c + 32;
    if (c >= 0x400 && c <= 0x40F) return c + 80;
    return c;
}

bool is_cased(char32_t c) {
    return upper_of(c) != c || lower_of(c) != c || c == 0xDF;
}
bool is_upper_char(char32_t c) {
    return lower_of(c) != c;
}
bool is_lower_char(char32_t c) {
    return upper_of(c) != c || c == 0xDF;
}

void append_upper(std::string& out, char32_t c) {
    if (c == 0xDF) {  // German sharp s uppercases to two letters, as in Python
        out += "SS";
        return;
    }
    utf8_append(out, upper_of(c));
}

bool is_alpha_char(char32_t c) {
    if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (c < 0x100) return c == 0xAA || c == 0xB5 || c == 0xBA || (c >= 0xC0 && c != 0xD7 && c != 0xF7);
    if (is_py_space(c)) return false;
    // General punctuation, CJK symbols and punctuation, emoji and symbols are not letters.
    if ((c >= 0x2000 && c <= 0x2BFF) || (c >= 0x3000 && c <= 0x303F) || (c >= 0xFF00 && c <= 0xFF20) || c >= 0x1F000) {
        return false;
    }
    return true;
}

template <typename Pred>
bool all_chars(std::string_view s, Pred pred) {
    if (s.empty()) return false;
    for (char32_t c : utf8_decode(s)) {
        if (!pred(c)) return false;
    }
    return true;
}

}  // namespace

std::string py_upper(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char32_t c : utf8_decode(s)) append_upper(out, c);
    return out;
}

namespace {

void append_lower(std::string& out, char32_t c) {
    if (c == 0x130) {  // capital I with dot lowercases to i and a combining dot, as in Python
        out += "i\xCC\x87";
        return;
    }
    utf8_append(out, lower_of(c));
}

}  // namespace

std::string py_lower(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char32_t c : utf8_decode(s)) append_lower(out, c);
    return out;
}

std::string py_capitalize(std::string_view s) {
    std::string out;
    bool first = true;
    for (char32_t c : utf8_decode(s)) {
        if (first) {
            append_upper(out, c);
        } else {
            append_lower(out, c);
        }
        first = false;
    }
    return out;
}

std::string py_title(std::string_view s) {
    std::string out;
    bool previous_cased = false;
    for (char32_t c : utf8_decode(s)) {
        if (previous_cased) {
            append_lower(out, c);
        } else {
            append_upper(out, c);
        }
        previous_cased = is_cased(c);
    }
    return out;
}

std::string py_swapcase(std::string_view s) {
    std::string out;
    for (char32_t c : utf8_decode(s)) {
        if (is_upper_char(c)) {
            append_lower(out, c);
        } else if (is_lower_char(c)) {
            append_upper(out, c);
        } else {
            utf8_append(out, c);
        }
    }
    return out;
}

std::string py_expandtabs(std::string_view s, int64_t tabsize) {
    std::string out;
    int64_t column = 0;
    for (char32_t c : utf8_decode(s)) {
        if (c == '\t') {
            const int64_t spaces = tabsize > 0 ? tabsize - column % tabsize : 0;
            out.append(static_cast<size_t>(spaces), ' ');
            column += spaces;
        } else {
            utf8_append(out, c);
            column = (c == '\n' || c == '\r') ? 0 : column + 1;
        }
    }
    return out;
}

bool py_isupper(std::string_view s) {
    bool any_cased = false;
    for (char32_t c : utf8_decode(s)) {
        if (is_lower_char(c)) return false;
        any_cased = any_cased || is_upper_char(c);
    }
    return any_cased;
}

bool py_islower(std::string_view s) {
    bool any_cased = false;
    for (char32_t c : utf8_decode(s)) {
        if (is_upper_char(c)) return false;
        any_cased = any_cased || is_lower_char(c);
    }
    return any_cased;
}

bool py_isalpha(std::string_view s) {
    return all_chars(s, is_alpha_char);
}
bool py_isdigit(std::string_view s) {
    return all_chars(s, [](char32_t c) { return c >= '0' && c <= '9'; });
}
bool py_isalnum(std::string_view s) {
    return all_chars(s, [](char32_t c) { return is_alpha_char(c) || (c >= '0' && c <= '9'); });
}
bool py_isspace(std::string_view s) {
    return all_chars(s, is_py_space);
}

// ---------------------------------------------------------------------------
// str methods

std::string py_strip(std::string_view s, StripSide side, const std::string* chars) {
    const std::u32string text = utf8_decode(s);
    const std::u32string set = chars ? utf8_decode(*chars) : std::u32string();
    auto strippable = [&](char32_t c) { return chars ? set.find(c) != std::u32string::npos : is_py_space(c); };
    size_t begin = 0, end = text.size();
    if (side != StripSide::right) {
        while (begin < end && strippable(text[begin])) ++begin;
    }
    if (side != StripSide::left) {
        while (end > begin && strippable(text[end - 1])) --end;
    }
    return utf8_encode(std::u32string_view(text).substr(begin, end - begin));
}

namespace {

std::vector<std::string> split_whitespace(std::string_view s, int64_t maxsplit, bool from_right) {
    std::u32string text = utf8_decode(s);
    std::vector<std::string> parts;
    if (from_right) std::reverse(text.begin(), text.end());
    size_t i = 0;
    while (true) {
        while (i < text.size() && is_py_space(text[i])) ++i;
        if (i == text.size()) break;
        if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
            std::u32string rest = text.substr(i);
            if (from_right) std::reverse(rest.begin(), rest.end());
            parts.push_back(utf8_encode(rest));
            break;
        }
        size_t j = i;
        while (j < text.size() && !is_py_space(text[j])) ++j;
        std::u32string word = text.substr(i, j - i);
        if (from_right) std::reverse(word.begin(), word.end());
        parts.push_back(utf8_encode(word));
        i = j;
    }
    if (from_right) std::reverse(parts.begin(), parts.end());
    return parts;
}

}  // namespace

std::vector<std::string> py_split(std::string_view s, const std::string* sep, int64_t maxsplit) {
    if (!sep) return split_whitespace(s, maxsplit, false);
    if (sep->empty()) fail("ValueError: empty separator");
    std::vector<std::string> parts;
    size_t start = 0;
    while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
        const size_t at = s.find(*sep, start);
        if (at == std::string_view::npos) break;
        parts.emplace_back(s.substr(start, at - start));
        start = at + sep->size();
    }
    parts.emplace_back(s.substr(start));
    return parts;
}

std::vector<std::string> py_rsplit(std::string_view s, const std::string* sep, int64_t maxsplit) {
    if (!sep) return split_whitespace(s, maxsplit, true);
    if (sep->empty()) fail("ValueError: empty separator");
    std::vector<std::string> parts;
    size_t end = s.size();
    while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
        if (end < sep->size()) break;
        const size_t at = s.rfind(*sep, end - sep->size());
        if (at == std::string_view::npos) break;
        parts.emplace_back(s.substr(at + sep->size(), end - at - sep->size()));
        end = at;
    }
    parts.emplace_back(s.substr(0, end));
    std::reverse(parts.begin(), parts.end());
    return parts;
}

std::vector<std::string> py_splitlines(std::string_view s, bool keepends) {
    const std::u32string text = utf8_decode(s);
    auto is_break = [](char32_t c) {
        return c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || (c >= 0x1C && c <= 0x1E) || c == 0x85 ||
               c == 0x2028 || c == 0x2029;
    };
    std::vector<std::string> lines;
    size_t start = 0, i = 0;
    while (i < text.size()) {
        if (!is_break(text[i])) {
            ++i;
            continue;
        }
        size_t end = i + 1;
        if (text[i] == '\r' && end < text.size() && text[end] == '\n') ++end;
        lines.push_back(utf8_encode(std::u32string_view(text).substr(start, (keepends ? end : i) - start)));
        start = i = end;
    }
    if (start < text.size()) lines.push_back(utf8_encode(std::u32string_view(text).substr(start)));
    return lines;
}

std::string py_replace(std::string_view s, std::string_view old, std::string_view with, int64_t count) {
    std::string out;
    if (old.empty()) {  // Python inserts the replacement around every character
        const std::u32string text = utf8_decode(s);
        int64_t done = 0;
        for (char32_t c : text) {
            if (count < 0 || done < count) {
                out += with;
                ++done;
            }
            utf8_append(out, c);
        }
        if (count < 0 || done < count) out += with;
        return out;
    }
    size_t start = 0;
    int64_t done = 0;
    while (count < 0 || done < count) {
        const size_t at = s.find(old, start);
        if (at == std::string_view::npos) break;
        out += s.substr(start, at - start);
        out += with;
        start = at + old.size();
        ++done;
    }
    out += s.substr(start);
    return out;
}

int64_t py_find(std::string_view s, std::string_view sub, bool from_right) {
    const size_t at = from_right ? s.rfind(sub) : s.find(sub);
    if (at == std::string_view::npos) return -1;
    return code_point_count(s.substr(0, at));
}

int64_t py_count(std::string_view s, std::string_view sub) {
    if (sub.empty()) return code_point_count(s) + 1;
    int64_t n = 0;
    for (size_t at = s.find(sub); at != std::string_view::npos; at = s.find(sub, at + sub.size())) ++n;
    return n;
}

std::string code_point_slice(std::string_view s, const std::vector<int64_t>& indices) {
    std::string out;
    if (is_ascii(s)) {
        for (int64_t i : indices) out += s[static_cast<size_t>(i)];
        return out;
    }
    const std::u32string text = utf8_decode(s);
    for (int64_t i : indices) utf8_append(out, text[static_cast<size_t>(i)]);
    return out;
}

// ---------------------------------------------------------------------------
// repr, float repr, HTML escape

namespace {

// Python's str.isprintable() is false for controls, format characters,
// separators other than the space, surrogates and private use.
bool is_printable(char32_t c) {
    if (c < 0x20 || c == 0x7F) return false;
    if (c < 0x7F) return true;
    if (c <= 0xA0 || c == 0xAD) return false;
    if ((c >= 0x600 && c <= 0x605) || c == 0x61C || c == 0x6DD || c == 0x70F || c == 0x180E || c == 0x1680) {
        return false;
    }
    if ((c >= 0x2000 && c <= 0x200F) || (c >= 0x2028 && c <= 0x202F) || (c >= 0x205F && c <= 0x2064) ||
        (c >= 0x2066 && c <= 0x206F) || c == 0x3000) {
        return false;
    }
    if ((c >= 0xD800 && c <= 0xF8FF) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFB) || c == 0xFFFE || c == 0xFFFF ||
        c >= 0xF0000 || (c >= 0xE0000 && c <= 0xE007F)) {
        return false;
    }
    return true;
}

}  // namespace

std::string py_repr_string(std::string_view s) {
    const bool has_single = s.find('\'') != std::string_view::npos;
    const bool has_double = s.find('"') != std::string_view::npos;
    const char quote = (has_single && !has_double) ? '"' : '\'';
    std::string out(1, quote);
    char buf[16];
    for (char32_t c : utf8_decode(s)) {
        if (c == static_cast<char32_t>(quote) || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c == '\t') {
            out += "\\t";
        } else if (is_printable(c)) {
            utf8_append(out, c);
        } else if (c < 0x100) {
            std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(c));
            out += buf;
        } else if (c < 0x10000) {
            std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
            out += buf;
        } else {
            std::snprintf(buf, sizeof buf, "\\U%08x", static_cast<unsigned>(c));
            out += buf;
        }
    }
    out += quote;
    return out;
}

std::string py_float_repr(double f) {
    if (std::isnan(f)) return "nan";
    if (std::isinf(f)) return f < 0 ? "-inf" : "inf";
    // The shortest digits that round-trip, as Python's repr uses.
    char buf[64];
    const auto result = std::to_chars(buf, buf + sizeof buf, f, std::chars_format::scientific);
    const std::string sci(buf, result.ptr);
    const size_t e_at = sci.find('e');
    std::string mantissa = sci.substr(0, e_at);
    const int exponent = std::stoi(sci.substr(e_at + 1));
    const bool negative = mantissa[0] == '-';
    if (negative) mantissa.erase(0, 1);
    std::string digits;
    for (char c : mantissa) {
        if (c != '.') digits += c;
    }
    const int decimal_point = exponent + 1;  // digits before the point
    std::string out = negative ? "-" : "";
    if (decimal_point > -4 && decimal_point <= 16) {
        if (decimal_point <= 0) {
            out += "0." + std::string(static_cast<size_t>(-decimal_point), '0') + digits;
        } else if (static_cast<size_t>(decimal_point) >= digits.size()) {
            out += digits + std::string(decimal_point - digits.size(), '0') + ".0";
        } else {
            out += digits.substr(0, decimal_point) + "." + digits.substr(decimal_point);
        }
        return out;
    }
    out += digits.substr(0, 1);
    if (digits.size() > 1) {
        out += '.';
        out += digits.substr(1);
    }
    std::snprintf(buf, sizeof buf, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
    return out + buf;
}

std::string html_escape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&#34;"; break;
            case '\'': out += "&#39;"; break;
            default: out += c;
        }
    }
    return out;
}

}  // namespace lumen::jinja
