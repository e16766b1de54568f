// ServingEngine: request lifecycle, the memory side of scheduling, the ragged
// step, sampling and metrics.
#include "serving/serving_engine.h"

#include <algorithm>

#include "runtime/speculative.h"

namespace lumen {

ServingEngine::ServingEngine(Engine& engine, const ServingOptions& options)
    : engine_(engine),
      options_(options),
      scheduler_(options.scheduler),
      governor_(options.scheduler.chunked_prefill ? options.max_itl_factor : 0),
      t0_(std::chrono::steady_clock::now()) {
    if (options_.prefix_cache) cache_ = std::make_unique<PrefixCache>(engine_.kv_manager());
}

ServingEngine::~ServingEngine() {
    for (auto& [id, r] : requests_) {
        if (r->seq_id >= 0) engine_.free_sequence(r->seq_id);
        if (r->draft_seq >= 0 && options_.draft_engine) options_.draft_engine->free_sequence(r->draft_seq);
    }
    cache_.reset();
}

double ServingEngine::now_ms() const {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0_).count();
}

Result<int64_t> ServingEngine::submit(const ServeRequest& request) {
    const int32_t capacity = engine_.kv().n_blocks() * engine_.kv().layout().block_size;
    const int32_t vocab = engine_.model().config.vocab_size;
    if (request.prompt.empty()) return Status::error("request has an empty prompt; expected at least one token");
    if (int32_t(request.prompt.size()) >= capacity)
        return Status::error("request prompt has " + std::to_string(request.prompt.size()) +
                             " tokens but the KV pool holds " + std::to_string(capacity));
    for (int32_t t : request.prompt)
        if (t < 0 || t >= vocab)
            return Status::error("request token " + std::to_string(t) + " is outside the vocabulary of " +
                                 std::to_string(vocab));
    if (request.max_tokens < 1) return Status::error("request max_tokens must be at least 1");
    if (request.n < 1 || request.n > 64) return Status::error("request n is " + std::to_string(request.n) + ", expected 1..64");
    if (options_.scheduler.max_batch_tokens < 1) return Status::error("max batch tokens must be at least 1");
    if (request.draft_model_tokens < 0 || request.lookup_draft < 0)
        return Status::error("request draft lengths must be 0 (off) or more");
    if (request.draft_model_tokens > 0) {
        if (!options_.draft_engine)
            return Status::error("request asks for draft-model speculation but the serving engine has no draft model");
        if (request.lookup_draft > 0)
            return Status::error("request asks for both prompt lookup and a draft model; choose one draft source");
        if (!draft_vocabulary_checked_) {
            LUMEN_TRY(check_same_vocabulary(engine_, *options_.draft_engine, "draft model"));
            draft_vocabulary_checked_ = true;
        }
    }
    if (options_.max_itl_factor != 0 && !(options_.max_itl_factor > 1))
        return Status::error("max ITL factor is " + std::to_string(options_.max_itl_factor) +
                             "; expected 0 (off) or more than 1");
    auto r = std::make_unique<RequestState>();
    r->id = next_id_++;
    r->request = request;
    r->tokens = request.prompt;
    r->n_prompt = int32_t(request.prompt.size());
    r->metrics.arrival_ms = now_ms();
    r->metrics.n_input = r->n_prompt;
    r->sampler = std::make_unique<Sampler>(request.sampling);
    r->arrival_order = arrivals_++;
    r->group_id = r->id;
    RequestState* raw = r.get();
    requests_[r->id] = std::move(r);
    scheduler_.add(raw);
    return raw->id;
}

const RequestState* ServingEngine::request(int64_t id) const {
    auto it = requests_.find(id);
    return it == requests_.end() ? nullptr : it->second.get();
}

Status ServingEngine::set_draft_engine(Engine* draft) {
    if (draft == options_.draft_engine) return Status::ok();
    for (const auto& [id, r] : requests_)
        if (r->draft_seq >= 0)
            return Status::error("the draft model cannot change while request " + std::to_string(id) +
                                 " is drafting with it; wait for it to finish");
    options_.draft_engine = draft;
    draft_vocabulary_checked_ = false;
    return Status::ok();
}

Status ServingEngine::cancel(int64_t id) {
    auto it = requests_.find(id);
    if (it == requests_.end()) return Status::error("request " + std::to_string(id) + " is not in flight");
    finish(*it->second, "cancelled");
    return Status::ok();
}

std::vector<std::unique_ptr<RequestState>> ServingEngine::take_finished() {
    std::vector<std::unique_ptr<RequestState>> out;
    out.swap(finished_);
    return out;
}

// ------------------------------------------------------------------ memory (BlockAllocator)

