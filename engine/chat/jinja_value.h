// Values of the Jinja engine, with Python's semantics: the types a chat
// template sees (None, bool, int, float, str, list, tuple, dict, the lazy
// generators that filters such as map and select return, namespaces, macros
// and functions), their truthiness, equality, ordering, str() and repr().
// Byte-identical rendering depends on these matching CPython exactly.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/jinja_error.h"

namespace lumen::jinja {

enum class ValueKind : uint8_t {
    undefined,  // a missing variable, attribute or item (jinja2.Undefined)
    none,
    boolean,
    integer,
    floating,
    string,
    list,      // list, tuple or generator (ListKind)
    dict,      // dict or namespace (Dict::is_namespace)
    function,  // macros, globals, bound methods
};

enum class ListKind : uint8_t {
    list,
    tuple,
    generator,  // a one-shot iterator: truthy even when empty, no len(), consumed by iteration
};

class Value;
class Renderer;

// Lists and dicts record how deeply they nest, so that a template cannot build
// a structure so deep that destroying it would overflow the stack.
constexpr uint32_t max_value_depth = 1000;

struct List {
    std::vector<Value> items;
    uint32_t depth = 1;
    ListKind kind = ListKind::list;
    size_t consumed = 0;         // generators: items already taken by an earlier iteration
    const char* view = nullptr;  // "dict_items", "dict_keys" or "dict_values": a dict view, not a list
};

// A dict keeps insertion order, as Python's does; keys compare with Python's ==.
struct Dict {
    std::vector<std::pair<Value, Value>> entries;
    uint32_t depth = 1;
    bool is_namespace = false;  // jinja2's namespace(): attributes, assignable with {% set ns.x %}

    const Value* find(const Value& key) const;
    const Value* find(const std::string& key) const;
    void set(Value key, Value value);
};

struct CallArguments {
    std::vector<Value> positional;
    std::vector<std::pair<std::string, Value>> keyword;
};

using NativeFunction = std::function<Value(Renderer&, CallArguments&)>;

struct Function {
    std::string name;
    NativeFunction call;
};

class Value {
public:
    Value() = default;  // undefined
    static Value undefined(std::string hint = {});
    static Value none();
    static Value boolean(bool b);
    static Value integer(int64_t i);
    static Value floating(double f);
    static Value string(std::string s, bool safe = false);
    static Value list(std::vector<Value> items, ListKind kind = ListKind::list);
    static Value dict(std::shared_ptr<Dict> d);
    static Value new_dict();
    static Value function(std::string name, NativeFunction call);

    ValueKind kind() const { return kind_; }
    bool is_undefined() const { return kind_ == ValueKind::undefined; }
    bool is_none() const { return kind_ == ValueKind::none; }
    bool is_bool() const { return kind_ == ValueKind::boolean; }
    bool is_int() const { return kind_ == ValueKind::integer; }
    bool is_float() const { return kind_ == ValueKind::floating; }
    // Python's numbers.Number: bool is an int subclass.
    bool is_number() const { return is_bool() || is_int() || is_float(); }
    bool is_string() const { return kind_ == ValueKind::string; }
    bool is_list() const { return kind_ == ValueKind::list; }
    // A real list or tuple (not a generator or dict view): indexable, sliceable, concatenable.
    bool is_sequence_list() const { return is_list() && list_->kind != ListKind::generator && !list_->view; }
    bool is_view() const { return is_list() && list_->view; }
    bool is_tuple() const { return is_list() && list_->kind == ListKind::tuple; }
    bool is_generator() const { return is_list() && list_->kind == ListKind::generator; }
    bool is_dict() const { return kind_ == ValueKind::dict && !dict_->is_namespace; }
    bool is_namespace() const { return kind_ == ValueKind::dict && dict_->is_namespace; }
    bool is_function() const { return kind_ == ValueKind::function; }
    bool is_safe() const { return safe_; }  // a markupsafe.Markup string

    bool as_bool() const { return b_; }
    int64_t as_int() const { return is_bool() ? (b_ ? 1 : 0) : i_; }  // bool or int
    double as_double() const { return is_float() ? f_ : static_cast<double>(as_int()); }
    const std::string& as_string() const { return str_ ? *str_ : empty_string(); }
    const std::string& undefined_hint() const { return as_string(); }
    List& as_list() const { return *list_; }
    Dict& as_dict() const { return *dict_; }
    const std::shared_ptr<Dict>& dict_ptr() const { return dict_; }
    const Function& as_function() const { return *fn_; }

    // The same Python object (the `sameas` test, `is`).
    bool identical(const Value& other) const;

    bool truthy() const;
    // Levels of list and dict nesting: 0 for a scalar.
    uint32_t depth() const;

private:
    ValueKind kind_ = ValueKind::undefined;
    bool safe_ = false;
    bool b_ = false;
    int64_t i_ = 0;
    double f_ = 0.0;
    std::shared_ptr<const std::string> str_;  // null for the empty string
    std::shared_ptr<List> list_;
    std::shared_ptr<Dict> dict_;
    std::shared_ptr<Function> fn_;

    static const std::string& empty_string();
};

// ---------------------------------------------------------------------------
// Python semantics

// Python's type name, as its error messages spell it ("str", "NoneType", ...).
std::string type_name(const Value& v);
// str(v): what {{ v }}, ~ and the string filter produce.
std::string to_str(const Value& v);
// repr(v): how a value prints inside a list or dict.
std::string to_repr(const Value& v);
// ==, with Python's rules (1 == 1.0 == True; lists and dicts element-wise).
bool equals(const Value& a, const Value& b);
// <, <=, >, >= on numbers, strings and lists; TypeError for anything else.
int compare(const Value& a, const Value& b, const char* op);
// The items a for loop visits: list/tuple items, dict keys, string characters,
// a generator's remaining items (consuming them). TypeError when not iterable.
std::vector<Value> iterate(const Value& v);
// len(v); TypeError for values without a length (numbers, None, generators).
int64_t length(const Value& v);
// `item in container`.
bool contains(const Value& container, const Value& item);

// Guards the functions that recurse into nested lists and dicts (repr, ==,
// tojson), so a hostile template that nests a list a million deep gets an
// error instead of overflowing the stack.
class NestingGuard {
public:
    NestingGuard();
    ~NestingGuard();
    NestingGuard(const NestingGuard&) = delete;
    NestingGuard& operator=(const NestingGuard&) = delete;
    static constexpr int max_depth = 400;
};

}  // namespace lumen::jinja
