// JSON in and out of the Jinja engine (see jinja_json.h).
#include "chat/jinja_json.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "chat/jinja_text.h"

namespace lumen::jinja {

Value value_from_json(const nlohmann::ordered_json& json) {
    using Type = nlohmann::ordered_json::value_t;
    switch (json.type()) {
        case Type::null: return Value::none();
        case Type::boolean: return Value::boolean(json.get<bool>());
        case Type::number_integer: return Value::integer(json.get<int64_t>());
        case Type::number_unsigned: {
            const uint64_t u = json.get<uint64_t>();
            if (u > static_cast<uint64_t>(INT64_MAX)) return Value::floating(static_cast<double>(u));
            return Value::integer(static_cast<int64_t>(u));
        }
        case Type::number_float: return Value::floating(json.get<double>());
        case Type::string: return Value::string(json.get<std::string>());
        case Type::array: {
            NestingGuard guard;
            std::vector<Value> items;
            items.reserve(json.size());
            for (const auto& item : json) items.push_back(value_from_json(item));
            return Value::list(std::move(items));
        }
        case Type::object: {
            NestingGuard guard;
            auto dict = std::make_shared<Dict>();
            dict->entries.reserve(json.size());
            for (const auto& [key, item] : json.items()) {
                Value value = value_from_json(item);
                dict->depth = std::max(dict->depth, value.depth() + 1);
                dict->entries.emplace_back(Value::string(key), std::move(value));
            }
            return Value::dict(std::move(dict));
        }
        default: fail("TypeError: the context holds a JSON value of an unsupported type");
    }
}

namespace {

void append_json_string(std::string& out, const std::string& s, bool ensure_ascii) {
    char buf[16];
    out += '"';
    for (char32_t c : utf8_decode(s)) {
        switch (c) {
            case '"': out += "\\\""; continue;
            case '\\': out += "\\\\"; continue;
            case '\n': out += "\\n"; continue;
            case '\r': out += "\\r"; continue;
            case '\t': out += "\\t"; continue;
            case '\b': out += "\\b"; continue;
            case '\f': out += "\\f"; continue;
            default: break;
        }
        if (c < 0x20 || (ensure_ascii && c >= 0x7F)) {
            if (c >= 0x10000) {  // a surrogate pair, as Python writes it
                const char32_t v = c - 0x10000;
                std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", static_cast<unsigned>(0xD800 + (v >> 10)),
                              static_cast<unsigned>(0xDC00 + (v & 0x3FF)));
            } else {
                std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
            }
            out += buf;
        } else {
            utf8_append(out, c);
        }
    }
    out += '"';
}

std::string json_float(double f) {
    if (std::isnan(f)) return "NaN";
    if (std::isinf(f)) return f < 0 ? "-Infinity" : "Infinity";
    return py_float_repr(f);
}

// A dict key as json.dumps converts it.
std::string json_key(const Value& key) {
    switch (key.kind()) {
        case ValueKind::string: return key.as_string();
        case ValueKind::boolean: return key.as_bool() ? "true" : "false";
        case ValueKind::none: return "null";
        case ValueKind::integer: return std::to_string(key.as_int());
        case ValueKind::floating: return json_float(key.as_double());
        default: fail("TypeError: keys must be str, int, float, bool or None, not " + type_name(key));
    }
}

class JsonWriter {
public:
    explicit JsonWriter(const JsonDumpOptions& options) : options_(options) {}

    void write(const Value& v, int level) {
        switch (v.kind()) {
            case ValueKind::none: out_ += "null"; return;
            case ValueKind::boolean: out_ += v.as_bool() ? "true" : "false"; return;
            case ValueKind::integer: out_ += std::to_string(v.as_int()); return;
            case ValueKind::floating: out_ += json_float(v.as_double()); return;
            case ValueKind::string: append_json_string(out_, v.as_string(), options_.ensure_ascii); return;
            case ValueKind::list:
                if (v.is_sequence_list()) return write_list(v.as_list().items, level);
                break;
            case ValueKind::dict:
                if (!v.is_namespace()) return write_dict(v.as_dict(), level);
                break;
            default: break;
        }
        fail("TypeError: Object of type " + type_name(v) + " is not JSON serializable");
    }

    std::string take() { return std::move(out_); }

private:
    void newline(int level) {
        if (!options_.indent) return;
        out_ += '\n';
        for (int i = 0; i < level; ++i) out_ += *options_.indent;
    }

    void write_list(const std::vector<Value>& items, int level) {
        NestingGuard guard;
        if (items.empty()) {
            out_ += "[]";
            return;
        }
        out_ += '[';
        for (size_t i = 0; i < items.size(); ++i) {
            if (i > 0) out_ += options_.item_separator;
            newline(level + 1);
            write(items[i], level + 1);
        }
        newline(level);
        out_ += ']';
    }

    void write_dict(const Dict& dict, int level) {
        NestingGuard guard;
        if (dict.entries.empty()) {
            out_ += "{}";
            return;
        }
        std::vector<std::pair<std::string, const Value*>> entries;
        for (const auto& [key, value] : dict.entries) entries.emplace_back(json_key(key), &value);
        if (options_.sort_keys) {
            std::stable_sort(entries.begin(), entries.end(),
                             [](const auto& a, const auto& b) { return a.first < b.first; });
        }
        out_ += '{';
        for (size_t i = 0; i < entries.size(); ++i) {
            if (i > 0) out_ += options_.item_separator;
            newline(level + 1);
            append_json_string(out_, entries[i].first, options_.ensure_ascii);
            out_ += options_.key_separator;
            write(*entries[i].second, level + 1);
        }
        newline(level);
        out_ += '}';
    }

    const JsonDumpOptions& options_;
    std::string out_;
};

}  // namespace

std::string dump_json(const Value& value, const JsonDumpOptions& options) {
    JsonWriter writer(options);
    writer.write(value, 0);
    return writer.take();
}

}  // namespace lumen::jinja
