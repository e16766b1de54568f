// Python's two string formatting languages for the Jinja engine: `fmt % args`
// (also the `format` filter) and str.format(). Only what a template can reach
// through them: the common conversions, flags, width and precision.
#include <cstdio>

#include "chat/jinja_error.h"
#include "chat/jinja_text.h"
#include "chat/jinja_value.h"

namespace lumen::jinja {

namespace {

// Pads s to width code points; align is '<', '>' or '^'.
std::string pad(const std::string& s, int64_t width, char align, char32_t fill = ' ') {
    const int64_t n = code_point_count(s);
    if (width <= n) return s;
    const int64_t total = width - n;
    int64_t left = align == '>' ? total : (align == '^' ? total / 2 : 0);
    std::string fill_text;
    utf8_append(fill_text, fill);
    std::string out;
    for (int64_t i = 0; i < left; ++i) out += fill_text;
    out += s;
    for (int64_t i = 0; i < total - left; ++i) out += fill_text;
    return out;
}

std::string truncate_code_points(const std::string& s, int64_t precision) {
    if (precision < 0 || code_point_count(s) <= precision) return s;
    const std::u32string text = utf8_decode(s);
    return utf8_encode(std::u32string_view(text).substr(0, static_cast<size_t>(precision)));
}

double number_for_format(const Value& v, char type) {
    if (!v.is_number()) {
        fail(std::string("TypeError: must be real number, not ") + type_name(v) + " (format %" + type + ")");
    }
    return v.as_double();
}

int64_t integer_for_format(const Value& v, char type) {
    if (!v.is_number()) {
        fail(std::string("TypeError: %") + type + " format: a real number is required, not " + type_name(v));
    }
    if (v.is_float() && type != 'd' && type != 'i' && type != 'u') {
        fail(std::string("TypeError: %") + type + " format: an integer is required, not float");
    }
    return v.is_float() ? static_cast<int64_t>(v.as_double()) : v.as_int();
}

std::string c_format(const std::string& spec, double value) {
    char buf[512];
    std::snprintf(buf, sizeof buf, spec.c_str(), value);
    return buf;
}

std::string c_format(const std::string& spec, long long value) {
    char buf[512];
    std::snprintf(buf, sizeof buf, spec.c_str(), value);
    return buf;
}

struct PercentSpec {
    std::string flags;
    int64_t width = -1;
    int64_t precision = -1;
    char type = 's';
};

std::string format_one(const PercentSpec& spec, const Value& arg) {
    const bool left = spec.flags.find('-') != std::string::npos;
    std::string head = "%" + spec.flags;
    if (spec.width >= 0) head += std::to_string(spec.width);
    if (spec.precision >= 0) {
        head += '.';
        head += std::to_string(spec.precision);
    }
    switch (spec.type) {
        case 's':
        case 'r':
        case 'a': {
            std::string text = spec.type == 's' ? to_str(arg) : to_repr(arg);
            return pad(truncate_code_points(text, spec.precision), spec.width, left ? '<' : '>');
        }
        case 'd':
        case 'i':
        case 'u': return c_format(head + "lld", static_cast<long long>(integer_for_format(arg, spec.type)));
        case 'x':
        case 'X':
        case 'o': return c_format(head + "ll" + spec.type, static_cast<long long>(integer_for_format(arg, spec.type)));
        case 'e':
        case 'E':
        case 'f':
        case 'F':
        case 'g':
        case 'G': return c_format(head + spec.type, number_for_format(arg, spec.type));
        case 'c': {
            std::string one;
            if (arg.is_string() && code_point_count(arg.as_string()) == 1) {
                one = arg.as_string();
            } else {
                utf8_append(one, static_cast<char32_t>(integer_for_format(arg, 'c')));
            }
            return pad(one, spec.width, left ? '<' : '>');
        }
        default: fail(std::string("ValueError: unsupported format character '") + spec.type + "'");
    }
}

int64_t read_number(const std::string& s, size_t& i) {
    int64_t n = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') n = n * 10 + (s[i++] - '0');
    return n;
}

}  // namespace

std::string percent_format(const std::string& fmt, const Value& args) {
    std::vector<Value> items;
    const Dict* mapping = args.is_dict() ? &args.as_dict() : nullptr;
    if (args.is_tuple()) {
        items = args.as_list().items;
    } else {
        items.push_back(args);
    }
    size_t next = 0;
    bool used_mapping = false;
    std::string out;
    for (size_t i = 0; i < fmt.size(); ++i) {
        if (fmt[i] != '%') {
            out += fmt[i];
            continue;
        }
        if (++i >= fmt.size()) fail("ValueError: incomplete format");
        if (fmt[i] == '%') {
            out += '%';
            continue;
        }
        const Value* arg = nullptr;
        if (fmt[i] == '(') {
            const size_t close = fmt.find(')', i);
            if (close == std::string::npos) fail("ValueError: incomplete format key");
            if (!mapping) fail("TypeError: format requires a mapping");
            arg = mapping->find(fmt.substr(i + 1, close - i - 1));
            if (!arg) fail("KeyError: '" + fmt.substr(i + 1, close - i - 1) + "'");
            used_mapping = true;
            i = close + 1;
        }
        PercentSpec spec;
        while (i < fmt.size() && std::string("-+ #0").find(fmt[i]) != std::string::npos) spec.flags += fmt[i++];
        if (i < fmt.size() && fmt[i] >= '0' && fmt[i] <= '9') spec.width = read_number(fmt, i);
        if (i < fmt.size() && fmt[i] == '.') {
            ++i;
            spec.precision = read_number(fmt, i);
        }
        while (i < fmt.size() && (fmt[i] == 'h' || fmt[i] == 'l' || fmt[i] == 'L')) ++i;
        if (i >= fmt.size()) fail("ValueError: incomplete format");
        spec.type = fmt[i];
        if (!arg) {
            if (next >= items.size()) fail("TypeError: not enough arguments for format string");
            arg = &items[next++];
        }
        out += format_one(spec, *arg);
    }
    if (!used_mapping && !mapping && next < items.size()) {
        fail("TypeError: not all arguments converted during string formatting");
    }
    return out;
}

// ---------------------------------------------------------------------------
// str.format

namespace {

struct BraceSpec {
    char32_t fill = ' ';
    char align = 0;
    char sign = 0;
    bool zero = false;
    int64_t width = -1;
    int64_t precision = -1;
    char grouping = 0;  // ',' or '_' between thousands
    char type = 0;
};

std::string group_thousands(const std::string& digits, char separator) {
    const size_t start = (!digits.empty() && digits[0] == '-') ? 1 : 0;
    const size_t end = digits.find('.') == std::string::npos ? digits.size() : digits.find('.');
    std::string out = digits.substr(0, start);
    for (size_t i = start; i < end; ++i) {
        if (i > start && (end - i) % 3 == 0) out += separator;
        out += digits[i];
    }
    return out + digits.substr(end);
}

BraceSpec parse_brace_spec(const std::string& spec_text) {
    BraceSpec spec;
    const std::u32string s = utf8_decode(spec_text);
    size_t i = 0;
    auto is_align = [](char32_t c) { return c == '<' || c == '>' || c == '^' || c == '='; };
    if (s.size() >= 2 && is_align(s[1])) {
        spec.fill = s[0];
        spec.align = static_cast<char>(s[1]);
        i = 2;
    } else if (!s.empty() && is_align(s[0])) {
        spec.align = static_cast<char>(s[0]);
        i = 1;
    }
    if (i < s.size() && (s[i] == '+' || s[i] == '-' || s[i] == ' ')) spec.sign = static_cast<char>(s[i++]);
    if (i < s.size() && s[i] == '0') {
        spec.zero = true;
        ++i;
    }
    const std::string rest = utf8_encode(s.substr(i));
    size_t j = 0;
    if (j < rest.size() && rest[j] >= '0' && rest[j] <= '9') spec.width = read_number(rest, j);
    if (j < rest.size() && (rest[j] == ',' || rest[j] == '_')) spec.grouping = rest[j++];
    if (j < rest.size() && rest[j] == '.') {
        ++j;
        spec.precision = read_number(rest, j);
    }
    if (j < rest.size()) spec.type = rest[j++];
    if (j != rest.size()) fail("ValueError: Invalid format specifier '" + spec_text + "'");
    return spec;
}

std::string format_with_spec(const Value& v, const std::string& spec_text) {
    if (spec_text.empty()) return to_str(v);
    const BraceSpec spec = parse_brace_spec(spec_text);
    std::string body;
    char default_align = '>';
    if (v.is_string()) {
        if (spec.type != 0 && spec.type != 's') fail("ValueError: Unknown format code for object of type 'str'");
        body = truncate_code_points(v.as_string(), spec.precision);
        default_align = '<';
    } else if (v.is_number() && (spec.type == 0 || spec.type == 'd') && !v.is_float()) {
        body = std::to_string(v.as_int());
    } else if (v.is_number() && (spec.type == 'x' || spec.type == 'X' || spec.type == 'o' || spec.type == 'b')) {
        const int64_t n = integer_for_format(v, spec.type);
        if (spec.type == 'b') {
            uint64_t u = static_cast<uint64_t>(n < 0 ? -n : n);
            do {
                body.insert(body.begin(), static_cast<char>('0' + (u & 1)));
                u >>= 1;
            } while (u);
            if (n < 0) body.insert(body.begin(), '-');
        } else {
            body = c_format(std::string("%ll") + spec.type, static_cast<long long>(n));
        }
    } else if (v.is_number()) {
        const char type = spec.type == 0 ? 'g' : spec.type;
        if (spec.type == 0 && spec.precision < 0) {
            body = v.is_float() ? py_float_repr(v.as_double()) : std::to_string(v.as_int());
        } else if (type == '%') {
            body =
                c_format("%." + std::to_string(spec.precision < 0 ? 6 : spec.precision) + "f", v.as_double() * 100.0) +
                "%";
        } else {
            body = c_format("%." + std::to_string(spec.precision < 0 ? 6 : spec.precision) + type, v.as_double());
        }
    } else {
        fail("TypeError: unsupported format string passed to " + type_name(v) + ".__format__");
    }
    if (v.is_number() && spec.grouping && (spec.type == 0 || spec.type == 'd' || spec.type == 'f')) {
        body = group_thousands(body, spec.grouping);
    }
    if (v.is_number() && spec.sign == '+' && body[0] != '-') body.insert(body.begin(), '+');
    if (v.is_number() && spec.sign == ' ' && body[0] != '-') body.insert(body.begin(), ' ');
    if (spec.zero && v.is_number() && !spec.align) {
        const bool signed_body = !body.empty() && (body[0] == '-' || body[0] == '+' || body[0] == ' ');
        std::string digits = signed_body ? body.substr(1) : body;
        while (static_cast<int64_t>(digits.size() + (signed_body ? 1 : 0)) < spec.width)
            digits.insert(digits.begin(), '0');
        return (signed_body ? body.substr(0, 1) : "") + digits;
    }
    return pad(body, spec.width, spec.align ? (spec.align == '=' ? '>' : spec.align) : default_align, spec.fill);
}

}  // namespace

std::string brace_format(const std::string& fmt, const std::vector<Value>& positional,
                         const std::vector<std::pair<std::string, Value>>& keyword) {
    std::string out;
    size_t auto_index = 0;
    for (size_t i = 0; i < fmt.size(); ++i) {
        const char c = fmt[i];
        if (c == '}') {
            if (i + 1 < fmt.size() && fmt[i + 1] == '}') {
                out += '}';
                ++i;
                continue;
            }
            fail("ValueError: Single '}' encountered in format string");
        }
        if (c != '{') {
            out += c;
            continue;
        }
        if (i + 1 < fmt.size() && fmt[i + 1] == '{') {
            out += '{';
            ++i;
            continue;
        }
        const size_t close = fmt.find('}', i);
        if (close == std::string::npos) fail("ValueError: Single '{' encountered in format string");
        std::string field = fmt.substr(i + 1, close - i - 1);
        i = close;
        std::string spec, conversion;
        if (const size_t colon = field.find(':'); colon != std::string::npos) {
            spec = field.substr(colon + 1);
            field.resize(colon);
        }
        if (const size_t bang = field.find('!'); bang != std::string::npos) {
            conversion = field.substr(bang + 1);
            field.resize(bang);
        }
        const Value* arg = nullptr;
        if (field.empty() || (field[0] >= '0' && field[0] <= '9')) {
            size_t k = 0;
            const size_t index = field.empty() ? auto_index++ : static_cast<size_t>(read_number(field, k));
            if (index >= positional.size()) {
                fail("IndexError: Replacement index " + std::to_string(index) +
                     " out of range for positional args tuple");
            }
            arg = &positional[index];
        } else {
            for (const auto& [name, value] : keyword) {
                if (name == field) arg = &value;
            }
            if (!arg) fail("KeyError: '" + field + "'");
        }
        if (conversion == "r" || conversion == "a") {
            out += format_with_spec(Value::string(to_repr(*arg)), spec);
        } else if (conversion == "s") {
            out += format_with_spec(Value::string(to_str(*arg)), spec);
        } else if (conversion.empty()) {
            out += format_with_spec(*arg, spec);
        } else {
            fail("ValueError: Unknown conversion specifier " + conversion);
        }
    }
    return out;
}

}  // namespace lumen::jinja
