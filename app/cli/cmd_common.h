// Options shared by the model-running subcommands.
#pragma once

#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "cli/args.h"
#include "runtime/engine.h"

namespace lumen::cli {

// --temperature --top-k --top-p --min-p --repeat-penalty --presence-penalty --frequency-penalty --seed
extern const std::set<std::string> kSamplingOptions;
Result<SamplingParams> parse_sampling(const Args& args);
// --threads --ctx --kv/--kv-type --device --weights --weights-mix --gptq --calib --calib-samples --calib-tokens
Result<EngineOptions> parse_engine_options(const Args& args, bool gptq_implied = false);
// The per-matrix RTN/GPTQ errors of calibrated quantization, with their summary (cmd_calibrate.cpp).
nlohmann::json calibration_report_json(const CalibrationReport& report);

}  // namespace lumen::cli
