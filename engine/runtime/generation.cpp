// Engine::generate: one request on one sequence, fresh or kept. The prompt is fed
// in chunks of max_batch_tokens, then one token per step, or a token with a draft
// verified in the same step (speculative decoding). Stop strings go through
// StopStringMatcher and drafts through verify_draft_tokens, the routines the
// serving core uses too, so both paths give the same output.
#include <algorithm>
#include <chrono>
#include <deque>

#include "runtime/engine.h"
#include "runtime/speculative.h"
#include "runtime/stop_strings.h"

namespace lumen {

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// One call of Engine::generate: its sequence, sampler, text and statistics.
class SequenceGeneration {
public:
    SequenceGeneration(Engine& engine, const GenerationRequest& request, const TokenCallback& on_token,
                       const std::atomic<bool>* cancel, const StepCallback& on_step)
        : engine_(engine),
          request_(request),
          on_token_(on_token),
          cancel_(cancel),
          on_step_(on_step),
          sampler_(request.sampling),
          text_(request.stop_strings) {}
    ~SequenceGeneration() {
        if (seq_ >= 0 && !keep_sequence_) engine_.free_sequence(seq_);
    }
    Result<GenerationResult> run();

private:
    Status prepare();
    Status open_sequence();
    Status prefill(bool* was_cancelled);
    Status decode();
    int32_t next_token();
    // Records a chosen token, streams it, and says why it ends the generation ("" if not).
    std::string accept(int32_t token, int32_t index);
    // Feeds the token with a draft when speculating, then verifies the draft.
    Status feed(int32_t token, int32_t index, bool* context_full);
    Status timed_step(std::vector<int32_t> tokens, bool prefill, bool all_logits = false);
    Status drop_undecided_kv();
    void finish_stats();
    bool cancelled() const { return cancel_ && cancel_->load(); }

