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

StepPlan Scheduler::schedule(BlockAllocator& memory) {
    StepPlan plan;
    int32_t budget = options_.max_batch_tokens;
    std::unordered_set<const RequestState*> scheduled;

    // Reserve n tokens for r, preempting lower-ordered running requests not yet
    // scheduled this step. False when nothing more can be freed.
    auto make_room = [&](RequestState* r, int32_t n) {
        for (;;) {
            if (memory.reserve(*r, n)) return true;
            RequestState* victim = nullptr;
            for (auto it = running_.rbegin(); it != running_.rend(); ++it) {
                if (*it == r) break;  // only requests ordered after r
                if (!scheduled.count(*it)) {
                    victim = *it;
                    break;
                }
            }
            if (!victim) return false;
            preempt(victim, memory, plan);
        }
    };
    auto add_chunk = [&](RequestState* r, int32_t n) {
        const bool decode = n == 1 && r->n_generated() > 0 && r->pending() == 1;
        (decode ? plan.n_decode_tokens : plan.n_prefill_tokens) += n;
        plan.chunks.push_back({r, n});
        scheduled.insert(r);
        budget -= n;
    };
    auto decodes = [&] {
        const std::vector<RequestState*> order = running_;
        for (RequestState* r : order) {
            if (budget <= 0) break;
            if (r->status != RequestStatus::running || r->pending() != 1 || scheduled.count(r)) continue;
            if (make_room(r, 1))
                add_chunk(r, 1);
            else
                preempt(r, memory, plan);  // nothing below it to free: it waits and recomputes
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
        // Prompts already under way, then new admissions, in chunks that fill the budget.
        const std::vector<RequestState*> order = running_;
        for (RequestState* r : order) {
            if (budget <= 0) break;
            if (r->status != RequestStatus::running || r->pending() <= 1 || scheduled.count(r)) continue;
            const int32_t chunk = std::min(r->pending(), budget);
            if (make_room(r, chunk)) add_chunk(r, chunk);
        }
        while (budget > 0) {
            RequestState* r = admit_front();
            if (!r) break;
            const int32_t chunk = std::min(r->pending(), budget);
            if (!memory.reserve(*r, chunk)) {
                unadmit(r);
                break;
            }
            add_chunk(r, chunk);
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
