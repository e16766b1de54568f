// lumen-cli generate's decoding strategies other than the sampling chain: beam
// search (--beams) and contrastive decoding (--contrastive-amateur/-layers).
#pragma once

#include "cli/args.h"
#include "runtime/engine.h"

namespace lumen::cli {

// Prints the hypotheses best first (or one JSON object); returns the exit code.
int run_beam_search(Engine& engine, const Args& args, const GenerationRequest& req, bool json);
// Prints the text (or one JSON object with the per-token trace); returns the exit code.
int run_contrastive(Engine& expert, const Args& args, const GenerationRequest& req, const EngineOptions& options,
                    bool json);

}  // namespace lumen::cli