bool ServingEngine::admit(RequestState& r) {
    // Reuse whole cached blocks, but always recompute the last known token: its logits start the next step.
    PrefixCache::Match match;
    if (cache_) match = cache_->match(r.tokens.data(), r.tokens.size() - 1);
    const std::vector<int32_t> prefix(r.tokens.begin(), r.tokens.begin() + match.n_tokens);
    auto seq = engine_.create_sequence_from(match.blocks, prefix);
    if (!seq) return false;
    r.seq_id = seq.value();
    r.n_computed = match.n_tokens;
    r.cached_at_admission = std::min(match.n_tokens, r.n_prompt);
    return true;
}

bool ServingEngine::reserve(RequestState& r, int32_t n_tokens) {
    KVCacheManager& kv = engine_.kv_manager();
    const int32_t needed = kv.blocks_needed(r.seq_id, n_tokens);
    // Evict cached blocks only when that makes the reservation succeed.
    if (needed > kv.free_blocks() && cache_ && needed <= kv.free_blocks() + cache_->evictable_blocks())
        cache_->evict(needed - kv.free_blocks());
    if (needed > kv.free_blocks()) return false;
    return kv.reserve(r.seq_id, r.n_computed + n_tokens).is_ok();
}

int32_t ServingEngine::reservable(const RequestState& r, int32_t max_tokens) const {
    const KVCacheManager& kv = engine_.kv();
    const int32_t available = kv.free_blocks() + (cache_ ? cache_->evictable_blocks() : 0);
    if (kv.blocks_needed(r.seq_id, max_tokens) <= available) return max_tokens;
    // blocks_needed grows with the token count: the largest count that fits.
    int32_t lo = 0, hi = max_tokens;  // lo fits, hi does not
    while (hi - lo > 1) {
        const int32_t mid = lo + (hi - lo) / 2;
        (kv.blocks_needed(r.seq_id, mid) <= available ? lo : hi) = mid;
    }
    return lo;
}

void ServingEngine::release(RequestState& r) {
    if (r.draft_seq >= 0 && options_.draft_engine) options_.draft_engine->free_sequence(r.draft_seq);
    r.draft_seq = -1;
    if (r.seq_id < 0) return;
    // Full computed blocks stay in the prefix cache for later requests (and for this one after a preemption).
    if (cache_ && r.n_computed > 0)
        cache_->insert(r.tokens.data(), size_t(r.n_computed), engine_.kv().block_table(r.seq_id));
    engine_.free_sequence(r.seq_id);
    r.seq_id = -1;
}

void ServingEngine::finish(RequestState& r, const std::string& reason) {
    scheduler_.remove(&r);
    release(r);
    r.status = RequestStatus::finished;
    r.finish_reason = reason;
    r.metrics.finished_ms = now_ms();
    r.metrics.n_output = r.n_generated();
    auto it = requests_.find(r.id);
    finished_.push_back(std::move(it->second));
    requests_.erase(it);
}

// ------------------------------------------------------------------ step

Status ServingEngine::fork_samples(RequestState& r, std::vector<RequestState*>* forks) {
    for (int32_t i = 1; i < r.request.n; ++i) {
        auto seq = engine_.fork_sequence(r.seq_id);
        if (!seq) return seq.status();
        auto f = std::make_unique<RequestState>();
        f->id = next_id_++;
        f->request = r.request;
        f->request.sampling.seed = r.request.sampling.seed + uint64_t(i);
        f->tokens = r.tokens;
        f->n_prompt = r.n_prompt;
        f->n_computed = r.n_computed;
        f->seq_id = seq.value();
        f->metrics = r.metrics;
        f->metrics.n_cached = 0;  // the group's prompt is counted once, on its first sample
        f->sampler = std::make_unique<Sampler>(f->request.sampling);
        f->arrival_order = r.arrival_order;
        f->group_id = r.group_id;
        f->sample_index = i;
        RequestState* raw = f.get();
        requests_[f->id] = std::move(f);
        scheduler_.add_running(raw);
        forks->push_back(raw);
    }
    return Status::ok();
}

void ServingEngine::sample_into(RequestState& r, float* logits_row, double t, StepMetrics& m, int32_t& sampled) {
    const int32_t vocab = engine_.model().config.vocab_size;
    emit(r, r.sampler->sample(logits_row, vocab, r.tokens), t, m, sampled);
}

int32_t ServingEngine::draft_room(const RequestState& r, int32_t spare) const {
    const int32_t k = r.request.lookup_draft > 0 ? r.request.lookup_draft
                      : options_.draft_engine   ? r.request.draft_model_tokens
                                                : 0;
    if (k <= 0 || spare <= 0) return 0;
    const int32_t capacity = engine_.kv().n_blocks() * engine_.kv().layout().block_size;
    // Drafts never reach past max_tokens or the pool, so they cannot end a request that
    // plain decoding would continue: at most all drafts and one more token are emitted.
    return std::max(0, std::min({k, spare, r.request.max_tokens - r.n_generated() - 1,
                                 capacity - int32_t(r.tokens.size()) - 1}));
}

