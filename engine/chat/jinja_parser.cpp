// The Jinja parser (see jinja_parser.h). It mirrors jinja2's parser.py: the
// same precedence ladder (condexpr, or, and, not, compare, + -, ~, * / // %,
// **, unary, postfix, filters and tests) and the same statement grammar.
#include "chat/jinja_parser.h"

#include <algorithm>

namespace lumen::jinja {

namespace {

std::string describe(const Token& token) {
    switch (token.type) {
        case TokenType::data: return "template data";
        case TokenType::variable_begin: return "begin of print statement";
        case TokenType::variable_end: return "end of print statement";
        case TokenType::block_begin: return "begin of statement block";
        case TokenType::block_end: return "end of statement block";
        case TokenType::name:
        case TokenType::op: return "'" + token.text + "'";
        case TokenType::string: return "string";
        case TokenType::integer: return "integer";
        case TokenType::floating: return "float";
        case TokenType::eof: return "end of template";
    }
    return "token";
}

ExprPtr make_expr(ExprKind kind, SourcePos pos) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->pos = pos;
    return e;
}

ExprPtr make_binary(ExprKind kind, std::string op, ExprPtr left, ExprPtr right) {
    auto e = make_expr(kind, left->pos);
    e->name = std::move(op);
    e->children.push_back(std::move(left));
    e->children.push_back(std::move(right));
    return e;
}

class Parser {
public:
    Parser(const std::vector<Token>& tokens, int max_nesting) : tokens_(tokens), max_nesting_(max_nesting) {}

    Body parse() {
        Body body = subparse({});
        if (current().type != TokenType::eof) fail_here("unexpected tag '" + current().text + "'");
        return body;
    }

private:
    // --- token stream -----------------------------------------------------------

    const Token& current() const { return tokens_[index_]; }
    const Token& look() const { return tokens_[std::min(index_ + 1, tokens_.size() - 1)]; }
    const Token& next() {
        const Token& token = tokens_[index_];
        if (index_ + 1 < tokens_.size()) ++index_;
        return token;
    }
    bool is_op(const char* op) const { return current().type == TokenType::op && current().text == op; }
    bool is_name(const char* name) const { return current().type == TokenType::name && current().text == name; }
    bool skip_op(const char* op) {
        if (!is_op(op)) return false;
        next();
        return true;
    }
    bool skip_name(const char* name) {
        if (!is_name(name)) return false;
        next();
        return true;
    }
    [[noreturn]] void fail_here(const std::string& message) const { fail(message, current().pos); }
    void expect_op(const char* op) {
        if (!skip_op(op)) fail_here(std::string("expected token '") + op + "', got " + describe(current()));
    }
    void expect(TokenType type, const char* what) {
        if (current().type != type) fail_here(std::string("expected ") + what + ", got " + describe(current()));
        next();
    }
    std::string expect_name() {
        if (current().type != TokenType::name) fail_here("expected a name, got " + describe(current()));
        return next().text;
    }

    // Nesting guard for both block and expression recursion.
    struct Depth {
        explicit Depth(Parser& p) : parser(p) {
            if (++parser.depth_ > parser.max_nesting_) {
                parser.fail_here("the template nests blocks or expressions more than " +
                                 std::to_string(parser.max_nesting_) + " levels deep");
            }
        }
        ~Depth() { --parser.depth_; }
        Parser& parser;
    };

    // --- statements ---------------------------------------------------------------

    bool at_end_tag(const std::vector<std::string>& end_tags) const {
        return current().type == TokenType::name &&
               std::find(end_tags.begin(), end_tags.end(), current().text) != end_tags.end();
    }

    // Parses until one of end_tags; leaves the end tag's name as the current token.
    Body subparse(const std::vector<std::string>& end_tags) {
        Body body;
        while (current().type != TokenType::eof) {
            const Token& token = current();
            if (token.type == TokenType::data) {
                auto stmt = std::make_unique<Stmt>();
                stmt->kind = StmtKind::text;
                stmt->pos = token.pos;
                stmt->text = token.text;
                body.push_back(std::move(stmt));
                next();
            } else if (token.type == TokenType::variable_begin) {
                next();
                auto stmt = std::make_unique<Stmt>();
                stmt->kind = StmtKind::output;
                stmt->pos = token.pos;
                stmt->expr = parse_tuple(false, true, {}, false);
                expect(TokenType::variable_end, "end of print statement");
                body.push_back(std::move(stmt));
            } else if (token.type == TokenType::block_begin) {
                next();
                if (at_end_tag(end_tags)) return body;
                body.push_back(parse_statement());
                expect(TokenType::block_end, "end of statement block");
            } else {
                fail_here("unexpected " + describe(token));
            }
        }
        return body;
    }

