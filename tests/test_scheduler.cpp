// The scheduler as pure policy, against a block-counting memory manager (a test
// double of the BlockAllocator interface): prompt chunks shrink to what fits
// instead of starving, nothing new is admitted while an older request is short
// of memory, preemption happens only when nothing fits, and the ITL governor's
// prompt-token limit applies only to steps that carry decodes. Then the
// ItlGovernor itself against a simulated linear step-cost model.
#include <gtest/gtest.h>

#include <climits>
#include <map>

#include "serving/itl_governor.h"
#include "serving/scheduler.h"

using namespace lumen;

namespace {

// Counts whole blocks per request; a request needs ceil(tokens / block) of them.
class CountingMemory : public BlockAllocator {
public:
    CountingMemory(int32_t n_blocks, int32_t block_size) : free_(n_blocks), bs_(block_size) {}
    bool admit(RequestState& r) override {
        r.seq_id = next_seq_++;
        held_[&r] = 0;
        return true;
    }
    bool reserve(RequestState& r, int32_t n) override {
        const int32_t need = needed(r, n);
        if (need > free_) return false;
        free_ -= need;
        held_[&r] += need;
        return true;
    }
    int32_t reservable(const RequestState& r, int32_t max_tokens) const override {
        int32_t n = max_tokens;
        while (n > 0 && needed(r, n) > free_) --n;
        return n;
    }
    void release(RequestState& r) override {
        free_ += held_[&r];
        held_.erase(&r);
    }
    int32_t free_blocks() const { return free_; }

private:
    int32_t needed(const RequestState& r, int32_t n) const {
        auto it = held_.find(&r);
        const int32_t held = it == held_.end() ? 0 : it->second;
        return std::max(0, (r.n_computed + n + bs_ - 1) / bs_ - held);
    }
    int32_t free_;
    int32_t bs_;
    int32_t next_seq_ = 0;
    std::map<const RequestState*, int32_t> held_;
};

SchedulerOptions with_budget(int32_t tokens) {
    SchedulerOptions o;
    o.max_batch_tokens = tokens;
    return o;
}

RequestState make_request(int32_t prompt_tokens, uint64_t order) {
    RequestState r;
    r.tokens.assign(size_t(prompt_tokens), 7);
    r.n_prompt = prompt_tokens;
    r.arrival_order = order;
    return r;
}

// What the runner does after a step: the chunks' tokens are computed, finished prompts sample a token.
void run(const StepPlan& plan) {
    for (const ScheduledChunk& c : plan.chunks) {
        c.request->n_computed += c.n_tokens;
        if (c.request->pending() == 0) c.request->tokens.push_back(7);
    }
}

int32_t chunk_of(const StepPlan& plan, const RequestState& r) {
    for (const ScheduledChunk& c : plan.chunks)
        if (c.request == &r) return c.n_tokens;
    return 0;
}

}  // namespace

TEST(Scheduler, PromptChunkShrinksToWhatFitsAndAdmitsNothingBehindIt) {
    CountingMemory memory(10, 16);
    Scheduler s(with_budget(512));
    RequestState decoding = make_request(40, 0), long_prompt = make_request(600, 1), small = make_request(4, 2);
    s.add(&decoding);
    run(s.schedule(memory));  // the first request's whole prompt: 3 blocks
    ASSERT_EQ(decoding.n_generated(), 1);
    s.add(&long_prompt);
    s.add(&small);

    // 7 blocks are free. The long prompt wants 511 tokens (32 blocks); it takes the
    // 7 blocks (112 tokens) rather than waiting for all of them, and the small request
    // behind it is not admitted into memory an older request is short of.
    StepPlan plan = s.schedule(memory);
    EXPECT_EQ(chunk_of(plan, decoding), 1);
    EXPECT_EQ(chunk_of(plan, long_prompt), 112);
    EXPECT_EQ(chunk_of(plan, small), 0);
    EXPECT_TRUE(plan.preempted.empty());
    EXPECT_EQ(s.waiting().size(), 1u);
    EXPECT_EQ(memory.free_blocks(), 0);
    run(plan);

    // Next step the pool is full. The long prompt, older than nothing else running,
    // preempts nobody older; the older decoding request needs a new block only at
    // token 49, so it keeps decoding within its last block while the prompt waits.
    plan = s.schedule(memory);
    EXPECT_EQ(chunk_of(plan, decoding), 1);
    EXPECT_EQ(chunk_of(plan, long_prompt), 0);
    EXPECT_TRUE(plan.preempted.empty());
    EXPECT_EQ(chunk_of(plan, small), 0);
}

TEST(Scheduler, AFullPoolAdmitsNothingAndPreemptsNobodyOlder) {
    CountingMemory memory(4, 16);
    Scheduler s(with_budget(64));
    RequestState older = make_request(200, 0), younger = make_request(32, 1);
    s.add(&older);
    run(s.schedule(memory));  // 64 tokens of the older prompt: all 4 blocks
    EXPECT_EQ(older.n_computed, 64);
    EXPECT_EQ(memory.free_blocks(), 0);
    s.add(&younger);

    // Nothing fits and no younger request runs: the older prompt waits; the younger is not admitted.
    StepPlan plan = s.schedule(memory);
    EXPECT_TRUE(plan.empty());
    EXPECT_EQ(s.waiting().size(), 1u);
}

