// Python's arithmetic operators for the Jinja engine: + - * / // % ** and the
// unary signs, with Python's types (bool is an int, / always gives a float,
// // and % floor toward negative infinity) and its TypeErrors.
#include <cmath>

#include "chat/jinja_eval.h"
#include "chat/jinja_text.h"

namespace lumen::jinja {

namespace {

[[noreturn]] void unsupported(const std::string& op, const Value& a, const Value& b) {
    fail("TypeError: unsupported operand type(s) for " + op + ": '" + type_name(a) + "' and '" + type_name(b) + "'");
}

[[noreturn]] void overflow() {
    fail("OverflowError: integer result does not fit in 64 bits");
}

int64_t checked_add(int64_t a, int64_t b) {
    int64_t r;
    if (__builtin_add_overflow(a, b, &r)) overflow();
    return r;
}

int64_t checked_sub(int64_t a, int64_t b) {
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r)) overflow();
    return r;
}

int64_t checked_mul(int64_t a, int64_t b) {
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r)) overflow();
    return r;
}

Value add(Renderer& renderer, const Value& a, const Value& b) {
    if (a.is_number() && b.is_number()) {
        if (a.is_float() || b.is_float()) return Value::floating(a.as_double() + b.as_double());
        return Value::integer(checked_add(a.as_int(), b.as_int()));
    }
    if (a.is_string() && b.is_string()) {
        renderer.check_string_size(a.as_string().size() + b.as_string().size());
        // markupsafe: adding text to a Markup string escapes the text.
        if (a.is_safe() && !b.is_safe()) return Value::string(a.as_string() + html_escape(b.as_string()), true);
        if (b.is_safe() && !a.is_safe()) return Value::string(html_escape(a.as_string()) + b.as_string(), true);
        return Value::string(a.as_string() + b.as_string(), a.is_safe());
    }
    if (a.is_sequence_list() && b.is_sequence_list() && a.is_tuple() == b.is_tuple()) {
        renderer.check_list_size(a.as_list().items.size() + b.as_list().items.size());
        std::vector<Value> items = a.as_list().items;
        items.insert(items.end(), b.as_list().items.begin(), b.as_list().items.end());
        return Value::list(std::move(items), a.as_list().kind);
    }
    if (a.is_string() && !a.is_safe()) {
        fail("TypeError: can only concatenate str (not \"" + type_name(b) + "\") to str");
    }
    if (a.is_sequence_list()) {
        const std::string kind = type_name(a);
        fail("TypeError: can only concatenate " + kind + " (not \"" + type_name(b) + "\") to " + kind);
    }
    unsupported("+", a, b);
}

bool is_int_like(const Value& v) {
    return v.is_int() || v.is_bool();
}

Value repeat(Renderer& renderer, const Value& sequence, int64_t times) {
    if (times < 0) times = 0;
    if (sequence.is_string()) {
        const std::string& s = sequence.as_string();
        if (!s.empty() && static_cast<uint64_t>(times) > (1ull << 40) / s.size()) overflow();
        renderer.check_string_size(s.size() * static_cast<size_t>(times));
        std::string out;
        out.reserve(s.size() * static_cast<size_t>(times));
        for (int64_t i = 0; i < times; ++i) out += s;
        return Value::string(std::move(out), sequence.is_safe());
    }
    const auto& items = sequence.as_list().items;
    if (!items.empty() && static_cast<uint64_t>(times) > (1ull << 40) / items.size()) overflow();
    renderer.check_list_size(items.size() * static_cast<size_t>(times));
    std::vector<Value> out;
    for (int64_t i = 0; i < times; ++i) out.insert(out.end(), items.begin(), items.end());
    return Value::list(std::move(out), sequence.as_list().kind);
}