    std::string quoted_list(const std::vector<std::string>& names) const {
        std::string out;
        for (size_t i = 0; i < names.size(); ++i) {
            out += (i == 0 ? "'" : (i + 1 == names.size() ? " or '" : ", '")) + names[i] + "'";
        }
        return out;
    }

    // A block body: `%}`, statements, then one of end_tags (consumed when drop_end).
    Body parse_body(const std::vector<std::string>& end_tags, const Stmt& owner, bool drop_end) {
        skip_op(":");
        expect(TokenType::block_end, "end of statement block");
        Body body = subparse(end_tags);
        if (current().type == TokenType::eof) {
            fail("unexpected end of template: expected " + quoted_list(end_tags) +
                     " to close the block opened at line " + std::to_string(owner.pos.line),
                 current().pos);
        }
        if (drop_end) next();
        return body;
    }

    StmtPtr parse_statement() {
        Depth depth(*this);
        if (current().type != TokenType::name) fail_here("tag name expected");
        auto stmt = std::make_unique<Stmt>();
        stmt->pos = current().pos;
        const std::string tag = next().text;
        if (tag == "for") return parse_for(std::move(stmt));
        if (tag == "if") return parse_if(std::move(stmt));
        if (tag == "set") return parse_set(std::move(stmt));
        if (tag == "macro") return parse_macro(std::move(stmt));
        if (tag == "call") return parse_call_block(std::move(stmt));
        if (tag == "filter") return parse_filter_block(std::move(stmt));
        if (tag == "with") return parse_with(std::move(stmt));
        if (tag == "print") {
            stmt->kind = StmtKind::output;
            stmt->expr = parse_tuple(false, true, {}, false);
            return stmt;
        }
        if (tag == "break" || tag == "continue") {
            if (loop_depth_ == 0) fail(("'" + tag + "' outside of a loop"), stmt->pos);
            stmt->kind = tag == "break" ? StmtKind::break_ : StmtKind::continue_;
            return stmt;
        }
        if (tag == "generation") {  // transformers' AssistantTracker: renders its body
            stmt->kind = StmtKind::scope;
            stmt->body = parse_body({"endgeneration"}, *stmt, true);
            return stmt;
        }
        fail("unknown tag '" + tag + "'", stmt->pos);
    }

    StmtPtr parse_for(StmtPtr stmt) {
        stmt->kind = StmtKind::for_;
        stmt->target = parse_assign_target(true, false, {"in"});
        if (!skip_name("in")) fail_here("expected 'in', got " + describe(current()));
        stmt->expr = parse_tuple(false, false, {"recursive"}, false);
        ++loop_depth_;
        if (skip_name("if")) stmt->condition = parse_expression(true);
        stmt->recursive = skip_name("recursive");
        stmt->body = parse_body({"endfor", "else"}, *stmt, false);
        if (next().text == "else") stmt->else_body = parse_body({"endfor"}, *stmt, true);
        --loop_depth_;
        return stmt;
    }

    StmtPtr parse_if(StmtPtr stmt) {
        stmt->kind = StmtKind::if_;
        while (true) {
            Branch branch;
            branch.condition = parse_tuple(false, false, {}, false);
            branch.body = parse_body({"elif", "else", "endif"}, *stmt, false);
            stmt->branches.push_back(std::move(branch));
            const std::string tag = next().text;
            if (tag == "elif") continue;
            if (tag == "else") stmt->else_body = parse_body({"endif"}, *stmt, true);
            return stmt;
        }
    }

    StmtPtr parse_set(StmtPtr stmt) {
        stmt->target = parse_assign_target(true, true, {});
        if (skip_op("=")) {
            stmt->kind = StmtKind::set;
            stmt->expr = parse_tuple(false, true, {}, false);
            return stmt;
        }
        stmt->kind = StmtKind::set_block;
        if (is_op("|")) stmt->filter = parse_filter(nullptr, false);
        stmt->body = parse_body({"endset"}, *stmt, true);
        return stmt;
    }

    void parse_signature(Stmt& stmt) {
        expect_op("(");
        while (!is_op(")")) {
            if (!stmt.params.empty()) expect_op(",");
            stmt.params.push_back(expect_name());
            if (skip_op("=")) {
                stmt.defaults.push_back(parse_expression(true));
            } else if (!stmt.defaults.empty()) {
                fail_here("non-default argument follows default argument");
            }
        }
        expect_op(")");
    }

