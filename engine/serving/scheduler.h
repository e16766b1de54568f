// The scheduler: pure policy. Each step it decides which requests run and how
// many of their pending tokens each feeds, under a token budget: decodes first,
// then prompt chunks (chunked prefill mixes them in one step), FCFS within
// priority. When a running request cannot get KV blocks it preempts the
// lowest-priority, latest-arrived running request (recompute later); a prompt
// chunk first shrinks to what fits, and nothing new is admitted while an older
// request is short of memory. Memory is reached only through the BlockAllocator
// interface; the runner executes the plan.
#pragma once

#include <climits>
#include <cstdint>
#include <deque>
#include <vector>

#include "serving/request.h"

namespace lumen {

// What the scheduler needs from the memory manager.
class BlockAllocator {
public:
    virtual ~BlockAllocator() = default;
    // Gives the request a sequence (reusing cached prefix blocks). False if the pool cannot.
    virtual bool admit(RequestState& r) = 0;
    // Reserves KV for n more tokens of a running request, evicting cached blocks if needed.
    virtual bool reserve(RequestState& r, int32_t n_tokens) = 0;
    // How many of up to max_tokens more tokens reserve() could take now (free and
    // evictable blocks), without preempting anything.
    virtual int32_t reservable(const RequestState& r, int32_t max_tokens) const = 0;
    // Frees the request's sequence (its full blocks may stay in the prefix cache).
    virtual void release(RequestState& r) = 0;
};

struct SchedulerOptions {
    int32_t max_batch_tokens = 512;  // token budget per step
    int32_t max_running = 64;        // sequences per step
    bool chunked_prefill = true;     // false: a step is all whole-prompt prefills or all decodes
};

// Per-step limits the runner derives from what it measures (ItlGovernor).
struct StepLimits {
    // Prompt tokens a step may carry while requests are decoding in it (chunked prefill).
    int32_t prefill_tokens_with_decodes = INT32_MAX;
};

struct ScheduledChunk {
    RequestState* request = nullptr;
    int32_t n_tokens = 0;  // tokens fed this step, from request->n_computed
};

struct StepPlan {
    std::vector<ScheduledChunk> chunks;
    std::vector<RequestState*> preempted;
    int32_t n_prefill_tokens = 0;
    int32_t n_decode_tokens = 0;
    bool empty() const { return chunks.empty(); }
};

class Scheduler {
public:
    explicit Scheduler(const SchedulerOptions& options) : options_(options) {}
    const SchedulerOptions& options() const { return options_; }

    void add(RequestState* r);          // to the waiting queue
    void add_running(RequestState* r);  // a fork of a running request: runs from the next step
    void remove(RequestState* r);       // finished or cancelled: out of both queues
    StepPlan schedule(BlockAllocator& memory, const StepLimits& limits = {});

    const std::vector<RequestState*>& running() const { return running_; }
    const std::deque<RequestState*>& waiting() const { return waiting_; }
    int64_t preemptions() const { return preemptions_; }

private:
    void preempt(RequestState* victim, BlockAllocator& memory, StepPlan& plan);
    static bool before(const RequestState* a, const RequestState* b);  // priority, then arrival

    SchedulerOptions options_;
    std::deque<RequestState*> waiting_;   // kept in priority/arrival order
    std::vector<RequestState*> running_;  // kept in priority/arrival order
    int64_t preemptions_ = 0;
};

}  // namespace lumen