Value multiply(Renderer& renderer, const Value& a, const Value& b) {
    if (a.is_number() && b.is_number()) {
        if (a.is_float() || b.is_float()) return Value::floating(a.as_double() * b.as_double());
        return Value::integer(checked_mul(a.as_int(), b.as_int()));
    }
    const bool a_seq = a.is_string() || a.is_sequence_list();
    const bool b_seq = b.is_string() || b.is_sequence_list();
    if (a_seq && is_int_like(b)) return repeat(renderer, a, b.as_int());
    if (b_seq && is_int_like(a)) return repeat(renderer, b, a.as_int());
    if (a_seq || b_seq) {
        fail("TypeError: can't multiply sequence by non-int of type '" + type_name(a_seq ? b : a) + "'");
    }
    unsupported("*", a, b);
}

Value floor_divide(const Value& a, const Value& b) {
    if (a.is_float() || b.is_float()) {
        if (b.as_double() == 0.0) fail("ZeroDivisionError: float floor division by zero");
        return Value::floating(std::floor(a.as_double() / b.as_double()));
    }
    const int64_t x = a.as_int(), y = b.as_int();
    if (y == 0) fail("ZeroDivisionError: integer division or modulo by zero");
    if (x == INT64_MIN && y == -1) overflow();
    int64_t q = x / y;
    if (x % y != 0 && ((x < 0) != (y < 0))) --q;
    return Value::integer(q);
}

Value modulo(const Value& a, const Value& b) {
    if (a.is_float() || b.is_float()) {
        const double y = b.as_double();
        if (y == 0.0) fail("ZeroDivisionError: float modulo");
        double m = std::fmod(a.as_double(), y);
        if (m != 0.0 && ((y < 0) != (m < 0))) m += y;
        if (m == 0.0) m = std::copysign(0.0, y);
        return Value::floating(m);
    }
    const int64_t x = a.as_int(), y = b.as_int();
    if (y == 0) fail("ZeroDivisionError: integer modulo by zero");
    if (y == -1) return Value::integer(0);
    int64_t m = x % y;
    if (m != 0 && ((m < 0) != (y < 0))) m += y;
    return Value::integer(m);
}

Value power(const Value& a, const Value& b) {
    if (!a.is_float() && !b.is_float() && b.as_int() >= 0) {
        int64_t result = 1, base = a.as_int();
        for (int64_t e = b.as_int(); e > 0; e >>= 1) {
            if (e & 1) result = checked_mul(result, base);
            if (e > 1) base = checked_mul(base, base);
        }
        return Value::integer(result);
    }
    const double x = a.as_double(), y = b.as_double();
    if (x == 0.0 && y < 0) fail("ZeroDivisionError: 0.0 cannot be raised to a negative power");
    if (x < 0 && y != std::floor(y)) fail("ValueError: a negative number to a fractional power is complex");
    return Value::floating(std::pow(x, y));
}

}  // namespace

Value binary_op(Renderer& renderer, const std::string& op, const Value& a, const Value& b) {
    if (a.is_undefined()) fail(undefined_message(a));
    if (b.is_undefined()) fail(undefined_message(b));
    if (op == "+") return add(renderer, a, b);
    if (op == "*") return multiply(renderer, a, b);
    if (op == "%" && a.is_string()) return Value::string(percent_format(a.as_string(), b));
    if (!a.is_number() || !b.is_number()) unsupported(op, a, b);
    if (op == "-") {
        if (a.is_float() || b.is_float()) return Value::floating(a.as_double() - b.as_double());
        return Value::integer(checked_sub(a.as_int(), b.as_int()));
    }
    if (op == "/") {
        if (b.as_double() == 0.0) fail("ZeroDivisionError: division by zero");
        return Value::floating(a.as_double() / b.as_double());
    }
    if (op == "//") return floor_divide(a, b);
    if (op == "%") return modulo(a, b);
    if (op == "**") return power(a, b);
    fail("unknown operator " + op);
}

Value unary_op(const std::string& op, const Value& v) {
    if (v.is_undefined()) fail(undefined_message(v));
    if (!v.is_number()) fail("TypeError: bad operand type for unary " + op + ": '" + type_name(v) + "'");
    if (v.is_float()) return Value::floating(op == "-" ? -v.as_double() : v.as_double());
    if (op == "-" && v.as_int() == INT64_MIN) overflow();
    return Value::integer(op == "-" ? -v.as_int() : v.as_int());
}

}  // namespace lumen::jinja