    // A macro or call block body, with the names it reads that change how it is called.
    Body parse_macro_body(Stmt& stmt, const char* end_tag) {
        macros_.push_back(&stmt);
        const int saved_loops = loop_depth_;
        loop_depth_ = 0;
        Body body = parse_body({end_tag}, stmt, true);
        loop_depth_ = saved_loops;
        macros_.pop_back();
        return body;
    }

    StmtPtr parse_macro(StmtPtr stmt) {
        stmt->kind = StmtKind::macro;
        stmt->name = expect_name();
        parse_signature(*stmt);
        stmt->body = parse_macro_body(*stmt, "endmacro");
        return stmt;
    }

    StmtPtr parse_call_block(StmtPtr stmt) {
        stmt->kind = StmtKind::call_block;
        if (is_op("(")) parse_signature(*stmt);
        stmt->expr = parse_expression(true);
        if (stmt->expr->kind != ExprKind::call) fail("expected call", stmt->pos);
        stmt->body = parse_macro_body(*stmt, "endcall");
        return stmt;
    }

    StmtPtr parse_filter_block(StmtPtr stmt) {
        stmt->kind = StmtKind::filter_block;
        stmt->filter = parse_filter(nullptr, true);
        stmt->body = parse_body({"endfilter"}, *stmt, true);
        return stmt;
    }

    StmtPtr parse_with(StmtPtr stmt) {
        stmt->kind = StmtKind::with;
        while (current().type != TokenType::block_end) {
            if (!stmt->assignments.empty()) expect_op(",");
            ExprPtr target = parse_assign_target(true, false, {});
            expect_op("=");
            stmt->assignments.emplace_back(std::move(target), parse_expression(true));
        }
        stmt->body = parse_body({"endwith"}, *stmt, true);
        return stmt;
    }

    ExprPtr parse_assign_target(bool with_tuple, bool with_namespace, const std::vector<std::string>& extra_end) {
        ExprPtr target =
            with_tuple ? parse_tuple(true, true, extra_end, false, with_namespace) : parse_primary(with_namespace);
        const bool names_only = target->kind == ExprKind::tuple
                                    ? std::all_of(target->children.begin(), target->children.end(),
                                                  [](const ExprPtr& e) { return e->kind == ExprKind::name; })
                                    : true;
        const bool assignable = target->kind == ExprKind::name || target->kind == ExprKind::getattr ||
                                (target->kind == ExprKind::tuple && names_only);
        if (!assignable) fail("can't assign to this expression", target->pos);
        return target;
    }

    // --- expressions -------------------------------------------------------------

    bool is_tuple_end(const std::vector<std::string>& extra_end) const {
        const TokenType t = current().type;
        if (t == TokenType::variable_end || t == TokenType::block_end || is_op(")")) return true;
        return at_end_tag(extra_end);
    }

    ExprPtr parse_tuple(bool simplified, bool with_condexpr, const std::vector<std::string>& extra_end,
                        bool explicit_parentheses, bool with_namespace = false) {
        const SourcePos pos = current().pos;
        std::vector<ExprPtr> items;
        bool is_tuple = false;
        while (true) {
            if (!items.empty()) expect_op(",");
            if (is_tuple_end(extra_end)) break;
            items.push_back(simplified ? parse_primary(with_namespace) : parse_expression(with_condexpr));
            if (!is_op(",")) break;
            is_tuple = true;
        }
        if (!is_tuple) {
            if (!items.empty()) return std::move(items[0]);
            if (!explicit_parentheses) fail_here("expected an expression, got " + describe(current()));
        }
        auto tuple = make_expr(ExprKind::tuple, pos);
        tuple->children = std::move(items);
        return tuple;
    }

    ExprPtr parse_expression(bool with_condexpr) { return with_condexpr ? parse_condexpr() : parse_or(); }

    ExprPtr parse_condexpr() {
        ExprPtr expr = parse_or();
        while (skip_name("if")) {
            auto cond = make_expr(ExprKind::condition, expr->pos);
            cond->children.push_back(parse_or());
            cond->children.push_back(std::move(expr));
            cond->children.push_back(skip_name("else") ? parse_condexpr() : nullptr);
            expr = std::move(cond);
        }
        return expr;
    }

