// Minimal command-line option parsing for lumen-cli: "--name value" pairs and
// flags, with errors that name the bad option and what was expected.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/status.h"

namespace lumen::cli {

class Args {
public:
    // `valued` options take a value, `flags` take none; anything else is an error.
    static Result<Args> parse(const std::vector<std::string>& argv, const std::set<std::string>& valued,
                              const std::set<std::string>& flags);

    bool has(const std::string& name) const { return values_.count(name) || flags_.count(name); }
    std::string get(const std::string& name, const std::string& fallback = "") const;
    Result<std::string> required(const std::string& name) const;
    Result<long long> get_int(const std::string& name, long long fallback, long long lo, long long hi) const;
    Result<double> get_double(const std::string& name, double fallback, double lo, double hi) const;

private:
    std::map<std::string, std::string> values_;
    std::set<std::string> flags_;
};

}  // namespace lumen::cli
