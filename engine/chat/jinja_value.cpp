// Values of the Jinja engine with Python's semantics (see jinja_value.h).
#include "chat/jinja_value.h"

#include <algorithm>

#include "chat/jinja_text.h"

namespace lumen::jinja {

// ---------------------------------------------------------------------------
// Construction

const std::string& Value::empty_string() {
    static const std::string empty;
    return empty;
}

Value Value::undefined(std::string hint) {
    Value v;
    if (!hint.empty()) v.str_ = std::make_shared<const std::string>(std::move(hint));
    return v;
}

Value Value::none() {
    Value v;
    v.kind_ = ValueKind::none;
    return v;
}

Value Value::boolean(bool b) {
    Value v;
    v.kind_ = ValueKind::boolean;
    v.b_ = b;
    return v;
}

Value Value::integer(int64_t i) {
    Value v;
    v.kind_ = ValueKind::integer;
    v.i_ = i;
    return v;
}

Value Value::floating(double f) {
    Value v;
    v.kind_ = ValueKind::floating;
    v.f_ = f;
    return v;
}

Value Value::string(std::string s, bool safe) {
    Value v;
    v.kind_ = ValueKind::string;
    v.safe_ = safe;
    if (!s.empty()) v.str_ = std::make_shared<const std::string>(std::move(s));
    return v;
}

namespace {

uint32_t checked_depth(uint32_t child_depth) {
    if (child_depth + 1 > max_value_depth) {
        fail("RecursionError: lists and dicts nested more than " + std::to_string(max_value_depth) + " levels deep");
    }
    return child_depth + 1;
}

}  // namespace

Value Value::list(std::vector<Value> items, ListKind kind) {
    Value v;
    v.kind_ = ValueKind::list;
    v.list_ = std::make_shared<List>();
    uint32_t deepest = 0;
    for (const Value& item : items) deepest = std::max(deepest, item.depth());
    v.list_->depth = checked_depth(deepest);
    v.list_->items = std::move(items);
    v.list_->kind = kind;
    return v;
}

Value Value::dict(std::shared_ptr<Dict> d) {
    Value v;
    v.kind_ = ValueKind::dict;
    v.dict_ = std::move(d);
    return v;
}

Value Value::new_dict() {
    return dict(std::make_shared<Dict>());
}

Value Value::function(std::string name, NativeFunction call) {
    Value v;
    v.kind_ = ValueKind::function;
    v.fn_ = std::make_shared<Function>(Function{std::move(name), std::move(call)});
    return v;
}

const Value* Dict::find(const Value& key) const {
    for (const auto& [k, v] : entries) {
        if (equals(k, key)) return &v;
    }
    return nullptr;
}

const Value* Dict::find(const std::string& key) const {
    for (const auto& [k, v] : entries) {
        if (k.is_string() && k.as_string() == key) return &v;
    }
    return nullptr;
}

void Dict::set(Value key, Value value) {
    depth = std::max(depth, checked_depth(value.depth()));
    for (auto& [k, v] : entries) {
        if (equals(k, key)) {
            v = std::move(value);
            return;
        }
    }
    entries.emplace_back(std::move(key), std::move(value));
}

namespace {
thread_local int nesting_depth = 0;
}

NestingGuard::NestingGuard() {
    if (++nesting_depth > max_depth) {
        --nesting_depth;
        fail("RecursionError: values nested more than " + std::to_string(max_depth) + " levels deep");
    }
}

NestingGuard::~NestingGuard() {
    --nesting_depth;
}

// ---------------------------------------------------------------------------
// Identity and truth

bool Value::identical(const Value& other) const {
    if (kind_ != other.kind_) return false;
    switch (kind_) {
        case ValueKind::undefined: return false;  // every Undefined is a new object
        case ValueKind::none: return true;
        case ValueKind::boolean: return b_ == other.b_;
        case ValueKind::integer: return i_ == other.i_ && i_ >= -5 && i_ <= 256;  // CPython's small ints
        case ValueKind::floating: return false;
        case ValueKind::string: return str_ == other.str_ || (as_string().empty() && other.as_string().empty());
        case ValueKind::list: return list_ == other.list_;
        case ValueKind::dict: return dict_ == other.dict_;
        case ValueKind::function: return fn_ == other.fn_;
    }
    return false;
}

uint32_t Value::depth() const {
    if (kind_ == ValueKind::list) return list_->depth;
    if (kind_ == ValueKind::dict) return dict_->depth;
    return 0;
}

bool Value::truthy() const {
    switch (kind_) {
        case ValueKind::undefined:
        case ValueKind::none: return false;
        case ValueKind::boolean: return b_;
        case ValueKind::integer: return i_ != 0;
        case ValueKind::floating: return f_ != 0.0;
        case ValueKind::string: return !as_string().empty();
        case ValueKind::list: return list_->kind == ListKind::generator || !list_->items.empty();
        case ValueKind::dict: return dict_->is_namespace || !dict_->entries.empty();
        case ValueKind::function: return true;
    }
    return false;
}

// ---------------------------------------------------------------------------
// str() and repr()

std::string type_name(const Value& v) {
    switch (v.kind()) {
        case ValueKind::undefined: return "Undefined";
        case ValueKind::none: return "NoneType";
        case ValueKind::boolean: return "bool";
        case ValueKind::integer: return "int";
        case ValueKind::floating: return "float";
        case ValueKind::string: return v.is_safe() ? "Markup" : "str";
        case ValueKind::list:
            if (v.is_view()) return v.as_list().view;
            if (v.is_tuple()) return "tuple";
            return v.is_generator() ? "generator" : "list";
        case ValueKind::dict: return v.is_namespace() ? "Namespace" : "dict";
        case ValueKind::function: return "function";
    }
    return "object";
}

namespace {

std::string repr_items(const Value& v) {
    NestingGuard guard;
    std::string out;
    bool first = true;
    if (v.is_list()) {
        for (const Value& item : v.as_list().items) {
            if (!first) out += ", ";
            out += to_repr(item);
            first = false;
        }
        return out;
    }
    for (const auto& [key, value] : v.as_dict().entries) {
        if (!first) out += ", ";
        out += to_repr(key) + ": " + to_repr(value);
        first = false;
    }
    return out;
}

std::string wrapped(const char* open, const std::string& body, const char* close) {
    std::string out = open;
    out += body;
    out += close;
    return out;
}

}  // namespace

std::string to_str(const Value& v) {
    switch (v.kind()) {
        case ValueKind::undefined: return "";
        case ValueKind::none: return "None";
        case ValueKind::boolean: return v.as_bool() ? "True" : "False";
        case ValueKind::integer: return std::to_string(v.as_int());
        case ValueKind::floating: return py_float_repr(v.as_double());
        case ValueKind::string: return v.as_string();
        case ValueKind::list:
            if (v.is_generator()) return "<generator object>";
            if (v.is_view()) return std::string(v.as_list().view) + "([" + repr_items(v) + "])";
            if (v.is_tuple()) return wrapped("(", repr_items(v), v.as_list().items.size() == 1 ? ",)" : ")");
            return wrapped("[", repr_items(v), "]");
        case ValueKind::dict:
            if (v.is_namespace()) return wrapped("<Namespace {", repr_items(v), "}>");
            return wrapped("{", repr_items(v), "}");
        case ValueKind::function: return "<function " + v.as_function().name + ">";
    }
    return "";
}

std::string to_repr(const Value& v) {
    if (v.is_string()) {
        const std::string quoted = py_repr_string(v.as_string());
        return v.is_safe() ? "Markup(" + quoted + ")" : quoted;
    }
    if (v.is_undefined()) return "Undefined";
    return to_str(v);
}

// ---------------------------------------------------------------------------
// Comparison

bool equals(const Value& a, const Value& b) {
    if (a.is_number() && b.is_number()) {
        if (a.is_float() || b.is_float()) return a.as_double() == b.as_double();
        return a.as_int() == b.as_int();
    }
    if (a.kind() != b.kind()) return false;
    switch (a.kind()) {
        case ValueKind::undefined:
        case ValueKind::none: return true;
        case ValueKind::string: return a.as_string() == b.as_string();
        case ValueKind::list: {
            NestingGuard guard;
            const List& x = a.as_list();
            const List& y = b.as_list();
            if (x.kind == ListKind::generator || y.kind == ListKind::generator) return &x == &y;
            if (x.kind != y.kind || x.items.size() != y.items.size()) return false;
            for (size_t i = 0; i < x.items.size(); ++i) {
                if (!equals(x.items[i], y.items[i])) return false;
            }
            return true;
        }
        case ValueKind::dict: {
            if (a.is_namespace() || b.is_namespace()) return a.identical(b);
            NestingGuard guard;
            const Dict& x = a.as_dict();
            const Dict& y = b.as_dict();
            if (x.entries.size() != y.entries.size()) return false;
            for (const auto& [key, value] : x.entries) {
                const Value* other = y.find(key);
                if (!other || !equals(value, *other)) return false;
            }
            return true;
        }
        case ValueKind::function: return a.identical(b);
        default: return false;
    }
}

int compare(const Value& a, const Value& b, const char* op) {
    if (a.is_undefined() || b.is_undefined()) {
        fail("UndefinedError: " + (a.is_undefined() ? a : b).undefined_hint());
    }
    if (a.is_number() && b.is_number()) {
        if (a.is_float() || b.is_float()) {
            const double x = a.as_double(), y = b.as_double();
            return x < y ? -1 : (x > y ? 1 : 0);
        }
        const int64_t x = a.as_int(), y = b.as_int();
        return x < y ? -1 : (x > y ? 1 : 0);
    }
    if (a.is_string() && b.is_string()) {
        const int c = a.as_string().compare(b.as_string());
        return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
    if (a.is_sequence_list() && b.is_sequence_list() && a.is_tuple() == b.is_tuple()) {
        NestingGuard guard;
        const auto& x = a.as_list().items;
        const auto& y = b.as_list().items;
        for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
            if (!equals(x[i], y[i])) return compare(x[i], y[i], op);
        }
        return x.size() < y.size() ? -1 : (x.size() > y.size() ? 1 : 0);
    }
    fail(std::string("TypeError: '") + op + "' not supported between instances of '" + type_name(a) + "' and '" +
         type_name(b) + "'");
}

// ---------------------------------------------------------------------------
// Iteration, length, membership

std::vector<Value> iterate(const Value& v) {
    switch (v.kind()) {
        case ValueKind::undefined: return {};
        case ValueKind::string: {
            std::vector<Value> chars;
            const std::string& s = v.as_string();
            if (is_ascii(s)) {
                for (char c : s) chars.push_back(Value::string(std::string(1, c)));
                return chars;
            }
            for (char32_t c : utf8_decode(s)) {
                std::string one;
                utf8_append(one, c);
                chars.push_back(Value::string(std::move(one)));
            }
            return chars;
        }
        case ValueKind::list: {
            List& list = v.as_list();
            if (list.kind != ListKind::generator) return list.items;
            std::vector<Value> rest(list.items.begin() + static_cast<std::ptrdiff_t>(list.consumed), list.items.end());
            list.consumed = list.items.size();
            return rest;
        }
        case ValueKind::dict:
            if (!v.is_namespace()) {
                std::vector<Value> keys;
                for (const auto& entry : v.as_dict().entries) keys.push_back(entry.first);
                return keys;
            }
            break;
        default: break;
    }
    fail("TypeError: '" + type_name(v) + "' object is not iterable");
}

int64_t length(const Value& v) {
    switch (v.kind()) {
        case ValueKind::undefined: return 0;
        case ValueKind::string: return code_point_count(v.as_string());
        case ValueKind::list:
            if (!v.is_generator()) return static_cast<int64_t>(v.as_list().items.size());
            break;
        case ValueKind::dict:
            if (!v.is_namespace()) return static_cast<int64_t>(v.as_dict().entries.size());
            break;
        default: break;
    }
    fail("TypeError: object of type '" + type_name(v) + "' has no len()");
}

bool contains(const Value& container, const Value& item) {
    switch (container.kind()) {
        case ValueKind::undefined: return false;
        case ValueKind::string:
            if (!item.is_string()) {
                fail("TypeError: 'in <string>' requires string as left operand, not " + type_name(item));
            }
            return container.as_string().find(item.as_string()) != std::string::npos;
        case ValueKind::list: {
            List& list = container.as_list();
            const size_t start = list.kind == ListKind::generator ? list.consumed : 0;
            for (size_t i = start; i < list.items.size(); ++i) {
                if (equals(list.items[i], item)) {
                    if (list.kind == ListKind::generator) list.consumed = i + 1;
                    return true;
                }
            }
            if (list.kind == ListKind::generator) list.consumed = list.items.size();
            return false;
        }
        case ValueKind::dict:
            if (!container.is_namespace()) return container.as_dict().find(item) != nullptr;
            break;
        default: break;
    }
    fail("TypeError: argument of type '" + type_name(container) + "' is not iterable");
}

}  // namespace lumen::jinja