    Engine& engine_;
    const GenerationRequest& request_;
    const TokenCallback& on_token_;
    const std::atomic<bool>* cancel_;
    const StepCallback& on_step_;
    const Clock::time_point t0_ = Clock::now();
    Clock::time_point first_token_time_;
    GenerationResult result_;
    DraftPlan drafts_;
    Sampler sampler_;
    StopStringMatcher text_;
    bool keep_sequence_ = false;
    int32_t seq_ = -1;
    int32_t n_steps_ = 0;
    std::vector<float> logits_;
    std::vector<int32_t> history_;  // the prompt and every token decided so far
    std::deque<int32_t> decided_;   // tokens a verified draft decided, not yet emitted (all but the last in the KV)
};

Result<GenerationResult> SequenceGeneration::run() {
    LUMEN_TRY(prepare());
    LUMEN_TRY(open_sequence());
    bool was_cancelled = false;
    LUMEN_TRY(prefill(&was_cancelled));
    if (was_cancelled) {
        result_.stop_reason = "cancelled";
        return std::move(result_);
    }
    LUMEN_TRY(decode());
    finish_stats();
    return std::move(result_);
}

// Everything that can be wrong with the request, checked before any sequence exists.
Status SequenceGeneration::prepare() {
    auto ids = engine_.tokenize_prompt(request_);
    if (!ids) return ids.status();
    result_.prompt_ids = std::move(ids.value());
    if (request_.max_tokens < 0) return Status::error("max tokens must be >= 0");
    if (request_.top_logprobs >= 0)
        return Status::error("token log-probabilities are reported through the serving core (generate_served)");
    const int32_t layers = engine_.model().config.n_layers;
    LUMEN_TRY(check_early_exit(request_.early_exit, request_.lookup_draft > 0 || request_.draft_engine, layers));
    if (request_.early_exit.enabled()) result_.stats.exit_layer_counts.assign(size_t(layers) + 1, 0);
    // The plan's source owns the draft model's sequence and frees it on every return path.
    auto drafts = plan_drafts(request_, engine_);
    if (!drafts) return drafts.status();
    drafts_ = std::move(drafts.value());
    return Status::ok();
}

// A fresh sequence, or the kept one: the KV of the longest common prefix of its tokens
// and the prompt is reused, but the last prompt token is always recomputed because its
// logits start the generation.
Status SequenceGeneration::open_sequence() {
    keep_sequence_ = request_.seq_id >= 0;
    if (!keep_sequence_) {
        auto seq = engine_.create_sequence();
        if (!seq) return seq.status();
        seq_ = seq.value();
        return Status::ok();
    }
    if (!engine_.kv().has_sequence(request_.seq_id))
        return Status::error("sequence " + std::to_string(request_.seq_id) + " does not exist");
    seq_ = request_.seq_id;
    const auto& ids = result_.prompt_ids;
    const auto& held = engine_.sequence_tokens(seq_);
    size_t reused = 0;
    while (reused + 1 < ids.size() && reused < held.size() && held[reused] == ids[reused]) ++reused;
    LUMEN_TRY(engine_.truncate_sequence(seq_, int32_t(reused)));
    result_.stats.n_cached = int32_t(reused);
    return Status::ok();
}

// The prompt in chunks of max_batch_tokens; logits only for its last token.
Status SequenceGeneration::prefill(bool* was_cancelled) {
    const auto& ids = result_.prompt_ids;
    const size_t reused = size_t(result_.stats.n_cached);
    const size_t chunk = size_t(engine_.options().max_batch_tokens);
    for (size_t i = reused; i < ids.size(); i += chunk) {
        const size_t end = std::min(ids.size(), i + chunk);
        LUMEN_TRY(timed_step(std::vector<int32_t>(ids.begin() + long(i), ids.begin() + long(end)), true));
        if (cancelled()) {
            *was_cancelled = true;
            return Status::ok();
        }
    }
    const double prefill_ms = ms_since(t0_);
    result_.stats.n_prompt = int32_t(ids.size());
    result_.stats.prefill_tps = prefill_ms > 0 ? 1000.0 * double(ids.size() - reused) / prefill_ms : 0;
    return Status::ok();
}

Status SequenceGeneration::decode() {
    history_ = result_.prompt_ids;
    result_.stop_reason = "max_tokens";
    for (int32_t n = 0; n < request_.max_tokens; ++n) {
        const int32_t next = next_token();
        if (n == 0) {
            first_token_time_ = Clock::now();
            result_.stats.ttft_ms = ms_since(t0_);
        }
        std::string reason = accept(next, n);
        if (reason.empty() && cancelled()) reason = "cancelled";
        if (!reason.empty()) {
            result_.stop_reason = reason;
            break;
        }
        if (!decided_.empty()) continue;  // accepted drafts: their KV is already there
        bool context_full = false;
        LUMEN_TRY(feed(next, n, &context_full));
        if (context_full) {
            result_.stop_reason = "context_full";
            break;
        }
    }
    return drop_undecided_kv();
}

int32_t SequenceGeneration::next_token() {
    if (decided_.empty()) return sampler_.sample(logits_.data(), engine_.model().config.vocab_size, history_);
    const int32_t token = decided_.front();
    decided_.pop_front();
    return token;
}

std::string SequenceGeneration::accept(int32_t token, int32_t index) {
    const Tokenizer& tok = engine_.tokenizer();
    result_.ids.push_back(token);
    history_.push_back(token);
    std::string reason;
    if (request_.stop_at_eos && tok.is_end_of_generation(token))
        reason = "eos";
    else if (text_.append(tok.decode_token(token)))
        reason = "stop_string";
    else if (index + 1 == request_.max_tokens)
        reason = "max_tokens";
    if (on_token_) {
        TokenEvent ev;
        ev.id = token;
        ev.index = index;
        ev.elapsed_ms = ms_since(t0_);
        ev.text = text_.release(!reason.empty());
        on_token_(ev);
    }
    return reason;
}

Status SequenceGeneration::feed(int32_t token, int32_t index, bool* context_full) {
    // Drafts never reach past max_tokens or the KV capacity, so they cannot end a
    // generation that plain decoding would continue.
    const int32_t room =
        std::min(request_.max_tokens - index - 2, engine_.kv_capacity() - engine_.kv().length(seq_) - 1);
    std::vector<int32_t> draft;
    if (drafts_.source && room > 0) {
        auto proposed = drafts_.source->propose(history_, std::min(drafts_.length.current(), room));
        if (!proposed) return proposed.status();
        draft = std::move(proposed.value());
    }
    std::vector<int32_t> tokens = {token};
    tokens.insert(tokens.end(), draft.begin(), draft.end());
    Status s = timed_step(std::move(tokens), false, !draft.empty());
    if (s.code() == StatusCode::recoverable && !draft.empty()) {  // the pool is short: no draft this step
        draft.clear();
        s = timed_step({token}, false);
    }
    if (s.code() == StatusCode::recoverable) {
        *context_full = true;
        return Status::ok();
    }
    LUMEN_TRY(s);
    if (draft.empty()) return Status::ok();
    const DraftVerdict verdict =
        verify_draft_tokens(sampler_, logits_.data(), engine_.model().config.vocab_size, history_, draft);
    count_verdict(result_.stats, draft.size(), verdict);
    drafts_.length.update(draft.size(), verdict.n_accepted);
    decided_.assign(verdict.tokens.begin(), verdict.tokens.end());
    const int32_t rejected = int32_t(draft.size() - verdict.n_accepted);
    if (rejected > 0) LUMEN_TRY(engine_.truncate_sequence(seq_, engine_.kv().length(seq_) - rejected));
    return Status::ok();
}

Status SequenceGeneration::timed_step(std::vector<int32_t> tokens, bool prefill, bool all_logits) {
    const auto ts = Clock::now();
    const int32_t n = int32_t(tokens.size());
    const bool early_exit = !prefill && request_.early_exit.enabled();
    StepOptions options;
    if (early_exit) options.early_exit = request_.early_exit;
    Status s = engine_.step({{seq_, std::move(tokens), all_logits}}, &logits_, options);
    if (s.is_ok() && early_exit) ++result_.stats.exit_layer_counts[size_t(engine_.backend().last_exit_layer())];
    if (s.is_ok() && on_step_) {
        StepEvent ev;
        ev.step = n_steps_;
        ev.prefill = prefill;
        ev.n_tokens = n;
        ev.step_ms = ms_since(ts);
        ev.elapsed_ms = ms_since(t0_);
        on_step_(ev);
    }
    ++n_steps_;
    return s;
}

// A kept sequence holds exactly the prompt and the emitted tokens but the last (the KV
// of accepted drafts beyond a stop is dropped), as without speculation.
Status SequenceGeneration::drop_undecided_kv() {
    if (!keep_sequence_ || decided_.empty()) return Status::ok();
    const int32_t emitted = int32_t(result_.prompt_ids.size() + result_.ids.size()) - 1;
    if (engine_.kv().length(seq_) > emitted) LUMEN_TRY(engine_.truncate_sequence(seq_, emitted));
    return Status::ok();
}

void SequenceGeneration::finish_stats() {
    result_.text = text_.text();
    result_.stats.n_gen = int32_t(result_.ids.size());
    if (drafts_.source) result_.stats.draft_ms = drafts_.source->draft_ms();
    if (result_.ids.size() > 1) {
        const double decode_ms = ms_since(first_token_time_);
        result_.stats.decode_tps = decode_ms > 0 ? 1000.0 * double(result_.ids.size() - 1) / decode_ms : 0;
    }
}

}  // namespace

