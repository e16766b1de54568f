// Speculative decoding: where draft tokens come from, how many to ask for, and the
// one routine that verifies a draft (verify_draft_tokens), used by Engine::generate
// and the serving core alike. Verification is rejection sampling, so a source only
// affects speed, never the output distribution; the sources here are deterministic,
// as that verification requires.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "runtime/engine.h"

namespace lumen {

class DraftSource {
public:
    virtual ~DraftSource() = default;
    // Up to max_draft tokens guessed to follow `history`: the prompt and every token decided
    // so far, whose last token is about to be fed to the target. Rejected tokens of earlier
    // drafts are not in it. Empty: plain decoding for this step.
    virtual Result<std::vector<int32_t>> propose(const std::vector<int32_t>& history, int32_t max_draft) = 0;
    // Wall time spent producing drafts so far.
    virtual double draft_ms() const { return 0; }
};

// Drafts from the context itself: see GenerationRequest::lookup_draft.
class PromptLookupSource final : public DraftSource {
public:
    explicit PromptLookupSource(int32_t max_ngram) : max_ngram_(max_ngram) {}
    Result<std::vector<int32_t>> propose(const std::vector<int32_t>& history, int32_t max_draft) override;

private:
    int32_t max_ngram_;
};

// Drafts from a smaller model with the same vocabulary: see GenerationRequest::draft_engine.
// It keeps one sequence on the draft engine, created on the first proposal and freed by the
// destructor. Each proposal first brings that sequence in line with `history` (keeping the
// KV of the common prefix, i.e. the accepted drafts, and feeding what the target decided
// since), then extends it greedily one token per step.
class DraftModelSource final : public DraftSource {
public:
    // Fails unless the two engines share one vocabulary (check_same_vocabulary).
    static Result<std::unique_ptr<DraftModelSource>> create(const Engine& target, Engine& draft);
    ~DraftModelSource() override;
    Result<std::vector<int32_t>> propose(const std::vector<int32_t>& history, int32_t max_draft) override;
    double draft_ms() const override { return draft_ms_; }

private:
    explicit DraftModelSource(Engine& draft) : draft_(draft) {}
    Result<std::vector<int32_t>> propose_untimed(const std::vector<int32_t>& history, int32_t max_draft);
    Engine& draft_;
    int32_t seq_ = -1;
    std::vector<float> logits_;
    double draft_ms_ = 0;
};

// The same vocabulary: equal logit rows, the same text for every token id, the same BOS/EOS.
// The error names both vocabulary sizes and what the second model is for (`role`).
Status check_same_vocabulary(const Engine& target, const Engine& draft, const std::string& role = "draft model");

// How many tokens to draft: fixed at `max`, or adaptive: one more after a step that accepted
// the whole draft, half as many after one that accepted none (always between 1 and max).
// Adaptive starts at 2, so a source that rarely matches costs little from the start.
class DraftLengthPolicy {
public:
    DraftLengthPolicy(int32_t max, bool adaptive)
        : max_(max), adaptive_(adaptive), current_(adaptive ? std::min(2, max) : max) {}
    int32_t current() const { return current_; }
    void update(size_t drafted, size_t accepted) {
        if (!adaptive_ || drafted == 0) return;
        if (accepted == drafted)
            current_ = std::min(max_, current_ + 1);
        else if (accepted == 0)
            current_ = std::max(1, current_ / 2);
    }

private:
    int32_t max_;
    bool adaptive_;
    int32_t current_;
};

// The draft source a request asks for (null: none) with its draft length policy, or an
// error for an inconsistent request (both sources, a negative length, another vocabulary).
struct DraftPlan {
    std::unique_ptr<DraftSource> source;
    DraftLengthPolicy length{0, false};
};
Result<DraftPlan> plan_drafts(const GenerationRequest& request, const Engine& target);

// ------------------------------------------------------------------ verification

// What verifying one draft decided: the accepted draft tokens, then one more token,
// either the replacement drawn at the first rejected position or, when the whole
// draft was accepted, a token sampled from the row after the last draft token.
struct DraftVerdict {
    std::vector<int32_t> tokens;  // n_accepted draft tokens, then the one more token
    size_t n_accepted = 0;
};

// The one draft-verification routine of speculative decoding (Engine::generate and the
// serving core both call it). The target fed the last decided token followed by the
// draft in one step; rows holds that step's draft.size() + 1 logit rows, row i following
// the i-th fed token. Each draft token goes through Sampler::verify_draft (rejection
// sampling) with the history it would extend; the first rejection ends the verdict.
// The output is therefore distributed exactly as plain sampling's, and at temperature 0
// it is plain greedy's. The rows are modified (the sampler's penalties).
DraftVerdict verify_draft_tokens(Sampler& sampler, float* rows, int32_t n_vocab, const std::vector<int32_t>& history,
                                 const std::vector<int32_t>& draft);

// Adds one verdict to speculative statistics: GenerationStats and RequestMetrics both
// carry n_drafted, n_draft_accepted, n_verify_steps and draft_accepted_at.
template <class Stats>
void count_verdict(Stats& stats, size_t n_drafted, const DraftVerdict& verdict) {
    const size_t examined = std::min(n_drafted, verdict.n_accepted + 1);
    if (stats.draft_accepted_at.size() < examined) stats.draft_accepted_at.resize(examined, 0);
    for (size_t i = 0; i < verdict.n_accepted; ++i) ++stats.draft_accepted_at[i];
    stats.n_drafted += int32_t(n_drafted);
    stats.n_draft_accepted += int32_t(verdict.n_accepted);
    ++stats.n_verify_steps;
}

}  // namespace lumen
