// ServingEngine's speculative decoding: drafts for decode chunks (prompt lookup,
// or a draft model batched over the requests that use it) within the step's spare
// budget, and their verification through verify_draft_tokens, the routine
// Engine::generate uses too.
#include <algorithm>

#include "runtime/speculative.h"
#include "serving/serving_engine.h"

namespace lumen {

int32_t ServingEngine::draft_room(const RequestState& r, int32_t spare) const {
    const bool drafts = r.request.lookup_draft > 0 || (options_.draft_engine && r.request.draft_model_tokens > 0);
    if (!drafts || spare <= 0) return 0;
    // Drafts never reach past max_tokens or the pool, so they cannot end a request that
    // plain decoding would continue: at most all drafts and one more token are emitted,
    // and the KV holds the tokens but the last (Engine::generate's limits exactly, so
    // both draw the same drafts and, sampling, the same random numbers).
    return std::max(0, std::min({r.draft_length.current(), spare, r.request.max_tokens - r.n_generated() - 1,
                                 engine_.kv_capacity() - int32_t(r.tokens.size())}));
}

bool ServingEngine::reserve_draft(RequestState& r, const std::vector<int32_t>& draft) {
    // The decode's own token is reserved already; the drafts need room after it.
    return reserve(r, 1 + int32_t(draft.size()));
}

void ServingEngine::propose_drafts(const StepPlan& plan, StepWork& work) {
    work.drafts.assign(plan.chunks.size(), {});
    int32_t spare = options_.scheduler.max_batch_tokens - plan.n_prefill_tokens - plan.n_decode_tokens;
    std::vector<RequestState*> model_drafted;
    std::vector<int32_t> model_rooms;
    std::vector<std::vector<int32_t>*> model_drafts;
    for (size_t i = 0; i < plan.chunks.size(); ++i) {
        RequestState& r = *plan.chunks[i].request;
        if (!work.decodes[i]) continue;
        const int32_t room = draft_room(r, spare);
        if (room <= 0) continue;
        if (r.request.lookup_draft > 0) {
            work.drafts[i] = prompt_lookup_draft(r.tokens, r.request.lookup_ngram, room);
            spare -= int32_t(work.drafts[i].size());
        } else {
            model_drafted.push_back(&r);
            model_rooms.push_back(room);
            model_drafts.push_back(&work.drafts[i]);
            spare -= room;
        }
    }
    if (model_drafted.empty()) return;
    const double before = now_ms();
    propose_with_draft_model(model_drafted, model_rooms, model_drafts);
    for (RequestState* r : model_drafted) r->metrics.draft_ms += now_ms() - before;
}

void ServingEngine::propose_with_draft_model(const std::vector<RequestState*>& requests,
                                             const std::vector<int32_t>& rooms,
                                             std::vector<std::vector<int32_t>*>& drafts) {
    Engine& d = *options_.draft_engine;
    const int32_t vocab = d.model().config.vocab_size;
    std::vector<float> logits;
    auto argmax = [&](size_t row) {
        const float* p = logits.data() + row * size_t(vocab);
        return int32_t(std::max_element(p, p + vocab) - p);
    };
    // Catch up: each draft sequence keeps what it shares with the request's tokens and is
    // fed the rest, the last token included, whose logits give the first draft token.
    std::vector<SequenceInput> inputs;
    std::vector<size_t> active;
    for (size_t i = 0; i < requests.size(); ++i) {
        RequestState& r = *requests[i];
        if (r.draft_seq < 0) {
            auto seq = d.create_sequence();
            if (!seq) continue;
            r.draft_seq = seq.value();
        }
        const std::vector<int32_t>& held = d.sequence_tokens(r.draft_seq);
        size_t common = 0;
        while (common < held.size() && common + 1 < r.tokens.size() && held[common] == r.tokens[common]) ++common;
        if (!d.truncate_sequence(r.draft_seq, int32_t(common)).is_ok()) continue;
        SequenceInput in;
        in.seq_id = r.draft_seq;
        in.tokens.assign(r.tokens.begin() + long(common), r.tokens.end());
        inputs.push_back(std::move(in));
        active.push_back(i);
    }
    if (inputs.empty() || !d.step(inputs, &logits).is_ok()) return;  // a full draft pool: no drafts this step
    for (size_t j = 0; j < active.size(); ++j) drafts[active[j]]->push_back(argmax(j));
    // Then one greedy token per step for the requests that want more.
    for (int32_t round = 1;; ++round) {
        inputs.clear();
        std::vector<size_t> next;
        for (size_t i : active)
            if (rooms[i] > round) {
                inputs.push_back({requests[i]->draft_seq, {drafts[i]->back()}});
                next.push_back(i);
            }
        if (inputs.empty() || !d.step(inputs, &logits).is_ok()) return;
        for (size_t j = 0; j < next.size(); ++j) drafts[next[j]]->push_back(argmax(j));
        active = next;
    }
}

Status ServingEngine::verify_draft(RequestState& r, const std::vector<int32_t>& draft, float* rows, double t,
                                   StepMetrics& m, int32_t& sampled) {
    const int32_t vocab = engine_.model().config.vocab_size;
    const int32_t bs = engine_.kv().layout().block_size;
    const int32_t computed_before = r.n_computed;
    std::vector<float> raw;  // verification's sampler changes the rows; logprobs are of the model's own
    if (r.request.top_logprobs >= 0) raw.assign(rows, rows + (draft.size() + 1) * size_t(vocab));
    const DraftVerdict verdict = verify_draft_tokens(*r.sampler, rows, vocab, r.tokens, draft);
    count_verdict(r.metrics, draft.size(), verdict);
    r.draft_length.update(draft.size(), verdict.n_accepted);
    for (size_t i = 0; i < verdict.tokens.size() && r.status != RequestStatus::finished; ++i) {
        if (i < verdict.n_accepted) ++r.n_computed;  // the draft's KV, fed this step, is now the token's
        emit(r, verdict.tokens[i], t, m, sampled, raw.empty() ? nullptr : raw.data() + i * size_t(vocab));
    }
    if (r.status == RequestStatus::finished) return Status::ok();
    // Drop the KV of the rejected drafts: the sequence holds exactly the computed tokens.
    if (engine_.kv().length(r.seq_id) > r.n_computed) LUMEN_TRY(engine_.truncate_sequence(r.seq_id, r.n_computed));
    // Accepted drafts that filled a block make it shareable, as the step's own tokens do.
    if (r.n_computed / bs > computed_before / bs) cache_computed_blocks(r);
    return Status::ok();
}

}  // namespace lumen