    ExprPtr parse_or() {
        ExprPtr left = parse_and();
        while (skip_name("or")) left = make_binary(ExprKind::or_, "or", std::move(left), parse_and());
        return left;
    }

    ExprPtr parse_and() {
        ExprPtr left = parse_not();
        while (skip_name("and")) left = make_binary(ExprKind::and_, "and", std::move(left), parse_not());
        return left;
    }

    ExprPtr parse_not() {
        if (is_name("not")) {
            Depth depth(*this);
            auto e = make_expr(ExprKind::not_, next().pos);
            e->children.push_back(parse_not());
            return e;
        }
        return parse_compare();
    }

    ExprPtr parse_compare() {
        ExprPtr first = parse_math1();
        ExprPtr compare;
        static const char* const ops[] = {"==", "!=", "<", ">", "<=", ">="};
        while (true) {
            std::string op;
            for (const char* o : ops) {
                if (is_op(o)) op = o;
            }
            if (!op.empty()) {
                next();
            } else if (is_name("in")) {
                next();
                op = "in";
            } else if (is_name("not") && look().type == TokenType::name && look().text == "in") {
                next();
                next();
                op = "notin";
            } else {
                break;
            }
            if (!compare) {
                compare = make_expr(ExprKind::compare, first->pos);
                compare->children.push_back(std::move(first));
            }
            compare->operators.push_back(op);
            compare->children.push_back(parse_math1());
        }
        return compare ? std::move(compare) : std::move(first);
    }

    ExprPtr parse_math1() {
        ExprPtr left = parse_concat();
        while (is_op("+") || is_op("-")) {
            const std::string op = next().text;
            left = make_binary(ExprKind::binary, op, std::move(left), parse_concat());
        }
        return left;
    }

    ExprPtr parse_concat() {
        ExprPtr first = parse_math2();
        if (!is_op("~")) return first;
        auto concat = make_expr(ExprKind::concat, first->pos);
        concat->children.push_back(std::move(first));
        while (skip_op("~")) concat->children.push_back(parse_math2());
        return concat;
    }

    ExprPtr parse_math2() {
        ExprPtr left = parse_pow();
        while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
            const std::string op = next().text;
            left = make_binary(ExprKind::binary, op, std::move(left), parse_pow());
        }
        return left;
    }

    ExprPtr parse_pow() {
        ExprPtr left = parse_unary(true);
        while (skip_op("**")) left = make_binary(ExprKind::binary, "**", std::move(left), parse_unary(true));
        return left;
    }

    ExprPtr parse_unary(bool with_filter) {
        Depth depth(*this);
        ExprPtr node;
        if (is_op("-") || is_op("+")) {
            const Token& sign = next();
            node = make_expr(sign.text == "-" ? ExprKind::negate : ExprKind::plus, sign.pos);
            node->children.push_back(parse_unary(false));
        } else {
            node = parse_primary(false);
        }
        node = parse_postfix(std::move(node));
        return with_filter ? parse_filter_expr(std::move(node)) : std::move(node);
    }

    ExprPtr parse_primary(bool with_namespace) {
        Depth depth(*this);
        const Token& token = current();
        if (token.type == TokenType::name) {
            next();
            const std::string& v = token.text;
            if (v == "true" || v == "false" || v == "True" || v == "False") {
                auto e = make_expr(ExprKind::literal, token.pos);
                e->literal = Value::boolean(v == "true" || v == "True");
                return e;
            }
            if (v == "none" || v == "None") {
                auto e = make_expr(ExprKind::literal, token.pos);
                e->literal = Value::none();
                return e;
            }
            if (with_namespace && is_op(".")) {  // {% set ns.attr = ... %}
                next();
                auto ref = make_expr(ExprKind::getattr, token.pos);
                ref->children.push_back(name_expr(token));
                ref->name = expect_name();
                return ref;
            }
            return name_expr(token);
        }
        if (token.type == TokenType::string) {
            std::string text;
            while (current().type == TokenType::string) text += next().text;
            auto e = make_expr(ExprKind::literal, token.pos);
            e->literal = Value::string(std::move(text));
            return e;
        }
        if (token.type == TokenType::integer || token.type == TokenType::floating) {
            next();
            auto e = make_expr(ExprKind::literal, token.pos);
            e->literal =
                token.type == TokenType::integer ? Value::integer(token.int_value) : Value::floating(token.float_value);
            return e;
        }
        if (is_op("(")) {
            next();
            ExprPtr inner = parse_tuple(false, true, {}, true);
            expect_op(")");
            return inner;
        }
        if (is_op("[")) return parse_list();
        if (is_op("{")) return parse_dict();
        fail_here("unexpected " + describe(token));
    }

