// The Jinja renderer (see jinja_eval.h): statements, expressions, scopes,
// macros and the limits.
#include "chat/jinja_eval.h"

#include <algorithm>

#include "chat/jinja_text.h"

namespace lumen::jinja {

const Value* Scope::lookup(const std::string& name) const {
    for (const Scope* s = this; s; s = s->parent_.get()) {
        for (const auto& [key, value] : s->vars_) {
            if (key == name) return &value;
        }
    }
    return nullptr;
}

void Scope::set(const std::string& name, Value value) {
    for (auto& [key, existing] : vars_) {
        if (key == name) {
            existing = std::move(value);
            return;
        }
    }
    vars_.emplace_back(name, std::move(value));
}

std::string undefined_message(const Value& v) {
    const std::string& hint = v.undefined_hint();
    return "UndefinedError: " + (hint.empty() ? std::string("value is undefined") : hint);
}

Renderer::Renderer(const RenderLimits& limits, std::optional<std::tm> now) : limits_(limits), now_(now) {}

Renderer::~Renderer() {
    for (const std::weak_ptr<Dict>& weak : namespaces_) {
        if (std::shared_ptr<Dict> ns = weak.lock()) {
            std::vector<std::pair<Value, Value>> entries = std::move(ns->entries);
            ns->entries.clear();
        }
    }
}

// ---------------------------------------------------------------------------
// Limits

void Renderer::charge_iteration() {
    if (++iterations_ > limits_.max_iterations) {
        fail("the template ran more than " + std::to_string(limits_.max_iterations) +
             " loop iterations and macro calls");
    }
}

void Renderer::check_string_size(size_t bytes) const {
    if (bytes > limits_.max_output_bytes) {
        fail("a string of " + std::to_string(bytes) + " bytes exceeds the " + std::to_string(limits_.max_output_bytes) +
             "-byte output limit");
    }
}

void Renderer::check_list_size(size_t items) const {
    if (items > limits_.max_list_items) {
        fail("a list of " + std::to_string(items) + " items exceeds the limit of " +
             std::to_string(limits_.max_list_items));
    }
}

void Renderer::charge_string(size_t bytes) {
    check_string_size(bytes);
    string_work_ += bytes;
    if (string_work_ > limits_.max_string_work) {
        fail("the template built more than " + std::to_string(limits_.max_string_work) + " bytes of strings");
    }
}

void Renderer::check_stack() {
    const auto here = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
    if (stack_base_ > here && stack_base_ - here > limits_.max_stack_bytes) {
        fail("the template nests too deeply (more than " + std::to_string(limits_.max_stack_bytes) +
             " bytes of stack)");
    }
}

void Renderer::write(const std::string& text) {
    if (out_->size() + text.size() > limits_.max_output_bytes) {
        fail("the output exceeds the " + std::to_string(limits_.max_output_bytes) + "-byte limit");
    }
    *out_ += text;
}

std::string Renderer::capture(const Body& body, const ScopePtr& scope) {
    std::string buffer;
    std::string* saved = out_;
    out_ = &buffer;
    struct Restore {
        std::string*& target;
        std::string* value;
        ~Restore() { target = value; }
    } restore{out_, saved};
    exec(body, scope);
    return buffer;
}

// ---------------------------------------------------------------------------
// Statements

std::string Renderer::render(const Body& body, const ScopePtr& scope) {
    std::string output;
    out_ = &output;
    stack_base_ = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
    exec(body, scope);
    out_ = nullptr;
    return output;
}

Renderer::Flow Renderer::exec(const Body& body, const ScopePtr& scope) {
    for (const StmtPtr& stmt : body) {
        const Flow flow = exec_stmt(*stmt, scope);
        if (flow != Flow::normal) return flow;
    }
    return Flow::normal;
}

Renderer::Flow Renderer::exec_stmt(const Stmt& stmt, const ScopePtr& scope) {
    try {
        switch (stmt.kind) {
            case StmtKind::text: write(stmt.text); break;
            case StmtKind::output: write(to_str(eval(*stmt.expr, scope))); break;
            case StmtKind::if_: return exec_if(stmt, scope);
            case StmtKind::for_: return exec_for(stmt, scope);
            case StmtKind::set: exec_set(stmt, scope); break;
            case StmtKind::set_block: {
                Value text = Value::string(capture(stmt.body, std::make_shared<Scope>(scope)));
                assign(*stmt.target, stmt.filter ? apply_filter_chain(*stmt.filter, text, scope) : text, scope);
                break;
            }
            case StmtKind::macro: scope->set(stmt.name, make_macro(stmt, scope)); break;
            case StmtKind::call_block: exec_call_block(stmt, scope); break;
            case StmtKind::filter_block: {
                Value text = Value::string(capture(stmt.body, std::make_shared<Scope>(scope)));
                write(to_str(apply_filter_chain(*stmt.filter, text, scope)));
                break;
            }
            case StmtKind::break_: return Flow::break_;
            case StmtKind::continue_: return Flow::continue_;
            case StmtKind::with: exec_with(stmt, scope); break;
            case StmtKind::scope: return exec(stmt.body, std::make_shared<Scope>(scope));
        }
    } catch (TemplateError& error) {
        if (error.pos.line == 0) error.pos = stmt.pos;
        throw;
    }
    return Flow::normal;
}

Renderer::Flow Renderer::exec_if(const Stmt& stmt, const ScopePtr& scope) {
    for (const Branch& branch : stmt.branches) {
        if (eval(*branch.condition, scope).truthy()) return exec(branch.body, scope);
    }
    return exec(stmt.else_body, scope);
}

Renderer::Flow Renderer::exec_for(const Stmt& stmt, const ScopePtr& scope) {
    run_loop(stmt, eval(*stmt.expr, scope), scope, 1);
    return Flow::normal;
}

// One pass of a for loop over `iterable`; a recursive loop's loop(children)
// runs it again one level deeper and returns what that pass wrote.
void Renderer::run_loop(const Stmt& stmt, const Value& iterable, const ScopePtr& scope, int depth) {
    std::vector<Value> items = iterate(iterable);
    if (stmt.condition) {
        std::vector<Value> kept;
        for (Value& item : items) {
            charge_iteration();
            auto test_scope = std::make_shared<Scope>(scope);
            assign(*stmt.target, item, test_scope);
            if (eval(*stmt.condition, test_scope).truthy()) kept.push_back(std::move(item));
        }
        items = std::move(kept);
    }
    if (items.empty()) {
        exec(stmt.else_body, std::make_shared<Scope>(scope));
        return;
    }
    LoopState loop(items, depth);
    if (stmt.recursive) {
        const Stmt* loop_stmt = &stmt;
        std::weak_ptr<Scope> weak_scope = scope;
        loop.object().as_dict().set(
            Value::string(recursive_loop_key),
            Value::function("loop", [loop_stmt, weak_scope, depth](Renderer& r, CallArguments& args) {
                ScopePtr s = weak_scope.lock();
                if (!s) fail("loop() was called after its loop ended");
                return r.call_recursive_loop(*loop_stmt, s, depth + 1, args);
            }));
    }
    for (size_t i = 0; i < items.size(); ++i) {
        charge_iteration();
        auto body_scope = std::make_shared<Scope>(scope);
        assign(*stmt.target, items[i], body_scope);
        loop.advance(i);
        body_scope->set("loop", loop.object());
        if (exec(stmt.body, body_scope) == Flow::break_) break;
    }
}

// ---------------------------------------------------------------------------
// The loop variable: like jinja2's LoopContext, one object per loop whose
// fields follow the iteration (built once, updated in place).

namespace {

enum LoopField : size_t {
    f_index0,
    f_index,
    f_revindex0,
    f_revindex,
    f_first,
    f_last,
    f_length,
    f_depth,
    f_depth0,
    f_previtem,
    f_nextitem,
    f_cycle,
    f_changed,
    field_count
};

const char* const loop_field_names[field_count] = {"index0",   "index",  "revindex0", "revindex", "first",
                                                   "last",     "length", "depth",     "depth0",   "previtem",
                                                   "nextitem", "cycle",  "changed"};

}  // namespace

Renderer::LoopState::LoopState(const std::vector<Value>& items, int depth)
    : items_(items), object_(Value::new_dict()), position_(std::make_shared<size_t>(0)) {
    Dict& d = object_.as_dict();
    d.entries.reserve(field_count);
    for (const char* name : loop_field_names) d.entries.emplace_back(Value::string(name), Value());
    d.entries[f_length].second = Value::integer(static_cast<int64_t>(items.size()));
    d.entries[f_depth].second = Value::integer(depth);
    d.entries[f_depth0].second = Value::integer(depth - 1);
    std::shared_ptr<size_t> position = position_;
    d.entries[f_cycle].second = Value::function("cycle", [position](Renderer&, CallArguments& args) {
        if (args.positional.empty()) fail("TypeError: no items for cycling given");
        return args.positional[*position % args.positional.size()];
    });
    auto last_seen = std::make_shared<std::optional<Value>>();
    d.entries[f_changed].second = Value::function("changed", [last_seen](Renderer&, CallArguments& args) {
        Value now = Value::list(args.positional);
        const bool differs = !*last_seen || !equals(**last_seen, now);
        *last_seen = std::move(now);
        return Value::boolean(differs);
    });
}

void Renderer::LoopState::advance(size_t i) {
    *position_ = i;
    const auto n = static_cast<int64_t>(items_.size());
    const auto k = static_cast<int64_t>(i);
    auto& e = object_.as_dict().entries;
    e[f_index0].second = Value::integer(k);
    e[f_index].second = Value::integer(k + 1);
    e[f_revindex0].second = Value::integer(n - k - 1);
    e[f_revindex].second = Value::integer(n - k);
    e[f_first].second = Value::boolean(k == 0);
    e[f_last].second = Value::boolean(k == n - 1);
    e[f_previtem].second = k > 0 ? items_[i - 1] : Value::undefined("there is no previous item");
    e[f_nextitem].second = k + 1 < n ? items_[i + 1] : Value::undefined("there is no next item");
}

Value Renderer::call_recursive_loop(const Stmt& stmt, const ScopePtr& scope, int depth, CallArguments& args) {
    ArgumentBinder a(args, "loop", {"iterable"});
    if (!a.get(0)) fail("TypeError: loop() needs the items to loop over");
    if (call_depth_ >= limits_.max_call_depth) {
        fail("RecursionError: recursive loop calls nested more than " + std::to_string(limits_.max_call_depth) +
             " deep");
    }
    struct DepthGuard {
        int& depth;
        explicit DepthGuard(int& d) : depth(d) { ++depth; }
        ~DepthGuard() { --depth; }
    } guard(call_depth_);
    std::string text;
    std::string* saved = out_;
    out_ = &text;
    struct Restore {
        std::string*& target;
        std::string* value;
        ~Restore() { target = value; }
    } restore{out_, saved};
    run_loop(stmt, *a.get(0), scope, depth);
    return Value::string(std::move(text));
}

void Renderer::exec_set(const Stmt& stmt, const ScopePtr& scope) {
    assign(*stmt.target, eval(*stmt.expr, scope), scope);
}

void Renderer::assign(const Expr& target, const Value& value, const ScopePtr& scope) {
    if (target.kind == ExprKind::name) {
        scope->set(target.name, value);
        return;
    }
    if (target.kind == ExprKind::getattr) {  // {% set ns.attr = value %}
        const Value* ns = scope->lookup(target.children[0]->name);
        if (!ns || !ns->is_namespace()) fail("TemplateRuntimeError: cannot assign attribute on non-namespace object");
        ns->as_dict().set(Value::string(target.name), value);
        return;
    }
    const std::vector<Value> items = iterate(value);
    const size_t expected = target.children.size();
    if (items.size() > expected)
        fail("ValueError: too many values to unpack (expected " + std::to_string(expected) + ")");
    if (items.size() < expected) {
        fail("ValueError: not enough values to unpack (expected " + std::to_string(expected) + ", got " +
             std::to_string(items.size()) + ")");
    }
    for (size_t i = 0; i < expected; ++i) assign(*target.children[i], items[i], scope);
}

void Renderer::exec_with(const Stmt& stmt, const ScopePtr& scope) {
    std::vector<Value> values;
    for (const auto& [target, value] : stmt.assignments) values.push_back(eval(*value, scope));
    auto inner = std::make_shared<Scope>(scope);
    for (size_t i = 0; i < values.size(); ++i) assign(*stmt.assignments[i].first, values[i], inner);
    exec(stmt.body, inner);
}

// ---------------------------------------------------------------------------
// Macros

Value Renderer::make_macro(const Stmt& stmt, const ScopePtr& scope) {
    // A weak reference: the macro usually lives in the scope it captures.
    std::weak_ptr<Scope> defining = scope;
    const Stmt* macro = &stmt;
    return Value::function(stmt.name, [macro, defining](Renderer& renderer, CallArguments& args) {
        ScopePtr scope = defining.lock();
        if (!scope) fail("macro '" + macro->name + "' was called after the scope that defined it ended");
        return renderer.call_macro(*macro, scope, args);
    });
}

Value Renderer::call_macro(const Stmt& macro, const ScopePtr& defining_scope, CallArguments& args) {
    const std::string name = macro.kind == StmtKind::call_block ? "caller" : macro.name;
    if (call_depth_ >= limits_.max_call_depth) {
        fail("RecursionError: macro calls nested more than " + std::to_string(limits_.max_call_depth) + " deep");
    }
    charge_iteration();
    struct DepthGuard {
        int& depth;
        explicit DepthGuard(int& d) : depth(d) { ++depth; }
        ~DepthGuard() { --depth; }
    } guard(call_depth_);

    auto scope = std::make_shared<Scope>(defining_scope);
    const size_t n = macro.params.size();
    std::vector<bool> bound(n, false);
    for (size_t i = 0; i < args.positional.size() && i < n; ++i) {
        scope->set(macro.params[i], args.positional[i]);
        bound[i] = true;
    }
    if (args.positional.size() > n && !macro.catch_varargs) {
        fail("TypeError: macro '" + name + "' takes not more than " + std::to_string(n) + " argument(s)");
    }
    Value caller = Value::undefined("'caller' is undefined");
    Value kwargs = Value::new_dict();
    for (auto& [key, value] : args.keyword) {
        const auto it = std::find(macro.params.begin(), macro.params.end(), key);
        if (it != macro.params.end()) {
            const size_t i = static_cast<size_t>(it - macro.params.begin());
            if (bound[i]) fail("TypeError: macro '" + name + "' got multiple values for argument '" + key + "'");
            scope->set(key, value);
            bound[i] = true;
        } else if (key == "caller" && macro.uses_caller) {
            caller = value;
        } else if (macro.catch_kwargs) {
            kwargs.as_dict().set(Value::string(key), value);
        } else {
            fail("TypeError: macro '" + name + "' takes no keyword argument '" + key + "'");
        }
    }
    const size_t first_default = n - macro.defaults.size();
    for (size_t i = 0; i < n; ++i) {
        if (bound[i]) continue;
        scope->set(macro.params[i], i >= first_default
                                        ? eval(*macro.defaults[i - first_default], scope)
                                        : Value::undefined("parameter '" + macro.params[i] + "' was not provided"));
    }
    if (macro.catch_varargs) {
        std::vector<Value> extra;
        for (size_t i = n; i < args.positional.size(); ++i) extra.push_back(args.positional[i]);
        scope->set("varargs", Value::list(std::move(extra), ListKind::tuple));
    }
    if (macro.catch_kwargs) scope->set("kwargs", kwargs);
    if (macro.uses_caller) scope->set("caller", caller);
    return Value::string(capture(macro.body, scope));
}

void Renderer::exec_call_block(const Stmt& stmt, const ScopePtr& scope) {
    const Stmt* block = &stmt;
    std::weak_ptr<Scope> defining = scope;
    Value caller = Value::function("caller", [block, defining](Renderer& renderer, CallArguments& args) {
        ScopePtr s = defining.lock();
        if (!s) fail("caller() was called after its call block ended");
        return renderer.call_macro(*block, s, args);
    });
    const Expr& call = *stmt.expr;
    Value callee = eval(*call.children[0], scope);
    CallArguments args = eval_arguments(call, scope, 1);
    args.keyword.emplace_back("caller", caller);
    write(to_str(this->call(callee, args)));
}

Value Renderer::call(const Value& callee, CallArguments& args) {
    if (callee.is_function()) return callee.as_function().call(*this, args);
    if (callee.is_dict()) {  // the loop object of a recursive loop
        if (const Value* f = callee.as_dict().find(std::string(recursive_loop_key)); f && f->is_function()) {
            return f->as_function().call(*this, args);
        }
    }
    if (callee.is_undefined()) fail(undefined_message(callee));
    fail("TypeError: '" + type_name(callee) + "' object is not callable");
}

Value Renderer::apply_filter(const std::string& name, const Value& input, CallArguments& args) {
    return call_filter(*this, name, input, args);
}

bool Renderer::apply_test(const std::string& name, const Value& input, CallArguments& args) {
    return call_test(*this, name, input, args);
}

// ---------------------------------------------------------------------------
// Expressions

Value Renderer::eval(const Expr& expr, const ScopePtr& scope) {
    check_stack();
    try {
        Value v = eval_node(expr, scope);
        const bool built = expr.kind == ExprKind::binary || expr.kind == ExprKind::concat ||
                           expr.kind == ExprKind::filter || expr.kind == ExprKind::call;
        if (built && v.is_string()) charge_string(v.as_string().size());
        return v;
    } catch (TemplateError& error) {
        if (error.pos.line == 0) error.pos = expr.pos;
        throw;
    }
}

CallArguments Renderer::eval_arguments(const Expr& expr, const ScopePtr& scope, size_t first_child) {
    CallArguments args;
    for (size_t i = first_child; i < expr.children.size(); ++i)
        args.positional.push_back(eval(*expr.children[i], scope));
    for (const auto& [key, value] : expr.keyword) args.keyword.emplace_back(key, eval(*value, scope));
    return args;
}

Value Renderer::apply_filter_chain(const Expr& filter, const Value& input, const ScopePtr& scope) {
    const Value base = filter.children[0] ? apply_filter_chain(*filter.children[0], input, scope) : input;
    if (!filter.known) fail("TemplateRuntimeError: No filter named '" + filter.name + "' found.", filter.pos);
    CallArguments args = eval_arguments(filter, scope, 1);
    return call_filter(*this, filter.name, base, args);
}

Value Renderer::eval_compare(const Expr& expr, const ScopePtr& scope) {
    Value left = eval(*expr.children[0], scope);
    for (size_t i = 0; i < expr.operators.size(); ++i) {
        Value right = eval(*expr.children[i + 1], scope);
        const std::string& op = expr.operators[i];
        bool result;
        if (op == "==") {
            result = equals(left, right);
        } else if (op == "!=") {
            result = !equals(left, right);
        } else if (op == "in" || op == "notin") {
            result = contains(right, left) == (op == "in");
        } else {
            const int c = compare(left, right, op.c_str());
            result = op == "<" ? c < 0 : op == "<=" ? c <= 0 : op == ">" ? c > 0 : c >= 0;
        }
        if (!result) return Value::boolean(false);
        left = std::move(right);
    }
    return Value::boolean(true);
}

Value Renderer::eval_getitem(const Expr& expr, const ScopePtr& scope) {
    Value object = eval(*expr.children[0], scope);
    const Expr& index = *expr.children[1];
    if (index.kind != ExprKind::slice) return get_item(object, eval(index, scope));
    Value parts[3];
    for (int i = 0; i < 3; ++i) parts[i] = index.children[i] ? eval(*index.children[i], scope) : Value::none();
    return slice_value(object, parts[0], parts[1], parts[2]);
}

Value Renderer::eval_call(const Expr& expr, const ScopePtr& scope) {
    Value callee = eval(*expr.children[0], scope);
    CallArguments args = eval_arguments(expr, scope, 1);
    return call(callee, args);
}

Value Renderer::eval_node(const Expr& expr, const ScopePtr& scope) {
    const auto& c = expr.children;
    switch (expr.kind) {
        case ExprKind::literal: return expr.literal;
        case ExprKind::name: {
            const Value* v = scope->lookup(expr.name);
            return v ? *v : Value::undefined("'" + expr.name + "' is undefined");
        }
        case ExprKind::list:
        case ExprKind::tuple: {
            std::vector<Value> items;
            for (const ExprPtr& child : c) items.push_back(eval(*child, scope));
            return Value::list(std::move(items), expr.kind == ExprKind::tuple ? ListKind::tuple : ListKind::list);
        }
        case ExprKind::dict: {
            Value dict = Value::new_dict();
            for (size_t i = 0; i + 1 < c.size(); i += 2) {
                Value key = eval(*c[i], scope);
                if (key.is_list() || key.kind() == ValueKind::dict) {
                    fail("TypeError: unhashable type: '" + type_name(key) + "'");
                }
                dict.as_dict().set(std::move(key), eval(*c[i + 1], scope));
            }
            return dict;
        }
        case ExprKind::getattr: return get_attribute(eval(*c[0], scope), expr.name);
        case ExprKind::getitem: return eval_getitem(expr, scope);
        case ExprKind::slice: fail("a slice is only valid inside [ ]");
        case ExprKind::call: return eval_call(expr, scope);
        case ExprKind::filter: {
            if (!expr.known) fail("TemplateRuntimeError: No filter named '" + expr.name + "' found.");
            Value input = eval(*c[0], scope);
            CallArguments args = eval_arguments(expr, scope, 1);
            return call_filter(*this, expr.name, input, args);
        }
        case ExprKind::test: {
            if (!expr.known) fail("TemplateRuntimeError: No test named '" + expr.name + "' found.");
            Value input = eval(*c[0], scope);
            CallArguments args = eval_arguments(expr, scope, 1);
            return Value::boolean(call_test(*this, expr.name, input, args));
        }
        case ExprKind::not_: return Value::boolean(!eval(*c[0], scope).truthy());
        case ExprKind::negate:
        case ExprKind::plus: return unary_op(expr.kind == ExprKind::negate ? "-" : "+", eval(*c[0], scope));
        case ExprKind::binary: {
            Value left = eval(*c[0], scope);
            return binary_op(*this, expr.name, left, eval(*c[1], scope));
        }
        case ExprKind::compare: return eval_compare(expr, scope);
        case ExprKind::concat: {
            std::string text;
            for (const ExprPtr& child : c) {
                text += to_str(eval(*child, scope));
                check_string_size(text.size());
            }
            return Value::string(std::move(text));
        }
        case ExprKind::and_: {
            Value left = eval(*c[0], scope);
            return left.truthy() ? eval(*c[1], scope) : left;
        }
        case ExprKind::or_: {
            Value left = eval(*c[0], scope);
            return left.truthy() ? left : eval(*c[1], scope);
        }
        case ExprKind::condition:
            if (eval(*c[0], scope).truthy()) return eval(*c[1], scope);
            if (c[2]) return eval(*c[2], scope);
            return Value::undefined("the inline if-expression evaluated to false and no else section was defined.");
    }
    fail("internal error: unknown expression kind");
}

}  // namespace lumen::jinja