bool ServingEngine::reserve_draft(RequestState& r, const std::vector<int32_t>& draft) {
    // The decode's own token is reserved already; the drafts need room after it.
    return reserve(r, 1 + int32_t(draft.size()));
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
    ++r.metrics.n_verify_steps;
    r.metrics.n_drafted += int32_t(draft.size());
    size_t i = 0;
    for (; i < draft.size(); ++i) {
        bool accepted = false;
        const int32_t token = r.sampler->verify_draft(rows + i * size_t(vocab), vocab, r.tokens, draft[i], &accepted);
        if (r.metrics.draft_accepted_at.size() <= i) r.metrics.draft_accepted_at.resize(i + 1, 0);
        if (accepted) {
            ++r.metrics.draft_accepted_at[i];
            ++r.metrics.n_draft_accepted;
            ++r.n_computed;  // the draft's KV, fed this step, is now the token's
        }
        emit(r, token, t, m, sampled);
        if (!accepted || r.status == RequestStatus::finished) break;
    }
    if (r.status == RequestStatus::finished) return Status::ok();
    if (i == draft.size()) emit(r, r.sampler->sample(rows + i * size_t(vocab), vocab, r.tokens), t, m, sampled);
    if (r.status == RequestStatus::finished) return Status::ok();
    // Drop the KV of the rejected drafts: the sequence holds exactly the computed tokens.
    if (engine_.kv().length(r.seq_id) > r.n_computed) LUMEN_TRY(engine_.truncate_sequence(r.seq_id, r.n_computed));
    // Accepted drafts that filled a block make it shareable, as the step's own tokens do.
    if (cache_ && r.n_computed / bs > computed_before / bs)
        cache_->insert(r.tokens.data(), size_t(r.n_computed), engine_.kv().block_table(r.seq_id));
    return Status::ok();
}

void ServingEngine::emit(RequestState& r, int32_t next, double t, StepMetrics& m, int32_t& sampled) {
    const int32_t capacity = engine_.kv().n_blocks() * engine_.kv().layout().block_size;
    r.tokens.push_back(next);
    ++sampled;
    const int32_t index = r.n_generated() - 1;
    if (index == 0)
        r.metrics.first_token_ms = t;
    else
        r.metrics.itl_ms.push_back(t - r.metrics.last_token_ms);
    r.metrics.last_token_ms = t;
    if (on_token_) on_token_({r.id, next, index, t});
    if (r.status == RequestStatus::finished) {  // cancelled from the callback
        ++m.n_finished;
        return;
    }
    std::string reason;
    if (r.request.stop_at_eos && engine_.tokenizer().is_end_of_generation(next))
        reason = "eos";
    else if (r.n_generated() >= r.request.max_tokens)
        reason = "max_tokens";
    else if (int32_t(r.tokens.size()) >= capacity)
        reason = "context_full";
    if (!reason.empty()) {
        finish(r, reason);
        ++m.n_finished;
    }
}

