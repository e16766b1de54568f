// ServingEngine: request lifecycle, the memory side of scheduling, the ragged
// step, sampling and metrics. Speculative drafting and verification live in
// serving_speculation.cpp.
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

// ------------------------------------------------------------------ requests

Status ServingEngine::check_request(const ServeRequest& request) {
    const int32_t capacity = engine_.kv_capacity();
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
    if (request.n < 1 || request.n > 64)
        return Status::error("request n is " + std::to_string(request.n) + ", expected 1..64");
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
    const bool speculative = request.lookup_draft > 0 || request.draft_model_tokens > 0;
    LUMEN_TRY(check_early_exit(request.early_exit, speculative, engine_.model().config.n_layers));
    if (options_.max_itl_factor != 0 && !(options_.max_itl_factor > 1))
        return Status::error("max ITL factor is " + std::to_string(options_.max_itl_factor) +
                             "; expected 0 (off) or more than 1");
    return Status::ok();
}

// A request's state before its first step: sampler, text, draft length, early-exit counts.
void ServingEngine::init_state(RequestState& r, const ServeRequest& request) {
    r.id = next_id_++;
    r.request = request;
    r.sampler = std::make_unique<Sampler>(request.sampling);
    r.text = StopStringMatcher(request.stop_strings);
    const int32_t draft_max = request.lookup_draft > 0 ? request.lookup_draft : request.draft_model_tokens;
    r.draft_length = DraftLengthPolicy(draft_max, request.draft_adaptive);
    if (request.early_exit.enabled())
        r.metrics.exit_layer_counts.assign(size_t(engine_.model().config.n_layers) + 1, 0);
}