TEST(Scheduler, APromptPreemptsOnlyWhenNotOneTokenFitsAndTheVictimWaits) {
    CountingMemory memory(6, 16);
    Scheduler s(with_budget(64));
    // Two prompts part-way through prefill fill the pool: the urgent one holds 2
    // blocks, the low-priority one 4.
    RequestState urgent = make_request(90, 1), low = make_request(90, 0);
    urgent.request.priority = 5;
    for (auto [r, tokens] : {std::pair{&urgent, 32}, std::pair{&low, 64}}) {
        ASSERT_TRUE(memory.admit(*r));
        ASSERT_TRUE(memory.reserve(*r, tokens));
        r->n_computed = tokens;
        s.add_running(r);
    }
    ASSERT_EQ(memory.free_blocks(), 0);

    // Not one token of the urgent prompt fits, so the low-priority request is
    // preempted; the urgent one then takes its whole chunk (58 tokens, 4 blocks),
    // and the victim is not re-admitted into what is left in the same step.
    StepPlan plan = s.schedule(memory);
    ASSERT_EQ(plan.preempted.size(), 1u);
    EXPECT_EQ(plan.preempted[0], &low);
    EXPECT_EQ(chunk_of(plan, urgent), 58);
    EXPECT_EQ(chunk_of(plan, low), 0);
    EXPECT_EQ(low.n_computed, 0);
    EXPECT_EQ(s.preemptions(), 1);
    ASSERT_EQ(s.waiting().size(), 1u);
    EXPECT_EQ(s.waiting().front(), &low);
    run(plan);

    // A higher-priority prompt arriving at a full pool is not admitted by preempting:
    // admission never preempts, and the urgent request decodes on.
    RequestState newcomer = make_request(20, 2);
    newcomer.request.priority = 9;
    s.add(&newcomer);
    plan = s.schedule(memory);
    EXPECT_TRUE(plan.preempted.empty());
    EXPECT_EQ(chunk_of(plan, urgent), 1);
    EXPECT_EQ(chunk_of(plan, newcomer), 0);
}

TEST(Scheduler, PrefillLimitAppliesOnlyBesideDecodes) {
    CountingMemory memory(100, 16);
    Scheduler s(with_budget(256));
    StepLimits limits;
    limits.prefill_tokens_with_decodes = 5;
    RequestState first = make_request(100, 0), second = make_request(300, 1);
    s.add(&first);
    StepPlan plan = s.schedule(memory, limits);
    EXPECT_EQ(chunk_of(plan, first), 100);  // nothing decodes: the whole budget
    run(plan);
    s.add(&second);
    plan = s.schedule(memory, limits);
    EXPECT_EQ(plan.n_decode_tokens, 1);
    EXPECT_EQ(chunk_of(plan, second), 5);  // beside a decode: the limit
    run(plan);
    limits.prefill_tokens_with_decodes = 0;
    plan = s.schedule(memory, limits);
    EXPECT_EQ(plan.n_decode_tokens, 1);
    EXPECT_EQ(plan.n_prefill_tokens, 0);  // a decode-only step
}

// ------------------------------------------------------------------ ITL governor

namespace {
// A step costs D ms for its decodes plus c ms per prompt token.
double simulated_step_ms(double decode_ms, double per_token_ms, int32_t prompt_tokens) {
    return decode_ms + per_token_ms * prompt_tokens;
}
}  // namespace

TEST(ItlGovernor, OffMeansNoLimit) {
    ItlGovernor g(0);
    EXPECT_FALSE(g.enabled());
    g.observe(4, 0, 10);
    EXPECT_EQ(g.prefill_limit(), INT32_MAX);
    EXPECT_FALSE(ItlGovernor(1.0).enabled());
}

TEST(ItlGovernor, ConvergesToTheChunkThatMeetsTheTarget) {
    ItlGovernor g(3.0);
    EXPECT_EQ(g.prefill_limit(), 0);  // first an undisturbed decode step is measured
    g.observe(4, 0, 10.0);
    EXPECT_DOUBLE_EQ(g.decode_step_ms(), 10.0);
    EXPECT_DOUBLE_EQ(g.target_step_ms(), 30.0);
    // Prompt tokens cost 0.5 ms each: 40 of them fill the 20 ms the target leaves.
    for (int step = 0; step < 20; ++step) {
        const int32_t n = g.prefill_limit();
        ASSERT_GE(n, 1);
        g.observe(4, n, simulated_step_ms(10.0, 0.5, n));
    }
    EXPECT_EQ(g.prefill_limit(), 40);
    // Attention at longer context makes each token cost 2 ms: the limit falls to 10.
    for (int step = 0; step < 20; ++step) {
        const int32_t n = g.prefill_limit();
        g.observe(4, n, simulated_step_ms(10.0, 2.0, n));
    }
    EXPECT_EQ(g.prefill_limit(), 10);
    // A step far more expensive than the target never leaves less than one token.
    g.observe(4, 10, 5000.0);
    EXPECT_EQ(g.prefill_limit(), 1);
    // Steps without decodes and garbage times change nothing.
    g.observe(0, 512, 900.0);
    g.observe(4, 3, -1.0);
    EXPECT_EQ(g.prefill_limit(), 1);
}

TEST(ItlGovernor, SlowOutliersDoNotMoveTheDecodeEstimateAndItReprobes) {
    ItlGovernor g(2.0);
    for (double ms : {10.0, 11.0, 10.5, 60.0, 58.0, 10.2, 9.8, 10.1})  // two steps slowed by noise
        g.observe(4, 0, ms);
    EXPECT_LE(g.decode_step_ms(), 10.2);
    EXPECT_GE(g.decode_step_ms(), 9.8);
    // Mixed steps only: after kReprobeAfter of them one decode-only step is let through.
    int32_t steps = 0;
    while (g.prefill_limit() > 0 && steps < 1000) {
        g.observe(4, g.prefill_limit(), simulated_step_ms(10.0, 0.5, g.prefill_limit()));
        ++steps;
    }
    EXPECT_EQ(steps, ItlGovernor::kReprobeAfter);
    g.observe(4, 0, 12.0);  // the probe
    EXPECT_GT(g.prefill_limit(), 0);
}
