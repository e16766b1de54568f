// JSON in and out of the Jinja engine: the render context arrives as JSON
// (objects keep their key order, as Python dicts do), and the tojson filter
// writes JSON exactly as Python's json.dumps does with transformers' options.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>

#include "chat/jinja_value.h"

namespace lumen::jinja {

Value value_from_json(const nlohmann::ordered_json& json);

struct JsonDumpOptions {
    bool ensure_ascii = false;
    std::optional<std::string> indent;  // None: one line; otherwise the text of one level
    std::string item_separator = ", ";
    std::string key_separator = ": ";
    bool sort_keys = false;
};

// json.dumps(value, ...); TypeError for values JSON cannot hold (Undefined,
// generators, namespaces, functions).
std::string dump_json(const Value& value, const JsonDumpOptions& options);

}  // namespace lumen::jinja