Result<int64_t> ServingEngine::submit(const ServeRequest& request, TokenOutputCallback on_token) {
    LUMEN_TRY(check_request(request));
    auto r = std::make_unique<RequestState>();
    init_state(*r, request);
    r->tokens = request.prompt;
    r->n_prompt = int32_t(request.prompt.size());
    r->metrics.arrival_ms = now_ms();
    r->metrics.n_input = r->n_prompt;
    r->arrival_order = arrivals_++;
    r->group_id = r->id;
    r->on_token = std::move(on_token);
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

std::unique_ptr<RequestState> ServingEngine::take_finished(int64_t id) {
    auto it = std::find_if(finished_.begin(), finished_.end(), [&](const auto& r) { return r->id == id; });
    if (it == finished_.end()) return nullptr;
    std::unique_ptr<RequestState> r = std::move(*it);
    finished_.erase(it);
    return r;
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
    cache_computed_blocks(r);
    engine_.free_sequence(r.seq_id);
    r.seq_id = -1;
}

// Early exit computes a token's KV in the later layers from an earlier layer's, so the
// blocks after an early-exit request's prompt are not what another request would compute.
void ServingEngine::cache_computed_blocks(RequestState& r) {
    const int32_t exact = r.request.early_exit.enabled() ? std::min(r.n_computed, r.n_prompt) : r.n_computed;
    if (cache_ && exact > 0) cache_->insert(r.tokens.data(), size_t(exact), engine_.kv().block_table(r.seq_id));
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

// ------------------------------------------------------------------ tokens

Status ServingEngine::fork_samples(RequestState& r, std::vector<RequestState*>* forks) {
    for (int32_t i = 1; i < r.request.n; ++i) {
        auto seq = engine_.fork_sequence(r.seq_id);
        if (!seq) return seq.status();
        auto f = std::make_unique<RequestState>();
        ServeRequest sample = r.request;
        sample.sampling.seed = r.request.sampling.seed + uint64_t(i);
        init_state(*f, sample);
        f->tokens = r.tokens;
        f->n_prompt = r.n_prompt;
        f->n_computed = r.n_computed;
        f->seq_id = seq.value();
        f->metrics = r.metrics;
        f->metrics.n_cached = 0;  // the group's prompt is counted once, on its first sample
        f->arrival_order = r.arrival_order;
        f->group_id = r.group_id;
        f->sample_index = i;
        f->on_token = r.on_token;
        RequestState* raw = f.get();
        requests_[f->id] = std::move(f);
        scheduler_.add_running(raw);
        forks->push_back(raw);
    }
    return Status::ok();
}

void ServingEngine::sample_into(RequestState& r, float* logits_row, double t, StepMetrics& m, int32_t& sampled) {
    const int32_t vocab = engine_.model().config.vocab_size;
    std::vector<float> raw;  // the sampler's penalties change the row; logprobs are of the model's own
    if (r.request.top_logprobs >= 0) raw.assign(logits_row, logits_row + vocab);
    const int32_t next = r.sampler->sample(logits_row, vocab, r.tokens);
    emit(r, next, t, m, sampled, raw.empty() ? nullptr : raw.data());
}

// Why the token just appended ends r ("" if it does not); its text goes to r.text.
// The order and the limits are Engine::generate's: a request ends at EOS, at a stop
// string, at max_tokens, or when the token could not be fed (the pool's capacity).
std::string ServingEngine::end_reason(RequestState& r, int32_t token) {
    const Tokenizer& tok = engine_.tokenizer();
    if (r.request.stop_at_eos && tok.is_end_of_generation(token)) return "eos";
    if (r.text.append(tok.decode_token(token))) return "stop_string";
    if (r.n_generated() >= r.request.max_tokens) return "max_tokens";
    if (int32_t(r.tokens.size()) > engine_.kv_capacity()) return "context_full";
    return "";
}

void ServingEngine::emit(RequestState& r, int32_t next, double t, StepMetrics& m, int32_t& sampled,
                         const float* raw_logits) {
    if (raw_logits)
        r.logprobs.push_back(
            token_logprobs(raw_logits, engine_.model().config.vocab_size, next, r.request.top_logprobs));
    r.tokens.push_back(next);
    ++sampled;
    const int32_t index = r.n_generated() - 1;
    if (index == 0)
        r.metrics.first_token_ms = t;
    else
        r.metrics.itl_ms.push_back(t - r.metrics.last_token_ms);
    r.metrics.last_token_ms = t;
    const std::string reason = end_reason(r, next);
    const TokenOutput out{
        r.id, next, index, t, r.text.release(!reason.empty()), raw_logits ? &r.logprobs.back() : nullptr};
    if (on_token_) on_token_(out);
    if (r.on_token) r.on_token(out);
    if (r.status == RequestStatus::finished) {  // cancelled from a callback
        ++m.n_finished;
        return;
    }
    if (!reason.empty()) {
        finish(r, reason);
        ++m.n_finished;
    }
}

// ------------------------------------------------------------------ step

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
    if (!plan.empty())
        if (Status s = run_plan(plan, start, m, sampled); !s.is_ok()) return s.with_context("serving step");
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

Status ServingEngine::run_plan(const StepPlan& plan, double start, StepMetrics& m, int32_t& sampled) {
    StepWork work;
    work.decodes.resize(plan.chunks.size());
    for (size_t i = 0; i < plan.chunks.size(); ++i) {
        const RequestState& r = *plan.chunks[i].request;
        work.decodes[i] = plan.chunks[i].n_tokens == 1 && r.pending() == 1 && r.n_generated() > 0;
    }
    propose_drafts(plan, work);
    build_inputs(plan, work, m);
    LUMEN_TRY(engine_.step(work.inputs, &logits_, work.options));
    record_step(plan, work, start);
    return sample_chunks(plan, work, m, sampled);
}

void ServingEngine::build_inputs(const StepPlan& plan, StepWork& work, StepMetrics& m) {
    work.inputs.reserve(plan.chunks.size());
    for (size_t i = 0; i < plan.chunks.size(); ++i) {
        const ScheduledChunk& c = plan.chunks[i];
        RequestState& r = *c.request;
        std::vector<int32_t>& draft = work.drafts[i];
        if (!draft.empty() && !reserve_draft(r, draft)) draft.clear();
        SequenceInput in;
        in.seq_id = r.seq_id;
        in.tokens.assign(r.tokens.begin() + r.n_computed, r.tokens.begin() + r.n_computed + c.n_tokens);
        in.logits = r.n_computed + c.n_tokens == int32_t(r.tokens.size());
        m.n_draft_tokens += int32_t(draft.size());
        in.tokens.insert(in.tokens.end(), draft.begin(), draft.end());
        in.all_logits = !draft.empty();
        work.inputs.push_back(std::move(in));
    }
    // The backend exits early only in a step of one token, so a request's early-exit
    // rule applies when its decode runs alone.
    const RequestState& first = *plan.chunks[0].request;
    if (plan.chunks.size() == 1 && work.decodes[0] && work.drafts[0].empty() && first.request.early_exit.enabled())
        work.options.early_exit = first.request.early_exit;
}

// The forward pass is done: the KV holds every chunk's tokens. Recorded for every chunk
// before any sampling, so that nothing a callback does mid-loop leaves a chunk half-recorded.
void ServingEngine::record_step(const StepPlan& plan, const StepWork& work, double start) {
    const int32_t bs = engine_.kv().layout().block_size;
    const int32_t n_layers = engine_.model().config.n_layers;
    for (size_t i = 0; i < plan.chunks.size(); ++i) {
        RequestState& r = *plan.chunks[i].request;
        if (r.metrics.first_scheduled_ms < 0) {    // the first chunk it really ran
            r.metrics.first_scheduled_ms = start;  // the step that ran it began here
            r.metrics.n_cached = r.cached_at_admission;
            prompt_tokens_admitted_ += r.n_prompt;
            prompt_tokens_cached_ += r.metrics.n_cached;
        }
        if (work.decodes[i] && r.request.early_exit.enabled()) {
            const int32_t ran = work.options.early_exit.enabled() ? engine_.backend().last_exit_layer() : n_layers;
            ++r.metrics.exit_layer_counts[size_t(ran)];
        }
        const bool filled_a_block = (r.n_computed + plan.chunks[i].n_tokens) / bs > r.n_computed / bs;
        r.n_computed += plan.chunks[i].n_tokens;
        // Blocks become shareable as soon as they are full, so requests running together share prefixes.
        if (filled_a_block) cache_computed_blocks(r);
    }
}

Status ServingEngine::sample_chunks(const StepPlan& plan, const StepWork& work, StepMetrics& m, int32_t& sampled) {
    const int32_t vocab = engine_.model().config.vocab_size;
    const double t = now_ms();
    size_t row = 0;
    for (size_t i = 0; i < plan.chunks.size(); ++i) {
        RequestState& r = *plan.chunks[i].request;
        if (!work.inputs[i].logits) continue;
        float* row_logits = logits_.data() + row * size_t(vocab);
        row += 1 + work.drafts[i].size();
        if (r.status == RequestStatus::finished) continue;  // cancelled by a callback earlier in this step
        if (!work.drafts[i].empty()) {
            LUMEN_TRY(verify_draft(r, work.drafts[i], row_logits, t, m, sampled));
            continue;
        }
        std::vector<RequestState*> forks;
        std::vector<float> row_copy;
        if (r.request.n > 1 && r.n_generated() == 0 && r.sample_index == 0) {
            // Parallel samples branch here: each draws its first token from this row.
            row_copy.assign(row_logits, row_logits + vocab);
            LUMEN_TRY(fork_samples(r, &forks));
        }
        sample_into(r, row_logits, t, m, sampled);
        for (RequestState* fork : forks) {
            std::vector<float> fork_row = row_copy;
            sample_into(*fork, fork_row.data(), t, m, sampled);
        }
    }
    return Status::ok();
}

}  // namespace lumen
