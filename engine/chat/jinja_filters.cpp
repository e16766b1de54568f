// The filters of the Jinja engine: jinja2's built-in filters with their
// Python behaviour (map, select and friends return one-shot generators,
// default only replaces Undefined, join and string use str()), and
// transformers' tojson (json.dumps without ASCII escaping).
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <utility>

#include "chat/jinja_eval.h"
#include "chat/jinja_json.h"
#include "chat/jinja_parser.h"
#include "chat/jinja_text.h"

namespace lumen::jinja {

namespace {

using Filter = Value (*)(Renderer&, const Value& input, CallArguments& args);

Value generator(std::vector<Value> items) {
    return Value::list(std::move(items), ListKind::generator);
}

// soft_str: str(), keeping a Markup string as it is.
Value soft_str(const Value& v) {
    return v.is_string() ? v : Value::string(to_str(v));
}

int64_t int_param(const Value& v, const char* what) {
    if (!v.is_int() && !v.is_bool()) {
        fail("TypeError: '" + type_name(v) + "' object cannot be interpreted as an integer (" + what + ")");
    }
    return v.as_int();
}

// make_attrgetter: "a.b.0" looks up a, then b, then item 0, each with getitem.
Value lookup_attribute_path(const Value& item, const Value& attribute, const Value* fallback) {
    std::vector<Value> parts;
    if (attribute.is_string()) {
        static const std::string dot = ".";
        for (const std::string& p : py_split(attribute.as_string(), &dot, -1)) {
            parts.push_back(py_isdigit(p) ? Value::integer(std::strtoll(p.c_str(), nullptr, 10)) : Value::string(p));
        }
    } else if (!attribute.is_none()) {
        parts.push_back(attribute);
    }
    Value v = item;
    for (const Value& part : parts) {
        v = get_item(v, part);
        if (fallback && !fallback->is_none() && v.is_undefined()) v = *fallback;
    }
    return v;
}

Value lower_if_string(const Value& v) {
    return v.is_string() ? Value::string(py_lower(v.as_string())) : v;
}

// The remaining positional arguments after `skip`, as a new argument list.
CallArguments rest_arguments(const CallArguments& args, size_t skip) {
    CallArguments rest;
    rest.positional.assign(
        args.positional.begin() + static_cast<std::ptrdiff_t>(std::min(skip, args.positional.size())),
        args.positional.end());
    rest.keyword = args.keyword;
    return rest;
}

// ---------------------------------------------------------------------------
// Strings

Value f_string(Renderer&, const Value& v, CallArguments& args) {
    ArgumentBinder a(args, "string", {});
    return soft_str(v);
}

Value f_upper(Renderer&, const Value& v, CallArguments& args) {
    ArgumentBinder a(args, "upper", {});
    return Value::string(py_upper(to_str(v)), v.is_safe());
}

Value f_lower(Renderer&, const Value& v, CallArguments& args) {
    ArgumentBinder a(args, "lower", {});
    return Value::string(py_lower(to_str(v)), v.is_safe());
}

Value f_capitalize(Renderer&, const Value& v, CallArguments& args) {
    ArgumentBinder a(args, "capitalize", {});
    return Value::string(py_capitalize(to_str(v)), v.is_safe());
}

// jinja2's title: upper-case the first letter after '-', whitespace or an opening bracket.
Value f_title(Renderer&, const Value& v, CallArguments& args) {
    ArgumentBinder a(args, "title", {});
    std::string out;
    bool at_word_start = true;
    for (char32_t c : utf8_decode(to_str(v))) {
        const bool separator = c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || is_py_space(c);
        std::string one;
        utf8_append(one, c);
        out += separator ? one : (at_word_start ? py_upper(one) : py_lower(one));
        at_word_start = separator;
    }
    return Value::string(std::move(out), v.is_safe());
}

Value f_trim(Renderer&, const Value& v, CallArguments& args) {
    ArgumentBinder a(args, "trim", {"chars"});
    const Value* chars = a.get(0);
    std::string set;
    if (chars && !chars->is_none()) {
        if (!chars->is_string()) fail("TypeError: strip arg must be None or str");
        set = chars->as_string();
    }
    return Value::string(py_strip(to_str(v), StripSide::both, chars && !chars->is_none() ? &set : nullptr),
                         v.is_safe());
}

Value f_replace(Renderer& r, const Value& v, CallArguments& args) {
    ArgumentBinder a(args, "replace", {"old", "new", "count"});
    if (!a.get(0) || !a.get(1)) fail("TypeError: replace() missing required arguments 'old' and 'new'");
    const std::string s = to_str(v), old = to_str(*a.get(0)), with = to_str(*a.get(1));
    const Value count = a.get_or(2, Value::none());
    const size_t occurrences = old.empty() ? s.size() + 1 : static_cast<size_t>(py_count(s, old));
    if (with.size() > old.size()) r.check_string_size(s.size() + occurrences * (with.size() - old.size()));
    return Value::string(py_replace(s, old, with, count.is_none() ? -1 : int_param(count, "count")));
}

Value f_indent(Renderer& r, const Value& v, CallArguments& args) {
    ArgumentBinder a(args, "indent", {"width", "first", "blank"});
    if (v.is_undefined()) fail(undefined_message(v));
    if (!v.is_string()) fail("TypeError: unsupported operand type(s) for +=: '" + type_name(v) + "' and 'str'");
    const Value width = a.get_or(0, Value::integer(4));
    const std::string indention =
        width.is_string() ? width.as_string()
                          : std::string(static_cast<size_t>(std::max<int64_t>(0, int_param(width, "width"))), ' ');
    const std::vector<std::string> lines = py_splitlines(v.as_string() + "\n");
    r.check_string_size(v.as_string().size() + lines.size() * indention.size());
    std::string out;
    if (a.get_or(2, Value::boolean(false)).truthy()) {
        for (size_t i = 0; i < lines.size(); ++i) out += (i ? "\n" + indention : "") + lines[i];
    } else {
        out = lines[0];
        for (size_t i = 1; i < lines.size(); ++i) out += "\n" + (lines[i].empty() ? "" : indention + lines[i]);
    }
    if (a.get_or(1, Value::boolean(false)).truthy()) out = indention + out;
    return Value::string(std::move(out), v.is_safe());
}

Value f_center(Renderer& r, const Value& v, CallArguments& args) {
    ArgumentBinder a(args, "center", {"width"});
    CallArguments method_args;
    method_args.positional.push_back(a.get_or(0, Value::integer(80)));
    return r.call(*find_method(soft_str(v), "center"), method_args);
}

Value f_format(Renderer&, const Value& v, CallArguments& args) {
    if (!args.positional.empty() && !args.keyword.empty()) {
        fail("FilterArgumentError: can't handle positional and keyword arguments at the same time");
    }
    Value operand = Value::list(args.positional, ListKind::tuple);
    if (!args.keyword.empty()) {
        operand = Value::new_dict();
        for (const auto& [key, value] : args.keyword) operand.as_dict().set(Value::string(key), value);
    }
    return Value::string(percent_format(to_str(v), operand));
}

Value f_truncate(Renderer&, const Value& v, CallArguments& args) {
    ArgumentBinder a(args, "truncate", {"length", "killwords", "end", "leeway"});
    const int64_t max_length = int_param(a.get_or(0, Value::integer(255)), "length");
    const std::string end = to_str(a.get_or(2, Value::string("...")));
    const Value leeway_value = a.get_or(3, Value::none());
    const int64_t leeway = leeway_value.is_none() ? 5 : int_param(leeway_value, "leeway");
    const int64_t end_length = code_point_count(end);
    if (max_length < end_length) fail("AssertionError: expected length >= " + std::to_string(end_length));
    const std::u32string s = utf8_decode(to_str(v));
    if (static_cast<int64_t>(s.size()) <= max_length + leeway) return v;
    std::string head = utf8_encode(std::u32string_view(s).substr(0, static_cast<size_t>(max_length - end_length)));
    if (!a.get_or(1, Value::boolean(false)).truthy()) {
        const std::string space = " ";
        head = py_rsplit(head, &space, 1)[0];
    }
    return Value::string(head + end);
}

Value f_wordcount(Renderer&, const Value& v, CallArguments& args) {
    ArgumentBinder a(args, "wordcount", {});
    int64_t words = 0;
    bool in_word = false;
    for (char32_t c : utf8_decode(to_str(v))) {
        std::string one;
        utf8_append(one, c);
        const bool word_char = c == '_' || py_isalnum(one);
        if (word_char && !in_word) ++words;
        in_word = word_char;
    }
    return Value::integer(words);
}

Value f_safe(Renderer&, const Value& v, CallArguments& args) {
    ArgumentBinder a(args, "safe", {});
    return Value::string(to_str(v), true);
}

Value f_escape(Renderer&, const Value& v, CallArguments& args) {
    ArgumentBinder a(args, "escape", {});
    if (v.is_safe()) return v;
    return Value::string(html_escape(to_str(v)), true);
}

Value f_forceescape(Renderer&, const Value& v, CallArguments& args) {
    ArgumentBinder a(args, "forceescape", {});
    return Value::string(html_escape(to_str(v)), true);
}

Value f_tojson(Renderer& r, const Value& v, CallArguments& args) {
    ArgumentBinder a(args, "tojson", {"ensure_ascii", "indent", "separators", "sort_keys"});
    JsonDumpOptions options;
    options.ensure_ascii = a.get_or(0, Value::boolean(false)).truthy();
    const Value indent = a.get_or(1, Value::none());
    if (indent.is_string()) {
        options.indent = indent.as_string();
    } else if (!indent.is_none()) {
        const int64_t n = int_param(indent, "indent");
        r.check_string_size(static_cast<size_t>(std::max<int64_t>(n, 0)));
        options.indent = std::string(static_cast<size_t>(std::max<int64_t>(n, 0)), ' ');
    }
    const Value separators = a.get_or(2, Value::none());
    if (!separators.is_none()) {
        const std::vector<Value> parts = iterate(separators);
        if (parts.size() != 2) fail("ValueError: separators must be a pair of strings");
        options.item_separator = to_str(parts[0]);
        options.key_separator = to_str(parts[1]);
    } else if (options.indent) {
        options.item_separator = ",";
    }
    options.sort_keys = a.get_or(3, Value::boolean(false)).truthy();
    return Value::string(dump_json(v, options));
}

// ---------------------------------------------------------------------------
// Numbers

Value f_int(Renderer&, const Value& v, CallArguments& args) {
    ArgumentBinder a(args, "int", {"default", "base"});
    const Value fallback = a.get_or(0, Value::integer(0));
    const int base = static_cast<int>(int_param(a.get_or(1, Value::integer(10)), "base"));
    if (v.is_undefined()) fail(undefined_message(v));  // Undefined.__int__ raises
    if (v.is_int() || v.is_bool()) return Value::integer(v.as_int());
    if (v.is_float()) {
        const double f = v.as_double();
        return std::isfinite(f) ? Value::integer(static_cast<int64_t>(f)) : fallback;
    }
    if (!v.is_string()) return fallback;
    std::string text = py_strip(v.as_string(), StripSide::both);
    text.erase(std::remove(text.begin(), text.end(), '_'), text.end());
    if (!text.empty()) {
        char* end = nullptr;
        errno = 0;
        const long long n = std::strtoll(text.c_str(), &end, base);
        if (*end == '\0' && errno == 0) return Value::integer(n);
        const double f = std::strtod(text.c_str(), &end);
        if (*end == '\0' && std::isfinite(f)) return Value::integer(static_cast<int64_t>(f));
    }
    return fallback;
}

Value f_float(Renderer&, const Value& v, CallArguments& args) {
    ArgumentBinder a(args, "float", {"default"});
    if (v.is_undefined()) fail(undefined_message(v));  // Undefined.__float__ raises
    if (v.is_number()) return Value::floating(v.as_double());
    if (v.is_string()) {
        std::string text = py_strip(v.as_string(), StripSide::both);
        text.erase(std::remove(text.begin(), text.end(), '_'), text.end());
        char* end = nullptr;
        const double f = std::strtod(text.c_str(), &end);
        if (!text.empty() && *end == '\0') return Value::floating(f);
    }
    return a.get_or(0, Value::floating(0.0));
}

Value f_abs(Renderer&, const Value& v, CallArguments& args) {
    ArgumentBinder a(args, "abs", {});
    if (v.is_undefined()) fail(undefined_message(v));
    if (v.is_float()) return Value::floating(std::fabs(v.as_double()));
    if (v.is_number()) return Value::integer(std::llabs(v.as_int()));
    fail("TypeError: bad operand type for abs(): '" + type_name(v) + "'");
}

// Python's round(x, n): correctly rounded, ties to even on the exact binary value.
double python_round(double x, int64_t digits) {
    if (!std::isfinite(x)) return x;
    if (digits < 0) {
        const double scale = std::pow(10.0, static_cast<double>(-digits));
        return std::nearbyint(x / scale) * scale;
    }
    char buf[512];
    std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(std::min<int64_t>(digits, 300)), x);
    return std::strtod(buf, nullptr);
}

Value f_round(Renderer&, const Value& v, CallArguments& args) {
    ArgumentBinder a(args, "round", {"precision", "method"});
    const int64_t precision = int_param(a.get_or(0, Value::integer(0)), "precision");
    const std::string method = to_str(a.get_or(1, Value::string("common")));
    if (v.is_undefined()) fail(undefined_message(v));
    if (!v.is_number()) fail("TypeError: type " + type_name(v) + " doesn't define __round__ method");
    if (method == "common") {
        if (!v.is_float()) return Value::integer(v.as_int());
        return Value::floating(python_round(v.as_double(), precision));
    }
    if (method != "ceil" && method != "floor") fail("FilterArgumentError: method must be common, ceil or floor");
    const double scale = std::pow(10.0, static_cast<double>(precision));
    const double scaled = v.as_double() * scale;
    return Value::floating((method == "ceil" ? std::ceil(scaled) : std::floor(scaled)) / scale);
}

// ---------------------------------------------------------------------------
// Sequences

Value f_length(Renderer&, const Value& v, CallArguments& args) {
    ArgumentBinder a(args, "length", {});
    return Value::integer(length(v));
}

Value f_list(Renderer& r, const Value& v, CallArguments& args) {
    ArgumentBinder a(args, "list", {});
    std::vector<Value> items = iterate(v);
    r.check_list_size(items.size());
    return Value::list(std::move(items));
}

Value f_first(Renderer&, const Value& v, CallArguments& args) {
    ArgumentBinder a(args, "first", {});
    if (v.is_generator()) {
        List& list = v.as_list();
        if (list.consumed < list.items.size()) return list.items[list.consumed++];
    } else {
        const std::vector<Value> items = iterate(v);
        if (!items.empty()) return items.front();
    }
    return Value::undefined("No first item, sequence was empty.");
}

Value f_last(Renderer&, const Value& v, CallArguments& args) {
    ArgumentBinder a(args, "last", {});
    if (v.is_generator() || v.is_none() || v.is_number() || v.is_function() || v.is_namespace()) {
        fail("TypeError: '" + type_name(v) + "' object is not reversible");
    }
    const std::vector<Value> items = iterate(v);
    if (items.empty()) return Value::undefined("No last item, sequence was empty.");
    return items.back();
}

Value f_default(Renderer&, const Value& v, CallArguments& args) {
    ArgumentBinder a(args, "default", {"default_value", "boolean"});
    const bool boolean = a.get_or(1, Value::boolean(false)).truthy();
    if (v.is_undefined() || (boolean && !v.truthy())) return a.get_or(0, Value::string(""));
    return v;
}

Value f_join(Renderer& r, const Value& v, CallArguments& args) {
    ArgumentBinder a(args, "join", {"d", "attribute"});
    const std::string separator = to_str(a.get_or(0, Value::string("")));
    const Value attribute = a.get_or(1, Value::none());
    std::string out;
    bool first = true;
    for (const Value& item : iterate(v)) {
        if (!first) out += separator;
        first = false;
        out += to_str(attribute.is_none() ? item : lookup_attribute_path(item, attribute, nullptr));
        r.check_string_size(out.size());
    }
    return Value::string(std::move(out));
}

Value f_items(Renderer&, const Value& v, CallArguments& args) {
    ArgumentBinder a(args, "items", {});
    if (v.is_undefined()) return generator({});
    if (!v.is_dict()) fail("TypeError: Can only get item pairs from a mapping.");
    std::vector<Value> pairs;
    for (const auto& [key, value] : v.as_dict().entries) pairs.push_back(Value::list({key, value}, ListKind::tuple));
    return generator(std::move(pairs));
}

Value f_reverse(Renderer&, const Value& v, CallArguments& args) {
    ArgumentBinder a(args, "reverse", {});
    if (v.is_string()) {
        std::u32string s = utf8_decode(v.as_string());
        std::reverse(s.begin(), s.end());
        return Value::string(utf8_encode(s));
    }
    if (v.is_none() || v.is_number() || v.is_function() || v.is_namespace()) {
        fail("FilterArgumentError: argument must be iterable");
    }
    const bool was_generator = v.is_generator();
    std::vector<Value> items = iterate(v);
    std::reverse(items.begin(), items.end());
    // reversed() gives an iterator; a generator, which reversed() refuses, becomes a list.
    return Value::list(std::move(items), was_generator ? ListKind::list : ListKind::generator);
}

Value f_map(Renderer& r, const Value& v, CallArguments& args) {
    if (!v.truthy()) return generator({});
    std::vector<Value> out;
    if (args.positional.empty()) {
        const Value* attribute = nullptr;
        const Value* fallback = nullptr;
        for (const auto& [key, value] : args.keyword) {
            if (key == "attribute") {
                attribute = &value;
            } else if (key == "default") {
                fallback = &value;
            } else {
                fail("FilterArgumentError: Unexpected keyword argument '" + key + "'");
            }
        }
        if (!attribute) fail("FilterArgumentError: map requires a filter argument");
        for (const Value& item : iterate(v)) out.push_back(lookup_attribute_path(item, *attribute, fallback));
        return generator(std::move(out));
    }
    const std::string name = to_str(args.positional[0]);
    if (!is_known_filter(name)) fail("TemplateRuntimeError: No filter named '" + name + "' found.");
    for (const Value& item : iterate(v)) {
        CallArguments rest = rest_arguments(args, 1);
        out.push_back(r.apply_filter(name, item, rest));
    }
    return generator(std::move(out));
}

// select, reject, selectattr, rejectattr.
Value select_or_reject(Renderer& r, const Value& v, CallArguments& args, bool keep_when, bool by_attribute) {
    if (!v.truthy()) return generator({});
    size_t offset = 0;
    Value attribute;
    if (by_attribute) {
        if (args.positional.empty()) fail("FilterArgumentError: Missing parameter for attribute name");
        attribute = args.positional[0];
        offset = 1;
    }
    const bool has_test = args.positional.size() > offset;
    const std::string test = has_test ? to_str(args.positional[offset]) : "";
    std::vector<Value> kept;
    for (const Value& item : iterate(v)) {
        const Value subject = by_attribute ? lookup_attribute_path(item, attribute, nullptr) : item;
        bool passed;
        if (has_test) {
            CallArguments rest = rest_arguments(args, offset + 1);
            passed = r.apply_test(test, subject, rest);
        } else {
            passed = subject.truthy();
        }
        if (passed == keep_when) kept.push_back(item);
    }
    return generator(std::move(kept));
}

Value f_select(Renderer& r, const Value& v, CallArguments& a) {
    return select_or_reject(r, v, a, true, false);
}
Value f_reject(Renderer& r, const Value& v, CallArguments& a) {
    return select_or_reject(r, v, a, false, false);
}
Value f_selectattr(Renderer& r, const Value& v, CallArguments& a) {
    return select_or_reject(r, v, a, true, true);
}
Value f_rejectattr(Renderer& r, const Value& v, CallArguments& a) {
    return select_or_reject(r, v, a, false, true);
}

// Sort keys: one per comma-separated attribute, lower-cased unless case_sensitive.
std::vector<Value> sort_key(const Value& item, const Value& attribute, bool case_sensitive) {
    std::vector<Value> keys;
    if (attribute.is_string()) {
        const std::string comma = ",";
        for (const std::string& part : py_split(attribute.as_string(), &comma, -1)) {
            const Value k = lookup_attribute_path(item, Value::string(part), nullptr);
            keys.push_back(case_sensitive ? k : lower_if_string(k));
        }
    } else {
        const Value k = attribute.is_none() ? item : lookup_attribute_path(item, attribute, nullptr);
        keys.push_back(case_sensitive ? k : lower_if_string(k));
    }
    return keys;
}

int compare_keys(const std::vector<Value>& a, const std::vector<Value>& b) {
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
        if (!equals(a[i], b[i])) return compare(a[i], b[i], "<");
    }
    return a.size() < b.size() ? -1 : (a.size() > b.size() ? 1 : 0);
}