    ExprPtr name_expr(const Token& token) {
        if (token.text == "varargs" || token.text == "kwargs" || token.text == "caller") {
            for (Stmt* macro : macros_) {
                if (token.text == "varargs") macro->catch_varargs = true;
                if (token.text == "kwargs") macro->catch_kwargs = true;
                if (token.text == "caller") macro->uses_caller = true;
            }
        }
        auto e = make_expr(ExprKind::name, token.pos);
        e->name = token.text;
        return e;
    }

    ExprPtr parse_list() {
        auto list = make_expr(ExprKind::list, next().pos);
        while (!is_op("]")) {
            if (!list->children.empty()) expect_op(",");
            if (is_op("]")) break;
            list->children.push_back(parse_expression(true));
        }
        expect_op("]");
        return list;
    }

    ExprPtr parse_dict() {
        auto dict = make_expr(ExprKind::dict, next().pos);
        while (!is_op("}")) {
            if (!dict->children.empty()) expect_op(",");
            if (is_op("}")) break;
            dict->children.push_back(parse_expression(true));
            expect_op(":");
            dict->children.push_back(parse_expression(true));
        }
        expect_op("}");
        return dict;
    }

    ExprPtr parse_postfix(ExprPtr node) {
        while (true) {
            if (is_op(".") || is_op("[")) {
                node = parse_subscript(std::move(node));
            } else if (is_op("(")) {
                node = parse_call(std::move(node));
            } else {
                return node;
            }
        }
    }

    ExprPtr parse_filter_expr(ExprPtr node) {
        while (true) {
            if (is_op("|")) {
                node = parse_filter(std::move(node), false);
            } else if (is_name("is")) {
                node = parse_test(std::move(node));
            } else if (is_op("(")) {
                node = parse_call(std::move(node));
            } else {
                return node;
            }
        }
    }

    ExprPtr parse_subscript(ExprPtr node) {
        const Token& token = next();
        if (token.text == ".") {
            const Token& attr = current();
            if (attr.type == TokenType::name) {
                next();
                auto e = make_expr(ExprKind::getattr, token.pos);
                e->children.push_back(std::move(node));
                e->name = attr.text;
                return e;
            }
            if (attr.type != TokenType::integer) fail_here("expected name or number");
            next();
            auto index = make_expr(ExprKind::literal, attr.pos);
            index->literal = Value::integer(attr.int_value);
            auto e = make_expr(ExprKind::getitem, token.pos);
            e->children.push_back(std::move(node));
            e->children.push_back(std::move(index));
            return e;
        }
        std::vector<ExprPtr> args;
        while (!is_op("]")) {
            if (!args.empty()) expect_op(",");
            args.push_back(parse_subscribed());
        }
        expect_op("]");
        auto e = make_expr(ExprKind::getitem, token.pos);
        e->children.push_back(std::move(node));
        if (args.size() == 1) {
            e->children.push_back(std::move(args[0]));
        } else {
            auto tuple = make_expr(ExprKind::tuple, token.pos);
            tuple->children = std::move(args);
            e->children.push_back(std::move(tuple));
        }
        return e;
    }

    ExprPtr parse_subscribed() {
        const SourcePos pos = current().pos;
        ExprPtr start;
        if (!is_op(":")) {
            start = parse_expression(true);
            if (!is_op(":")) return start;
        }
        next();  // the first ':'
        auto slice = make_expr(ExprKind::slice, pos);
        slice->children.push_back(std::move(start));
        slice->children.push_back(is_op(":") || is_op("]") || is_op(",") ? nullptr : parse_expression(true));
        ExprPtr step;
        if (skip_op(":") && !is_op("]") && !is_op(",")) step = parse_expression(true);
        slice->children.push_back(std::move(step));
        return slice;
    }

    void parse_call_args(Expr& node) {
        expect_op("(");
        bool need_comma = false;
        while (!is_op(")")) {
            if (need_comma) {
                expect_op(",");
                if (is_op(")")) break;
            }
            if (is_op("*") || is_op("**")) fail_here("*args and **kwargs in calls are not supported");
            if (current().type == TokenType::name && look().type == TokenType::op && look().text == "=") {
                std::string key = next().text;
                next();
                node.keyword.emplace_back(std::move(key), parse_expression(true));
            } else {
                if (!node.keyword.empty()) fail_here("invalid syntax for function call expression");
                node.children.push_back(parse_expression(true));
            }
            need_comma = true;
        }
        expect_op(")");
    }

