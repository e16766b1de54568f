// Speculative decoding's draft side: where draft tokens come from and how many to
// ask for. Engine::generate verifies whatever a DraftSource proposes in one batched
// step with Sampler::verify_draft, so a source only affects speed, never the output
// distribution; the sources here are deterministic, as that verification requires.
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
        if (accepted == drafted) current_ = std::min(max_, current_ + 1);
        else if (accepted == 0) current_ = std::max(1, current_ / 2);
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

}  // namespace lumen