Value f_sort(Renderer&, const Value& v, CallArguments& args) {
    ArgumentBinder a(args, "sort", {"reverse", "case_sensitive", "attribute"});
    const bool reverse = a.get_or(0, Value::boolean(false)).truthy();
    const bool case_sensitive = a.get_or(1, Value::boolean(false)).truthy();
    const Value attribute = a.get_or(2, Value::none());
    std::vector<std::pair<std::vector<Value>, Value>> keyed;
    for (const Value& item : iterate(v)) keyed.emplace_back(sort_key(item, attribute, case_sensitive), item);
    std::stable_sort(keyed.begin(), keyed.end(), [reverse](const auto& x, const auto& y) {
        return reverse ? compare_keys(y.first, x.first) < 0 : compare_keys(x.first, y.first) < 0;
    });
    std::vector<Value> out;
    for (auto& entry : keyed) out.push_back(std::move(entry.second));
    return Value::list(std::move(out));
}

Value f_dictsort(Renderer&, const Value& v, CallArguments& args) {
    ArgumentBinder a(args, "dictsort", {"case_sensitive", "by", "reverse"});
    if (v.is_undefined()) fail(undefined_message(v));
    if (!v.is_dict()) fail("AttributeError: '" + type_name(v) + "' object has no attribute 'items'");
    const bool case_sensitive = a.get_or(0, Value::boolean(false)).truthy();
    const std::string by = to_str(a.get_or(1, Value::string("key")));
    if (by != "key" && by != "value") fail("FilterArgumentError: You can only sort by either \"key\" or \"value\"");
    const bool reverse = a.get_or(2, Value::boolean(false)).truthy();
    std::vector<Value> pairs;
    for (const auto& [key, value] : v.as_dict().entries) pairs.push_back(Value::list({key, value}, ListKind::tuple));
    const size_t position = by == "key" ? 0 : 1;
    std::stable_sort(pairs.begin(), pairs.end(), [&](const Value& x, const Value& y) {
        Value kx = x.as_list().items[position], ky = y.as_list().items[position];
        if (!case_sensitive) {
            kx = lower_if_string(kx);
            ky = lower_if_string(ky);
        }
        return reverse ? compare(ky, kx, "<") < 0 : compare(kx, ky, "<") < 0;
    });
    return Value::list(std::move(pairs));
}