Result<StepMetrics> ServingEngine::step() {
    const double start = now_ms();
    StepMetrics m;
    m.step = steps_++;
    StepLimits limits;
    if (governor_.enabled()) {
        limits.prefill_tokens_with_decodes = governor_.prefill_limit();
        m.prefill_limit = limits.prefill_tokens_with_decodes;
    }
    StepPlan plan = scheduler_.schedule(*this, limits);
    m.n_preempted = int32_t(plan.preempted.size());
    m.n_prefill_tokens = plan.n_prefill_tokens;
    m.n_decode_tokens = plan.n_decode_tokens;

    int32_t sampled = 0;
    if (!plan.empty()) {
        std::vector<SequenceInput> inputs;
        inputs.reserve(plan.chunks.size());
        // Speculative drafts ride on decode chunks, within the budget the plan left over.
        std::vector<std::vector<int32_t>> drafts(plan.chunks.size());
        int32_t spare = options_.scheduler.max_batch_tokens - plan.n_prefill_tokens - plan.n_decode_tokens;
        std::vector<RequestState*> model_drafted;
        std::vector<int32_t> model_rooms;
        std::vector<std::vector<int32_t>*> model_drafts;
        for (size_t i = 0; i < plan.chunks.size(); ++i) {
            RequestState& r = *plan.chunks[i].request;
            if (plan.chunks[i].n_tokens != 1 || r.pending() != 1 || r.n_generated() == 0) continue;
            const int32_t room = draft_room(r, spare);
            if (room <= 0) continue;
            if (r.request.lookup_draft > 0) {
                drafts[i] = prompt_lookup_draft(r.tokens, r.request.lookup_ngram, room);
                spare -= int32_t(drafts[i].size());
            } else {
                model_drafted.push_back(&r);
                model_rooms.push_back(room);
                model_drafts.push_back(&drafts[i]);
                spare -= room;
            }
        }
        if (!model_drafted.empty()) {
            const double before = now_ms();
            propose_with_draft_model(model_drafted, model_rooms, model_drafts);
            for (RequestState* r : model_drafted) r->metrics.draft_ms += now_ms() - before;
        }
        for (size_t i = 0; i < plan.chunks.size(); ++i) {
            const ScheduledChunk& c = plan.chunks[i];
            RequestState& r = *c.request;
            if (!drafts[i].empty() && !reserve_draft(r, drafts[i])) drafts[i].clear();
            SequenceInput in;
            in.seq_id = r.seq_id;
            in.tokens.assign(r.tokens.begin() + r.n_computed, r.tokens.begin() + r.n_computed + c.n_tokens);
            in.logits = r.n_computed + c.n_tokens == int32_t(r.tokens.size());
            m.n_draft_tokens += int32_t(drafts[i].size());
            in.tokens.insert(in.tokens.end(), drafts[i].begin(), drafts[i].end());
            in.all_logits = !drafts[i].empty();
            inputs.push_back(std::move(in));
        }
        Status s = engine_.step(inputs, &logits_);
        if (!s.is_ok()) return s.with_context("serving step");

        const int32_t vocab = engine_.model().config.vocab_size;
        size_t row = 0;
        const double t = now_ms();
        // First every chunk's bookkeeping (the KV now holds its tokens), then the sampling,
        // so that nothing a callback does mid-loop leaves a chunk half-recorded.
        const int32_t bs = engine_.kv().layout().block_size;
        for (size_t i = 0; i < plan.chunks.size(); ++i) {
            RequestState& r = *plan.chunks[i].request;
            if (r.metrics.first_scheduled_ms < 0) {  // the first chunk it really ran
                r.metrics.first_scheduled_ms = start;  // the step that ran it began here
                r.metrics.n_cached = r.cached_at_admission;
                prompt_tokens_admitted_ += r.n_prompt;
                prompt_tokens_cached_ += r.metrics.n_cached;
            }
            const bool filled_a_block = (r.n_computed + plan.chunks[i].n_tokens) / bs > r.n_computed / bs;
            r.n_computed += plan.chunks[i].n_tokens;
            // Blocks become shareable as soon as they are full, so requests running together share prefixes.
            if (cache_ && filled_a_block)
                cache_->insert(r.tokens.data(), size_t(r.n_computed), engine_.kv().block_table(r.seq_id));
        }
        for (size_t i = 0; i < plan.chunks.size(); ++i) {
            RequestState& r = *plan.chunks[i].request;
            if (!inputs[i].logits) continue;
            float* row_logits = logits_.data() + row * size_t(vocab);
            row += 1 + drafts[i].size();
            if (r.status == RequestStatus::finished) continue;  // cancelled by a callback earlier in this step
            if (!drafts[i].empty()) {
                if (Status v = verify_draft(r, drafts[i], row_logits, t, m, sampled); !v.is_ok())
                    return v.with_context("serving step");
                continue;
            }
            std::vector<RequestState*> forks;
            std::vector<float> row_copy;
            if (r.request.n > 1 && r.n_generated() == 0 && r.sample_index == 0) {
                // Parallel samples branch here: each draws its first token from this row.
                row_copy.assign(row_logits, row_logits + vocab);
                if (Status f = fork_samples(r, &forks); !f.is_ok()) return f.with_context("serving step");
            }
            sample_into(r, row_logits, t, m, sampled);
            for (RequestState* fork : forks) {
                std::vector<float> fork_row = row_copy;
                sample_into(*fork, fork_row.data(), t, m, sampled);
            }
        }
    }
    const KVCacheManager& kv = engine_.kv();
    m.n_running = int32_t(scheduler_.running().size());
    m.n_waiting = int32_t(scheduler_.waiting().size());
    m.blocks_free = kv.free_blocks();
    m.blocks_used = kv.n_blocks() - kv.free_blocks();
    m.blocks_cached = cache_ ? cache_->cached_blocks() : 0;
    m.hit_rate = prompt_tokens_admitted_ ? double(prompt_tokens_cached_) / double(prompt_tokens_admitted_) : 0;
    m.time_ms = now_ms();
    m.step_ms = m.time_ms - start;
    m.tokens_per_s = m.step_ms > 0 ? 1000.0 * sampled / m.step_ms : 0;
    governor_.observe(m.n_decode_tokens, m.n_prefill_tokens, m.step_ms);
    return m;
}

}  // namespace lumen