    ExprPtr parse_call(ExprPtr callee) {
        auto call = make_expr(ExprKind::call, callee->pos);  // errors point at the called name
        call->children.push_back(std::move(callee));
        parse_call_args(*call);
        return call;
    }

    // `| name(args)` chains; the first `|` is already consumed when start_inline.
    ExprPtr parse_filter(ExprPtr node, bool start_inline) {
        while (is_op("|") || start_inline) {
            if (!start_inline) next();
            start_inline = false;
            auto filter = make_expr(ExprKind::filter, current().pos);
            filter->name = expect_name();
            while (skip_op(".")) {
                filter->name += '.';
                filter->name += expect_name();
            }
            filter->known = is_known_filter(filter->name);
            filter->children.push_back(std::move(node));
            if (is_op("(")) parse_call_args(*filter);
            node = std::move(filter);
        }
        return node;
    }

    ExprPtr parse_test(ExprPtr node) {
        const SourcePos pos = next().pos;  // 'is'
        const bool negated = skip_name("not");
        auto test = make_expr(ExprKind::test, current().pos);
        test->name = expect_name();
        while (skip_op(".")) test->name += "." + expect_name();
        test->known = is_known_test(test->name);
        test->children.push_back(std::move(node));
        const Token& t = current();
        const bool starts_argument = t.type == TokenType::name || t.type == TokenType::string ||
                                     t.type == TokenType::integer || t.type == TokenType::floating || is_op("[") ||
                                     is_op("{");
        if (is_op("(")) {
            parse_call_args(*test);
        } else if (starts_argument && !is_name("else") && !is_name("or") && !is_name("and")) {
            if (is_name("is")) fail_here("You cannot chain multiple tests with is");
            test->children.push_back(parse_postfix(parse_primary(false)));
        }
        if (!negated) return test;
        auto inverted = make_expr(ExprKind::not_, pos);
        inverted->children.push_back(std::move(test));
        return inverted;
    }

    const std::vector<Token>& tokens_;
    size_t index_ = 0;
    int max_nesting_;
    int depth_ = 0;
    int loop_depth_ = 0;
    std::vector<Stmt*> macros_;
};

// jinja2 rejects an unknown filter or test when it compiles the template,
// except inside an if statement or a conditional expression (a "soft" frame),
// where only running it fails. Loops, macros, call and filter blocks and block
// sets open a new, hard frame.
void check_names(const Expr* e, bool soft);

void check_names(const Body& body, bool soft);

void check_names(const Expr* e, bool soft) {
    if (!e) return;
    if ((e->kind == ExprKind::filter || e->kind == ExprKind::test) && !e->known && !soft) {
        fail(std::string("No ") + (e->kind == ExprKind::filter ? "filter" : "test") + " named '" + e->name + "'.",
             e->pos);
    }
    const bool child_soft = soft || e->kind == ExprKind::condition;
    for (const ExprPtr& child : e->children) check_names(child.get(), child_soft);
    for (const auto& [name, value] : e->keyword) check_names(value.get(), child_soft);
}

void check_names(const Body& body, bool soft) {
    for (const StmtPtr& s : body) {
        switch (s->kind) {
            case StmtKind::if_:
                for (const Branch& b : s->branches) {
                    check_names(b.condition.get(), true);
                    check_names(b.body, true);
                }
                check_names(s->else_body, true);
                break;
            case StmtKind::for_:
                check_names(s->expr.get(), soft);
                check_names(s->condition.get(), false);
                check_names(s->body, false);
                check_names(s->else_body, false);
                break;
            case StmtKind::macro:
            case StmtKind::call_block:
                for (const ExprPtr& d : s->defaults) check_names(d.get(), false);
                check_names(s->expr.get(), soft);
                check_names(s->body, false);
                break;
            case StmtKind::with:
                for (const auto& [target, value] : s->assignments) check_names(value.get(), soft);
                check_names(s->body, false);
                break;
            case StmtKind::set_block:
            case StmtKind::filter_block:
            case StmtKind::scope:
                check_names(s->filter.get(), false);
                check_names(s->body, false);
                break;
            default: check_names(s->expr.get(), soft); break;
        }
    }
}

}  // namespace

Body parse_template(const std::vector<Token>& tokens, int max_nesting) {
    Body body = Parser(tokens, max_nesting).parse();
    check_names(body, false);
    return body;
}

}  // namespace lumen::jinja
