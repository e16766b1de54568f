// Options shared by the model-running subcommands.
#pragma once

#include <set>
#include <string>

#include "cli/args.h"
#include "runtime/engine.h"

namespace lumen::cli {

// --temperature --top-k --top-p --min-p --repeat-penalty --presence-penalty --frequency-penalty --seed
extern const std::set<std::string> kSamplingOptions;
Result<SamplingParams> parse_sampling(const Args& args);
// --threads --ctx --kv-type --device
Result<EngineOptions> parse_engine_options(const Args& args);

}  // namespace lumen::cli