Value f_unique(Renderer&, const Value& v, CallArguments& args) {
    ArgumentBinder a(args, "unique", {"case_sensitive", "attribute"});
    const bool case_sensitive = a.get_or(0, Value::boolean(false)).truthy();
    const Value attribute = a.get_or(1, Value::none());
    std::vector<Value> seen, out;
    for (const Value& item : iterate(v)) {
        Value key = attribute.is_none() ? item : lookup_attribute_path(item, attribute, nullptr);
        if (!case_sensitive) key = lower_if_string(key);
        if (std::none_of(seen.begin(), seen.end(), [&](const Value& s) { return equals(s, key); })) {
            seen.push_back(key);
            out.push_back(item);
        }
    }
    return generator(std::move(out));
}

Value min_or_max(const Value& v, CallArguments& args, bool want_max) {
    ArgumentBinder a(args, want_max ? "max" : "min", {"case_sensitive", "attribute"});
    const bool case_sensitive = a.get_or(0, Value::boolean(false)).truthy();
    const Value attribute = a.get_or(1, Value::none());
    const std::vector<Value> items = iterate(v);
    if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
    size_t best = 0;
    std::vector<Value> best_key = sort_key(items[0], attribute, case_sensitive);
    for (size_t i = 1; i < items.size(); ++i) {
        std::vector<Value> key = sort_key(items[i], attribute, case_sensitive);
        const int c = compare_keys(key, best_key);
        if (want_max ? c > 0 : c < 0) {
            best = i;
            best_key = std::move(key);
        }
    }
    return items[best];
}

