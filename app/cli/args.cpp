// Option parsing with range checks.
#include "cli/args.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace lumen::cli {

Result<Args> Args::parse(const std::vector<std::string>& argv, const std::set<std::string>& valued,
                         const std::set<std::string>& flags) {
    Args a;
    for (size_t i = 0; i < argv.size(); ++i) {
        const std::string& arg = argv[i];
        if (valued.count(arg)) {
            if (i + 1 >= argv.size()) return Status::error("option " + arg + " expects a value");
            a.values_[arg] = argv[++i];
        } else if (flags.count(arg)) {
            a.flags_.insert(arg);
        } else {
            std::string known;
            for (const auto& v : valued) known += " " + v;
            for (const auto& f : flags) known += " " + f;
            return Status::error("unknown option '" + arg + "'; expected one of:" + known);
        }
    }
    return a;
}

std::string Args::get(const std::string& name, const std::string& fallback) const {
    auto it = values_.find(name);
    return it == values_.end() ? fallback : it->second;
}

Result<std::string> Args::required(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end()) return Status::error("missing required option " + name);
    return it->second;
}

Result<long long> Args::get_int(const std::string& name, long long fallback, long long lo, long long hi) const {
    auto it = values_.find(name);
    if (it == values_.end()) return fallback;
    errno = 0;
    char* end = nullptr;
    const long long v = std::strtoll(it->second.c_str(), &end, 10);
    if (errno || end == it->second.c_str() || *end != '\0' || v < lo || v > hi)
        return Status::error("option " + name + " is '" + it->second + "', expected an integer in " + std::to_string(lo) +
                             ".." + std::to_string(hi));
    return v;
}

Result<double> Args::get_double(const std::string& name, double fallback, double lo, double hi) const {
    auto it = values_.find(name);
    if (it == values_.end()) return fallback;
    errno = 0;
    char* end = nullptr;
    const double v = std::strtod(it->second.c_str(), &end);
    if (errno || end == it->second.c_str() || *end != '\0' || !std::isfinite(v) || v < lo || v > hi)
        return Status::error("option " + name + " is '" + it->second + "', expected a number in " + std::to_string(lo) +
                             ".." + std::to_string(hi));
    return v;
}

}  // namespace lumen::cli
