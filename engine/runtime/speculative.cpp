// Speculative decoding: the draft sources (prompt lookup, a draft model) and the
// verification of a draft.
#include "runtime/speculative.h"

#include <chrono>

namespace lumen {

std::vector<int32_t> prompt_lookup_draft(const std::vector<int32_t>& history, int32_t max_ngram, int32_t max_draft) {
    // The longest suffix (max_ngram tokens down to 1) that occurred before; the most recent
    // earlier occurrence's continuation is the draft.
    const int64_t len = int64_t(history.size());
    for (int64_t n = std::min<int64_t>(max_ngram, len - 1); n >= 1; --n) {
        const int32_t* suffix = history.data() + len - n;
        for (int64_t start = len - n - 1; start >= 0; --start) {
            if (!std::equal(suffix, suffix + n, history.data() + start)) continue;
            const int64_t from = start + n;
            const int64_t count = std::min<int64_t>(max_draft, len - from);
            if (count <= 0) continue;
            return std::vector<int32_t>(history.begin() + from, history.begin() + from + count);
        }
    }
    return {};
}

Result<std::vector<int32_t>> PromptLookupSource::propose(const std::vector<int32_t>& history, int32_t max_draft) {
    if (max_draft <= 0) return std::vector<int32_t>{};
    return prompt_lookup_draft(history, max_ngram_, max_draft);
}

Status check_same_vocabulary(const Engine& target, const Engine& draft, const std::string& role) {
    const Vocab& tv = target.tokenizer().vocab();
    const Vocab& dv = draft.tokenizer().vocab();
    const int32_t t_size = target.model().config.vocab_size, d_size = draft.model().config.vocab_size;
    // Logit rows, and the tokenizer's count where it differs (padded embeddings).
    auto count = [](int32_t rows, int32_t tokens) {
        return std::to_string(rows) + (rows == tokens ? "" : " (tokenizer " + std::to_string(tokens) + ")");
    };
    const std::string sizes =
        "the " + role + " has " + count(d_size, dv.size()) + " tokens, the target model " + count(t_size, tv.size());
    const std::string need = "; a " + role + " needs the target's vocabulary";
    if (t_size != d_size || tv.size() != dv.size()) return Status::error("vocabulary mismatch: " + sizes + need);
    // Every id: a draft token id is only a useful guess if it means the same text.
    for (int32_t id = 0; id < tv.size(); ++id)
        if (tv.tokens[size_t(id)] != dv.tokens[size_t(id)])
            return Status::error("vocabulary mismatch: token " + std::to_string(id) + " is '" + dv.tokens[size_t(id)] +
                                 "' in the " + role + " but '" + tv.tokens[size_t(id)] + "' in the target (" + sizes +
                                 ")" + need);
    if (tv.bos_id != dv.bos_id || tv.eos_id != dv.eos_id)
        return Status::error("vocabulary mismatch: BOS/EOS ids are " + std::to_string(dv.bos_id) + "/" +
                             std::to_string(dv.eos_id) + " in the " + role + " but " + std::to_string(tv.bos_id) + "/" +
                             std::to_string(tv.eos_id) + " in the target (" + sizes + ")" + need);
    return Status::ok();
}

Result<std::unique_ptr<DraftModelSource>> DraftModelSource::create(const Engine& target, Engine& draft) {
    LUMEN_TRY(check_same_vocabulary(target, draft));
    return std::unique_ptr<DraftModelSource>(new DraftModelSource(draft));
}

DraftModelSource::~DraftModelSource() {
    if (seq_ >= 0) draft_.free_sequence(seq_);
}

Result<std::vector<int32_t>> DraftModelSource::propose(const std::vector<int32_t>& history, int32_t max_draft) {
    const auto t0 = std::chrono::steady_clock::now();
    auto draft = propose_untimed(history, max_draft);
    draft_ms_ += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    return draft;
}

Result<std::vector<int32_t>> DraftModelSource::propose_untimed(const std::vector<int32_t>& history, int32_t max_draft) {
    std::vector<int32_t> draft;
    // The sequence will hold the history and every draft token but the last: cap the draft
    // by the draft pool's capacity, so that a long generation simply stops drafting.
    const int32_t capacity = draft_.kv().n_blocks() * draft_.kv().layout().block_size;
    max_draft = int32_t(std::min<int64_t>(max_draft, int64_t(capacity) - int64_t(history.size()) + 1));
    if (max_draft <= 0 || history.empty()) return draft;
    if (seq_ < 0) {
        auto seq = draft_.create_sequence();
        if (!seq) return seq.status();
        seq_ = seq.value();
    }
    // Keep the KV of the longest common prefix (the prompt and the accepted tokens; rejected
    // drafts go back to the pool), but recompute at least the last token: its logits start the draft.
    const auto& held = draft_.sequence_tokens(seq_);
    size_t keep = 0;
    while (keep + 1 < history.size() && keep < held.size() && held[keep] == history[keep]) ++keep;
    LUMEN_TRY(draft_.truncate_sequence(seq_, int32_t(keep)));
    // Catch up (the whole prompt the first time) in chunks of the draft engine's batch size.
    // A pool too short for it, e.g. shared with other sequences, means no draft this time.
    const size_t chunk = size_t(draft_.options().max_batch_tokens);
    for (size_t i = keep; i < history.size(); i += chunk) {
        const size_t end = std::min(history.size(), i + chunk);
        SequenceInput in;
        in.seq_id = seq_;
        in.tokens.assign(history.begin() + long(i), history.begin() + long(end));
        in.logits = end == history.size();
        Status s = draft_.step({in}, &logits_);
        if (s.code() == StatusCode::recoverable) return draft;
        LUMEN_TRY(s);
    }
    const int32_t n_vocab = draft_.model().config.vocab_size;
    for (;;) {
        // Greedy: a deterministic draft is what Sampler::verify_draft's rejection sampling assumes.
        draft.push_back(int32_t(std::max_element(logits_.begin(), logits_.begin() + n_vocab) - logits_.begin()));
        if (int32_t(draft.size()) >= max_draft) break;
        Status s = draft_.step({{seq_, {draft.back()}}}, &logits_);
        if (s.code() == StatusCode::recoverable) break;
        LUMEN_TRY(s);
    }
    return draft;
}

Result<DraftPlan> plan_drafts(const GenerationRequest& request, const Engine& target) {
    DraftPlan plan;
    if (request.draft_engine) {
        if (request.draft_tokens < 0)
            return Status::error("draft tokens must be >= 0 (0: " + std::to_string(kDefaultDraftTokens) + ")");
        if (request.lookup_draft > 0)
            return Status::error("a draft model and prompt-lookup drafts cannot be combined; choose one draft source");
        auto source = DraftModelSource::create(target, *request.draft_engine);
        if (!source) return source.status();
        plan.source = std::move(source.value());
        const int32_t k = request.draft_tokens > 0 ? request.draft_tokens : kDefaultDraftTokens;
        plan.length = DraftLengthPolicy(k, request.lookup_adaptive);
    } else if (request.lookup_draft > 0) {
        plan.source = std::make_unique<PromptLookupSource>(request.lookup_ngram);
        plan.length = DraftLengthPolicy(request.lookup_draft, request.lookup_adaptive);
    }
    return plan;
}

DraftVerdict verify_draft_tokens(Sampler& sampler, float* rows, int32_t n_vocab, const std::vector<int32_t>& history,
                                 const std::vector<int32_t>& draft) {
    DraftVerdict verdict;
    std::vector<int32_t> extended = history;  // the penalties see the accepted drafts
    for (const int32_t proposed : draft) {
        bool accepted = false;
        float* row = rows + verdict.tokens.size() * size_t(n_vocab);
        const int32_t token = sampler.verify_draft(row, n_vocab, extended, proposed, &accepted);
        verdict.tokens.push_back(token);
        if (!accepted) return verdict;
        ++verdict.n_accepted;
        extended.push_back(token);
    }
    float* after_draft = rows + draft.size() * size_t(n_vocab);
    verdict.tokens.push_back(sampler.sample(after_draft, n_vocab, extended));
    return verdict;
}

}  // namespace lumen