Value f_min(Renderer&, const Value& v, CallArguments& a) {
    return min_or_max(v, a, false);
}
Value f_max(Renderer&, const Value& v, CallArguments& a) {
    return min_or_max(v, a, true);
}

Value f_sum(Renderer& r, const Value& v, CallArguments& args) {
    ArgumentBinder a(args, "sum", {"attribute", "start"});
    const Value attribute = a.get_or(0, Value::none());
    Value total = a.get_or(1, Value::integer(0));
    for (const Value& item : iterate(v)) {
        total = binary_op(r, "+", total, attribute.is_none() ? item : lookup_attribute_path(item, attribute, nullptr));
    }
    return total;
}

Value f_attr(Renderer&, const Value& v, CallArguments& args) {
    ArgumentBinder a(args, "attr", {"name"});
    const std::string name = to_str(a.get_or(0, Value::string("")));
    if (v.is_undefined()) fail(undefined_message(v));
    if (v.is_namespace()) return get_attribute(v, name);
    if (std::optional<Value> method = find_method(v, name)) return *method;
    return Value::undefined("'" + type_name(v) + " object' has no attribute '" + name + "'");
}

Value f_batch(Renderer&, const Value& v, CallArguments& args) {
    ArgumentBinder a(args, "batch", {"linecount", "fill_with"});
    const int64_t size = int_param(a.get_or(0, Value::integer(0)), "linecount");
    if (size <= 0) fail("ValueError: batch size must be positive");
    const Value fill = a.get_or(1, Value::none());
    std::vector<Value> batches, current;
    for (const Value& item : iterate(v)) {
        current.push_back(item);
        if (static_cast<int64_t>(current.size()) == size) batches.push_back(Value::list(std::exchange(current, {})));
    }
    if (!current.empty()) {
        while (!fill.is_none() && static_cast<int64_t>(current.size()) < size) current.push_back(fill);
        batches.push_back(Value::list(std::move(current)));
    }
    return generator(std::move(batches));
}

