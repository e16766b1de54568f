// Scheduler: admission, the token budget, chunked prefill and preemption.
#include "serving/scheduler.h"

#include <algorithm>
#include <unordered_set>

namespace lumen {

bool Scheduler::before(const RequestState* a, const RequestState* b) {
    if (a->request.priority != b->request.priority) return a->request.priority > b->request.priority;
    return a->arrival_order < b->arrival_order;
}

void Scheduler::add(RequestState* r) {
    r->status = RequestStatus::waiting;
    waiting_.insert(std::upper_bound(waiting_.begin(), waiting_.end(), r, before), r);
}

void Scheduler::add_running(RequestState* r) {
    r->status = RequestStatus::running;
    running_.insert(std::upper_bound(running_.begin(), running_.end(), r, before), r);
}

void Scheduler::remove(RequestState* r) {
    waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), r), waiting_.end());
    running_.erase(std::remove(running_.begin(), running_.end(), r), running_.end());
}

void Scheduler::preempt(RequestState* victim, BlockAllocator& memory, StepPlan& plan) {
    memory.release(*victim);
    victim->n_computed = 0;
    victim->seq_id = -1;
    ++victim->metrics.n_preemptions;
    ++preemptions_;
    running_.erase(std::remove(running_.begin(), running_.end(), victim), running_.end());
    add(victim);
    plan.preempted.push_back(victim);
}

StepPlan Scheduler::schedule(BlockAllocator& memory, const StepLimits& limits) {
    StepPlan plan;
    int32_t budget = options_.max_batch_tokens;
    std::unordered_set<const RequestState*> scheduled;
    bool memory_short = false;  // an older request could not get all it needed: admit nothing new

    // The running request ordered last that is not yet scheduled and is ordered after r.
    auto victim_for = [&](const RequestState* r) -> RequestState* {
        for (auto it = running_.rbegin(); it != running_.rend(); ++it) {
            if (*it == r) break;
            if (!scheduled.count(*it)) return *it;
        }
        return nullptr;
    };
    // Reserves n tokens for r, preempting requests ordered after it. False when nothing more can be freed.
    auto make_room = [&](RequestState* r, int32_t n) {
        for (;;) {
            if (memory.reserve(*r, n)) return true;
            RequestState* victim = victim_for(r);
            if (!victim) return false;
            preempt(victim, memory, plan);
        }
    };
    // Reserves as much of a prompt chunk as fits (at least one token), preempting
    // requests ordered after r only when not even one token fits. Returns the tokens reserved.
    auto fit_chunk = [&](RequestState* r, int32_t want) -> int32_t {
        for (;;) {
            const int32_t n = memory.reservable(*r, want);
            if (n > 0 && memory.reserve(*r, n)) return n;
            RequestState* victim = victim_for(r);
            if (!victim) return 0;
            preempt(victim, memory, plan);
        }
    };
    // A decode feeds the one token sampled last; everything else is prompt (or recompute) work.
    auto is_decode = [](const RequestState* r) { return r->pending() == 1 && r->n_generated() > 0; };
    auto add_chunk = [&](RequestState* r, int32_t n) {
        (is_decode(r) ? plan.n_decode_tokens : plan.n_prefill_tokens) += n;
        plan.chunks.push_back({r, n});
        scheduled.insert(r);
        budget -= n;
    };
    auto decodes = [&] {
        const std::vector<RequestState*> order = running_;
        for (RequestState* r : order) {
            if (budget <= 0) break;
            if (r->status != RequestStatus::running || !is_decode(r) || scheduled.count(r)) continue;
            if (make_room(r, 1)) {
                add_chunk(r, 1);
            } else {
                preempt(r, memory, plan);  // nothing below it to free: it waits and recomputes
                memory_short = true;
            }
        }
    };
    auto admit_front = [&]() -> RequestState* {
        if (waiting_.empty() || int32_t(running_.size()) >= options_.max_running) return nullptr;
        RequestState* r = waiting_.front();
        if (!memory.admit(*r)) return nullptr;
        waiting_.pop_front();
        r->status = RequestStatus::running;
        running_.insert(std::upper_bound(running_.begin(), running_.end(), r, before), r);
        return r;
    };
    auto unadmit = [&](RequestState* r) {
        memory.release(*r);
        r->n_computed = 0;
        r->seq_id = -1;
        running_.erase(std::remove(running_.begin(), running_.end(), r), running_.end());
        add(r);
    };

    if (options_.chunked_prefill) {
        decodes();
        // While requests decode in this step, prompt chunks may be held to a smaller
        // share so that the decoding requests' inter-token latency stays bounded.
        if (plan.n_decode_tokens > 0) budget = std::min(budget, std::max(0, limits.prefill_tokens_with_decodes));
        // Prompts already under way, then new admissions, in chunks that fill the budget.
        const std::vector<RequestState*> order = running_;
        for (RequestState* r : order) {
            if (budget <= 0) break;
            if (r->status != RequestStatus::running || r->pending() < 1 || is_decode(r) || scheduled.count(r)) continue;
            const int32_t want = std::min(r->pending(), budget);
            const int32_t n = fit_chunk(r, want);
            if (n > 0) add_chunk(r, n);
            if (n < want) memory_short = true;
        }
        while (budget > 0 && !memory_short) {
            RequestState* r = admit_front();
            if (!r) break;
            const int32_t want = std::min(r->pending(), budget);
            const int32_t n = memory.reservable(*r, want);  // a new request never preempts
            if (n == 0 || !memory.reserve(*r, n)) {
                unadmit(r);
                break;
            }
            add_chunk(r, n);
            if (n < want) break;
        }
        return plan;
    }

    // Without chunking a step is either whole-prompt prefills (they go first) or decodes.
    while (!waiting_.empty()) {
        RequestState* r = admit_front();
        if (!r) break;
        if ((r->pending() > budget && !plan.empty()) || !memory.reserve(*r, r->pending())) {
            unadmit(r);
            break;
        }
        add_chunk(r, r->pending());
    }
    if (plan.empty()) decodes();
    return plan;
}

}  // namespace lumen