Result<std::vector<int32_t>> Engine::tokenize_prompt(const GenerationRequest& request) const {
    std::vector<int32_t> ids = request.prompt_ids;
    if (ids.empty()) {
        const Tokenizer& tok = tokenizer();
        const bool add_bos = request.add_bos < 0 ? tok.vocab().add_bos : request.add_bos != 0;
        ids = tok.encode(request.prompt, add_bos, request.parse_special);
    }
    if (ids.empty()) return Status::error("the prompt is empty after tokenization; expected at least one token");
    if (int32_t(ids.size()) >= kv_capacity())
        return Status::error("the prompt has " + std::to_string(ids.size()) + " tokens but the KV cache holds " +
                             std::to_string(kv_capacity()) + "; use a larger context");
    return ids;
}

Status check_early_exit(const EarlyExitRule& rule, bool speculative, int32_t n_layers) {
    if (!rule.enabled()) return Status::ok();
    if (speculative) return Status::error("early exit cannot be combined with speculative decoding; choose one");
    return rule.validate(n_layers);
}

Result<GenerationResult> Engine::generate(const GenerationRequest& request, const TokenCallback& on_token,
                                          const std::atomic<bool>* cancel, const StepCallback& on_step) {
    return SequenceGeneration(*this, request, on_token, cancel, on_step).run();
}

}  // namespace lumen
