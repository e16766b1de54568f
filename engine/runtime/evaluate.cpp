// evaluate_perplexity: chunked scoring, log-softmax in double, KLD statistics.
#include "runtime/evaluate.h"

#include <algorithm>
#include <cmath>

namespace lumen {

namespace {

// Logits of positions [first, n_ctx) of one chunk: the prefix without logits, then the
// rest with every row, in pieces of at most the engine's batch size.
Status chunk_logits(Engine& e, const std::vector<int32_t>& chunk, int32_t first, std::vector<float>* rows) {
    auto seq = e.create_sequence();
    if (!seq) return seq.status();
    struct Guard {
        Engine& e;
        int32_t id;
        ~Guard() { e.free_sequence(id); }
    } guard{e, seq.value()};
    const int32_t step = std::max(1, e.options().max_batch_tokens);
    std::vector<float> logits;
    rows->clear();
    for (int32_t at = 0; at < int32_t(chunk.size());) {
        const int32_t end =
            std::min<int32_t>(int32_t(chunk.size()), at < first ? std::min(first, at + step) : at + step);
        SequenceInput in;
        in.seq_id = seq.value();
        in.tokens.assign(chunk.begin() + at, chunk.begin() + end);
        in.all_logits = at >= first;
        in.logits = at >= first;
        LUMEN_TRY(e.step({in}, &logits));
        if (in.logits) rows->insert(rows->end(), logits.begin(), logits.end());
        at = end;
    }
    return Status::ok();
}

// log-softmax of one row, in double.
void log_softmax(const float* logits, int32_t n, std::vector<double>* out) {
    out->resize(size_t(n));
    const double mx = *std::max_element(logits, logits + n);
    double sum = 0;
    for (int32_t i = 0; i < n; ++i) sum += std::exp(double(logits[i]) - mx);
    const double log_sum = mx + std::log(sum);
    for (int32_t i = 0; i < n; ++i) (*out)[size_t(i)] = double(logits[i]) - log_sum;
}

}  // namespace

Result<EvalResult> evaluate_perplexity(Engine& model, const std::vector<int32_t>& tokens, const EvalOptions& options,
                                       Engine* reference, const std::function<void(int32_t, double)>& on_chunk) {
    const int32_t n_ctx = options.n_ctx;
    if (n_ctx < 4) return Status::error("eval context " + std::to_string(n_ctx) + " is too small; expected at least 4");
    const int32_t capacity = model.kv().n_blocks() * model.kv().layout().block_size;
    if (n_ctx > capacity)
        return Status::error("eval context " + std::to_string(n_ctx) + " exceeds the KV cache of " +
                             std::to_string(capacity) + " tokens; load with a larger context");
    if (int64_t(tokens.size()) < 2 * int64_t(n_ctx))
        return Status::error("the text has " + std::to_string(tokens.size()) + " tokens; expected at least " +
                             std::to_string(2 * n_ctx) + " (two chunks of " + std::to_string(n_ctx) + ")");
    const int32_t vocab = model.model().config.vocab_size;
    if (reference && reference->model().config.vocab_size != vocab)
        return Status::error("the reference model has " + std::to_string(reference->model().config.vocab_size) +
                             " tokens in its vocabulary, the model " + std::to_string(vocab) + "; expected the same");
    int32_t n_chunks = int32_t(tokens.size() / size_t(n_ctx));
    if (options.max_chunks >= 0) n_chunks = std::min(n_chunks, options.max_chunks);
    const int32_t first = n_ctx / 2;
    const Vocab& v = model.tokenizer().vocab();

    EvalResult r;
    r.has_reference = reference != nullptr;
    double nll = 0, nll2 = 0, ref_nll = 0;
    int64_t agree = 0;
    std::vector<double> klds;
    std::vector<float> rows, ref_rows;
    std::vector<double> lp, ref_lp;
    for (int32_t c = 0; c < n_chunks; ++c) {
        std::vector<int32_t> chunk(tokens.begin() + int64_t(c) * n_ctx, tokens.begin() + int64_t(c + 1) * n_ctx);
        if (v.add_bos && v.bos_id >= 0) chunk[0] = v.bos_id;
        LUMEN_TRY(chunk_logits(model, chunk, first, &rows));
        if (reference) LUMEN_TRY(chunk_logits(*reference, chunk, first, &ref_rows));
        for (int32_t j = 0; j + first + 1 < n_ctx; ++j) {
            const int32_t next = chunk[size_t(first + j + 1)];
            log_softmax(rows.data() + size_t(j) * vocab, vocab, &lp);
            const double l = -lp[size_t(next)];
            nll += l;
            nll2 += l * l;
            ++r.n_scored;
            if (!reference) continue;
            log_softmax(ref_rows.data() + size_t(j) * vocab, vocab, &ref_lp);
            ref_nll += -ref_lp[size_t(next)];
            double kld = 0;
            for (int32_t t = 0; t < vocab; ++t) {
                const double p = std::exp(ref_lp[size_t(t)]);
                if (p > 0) kld += p * (ref_lp[size_t(t)] - lp[size_t(t)]);
            }
            klds.push_back(std::max(0.0, kld));
            const auto top = std::max_element(lp.begin(), lp.end()) - lp.begin();
            const auto ref_top = std::max_element(ref_lp.begin(), ref_lp.end()) - ref_lp.begin();
            agree += top == ref_top;
        }
        r.chunk_perplexity.push_back(std::exp(nll / double(r.n_scored)));
        if (on_chunk) on_chunk(c, r.chunk_perplexity.back());
    }
    r.n_chunks = n_chunks;
    const double mean = nll / double(r.n_scored);
    r.perplexity = std::exp(mean);
    const double var = nll2 / double(r.n_scored) - mean * mean;
    r.perplexity_error = var > 0 ? std::sqrt(var / double(r.n_scored - 1)) * r.perplexity : 0;
    if (reference) {
        r.reference_perplexity = std::exp(ref_nll / double(r.n_scored));
        std::sort(klds.begin(), klds.end());
        double sum = 0;
        for (double k : klds) sum += k;
        r.kld_mean = sum / double(klds.size());
        r.kld_p99 = klds[std::min(klds.size() - 1, size_t(0.99 * double(klds.size() - 1) + 0.5))];
        r.kld_max = klds.back();
        r.top1_agreement = double(agree) / double(r.n_scored);
    }
    return r;
}

}  // namespace lumen
