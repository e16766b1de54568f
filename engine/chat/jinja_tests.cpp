// The tests of the Jinja engine (`value is name(args)`): jinja2's built-in
// tests with Python's type rules (bool is a number but not an integer; a dict
// is a sequence; Undefined is iterable).
#include <algorithm>
#include <map>

#include "chat/jinja_eval.h"
#include "chat/jinja_parser.h"
#include "chat/jinja_text.h"

namespace lumen::jinja {

namespace {

using Test = bool (*)(Renderer&, const Value& v, CallArguments& args);

const Value& operand(CallArguments& args, const char* test) {
    ArgumentBinder a(args, test, {"other"});
    if (!a.get(0)) fail(std::string("TypeError: the '") + test + "' test needs an argument");
    return *a.get(0);
}

void no_operand(CallArguments& args, const char* test) {
    ArgumentBinder a(args, test, {});
}

int64_t integer_value(const Value& v, const char* test) {
    if (v.is_undefined()) fail(undefined_message(v));
    if (!v.is_int() && !v.is_bool()) fail(std::string("TypeError: the '") + test + "' test needs an integer");
    return v.as_int();
}

bool divisible(const Value& v, const Value& divisor) {
    const int64_t d = integer_value(divisor, "divisibleby");
    if (d == 0) fail("ZeroDivisionError: integer modulo by zero");
    return d == -1 || integer_value(v, "divisibleby") % d == 0;
}

bool ordered(const Value& a, const Value& b, const char* op) {
    const int c = compare(a, b, op);
    const std::string o = op;
    return o == "<" ? c < 0 : o == "<=" ? c <= 0 : o == ">" ? c > 0 : c >= 0;
}

#define LUMEN_TYPE_TEST(name, expr)                                \
    {                                                              \
        name, [](Renderer&, const Value& v, CallArguments& args) { \
            no_operand(args, name);                                \
            return static_cast<bool>(expr);                        \
        }                                                          \
    }

#define LUMEN_COMPARE_TEST(name, expr)                             \
    {                                                              \
        name, [](Renderer&, const Value& v, CallArguments& args) { \
            const Value& other = operand(args, name);              \
            return static_cast<bool>(expr);                        \
        }                                                          \
    }

const std::map<std::string, Test>& tests() {
    static const std::map<std::string, Test> table = {
        LUMEN_TYPE_TEST("defined", !v.is_undefined()),
        LUMEN_TYPE_TEST("undefined", v.is_undefined()),
        LUMEN_TYPE_TEST("none", v.is_none()),
        LUMEN_TYPE_TEST("boolean", v.is_bool()),
        LUMEN_TYPE_TEST("true", v.is_bool() && v.as_bool()),
        LUMEN_TYPE_TEST("false", v.is_bool() && !v.as_bool()),
        LUMEN_TYPE_TEST("integer", v.is_int()),
        LUMEN_TYPE_TEST("float", v.is_float()),
        LUMEN_TYPE_TEST("number", v.is_number()),
        LUMEN_TYPE_TEST("string", v.is_string()),
        LUMEN_TYPE_TEST("mapping", v.is_dict()),
        LUMEN_TYPE_TEST("callable", v.is_function()),
        LUMEN_TYPE_TEST("escaped", v.is_safe()),
        // iter() succeeds on str, list, tuple, dict, generators, views and Undefined.
        LUMEN_TYPE_TEST("iterable", v.is_undefined() || v.is_string() || v.is_list() || v.is_dict()),
        // len() and __getitem__: str, list, tuple, dict and Undefined.
        LUMEN_TYPE_TEST("sequence", v.is_undefined() || v.is_string() || v.is_sequence_list() || v.is_dict()),
        LUMEN_TYPE_TEST("lower", py_islower(to_str(v))),
        LUMEN_TYPE_TEST("upper", py_isupper(to_str(v))),
        LUMEN_TYPE_TEST("odd", integer_value(v, "odd") % 2 != 0),
        LUMEN_TYPE_TEST("even", integer_value(v, "even") % 2 == 0),
        LUMEN_COMPARE_TEST("divisibleby", divisible(v, other)),
        LUMEN_COMPARE_TEST("sameas", v.identical(other)),
        LUMEN_COMPARE_TEST("eq", equals(v, other)),
        LUMEN_COMPARE_TEST("equalto", equals(v, other)),
        LUMEN_COMPARE_TEST("==", equals(v, other)),
        LUMEN_COMPARE_TEST("ne", !equals(v, other)),
        LUMEN_COMPARE_TEST("!=", !equals(v, other)),
        LUMEN_COMPARE_TEST("lt", ordered(v, other, "<")),
        LUMEN_COMPARE_TEST("lessthan", ordered(v, other, "<")),
        LUMEN_COMPARE_TEST("<", ordered(v, other, "<")),
        LUMEN_COMPARE_TEST("le", ordered(v, other, "<=")),
        LUMEN_COMPARE_TEST("<=", ordered(v, other, "<=")),
        LUMEN_COMPARE_TEST("gt", ordered(v, other, ">")),
        LUMEN_COMPARE_TEST("greaterthan", ordered(v, other, ">")),
        LUMEN_COMPARE_TEST(">", ordered(v, other, ">")),
        LUMEN_COMPARE_TEST("ge", ordered(v, other, ">=")),
        LUMEN_COMPARE_TEST(">=", ordered(v, other, ">=")),
        LUMEN_COMPARE_TEST("in", contains(other, v)),
        LUMEN_TYPE_TEST("filter", v.is_string() && is_known_filter(v.as_string())),
        LUMEN_TYPE_TEST("test", v.is_string() && is_known_test(v.as_string())),
    };
    return table;
}

#undef LUMEN_TYPE_TEST
#undef LUMEN_COMPARE_TEST

}  // namespace

bool is_known_test(const std::string& name) {
    return tests().count(name) != 0;
}

bool call_test(Renderer& renderer, const std::string& name, const Value& input, CallArguments& args) {
    const auto it = tests().find(name);
    if (it == tests().end()) fail("TemplateRuntimeError: No test named '" + name + "' found.");
    return it->second(renderer, input, args);
}

}  // namespace lumen::jinja
