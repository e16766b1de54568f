// Python's str behaviour on UTF-8 text, for the Jinja engine: code-point
// indexing and length, Unicode whitespace, case mapping, strip/split/
// splitlines, repr() quoting, float repr, HTML escaping and the two string
// formatting languages ('%' and str.format).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lumen::jinja {

class Value;

// ---------------------------------------------------------------------------
// UTF-8: invalid bytes decode to U+DC80+byte (Python's surrogateescape) and
// encode back to the same byte, so no input is ever altered.

std::u32string utf8_decode(std::string_view s);
std::string utf8_encode(std::u32string_view s);
void utf8_append(std::string& out, char32_t cp);
bool is_ascii(std::string_view s);
int64_t code_point_count(std::string_view s);

// ---------------------------------------------------------------------------
// Character classes and case (ASCII, Latin-1, Latin Extended-A, Greek and
// Cyrillic; other scripts have no case and map to themselves).

bool is_py_space(char32_t c);  // str.isspace() and regex \s
std::string py_upper(std::string_view s);
std::string py_lower(std::string_view s);
std::string py_capitalize(std::string_view s);
std::string py_title(std::string_view s);
std::string py_swapcase(std::string_view s);
std::string py_expandtabs(std::string_view s, int64_t tabsize);
bool py_isupper(std::string_view s);
bool py_islower(std::string_view s);
bool py_isalpha(std::string_view s);
bool py_isdigit(std::string_view s);
bool py_isalnum(std::string_view s);
bool py_isspace(std::string_view s);

// ---------------------------------------------------------------------------
// str methods

enum class StripSide { both, left, right };
// strip() with no chars strips whitespace; otherwise the given code points.
std::string py_strip(std::string_view s, StripSide side, const std::string* chars = nullptr);
// split(sep=None, maxsplit=-1) and rsplit.
std::vector<std::string> py_split(std::string_view s, const std::string* sep, int64_t maxsplit);
std::vector<std::string> py_rsplit(std::string_view s, const std::string* sep, int64_t maxsplit);
std::vector<std::string> py_splitlines(std::string_view s, bool keepends = false);
std::string py_replace(std::string_view s, std::string_view old, std::string_view with, int64_t count);
// find/rfind/count in code points; -1 when absent.
int64_t py_find(std::string_view s, std::string_view sub, bool from_right);
int64_t py_count(std::string_view s, std::string_view sub);
// s[start:stop:step] and s[index] in code points (indices already normalized by the caller).
std::string code_point_slice(std::string_view s, const std::vector<int64_t>& indices);

// ---------------------------------------------------------------------------
// Formatting

std::string py_repr_string(std::string_view s);  // repr(str)
std::string py_float_repr(double f);             // repr(float)
std::string html_escape(std::string_view s);     // markupsafe.escape
// Python's `fmt % args` (args: a tuple's items, or one value).
std::string percent_format(const std::string& fmt, const Value& args);
// str.format(*positional, **keyword).
std::string brace_format(const std::string& fmt, const std::vector<Value>& positional,
                         const std::vector<std::pair<std::string, Value>>& keyword);

}  // namespace lumen::jinja