Value f_slice(Renderer&, const Value& v, CallArguments& args) {
    ArgumentBinder a(args, "slice", {"slices", "fill_with"});
    const int64_t slices = int_param(a.get_or(0, Value::integer(0)), "slices");
    if (slices <= 0) fail("ZeroDivisionError: integer division or modulo by zero");
    const Value fill = a.get_or(1, Value::none());
    const std::vector<Value> seq = iterate(v);
    const int64_t n = static_cast<int64_t>(seq.size()), per = n / slices, extra = n % slices;
    std::vector<Value> out;
    int64_t offset = 0;
    for (int64_t s = 0; s < slices; ++s) {
        const int64_t start = offset + s * per;
        if (s < extra) ++offset;
        const int64_t end = offset + (s + 1) * per;
        std::vector<Value> part(seq.begin() + start, seq.begin() + end);
        if (!fill.is_none() && s >= extra) part.push_back(fill);
        out.push_back(Value::list(std::move(part)));
    }
    return generator(std::move(out));
}

Value f_pprint(Renderer&, const Value& v, CallArguments& args) {
    ArgumentBinder a(args, "pprint", {});
    return Value::string(to_repr(v));
}

const std::map<std::string, Filter>& filters() {
    static const std::map<std::string, Filter> table = {
        {"abs", f_abs},
        {"attr", f_attr},
        {"batch", f_batch},
        {"capitalize", f_capitalize},
        {"center", f_center},
        {"count", f_length},
        {"d", f_default},
        {"default", f_default},
        {"dictsort", f_dictsort},
        {"e", f_escape},
        {"escape", f_escape},
        {"first", f_first},
        {"float", f_float},
        {"forceescape", f_forceescape},
        {"format", f_format},
        {"indent", f_indent},
        {"int", f_int},
        {"items", f_items},
        {"join", f_join},
        {"last", f_last},
        {"length", f_length},
        {"list", f_list},
        {"lower", f_lower},
        {"map", f_map},
        {"max", f_max},
        {"min", f_min},
        {"pprint", f_pprint},
        {"reject", f_reject},
        {"rejectattr", f_rejectattr},
        {"replace", f_replace},
        {"reverse", f_reverse},
        {"round", f_round},
        {"safe", f_safe},
        {"select", f_select},
        {"selectattr", f_selectattr},
        {"slice", f_slice},
        {"sort", f_sort},
        {"string", f_string},
        {"sum", f_sum},
        {"title", f_title},
        {"tojson", f_tojson},
        {"trim", f_trim},
        {"truncate", f_truncate},
        {"unique", f_unique},
        {"upper", f_upper},
        {"wordcount", f_wordcount},
    };
    return table;
}

// jinja2 filters Lumen does not implement: a template may name them, and only
// running one is an error (they format HTML or are random).
const char* const unimplemented_filters[] = {"filesizeformat", "groupby", "random",   "striptags",
                                             "urlencode",      "urlize",  "wordwrap", "xmlattr"};

}  // namespace

bool is_known_filter(const std::string& name) {
    return filters().count(name) != 0 || std::find(std::begin(unimplemented_filters), std::end(unimplemented_filters),
                                                   name) != std::end(unimplemented_filters);
}

Value call_filter(Renderer& renderer, const std::string& name, const Value& input, CallArguments& args) {
    const auto it = filters().find(name);
    if (it != filters().end()) return it->second(renderer, input, args);
    if (is_known_filter(name)) fail("the '" + name + "' filter is not supported by Lumen's Jinja engine");
    fail("TemplateRuntimeError: No filter named '" + name + "' found.");
}

}  // namespace lumen::jinja
