// Quality measurement: perplexity over a token stream, chunked as llama.cpp's
// llama-perplexity does (so the figures compare), and, against a reference
// model on the same chunks, the KL divergence and top-1 agreement of the
// next-token distributions (llama-perplexity's KLD mode).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "runtime/engine.h"

namespace lumen {

struct EvalOptions {
    int32_t n_ctx = 512;      // tokens per chunk; the second half of each chunk is scored
    int32_t max_chunks = -1;  // -1: every whole chunk of the text
};

struct EvalResult {
    int32_t n_chunks = 0;
    int64_t n_scored = 0;                  // predictions scored
    double perplexity = 0;                 // exp(mean negative log-likelihood)
    double perplexity_error = 0;           // one standard error, as llama-perplexity prints it
    std::vector<double> chunk_perplexity;  // running estimate after each chunk
    // With a reference model:
    bool has_reference = false;
    double reference_perplexity = 0;
    double kld_mean = 0, kld_p99 = 0, kld_max = 0;  // KL(reference || model), nats per token
    double top1_agreement = 0;                      // share of positions where both pick the same token
};

// Scores `tokens` (BOS already at the front when the vocabulary adds one): chunk i is
// tokens[i·n_ctx, (i+1)·n_ctx) with its first token replaced by BOS (when the vocab
// adds one); logits at positions n_ctx/2 .. n_ctx-2 predict the next token. The
// reference, when given, sees the same chunks.
Result<EvalResult> evaluate_perplexity(Engine& model, const std::vector<int32_t>& tokens, const EvalOptions& options,
                                       Engine* reference = nullptr,
                                       const std::function<void(int32_t chunk, double ppl)>& on_chunk = {});

}  // namespace lumen
