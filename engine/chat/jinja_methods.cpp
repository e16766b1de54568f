// Attribute and item access for the Jinja engine (jinja2's sandboxed getattr
// and getitem), the Python methods templates call on str, list and dict, and
// the global functions (range, dict, namespace, joiner, cycler,
// raise_exception, strftime_now). Methods that mutate a list or dict are
// refused, as transformers' ImmutableSandboxedEnvironment refuses them.
#include <algorithm>
#include <ctime>
#include <map>

#include "chat/jinja_eval.h"
#include "chat/jinja_text.h"

namespace lumen::jinja {

// ---------------------------------------------------------------------------
// Argument binding

ArgumentBinder::ArgumentBinder(CallArguments& args, std::string function, std::vector<std::string> params)
    : slots_(params.size(), nullptr) {
    if (args.positional.size() > params.size()) {
        fail("TypeError: " + function + "() takes at most " + std::to_string(params.size()) + " argument(s) (" +
             std::to_string(args.positional.size()) + " given)");
    }
    for (size_t i = 0; i < args.positional.size(); ++i) slots_[i] = &args.positional[i];
    for (const auto& [key, value] : args.keyword) {
        const auto it = std::find(params.begin(), params.end(), key);
        if (it == params.end()) fail("TypeError: " + function + "() got an unexpected keyword argument '" + key + "'");
        const auto index = static_cast<size_t>(it - params.begin());
        if (slots_[index]) fail("TypeError: " + function + "() got multiple values for argument '" + key + "'");
        slots_[index] = &value;
    }
}

const Value* ArgumentBinder::get(size_t index) const {
    return slots_[index];
}

Value ArgumentBinder::get_or(size_t index, Value fallback) const {
    return slots_[index] ? *slots_[index] : std::move(fallback);
}

namespace {

const std::string& string_argument(const Value* v, const std::string& what) {
    if (!v || !v->is_string()) {
        fail("TypeError: " + what + " must be str, not " + (v ? type_name(*v) : std::string("nothing")));
    }
    return v->as_string();
}

int64_t int_argument(const Value& v, const std::string& what) {
    if (!v.is_int() && !v.is_bool()) {
        fail("TypeError: '" + type_name(v) + "' object cannot be interpreted as an integer (" + what + ")");
    }
    return v.as_int();
}

Value string_list(std::vector<std::string> parts) {
    std::vector<Value> items;
    items.reserve(parts.size());
    for (std::string& p : parts) items.push_back(Value::string(std::move(p)));
    return Value::list(std::move(items));
}

// ---------------------------------------------------------------------------
// str methods

using Method = Value (*)(Renderer&, const Value& self, CallArguments& args);

Value str_strip_common(const Value& self, CallArguments& args, StripSide side, const char* name) {
    ArgumentBinder a(args, name, {"chars"});
    const Value* chars = a.get(0);
    const std::string* set = nullptr;
    if (chars && !chars->is_none()) set = &string_argument(chars, std::string(name) + " arg");
    return Value::string(py_strip(self.as_string(), side, set), self.is_safe());
}

Value str_split_common(Renderer& r, const Value& self, CallArguments& args, bool from_right) {
    ArgumentBinder a(args, from_right ? "rsplit" : "split", {"sep", "maxsplit"});
    const Value* sep = a.get(0);
    const std::string* separator = nullptr;
    if (sep && !sep->is_none()) separator = &string_argument(sep, "separator");
    const int64_t maxsplit = int_argument(a.get_or(1, Value::integer(-1)), "maxsplit");
    std::vector<std::string> parts =
        from_right ? py_rsplit(self.as_string(), separator, maxsplit) : py_split(self.as_string(), separator, maxsplit);
    r.check_list_size(parts.size());
    return string_list(std::move(parts));
}

// startswith/endswith: a prefix or a tuple of prefixes.
Value str_affix(const Value& self, CallArguments& args, bool at_start) {
    const char* name = at_start ? "startswith" : "endswith";
    ArgumentBinder a(args, name, {"prefix"});
    const Value* arg = a.get(0);
    std::vector<Value> candidates;
    if (arg && arg->is_tuple()) {
        candidates = arg->as_list().items;
    } else if (arg) {
        candidates.push_back(*arg);
    }
    const std::string& s = self.as_string();
    for (const Value& c : candidates) {
        if (!c.is_string()) {
            fail(std::string("TypeError: ") + name + " first arg must be str or a tuple of str, not " + type_name(c));
        }
        const std::string& affix = c.as_string();
        if (affix.size() <= s.size() && s.compare(at_start ? 0 : s.size() - affix.size(), affix.size(), affix) == 0) {
            return Value::boolean(true);
        }
    }
    if (!arg) fail(std::string("TypeError: ") + name + "() takes at least 1 argument (0 given)");
    return Value::boolean(false);
}

Value str_replace(Renderer& r, const Value& self, CallArguments& args) {
    ArgumentBinder a(args, "replace", {"old", "new", "count"});
    const std::string& old = string_argument(a.get(0), "replace() argument 1");
    const std::string& with = string_argument(a.get(1), "replace() argument 2");
    const int64_t count = int_argument(a.get_or(2, Value::integer(-1)), "count");
    const std::string& s = self.as_string();
    const size_t occurrences = old.empty() ? s.size() + 1 : static_cast<size_t>(py_count(s, old));
    if (with.size() > old.size()) r.check_string_size(s.size() + occurrences * (with.size() - old.size()));
    return Value::string(py_replace(s, old, with, count), self.is_safe());
}

Value str_find(const Value& self, CallArguments& args, bool from_right, bool raise, const char* name) {
    ArgumentBinder a(args, name, {"sub"});
    const int64_t at = py_find(self.as_string(), string_argument(a.get(0), std::string(name) + " arg"), from_right);
    if (at < 0 && raise) fail("ValueError: substring not found");
    return Value::integer(at);
}

Value str_join(Renderer& r, const Value& self, CallArguments& args) {
    ArgumentBinder a(args, "join", {"iterable"});
    if (!a.get(0)) fail("TypeError: str.join() takes exactly one argument (0 given)");
    std::string out;
    size_t index = 0;
    for (const Value& item : iterate(*a.get(0))) {
        if (!item.is_string()) {
            fail("TypeError: sequence item " + std::to_string(index) + ": expected str instance, " + type_name(item) +
                 " found");
        }
        if (index++ > 0) out += self.as_string();
        out += item.as_string();
        r.check_string_size(out.size());
    }
    return Value::string(std::move(out));
}

Value str_pad(Renderer& r, const Value& self, CallArguments& args, char align, const char* name) {
    ArgumentBinder a(args, name, {"width", "fillchar"});
    const int64_t width = int_argument(a.get_or(0, Value::integer(0)), "width");
    const std::string fill = a.get(1) ? string_argument(a.get(1), "fillchar") : " ";
    r.check_string_size(static_cast<size_t>(std::max<int64_t>(width, 0)) * fill.size());
    const std::string& s = self.as_string();
    const int64_t n = code_point_count(s);
    if (width <= n) return self;
    const int64_t total = width - n;
    // str.center puts the odd space on the right unless the width is odd too (CPython's rule).
    const int64_t left = align == '>' ? total : (align == '^' ? total / 2 + (total & width & 1) : 0);
    std::string out;
    for (int64_t i = 0; i < left; ++i) out += fill;
    out += s;
    for (int64_t i = 0; i < total - left; ++i) out += fill;
    return Value::string(std::move(out));
}

Value str_partition(const Value& self, CallArguments& args, bool from_right) {
    ArgumentBinder a(args, from_right ? "rpartition" : "partition", {"sep"});
    const std::string& sep = string_argument(a.get(0), "sep");
    if (sep.empty()) fail("ValueError: empty separator");
    const std::string& s = self.as_string();
    const size_t at = from_right ? s.rfind(sep) : s.find(sep);
    std::vector<Value> parts;
    if (at == std::string::npos) {
        parts = from_right ? std::vector<Value>{Value::string(""), Value::string(""), self}
                           : std::vector<Value>{self, Value::string(""), Value::string("")};
    } else {
        parts = {Value::string(s.substr(0, at)), Value::string(sep), Value::string(s.substr(at + sep.size()))};
    }
    return Value::list(std::move(parts), ListKind::tuple);
}

Value str_trim_affix(const Value& self, CallArguments& args, bool prefix) {
    ArgumentBinder a(args, prefix ? "removeprefix" : "removesuffix", {"affix"});
    const std::string& affix = string_argument(a.get(0), "argument");
    const std::string& s = self.as_string();
    if (affix.size() > s.size()) return self;
    if (prefix && s.compare(0, affix.size(), affix) == 0) return Value::string(s.substr(affix.size()));
    if (!prefix && s.compare(s.size() - affix.size(), affix.size(), affix) == 0) {
        return Value::string(s.substr(0, s.size() - affix.size()));
    }
    return self;
}

Value no_arguments(CallArguments& args, const char* name) {
    ArgumentBinder a(args, name, {});
    return Value();
}

Value str_predicate(const Value& self, CallArguments& args, const char* name, bool (*predicate)(std::string_view)) {
    no_arguments(args, name);
    return Value::boolean(predicate(self.as_string()));
}

const std::map<std::string, Method>& string_methods() {
    static const std::map<std::string, Method> methods = {
        {"strip",
         [](Renderer&, const Value& s, CallArguments& a) { return str_strip_common(s, a, StripSide::both, "strip"); }},
        {"lstrip",
         [](Renderer&, const Value& s, CallArguments& a) { return str_strip_common(s, a, StripSide::left, "lstrip"); }},
        {"rstrip", [](Renderer&, const Value& s,
                      CallArguments& a) { return str_strip_common(s, a, StripSide::right, "rstrip"); }},
        {"split", [](Renderer& r, const Value& s, CallArguments& a) { return str_split_common(r, s, a, false); }},
        {"rsplit", [](Renderer& r, const Value& s, CallArguments& a) { return str_split_common(r, s, a, true); }},
        {"splitlines",
         [](Renderer&, const Value& s, CallArguments& a) {
             ArgumentBinder b(a, "splitlines", {"keepends"});
             return string_list(py_splitlines(s.as_string(), b.get_or(0, Value::boolean(false)).truthy()));
         }},
        {"startswith", [](Renderer&, const Value& s, CallArguments& a) { return str_affix(s, a, true); }},
        {"endswith", [](Renderer&, const Value& s, CallArguments& a) { return str_affix(s, a, false); }},
        {"replace", str_replace},
        {"upper",
         [](Renderer&, const Value& s, CallArguments& a) {
             no_arguments(a, "upper");
             return Value::string(py_upper(s.as_string()), s.is_safe());
         }},
        {"lower",
         [](Renderer&, const Value& s, CallArguments& a) {
             no_arguments(a, "lower");
             return Value::string(py_lower(s.as_string()), s.is_safe());
         }},
        {"casefold",
         [](Renderer&, const Value& s, CallArguments& a) {
             no_arguments(a, "casefold");
             return Value::string(py_lower(s.as_string()));
         }},
        {"title",
         [](Renderer&, const Value& s, CallArguments& a) {
             no_arguments(a, "title");
             return Value::string(py_title(s.as_string()), s.is_safe());
         }},
        {"capitalize",
         [](Renderer&, const Value& s, CallArguments& a) {
             no_arguments(a, "capitalize");
             return Value::string(py_capitalize(s.as_string()), s.is_safe());
         }},
        {"swapcase",
         [](Renderer&, const Value& s, CallArguments& a) {
             no_arguments(a, "swapcase");
             return Value::string(py_swapcase(s.as_string()));
         }},
        {"expandtabs",
         [](Renderer& r, const Value& s, CallArguments& a) {
             ArgumentBinder b(a, "expandtabs", {"tabsize"});
             const int64_t tabsize = int_argument(b.get_or(0, Value::integer(8)), "tabsize");
             r.check_string_size(s.as_string().size() * static_cast<size_t>(std::clamp<int64_t>(tabsize, 1, 1 << 20)));
             return Value::string(py_expandtabs(s.as_string(), tabsize));
         }},
        {"find", [](Renderer&, const Value& s, CallArguments& a) { return str_find(s, a, false, false, "find"); }},
        {"rfind", [](Renderer&, const Value& s, CallArguments& a) { return str_find(s, a, true, false, "rfind"); }},
        {"index", [](Renderer&, const Value& s, CallArguments& a) { return str_find(s, a, false, true, "index"); }},
        {"rindex", [](Renderer&, const Value& s, CallArguments& a) { return str_find(s, a, true, true, "rindex"); }},
        {"count",
         [](Renderer&, const Value& s, CallArguments& a) {
             ArgumentBinder b(a, "count", {"sub"});
             return Value::integer(py_count(s.as_string(), string_argument(b.get(0), "count arg")));
         }},
        {"join", str_join},
        {"format",
         [](Renderer&, const Value& s, CallArguments& a) {
             return Value::string(brace_format(s.as_string(), a.positional, a.keyword));
         }},
        {"isdigit",
         [](Renderer&, const Value& s, CallArguments& a) { return str_predicate(s, a, "isdigit", py_isdigit); }},
        {"isnumeric",
         [](Renderer&, const Value& s, CallArguments& a) { return str_predicate(s, a, "isnumeric", py_isdigit); }},
        {"isdecimal",
         [](Renderer&, const Value& s, CallArguments& a) { return str_predicate(s, a, "isdecimal", py_isdigit); }},
        {"isalpha",
         [](Renderer&, const Value& s, CallArguments& a) { return str_predicate(s, a, "isalpha", py_isalpha); }},
        {"isalnum",
         [](Renderer&, const Value& s, CallArguments& a) { return str_predicate(s, a, "isalnum", py_isalnum); }},
        {"isspace",
         [](Renderer&, const Value& s, CallArguments& a) { return str_predicate(s, a, "isspace", py_isspace); }},
        {"islower",
         [](Renderer&, const Value& s, CallArguments& a) { return str_predicate(s, a, "islower", py_islower); }},
        {"isupper",
         [](Renderer&, const Value& s, CallArguments& a) { return str_predicate(s, a, "isupper", py_isupper); }},
        {"center", [](Renderer& r, const Value& s, CallArguments& a) { return str_pad(r, s, a, '^', "center"); }},
        {"ljust", [](Renderer& r, const Value& s, CallArguments& a) { return str_pad(r, s, a, '<', "ljust"); }},
        {"rjust", [](Renderer& r, const Value& s, CallArguments& a) { return str_pad(r, s, a, '>', "rjust"); }},
        {"zfill",
         [](Renderer& r, const Value& s, CallArguments& a) {
             ArgumentBinder b(a, "zfill", {"width"});
             const int64_t width = int_argument(b.get_or(0, Value::integer(0)), "width");
             r.check_string_size(static_cast<size_t>(std::max<int64_t>(width, 0)));
             std::string text = s.as_string();
             const bool sign = !text.empty() && (text[0] == '-' || text[0] == '+');
             while (code_point_count(text) < width) text.insert(text.begin() + (sign ? 1 : 0), '0');
             return Value::string(std::move(text));
         }},
        {"partition", [](Renderer&, const Value& s, CallArguments& a) { return str_partition(s, a, false); }},
        {"rpartition", [](Renderer&, const Value& s, CallArguments& a) { return str_partition(s, a, true); }},
        {"removeprefix", [](Renderer&, const Value& s, CallArguments& a) { return str_trim_affix(s, a, true); }},
        {"removesuffix", [](Renderer&, const Value& s, CallArguments& a) { return str_trim_affix(s, a, false); }},
    };
    return methods;
}

// ---------------------------------------------------------------------------
// list and dict methods

Value dict_view(const Value& self, const char* view) {
    std::vector<Value> items;
    for (const auto& [key, value] : self.as_dict().entries) {
        if (view[5] == 'i') {
            items.push_back(Value::list({key, value}, ListKind::tuple));
        } else {
            items.push_back(view[5] == 'k' ? key : value);
        }
    }
    Value list = Value::list(std::move(items));
    list.as_list().view = view;
    return list;
}

const std::map<std::string, Method>& list_methods() {
    static const std::map<std::string, Method> methods = {
        {"index",
         [](Renderer&, const Value& s, CallArguments& a) {
             ArgumentBinder b(a, "index", {"value"});
             const auto& items = s.as_list().items;
             for (size_t i = 0; i < items.size(); ++i) {
                 if (b.get(0) && equals(items[i], *b.get(0))) return Value::integer(static_cast<int64_t>(i));
             }
             fail("ValueError: " + (b.get(0) ? to_repr(*b.get(0)) : std::string("value")) + " is not in list");
         }},
        {"count",
         [](Renderer&, const Value& s, CallArguments& a) {
             ArgumentBinder b(a, "count", {"value"});
             int64_t n = 0;
             for (const Value& item : s.as_list().items) n += b.get(0) && equals(item, *b.get(0));
             return Value::integer(n);
         }},
        {"copy",
         [](Renderer&, const Value& s, CallArguments& a) {
             no_arguments(a, "copy");
             return Value::list(s.as_list().items, s.as_list().kind);
         }},
    };
    return methods;
}

const std::map<std::string, Method>& dict_methods() {
    static const std::map<std::string, Method> methods = {
        {"items",
         [](Renderer&, const Value& s, CallArguments& a) {
             no_arguments(a, "items");
             return dict_view(s, "dict_items");
         }},
        {"keys",
         [](Renderer&, const Value& s, CallArguments& a) {
             no_arguments(a, "keys");
             return dict_view(s, "dict_keys");
         }},
        {"values",
         [](Renderer&, const Value& s, CallArguments& a) {
             no_arguments(a, "values");
             return dict_view(s, "dict_values");
         }},
        {"get",
         [](Renderer&, const Value& s, CallArguments& a) {
             ArgumentBinder b(a, "get", {"key", "default"});
             if (!b.get(0)) fail("TypeError: get expected at least 1 argument, got 0");
             const Value* found = s.as_dict().find(*b.get(0));
             return found ? *found : b.get_or(1, Value::none());
         }},
        {"copy",
         [](Renderer&, const Value& s, CallArguments& a) {
             no_arguments(a, "copy");
             return Value::dict(std::make_shared<Dict>(s.as_dict()));
         }},
    };
    return methods;
}

bool is_unsafe_method(const Value& object, const std::string& name) {
    static const char* const list_mutators[] = {"append", "clear",  "extend",  "insert",
                                                "pop",    "remove", "reverse", "sort"};
    static const char* const dict_mutators[] = {"clear", "pop", "popitem", "setdefault", "update"};
    if (object.is_sequence_list() && !object.is_tuple()) {
        return std::find(std::begin(list_mutators), std::end(list_mutators), name) != std::end(list_mutators);
    }
    if (object.is_dict()) {
        return std::find(std::begin(dict_mutators), std::end(dict_mutators), name) != std::end(dict_mutators);
    }
    return false;
}

Value bind_method(const Value& self, const std::string& name, Method method) {
    return Value::function(name, [self, method](Renderer& r, CallArguments& args) { return method(r, self, args); });
}

}  // namespace

std::optional<Value> find_method(const Value& object, const std::string& name) {
    const std::map<std::string, Method>* table = nullptr;
    if (object.is_string()) table = &string_methods();
    if (object.is_sequence_list()) table = &list_methods();
    if (object.is_dict()) table = &dict_methods();
    if (is_unsafe_method(object, name)) {
        const std::string type = type_name(object);
        return Value::function(name, [name, type](Renderer&, CallArguments&) -> Value {
            fail("SecurityError: access to attribute '" + name + "' of '" + type + "' object is unsafe.");
        });
    }
    if (!table) return std::nullopt;
    const auto it = table->find(name);
    if (it == table->end()) return std::nullopt;
    return bind_method(object, name, it->second);
}

namespace {

// jinja2's message for a missing attribute or item (Undefined._undefined_message).
std::string missing_attribute(const Value& object, const Value& key) {
    const std::string object_text = object.is_none() ? "None" : type_name(object) + " object";
    if (!key.is_string()) return object_text + " has no element " + to_repr(key);
    return "'" + object_text + "' has no attribute '" + key.as_string() + "'";
}

}  // namespace

// ---------------------------------------------------------------------------
// Attribute and item access

Value get_attribute(const Value& object, const std::string& name) {
    if (object.is_undefined()) fail(undefined_message(object));
    if (object.is_namespace()) {
        if (const Value* v = object.as_dict().find(name)) return *v;
    } else if (std::optional<Value> method = find_method(object, name)) {
        return *method;
    } else if (object.is_dict()) {
        if (const Value* v = object.as_dict().find(name)) return *v;
    }
    return Value::undefined(missing_attribute(object, Value::string(name)));
}

Value get_item(const Value& object, const Value& key) {
    if (object.is_undefined()) fail(undefined_message(object));
    if (object.is_dict() || object.is_namespace()) {
        if (const Value* v = object.as_dict().find(key)) return *v;
    } else if ((object.is_sequence_list() || object.is_string()) && (key.is_int() || key.is_bool())) {
        const int64_t n = length(object);
        int64_t i = key.as_int();
        if (i < 0) i += n;
        if (i >= 0 && i < n) {
            if (object.is_string()) return Value::string(code_point_slice(object.as_string(), {i}));
            return object.as_list().items[static_cast<size_t>(i)];
        }
        return Value::undefined(missing_attribute(object, key));
    }
    if (key.is_string()) {  // obj['name'] falls back to the attribute, as jinja2 does
        if (std::optional<Value> method = find_method(object, key.as_string())) return *method;
    }
    return Value::undefined(missing_attribute(object, key));
}

Value slice_value(const Value& object, const Value& start, const Value& stop, const Value& step) {
    if (object.is_undefined()) fail(undefined_message(object));
    const bool indices_ok = [&] {
        for (const Value* v : {&start, &stop, &step}) {
            if (!v->is_none() && !v->is_int() && !v->is_bool()) return false;
        }
        return true;
    }();
    if (!(object.is_sequence_list() || object.is_string()) || !indices_ok) {
        std::string hint = "'";
        hint += type_name(object);
        hint += " object' cannot be sliced";
        return Value::undefined(std::move(hint));
    }
    const int64_t n = length(object);
    const int64_t s = step.is_none() ? 1 : step.as_int();
    if (s == 0) fail("ValueError: slice step cannot be zero");
    // CPython's PySlice_AdjustIndices.
    auto adjust = [&](const Value& v, int64_t fallback) {
        if (v.is_none()) return fallback;
        int64_t i = v.as_int();
        if (i < 0) {
            i += n;
            if (i < 0) i = s < 0 ? -1 : 0;
        } else if (i >= n) {
            i = s < 0 ? n - 1 : n;
        }
        return i;
    };
    const int64_t first = adjust(start, s < 0 ? n - 1 : 0);
    const int64_t last = adjust(stop, s < 0 ? -1 : n);
    std::vector<int64_t> indices;
    for (int64_t i = first; s > 0 ? i < last : i > last; i += s) indices.push_back(i);
    if (object.is_string()) return Value::string(code_point_slice(object.as_string(), indices));
    std::vector<Value> items;
    items.reserve(indices.size());
    for (int64_t i : indices) items.push_back(object.as_list().items[static_cast<size_t>(i)]);
    return Value::list(std::move(items), object.as_list().kind);
}

// ---------------------------------------------------------------------------
// Globals

namespace {

constexpr int64_t max_range = 100000;  // jinja2.sandbox.MAX_RANGE

Value global_range(Renderer& r, CallArguments& args) {
    if (!args.keyword.empty()) fail("TypeError: range() takes no keyword arguments");
    std::vector<int64_t> v;
    for (const Value& a : args.positional) v.push_back(int_argument(a, "range"));
    if (v.empty() || v.size() > 3) fail("TypeError: range expected 1 to 3 arguments, got " + std::to_string(v.size()));
    const int64_t start = v.size() == 1 ? 0 : v[0];
    const int64_t stop = v.size() == 1 ? v[0] : v[1];
    const int64_t step = v.size() == 3 ? v[2] : 1;
    if (step == 0) fail("ValueError: range() arg 3 must not be zero");
    const int64_t count = step > 0 ? (stop > start ? (stop - start + step - 1) / step : 0)
                                   : (start > stop ? (start - stop - step - 1) / -step : 0);
    if (count > max_range) {
        fail("OverflowError: Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
    }
    r.check_list_size(static_cast<size_t>(count));
    std::vector<Value> items;
    for (int64_t i = 0; i < count; ++i) items.push_back(Value::integer(start + i * step));
    return Value::list(std::move(items));
}

// dict(mapping_or_pairs, **kwargs), and namespace() with the same arguments.
Value build_dict(CallArguments& args, bool is_namespace) {
    if (args.positional.size() > 1) fail("TypeError: dict expected at most 1 argument");
    auto dict = std::make_shared<Dict>();
    dict->is_namespace = is_namespace;
    if (!args.positional.empty()) {
        const Value& source = args.positional[0];
        if (source.is_dict() || source.is_namespace()) {
            dict->entries = source.as_dict().entries;
            dict->depth = source.as_dict().depth;
        } else {
            for (const Value& pair : iterate(source)) {
                const std::vector<Value> kv = iterate(pair);
                if (kv.size() != 2)
                    fail("ValueError: dictionary update sequence element has length " + std::to_string(kv.size()) +
                         "; 2 is required");
                dict->set(kv[0], kv[1]);
            }
        }
    }
    for (auto& [key, value] : args.keyword) dict->set(Value::string(key), value);
    return Value::dict(std::move(dict));
}

Value global_joiner(Renderer&, CallArguments& args) {
    ArgumentBinder a(args, "joiner", {"sep"});
    const std::string sep = to_str(a.get_or(0, Value::string(", ")));
    auto used = std::make_shared<bool>(false);
    return Value::function("joiner", [sep, used](Renderer&, CallArguments&) {
        const bool first = !*used;
        *used = true;
        return Value::string(first ? "" : sep);
    });
}

Value global_cycler(Renderer&, CallArguments& args) {
    if (args.positional.empty()) fail("RuntimeError: at least one item has to be provided");
    auto items = std::make_shared<std::vector<Value>>(args.positional);
    auto position = std::make_shared<size_t>(0);
    Value cycler = Value::new_dict();
    std::weak_ptr<Dict> self = cycler.dict_ptr();
    auto refresh = [items, position, self]() {
        if (auto d = self.lock()) d->set(Value::string("current"), (*items)[*position]);
    };
    cycler.as_dict().set(Value::string("next"),
                         Value::function("next", [items, position, refresh](Renderer&, CallArguments&) {
                             Value current = (*items)[*position];
                             *position = (*position + 1) % items->size();
                             refresh();
                             return current;
                         }));
    cycler.as_dict().set(Value::string("reset"),
                         Value::function("reset", [position, refresh](Renderer&, CallArguments&) {
                             *position = 0;
                             refresh();
                             return Value::none();
                         }));
    refresh();
    return cycler;
}

Value global_strftime_now(Renderer& r, CallArguments& args) {
    ArgumentBinder a(args, "strftime_now", {"format"});
    const std::string& format = string_argument(a.get(0), "strftime_now() argument");
    std::tm now{};
    if (r.now()) {
        now = *r.now();
    } else {
        const std::time_t t = std::time(nullptr);
        localtime_r(&t, &now);
    }
    if (format.empty()) return Value::string("");
    std::string buffer(format.size() * 16 + 64, '\0');
    const size_t n = std::strftime(buffer.data(), buffer.size(), format.c_str(), &now);
    buffer.resize(n);
    return Value::string(std::move(buffer));
}

}  // namespace

void install_globals(Scope& scope) {
    scope.set("range", Value::function("range", global_range));
    scope.set("dict", Value::function("dict", [](Renderer&, CallArguments& a) { return build_dict(a, false); }));
    scope.set("namespace", Value::function("namespace", [](Renderer& r, CallArguments& a) {
                  Value ns = build_dict(a, true);
                  r.track_namespace(ns.dict_ptr());
                  return ns;
              }));
    scope.set("joiner", Value::function("joiner", global_joiner));
    scope.set("cycler", Value::function("cycler", global_cycler));
    scope.set("raise_exception", Value::function("raise_exception", [](Renderer&, CallArguments& args) -> Value {
                  ArgumentBinder a(args, "raise_exception", {"message"});
                  fail("TemplateError: " + to_str(a.get_or(0, Value::string(""))));
              }));
    scope.set("strftime_now", Value::function("strftime_now", global_strftime_now));
}

}  // namespace lumen::jinja
