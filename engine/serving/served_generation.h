// Generation through the serving core: one GenerationRequest submitted to a
// ServingEngine and stepped to completion, with the GenerationResult, statistics
// and token stream that Engine::generate gives. The command line's generate and
// chat run through it, as the workstation's replies run through the serving core,
// so stop strings, speculative drafts and early exit behave the same everywhere;
// at temperature 0 the output equals Engine::generate's token for token.
//
// How a front end calls it (lumen-cli generate and chat):
//
//   ServingEngine serving(engine, single_stream_serving_options(engine));  // once
//   GenerationRequest req;   // prompt, sampling, stop_strings, max_tokens, lookup_draft,
//                            // draft_engine/draft_tokens, lookup_adaptive, early_exit, ...
//   auto result = generate_served(serving, req, on_token, &cancel_flag, on_step);
//   // result: as Engine::generate's (ids, text, stop_reason, stats), stats.n_cached
//   // counting the prompt tokens the prefix cache supplied.
//
// A conversation keeps one ServingEngine for all its turns and leaves req.seq_id at -1:
// each turn's prompt (the whole conversation so far) finds the earlier turns' full KV
// blocks in the prefix cache, and only the rest is computed. Starting over needs
// nothing; the cache gives the old blocks back when the pool needs them.
#pragma once

#include <atomic>
#include <vector>

#include "runtime/engine.h"
#include "serving/serving_engine.h"

namespace lumen {

// Serving options under which one request at a time runs as Engine::generate runs it on
// the same engine: prompt chunks of the engine's max_batch_tokens (the same forward
// passes), the prefix cache on (for conversations), no ITL governor.
ServingOptions single_stream_serving_options(const Engine& engine);

// The ServeRequest for a GenerationRequest whose prompt is already tokenized. Errors for
// what the serving core cannot do: a kept sequence (seq_id >= 0; conversations reuse KV
// through the prefix cache instead), a negative max_tokens or draft length, a draft model
// with prompt lookup. A draft model's draft_tokens 0 means kDefaultDraftTokens.
Result<ServeRequest> to_serve_request(const GenerationRequest& request, const std::vector<int32_t>& prompt_ids);

// Tokenizes the request's prompt as Engine::generate does, submits it to `serving`, and
// steps until it finishes. Its tokens go to on_token with the text that is safe to show
// (held back while it may start a stop string or ends inside a UTF-8 character; the last
// event of a finished request carries the rest), its steps to on_step. `cancel` is checked
// after every step. A request with a draft_engine makes it the serving engine's draft
// model (refused while another request drafts with a different one). Other requests in
// flight on `serving` advance in the same steps; their results stay for their owners.
// max_tokens 0 returns the tokenized prompt without running a step.
Result<GenerationResult> generate_served(ServingEngine& serving, const GenerationRequest& request,
                                         const TokenCallback& on_token = {}, const std::atomic<bool>* cancel = nullptr,
                                         const StepCallback& on_step = {});

}  // namespace lumen
