// The Jinja renderer: walks the syntax tree with Python's semantics and
// jinja2's scoping (a for loop's body and a macro get their own scope, an if
// does not; namespaces are shared), under limits that stop a hostile template.
#pragma once

#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "chat/jinja_ast.h"
#include "chat/jinja_value.h"

namespace lumen::jinja {

struct RenderLimits {
    size_t max_output_bytes = 32u << 20;  // the rendered text, and any one string built on the way
    int64_t max_iterations = 1'000'000;   // loop iterations plus macro calls, over the whole render
    int max_call_depth = 100;             // macros calling macros
    size_t max_string_work = 1u << 30;    // bytes of strings built in total: bounds quadratic concatenation
    size_t max_list_items = 1'000'000;    // any one list built on the way
    size_t max_stack_bytes = 2u << 20;    // native stack the render may use
};

// Variables live in a chain of scopes; lookups walk to the parent.
class Scope {
public:
    explicit Scope(std::shared_ptr<Scope> parent = nullptr) : parent_(std::move(parent)) {}
    const Value* lookup(const std::string& name) const;
    void set(const std::string& name, Value value);

private:
    std::shared_ptr<Scope> parent_;
    std::vector<std::pair<std::string, Value>> vars_;
};
using ScopePtr = std::shared_ptr<Scope>;

class Renderer {
public:
    Renderer(const RenderLimits& limits, std::optional<std::tm> now);
    // Empties the namespaces the render created: only they can form reference
    // cycles ({% set ns.self = ns %}), which would otherwise leak.
    ~Renderer();
    Renderer(const Renderer&) = delete;
    Renderer& operator=(const Renderer&) = delete;

    // Renders the template body with `scope` as its top-level scope.
    std::string render(const Body& body, const ScopePtr& scope);

    // For the built-ins: calling values, filters and tests by name.
    Value call(const Value& callee, CallArguments& args);
    Value apply_filter(const std::string& name, const Value& input, CallArguments& args);
    bool apply_test(const std::string& name, const Value& input, CallArguments& args);

    // Accounts for a string the render built; fails past the limits.
    void charge_string(size_t bytes);
    // Fails when a string or list about to be built would pass its limit.
    void check_string_size(size_t bytes) const;
    void check_list_size(size_t items) const;
    void charge_iteration();
    const std::optional<std::tm>& now() const { return now_; }
    void track_namespace(const std::shared_ptr<Dict>& ns) { namespaces_.push_back(ns); }

private:
    enum class Flow { normal, break_, continue_ };

    Flow exec(const Body& body, const ScopePtr& scope);
    Flow exec_stmt(const Stmt& stmt, const ScopePtr& scope);
    Flow exec_for(const Stmt& stmt, const ScopePtr& scope);
    void run_loop(const Stmt& stmt, const Value& iterable, const ScopePtr& scope, int depth);
    Value call_recursive_loop(const Stmt& stmt, const ScopePtr& scope, int depth, CallArguments& args);
    Flow exec_if(const Stmt& stmt, const ScopePtr& scope);
    void exec_set(const Stmt& stmt, const ScopePtr& scope);
    void exec_call_block(const Stmt& stmt, const ScopePtr& scope);
    void exec_with(const Stmt& stmt, const ScopePtr& scope);
    std::string capture(const Body& body, const ScopePtr& scope);
    void write(const std::string& text);

    Value eval(const Expr& expr, const ScopePtr& scope);
    Value eval_node(const Expr& expr, const ScopePtr& scope);
    Value eval_call(const Expr& expr, const ScopePtr& scope);
    Value eval_compare(const Expr& expr, const ScopePtr& scope);
    Value eval_getitem(const Expr& expr, const ScopePtr& scope);
    CallArguments eval_arguments(const Expr& expr, const ScopePtr& scope, size_t first_child);
    Value apply_filter_chain(const Expr& filter, const Value& input, const ScopePtr& scope);
    void assign(const Expr& target, const Value& value, const ScopePtr& scope);

    Value make_macro(const Stmt& stmt, const ScopePtr& scope);
    Value call_macro(const Stmt& macro, const ScopePtr& defining_scope, CallArguments& args);
    // The key under which a recursive loop's object keeps its loop() function.
    static constexpr const char* recursive_loop_key = "__call__";
    class LoopState {
    public:
        LoopState(const std::vector<Value>& items, int depth);
        void advance(size_t index);
        const Value& object() const { return object_; }

    private:
        const std::vector<Value>& items_;
        Value object_;
        std::shared_ptr<size_t> position_;  // shared with loop.cycle
    };
    void check_stack();

    RenderLimits limits_;
    std::optional<std::tm> now_;
    std::string* out_ = nullptr;
    int64_t iterations_ = 0;
    int call_depth_ = 0;
    int loop_depth_ = 0;
    size_t string_work_ = 0;
    uintptr_t stack_base_ = 0;
    std::vector<std::weak_ptr<Dict>> namespaces_;
};

// ---------------------------------------------------------------------------
// Built-ins (jinja_filters.cpp, jinja_methods.cpp)

// Binds a built-in's arguments by position or keyword, as Python does.
class ArgumentBinder {
public:
    ArgumentBinder(CallArguments& args, std::string function, std::vector<std::string> params);
    const Value* get(size_t index) const;  // nullptr when not passed
    Value get_or(size_t index, Value fallback) const;

private:
    std::vector<const Value*> slots_;
};

Value call_filter(Renderer& renderer, const std::string& name, const Value& input, CallArguments& args);
bool call_test(Renderer& renderer, const std::string& name, const Value& input, CallArguments& args);

Value get_attribute(const Value& object, const std::string& name);  // object.name
// The str, list or dict method `name` bound to `object` (a mutating one refuses
// to run), or nullopt when there is none.
std::optional<Value> find_method(const Value& object, const std::string& name);
Value get_item(const Value& object, const Value& key);  // object[key]
Value slice_value(const Value& object, const Value& start, const Value& stop, const Value& step);
// range, dict, namespace, cycler, joiner, raise_exception, strftime_now.
void install_globals(Scope& scope);

// Python's operators (jinja_ops.cpp): + - * / // % ** and unary - +.
Value binary_op(Renderer& renderer, const std::string& op, const Value& a, const Value& b);
Value unary_op(const std::string& op, const Value& v);

// The message of an UndefinedError about `v`.
std::string undefined_message(const Value& v);

}  // namespace lumen::jinja
