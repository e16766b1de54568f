// lumen-cli generate's decoding strategies beside the sampling chain: beam search
// (--beams), contrastive decoding (--contrastive-amateur/--contrastive-layers) and
// early exit (--early-exit-*), each with its options declared once.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "runtime/engine.h"

namespace lumen::cli {

struct BeamArgs {
    int width = 0;  // 0: no beam search
    int n_return = 1;
    double length_penalty = 1.0;
    bool no_early_stopping = false;
};

struct ContrastiveArgs {
    std::string amateur_path;
    int amateur_layers = 0;
    double alpha = 0.1;
    double lambda = 1.0;
    double amateur_temperature = 1.0;
    bool enabled() const { return !amateur_path.empty() || amateur_layers > 0; }
};

struct EarlyExitArgs {
    double max_entropy = 0;  // 0: off
    int first_layer = 0;     // 0: half the model's layers
    int every = 1;
};

// --beams --beam-return --length-penalty --no-early-stopping; returns --beams.
CLI::Option* add_beam_options(CLI::App& app, BeamArgs& args);
// --contrastive-amateur --contrastive-layers --contrastive-alpha --contrastive-lambda
// --amateur-temperature; returns the two amateur options.
std::pair<CLI::Option*, CLI::Option*> add_contrastive_options(CLI::App& app, ContrastiveArgs& args);
// --early-exit-entropy --early-exit-first-layer --early-exit-every; returns --early-exit-entropy.
CLI::Option* add_early_exit_options(CLI::App& app, EarlyExitArgs& args);

// The rule for `engine`'s layer count; an error names the option that does not fit.
Result<EarlyExitRule> early_exit_rule(const EarlyExitArgs& args, const Engine& engine);

// Prints the hypotheses best first (or one JSON object); returns the exit code.
int run_beam_search(Engine& engine, const BeamArgs& args, const GenerationRequest& req, bool json);
// Prints the text (or one JSON object with the per-token trace); returns the exit code.
int run_contrastive(Engine& expert, const ContrastiveArgs& args, const GenerationRequest& req,
                    const EngineOptions& options, bool json);

}  // namespace lumen::cli
