// The syntax tree the Jinja parser builds and the renderer walks. One node
// type for expressions and one for statements, each with a kind and the
// fields that kind uses (listed beside each kind).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/jinja_error.h"
#include "chat/jinja_value.h"

namespace lumen::jinja {

enum class ExprKind {
    literal,    // literal
    name,       // name
    list,       // children: elements
    tuple,      // children: elements
    dict,       // children: key, value, key, value, ...
    getattr,    // children[0] . name
    getitem,    // children[0] [ children[1] ]
    slice,      // children: start, stop, step (each may be null)
    call,       // children[0] ( children[1..] , keyword )
    filter,     // children[0] | name ( children[1..], keyword ); children[0] null in filter blocks
    test,       // children[0] is name ( children[1..], keyword )
    not_,       // not children[0]
    negate,     // - children[0]
    plus,       // + children[0]
    binary,     // children[0] name children[1]; name is + - * / // % **
    compare,    // children[0] operators[0] children[1] operators[1] children[2] ...
    concat,     // children joined with ~
    and_,       // children[0] and children[1]
    or_,        // children[0] or children[1]
    condition,  // children[1] if children[0] else children[2] (children[2] may be null)
};

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
    ExprKind kind = ExprKind::literal;
    SourcePos pos;
    Value literal;
    std::string name;
    std::vector<ExprPtr> children;
    std::vector<std::string> operators;
    std::vector<std::pair<std::string, ExprPtr>> keyword;
    bool known = true;  // filter/test: false when the name is unknown (an error if it runs)
};

enum class StmtKind {
    text,          // text
    output,        // {{ expr }}
    if_,           // branches (condition, body) in order; else_body
    for_,          // for target in expr [if condition] [recursive]: body; else_body
    set,           // set target = expr
    set_block,     // set target [| filter]: body
    macro,         // macro name(params = defaults): body
    call_block,    // call(params) expr: body, passed to the macro as caller
    filter_block,  // filter filter: body
    break_,
    continue_,
    with,   // with (targets = values): body
    scope,  // a body in its own scope: transformers' {% generation %}
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct Branch {
    ExprPtr condition;
    Body body;
};

struct Stmt {
    StmtKind kind = StmtKind::text;
    SourcePos pos;
    std::string text;
    ExprPtr expr;
    ExprPtr target;
    ExprPtr condition;
    ExprPtr filter;
    std::vector<Branch> branches;
    Body body;
    Body else_body;
    std::string name;
    std::vector<std::string> params;
    std::vector<ExprPtr> defaults;                         // for the last defaults.size() params
    std::vector<std::pair<ExprPtr, ExprPtr>> assignments;  // with
    bool recursive = false;
    bool catch_varargs = false;  // the macro body reads `varargs`
    bool catch_kwargs = false;   // the macro body reads `kwargs`
    bool uses_caller = false;    // the macro body reads `caller`
};

}  // namespace lumen::jinja
