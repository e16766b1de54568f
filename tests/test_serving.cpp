// The serving core: radix prefix cache unit tests (insert, match, split,
// evict, copy-on-write), and batched greedy output equal to sequential output
// token for token for 16 concurrent requests with chunked prefill on and off,
// with a pool small enough to force preemption, and with shared prefixes. Pool
// invariants are checked after every step; cancel mid-prefill and mid-decode
// leaves a consistent pool.
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "model/synth.h"
#include "runtime/engine.h"
#include "serving/prefix_cache.h"
#include "serving/serving_engine.h"
#include "test_support.h"

using namespace lumen;

namespace {

std::string model_path() {
    static const std::string path = [] {
        char tmpl[] = "/tmp/lumen-serving-XXXXXX";
        const std::string dir = mkdtemp(tmpl);
        SynthSpec spec;
        spec.init_std = 0.2f;  // peaked distributions: greedy picks are well separated
        const std::string p = dir + "/serving.gguf";
        Status s = write_synthetic_model(spec, test::data_dir() + "/tokenizer/ggml-vocab-llama-spm.gguf", p);
        EXPECT_TRUE(s.is_ok()) << s.message();
        return p;
    }();
    return path;
}

std::unique_ptr<Engine> load(int32_t kv_tokens, int32_t block_size = 16) {
    EngineOptions o;
    o.kv_tokens = kv_tokens;
    o.block_size = block_size;
    o.backend.n_threads = 2;
    auto e = Engine::load(model_path(), {}, o);
    EXPECT_TRUE(e.is_ok()) << e.status().message();
    return e.is_ok() ? std::move(e.value()) : nullptr;
}

using test::random_tokens;

ServeRequest greedy(std::vector<int32_t> prompt, int32_t max_tokens) {
    ServeRequest r;
    r.prompt = std::move(prompt);
    r.max_tokens = max_tokens;
    r.sampling.temperature = 0;
    r.stop_at_eos = false;
    return r;
}

// Sixteen requests of different prompt and output lengths; with shared_prefix,
// every prompt starts with the same 40 tokens.
std::vector<ServeRequest> workload(bool shared_prefix) {
    std::vector<ServeRequest> out;
    const auto prefix = random_tokens(40, 99);
    for (uint32_t i = 0; i < 16; ++i) {
        auto prompt = random_tokens(5 + (i * 13) % 70, 100 + i);
        if (shared_prefix) prompt.insert(prompt.begin(), prefix.begin(), prefix.end());
        out.push_back(greedy(prompt, 3 + int32_t(i * 7) % 29));
    }
    return out;
}

// Each request alone through Engine::generate.
std::vector<std::vector<int32_t>> sequential(const std::vector<ServeRequest>& requests) {
    auto e = load(4096);
    std::vector<std::vector<int32_t>> out;
    for (const auto& r : requests) {
        GenerationRequest g;
        g.prompt_ids = r.prompt;
        g.max_tokens = r.max_tokens;
        g.sampling = r.sampling;
        g.stop_at_eos = false;
        auto res = e->generate(g);
        EXPECT_TRUE(res.is_ok()) << res.status().message();
        out.push_back(res.is_ok() ? res->ids : std::vector<int32_t>{});
    }
    return out;
}

struct BatchedRun {
    std::vector<std::vector<int32_t>> outputs;
    int64_t preemptions = 0;
    int64_t cached_tokens = 0;
    int32_t max_running = 0;
    int32_t mixed_steps = 0;            // steps with decodes and prompt tokens
    int32_t limited_steps = 0;          // steps whose prompt tokens the ITL governor capped below the budget
    int64_t drafted = 0, accepted = 0;  // speculative draft tokens, over all requests
};

// The requests submitted at once (or the first `first_wave`, then the rest once
// those are done), stepped to completion, invariants checked after every step.
BatchedRun batched(Engine& e, const ServingOptions& options, const std::vector<ServeRequest>& requests,
                   size_t first_wave = SIZE_MAX) {
    ServingEngine serving(e, options);
    std::vector<int64_t> ids;
    for (size_t i = 0; i < requests.size() && i < first_wave; ++i) ids.push_back(serving.submit(requests[i]).value());
    BatchedRun run;
    std::map<int64_t, std::vector<int32_t>> outputs;
    for (int guard = 0; guard < 100000; ++guard) {
        if (serving.idle()) {
            if (ids.size() == requests.size()) break;
            for (size_t i = ids.size(); i < requests.size(); ++i) ids.push_back(serving.submit(requests[i]).value());
        }
        auto m = serving.step();
        EXPECT_TRUE(m.is_ok()) << m.status().message();
        if (!m.is_ok()) break;
        run.max_running = std::max(run.max_running, m->n_running + m->n_finished);
        Status inv = serving.check_invariants();
        EXPECT_TRUE(inv.is_ok()) << "step " << m->step << ": " << inv.message();
        // Fragmentation: a running sequence's blocks hold its tokens with at most one partly filled block.
        for (const RequestState* r : serving.scheduler().running()) {
            const int32_t bs = e.kv().layout().block_size;
            EXPECT_EQ(int32_t(e.kv().block_table(r->seq_id).size()), (e.kv().length(r->seq_id) + bs - 1) / bs);
            EXPECT_EQ(e.kv().length(r->seq_id), r->n_computed);
        }
        EXPECT_LE(m->n_prefill_tokens + m->n_decode_tokens, options.scheduler.max_batch_tokens + 200);
        if (m->n_decode_tokens > 0 && m->n_prefill_tokens > 0) ++run.mixed_steps;
        if (m->n_decode_tokens > 0 && m->prefill_limit >= 0) {
            EXPECT_LE(m->n_prefill_tokens, m->prefill_limit) << "step " << m->step;
            if (m->prefill_limit < options.scheduler.max_batch_tokens - m->n_decode_tokens) ++run.limited_steps;
        }
        for (auto& f : serving.take_finished()) {
            EXPECT_NE(f->finish_reason, "cancelled");
            outputs[f->id] = std::vector<int32_t>(f->tokens.begin() + f->n_prompt, f->tokens.end());
            run.cached_tokens += f->metrics.n_cached;
            run.drafted += f->metrics.n_drafted;
            run.accepted += f->metrics.n_draft_accepted;
            EXPECT_GE(f->metrics.ttft_ms(), f->metrics.queue_ms());
            EXPECT_EQ(int32_t(f->metrics.itl_ms.size()), f->metrics.n_output - 1);
        }
    }
    EXPECT_TRUE(serving.idle());
    run.preemptions = serving.preemptions();
    for (int64_t id : ids) run.outputs.push_back(outputs[id]);
    // Everything is back in the pool or in the evictable cache.
    const KVCacheManager& kv = e.kv();
    const int32_t evictable = serving.prefix_cache() ? serving.prefix_cache()->evictable_blocks() : 0;
    EXPECT_EQ(kv.free_blocks() + evictable, kv.n_blocks());
    return run;
}

void expect_same(const BatchedRun& run, const std::vector<std::vector<int32_t>>& expected) {
    ASSERT_EQ(run.outputs.size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(run.outputs[i], expected[i]) << "request " << i;
}

}  // namespace

// ------------------------------------------------------------------ radix tree

class PrefixCacheTest : public ::testing::Test {
protected:
    PrefixCacheTest() {
        KVCacheLayout l;
        l.n_layers = 1;
        l.n_kv_heads = 1;
        l.head_dim = 4;
        l.block_size = 4;
        l.n_blocks = 16;
        kv = std::make_unique<KVCacheManager>(l);
    }
    // A sequence holding `tokens` in fresh blocks, as if computed.
    int32_t computed(const std::vector<int32_t>& tokens) {
        const int32_t seq = kv->create_sequence().value();
        EXPECT_TRUE(kv->reserve(seq, int32_t(tokens.size())).is_ok());
        kv->set_length(seq, int32_t(tokens.size()));
        return seq;
    }
    std::unique_ptr<KVCacheManager> kv;
};

TEST_F(PrefixCacheTest, InsertMatchSplitEvict) {
    PrefixCache cache(*kv);
    const std::vector<int32_t> a = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14};  // 3 full blocks + 2
    const int32_t sa = computed(a);
    cache.insert(a.data(), a.size(), kv->block_table(sa));
    EXPECT_EQ(cache.cached_blocks(), 3);
    EXPECT_EQ(cache.node_count(), 1);
    EXPECT_TRUE(kv->check_invariants().is_ok());

    // Full match of the cached blocks; a partial block is never matched.
    auto m = cache.match(a.data(), a.size());
    EXPECT_EQ(m.n_tokens, 12);
    EXPECT_EQ(m.blocks, std::vector<int32_t>(kv->block_table(sa).begin(), kv->block_table(sa).begin() + 3));
    EXPECT_EQ(cache.node_count(), 1);

    // A prompt diverging in the second block matches one block and splits the edge.
    std::vector<int32_t> b = {1, 2, 3, 4, 5, 6, 99, 8, 9, 10, 11, 12};
    m = cache.match(b.data(), b.size());
    EXPECT_EQ(m.n_tokens, 4);
    EXPECT_EQ(cache.node_count(), 2);
    EXPECT_EQ(cache.match(a.data(), 7).n_tokens, 4);          // only one whole block fits in 7 tokens
    EXPECT_EQ(cache.match(a.data(), a.size()).n_tokens, 12);  // across the split
    const int32_t sb = computed(b);
    cache.insert(b.data(), b.size(), kv->block_table(sb));
    EXPECT_EQ(cache.node_count(), 3);         // root -> [blk0] -> {a's tail, b's tail}
    EXPECT_EQ(cache.cached_blocks(), 3 + 2);  // b's first block was already cached as a's
    EXPECT_TRUE(kv->check_invariants().is_ok());

    // While the sequences live nothing is evictable.
    EXPECT_EQ(cache.evict(100), 0);
    kv->free_sequence(sa);
    kv->free_sequence(sb);
    EXPECT_EQ(cache.evictable_blocks(), 5);
    const int32_t free_before = kv->free_blocks();

    // LRU: touch a's path, then evicting 2 blocks takes b's tail (least recently used) first.
    cache.match(a.data(), a.size());
    EXPECT_EQ(cache.evict(2), 2);
    EXPECT_EQ(kv->free_blocks(), free_before + 2);
    EXPECT_EQ(cache.match(a.data(), a.size()).n_tokens, 12);
    EXPECT_EQ(cache.match(b.data(), b.size()).n_tokens, 4);
    EXPECT_TRUE(kv->check_invariants().is_ok());

    // A sequence using a's first two blocks pins them; eviction takes a's tail only.
    auto pinned = cache.match(a.data(), 8);
    const int32_t sp = kv->create_sequence_from(pinned.blocks, pinned.n_tokens).value();
    EXPECT_EQ(cache.evict(100), 1);
    EXPECT_EQ(cache.cached_blocks(), 2);
    kv->free_sequence(sp);
    cache.clear();
    EXPECT_EQ(cache.cached_blocks(), 0);
    EXPECT_EQ(kv->free_blocks(), kv->n_blocks());
    EXPECT_TRUE(kv->check_invariants().is_ok());
}

TEST_F(PrefixCacheTest, EvictPathKeepsWhatOtherPathsShare) {
    PrefixCache cache(*kv);
    const std::vector<int32_t> a = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    const std::vector<int32_t> b = {1, 2, 3, 4, 5, 6, 7, 8, 90, 91, 92, 93};
    for (const auto* t : {&a, &b}) {
        const int32_t s = computed(*t);
        cache.insert(t->data(), t->size(), kv->block_table(s));
        kv->free_sequence(s);
    }
    EXPECT_EQ(cache.cached_blocks(), 4);                 // two shared, one tail each
    EXPECT_EQ(cache.evict_path(a.data(), a.size()), 1);  // a's tail only: b still continues the prefix
    EXPECT_EQ(cache.match(b.data(), b.size()).n_tokens, 12);
    EXPECT_EQ(cache.match(a.data(), a.size()).n_tokens, 8);
    EXPECT_EQ(cache.evict_path(b.data(), b.size()), 3);  // now nothing else uses the prefix
    EXPECT_EQ(cache.cached_blocks(), 0);
    EXPECT_EQ(kv->free_blocks(), kv->n_blocks());
    EXPECT_TRUE(kv->check_invariants().is_ok());
}

// Two sequences that computed the same prefix at once: the cache keeps one copy.
// While the first copy is in use, the second sequence's later blocks hang below
// it, and once the first sequence ends its blocks are not counted as evictable
// (eviction cannot reach them past a live block); the next insert from the
// second sequence swaps them for its own and frees the duplicates at once.
TEST_F(PrefixCacheTest, DuplicatePrefixBlocksGiveWayAndAreCountedExactly) {
    PrefixCache cache(*kv);
    const std::vector<int32_t> first = {1, 2, 3, 4, 5, 6, 7, 8};
    std::vector<int32_t> second = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    const int32_t sa = computed(first);
    const int32_t sb = computed(second);
    cache.insert(first.data(), first.size(), kv->block_table(sa));
    cache.insert(second.data(), second.size(), kv->block_table(sb));
    EXPECT_EQ(cache.cached_blocks(), 3);  // first's two blocks, then second's third
    EXPECT_EQ(cache.node_count(), 2);
    kv->free_sequence(sa);
    // first's two blocks are held by the cache only, but second's third block below them is live.
    EXPECT_EQ(cache.evictable_blocks(), 0);
    EXPECT_EQ(cache.evict(10), 0);
    const int32_t free_before = kv->free_blocks();

    // second fills a fourth block; inserting it swaps in second's own first two blocks.
    ASSERT_TRUE(kv->reserve(sb, 16).is_ok());
    kv->set_length(sb, 16);
    for (int32_t t = 13; t <= 16; ++t) second.push_back(t);
    cache.insert(second.data(), second.size(), kv->block_table(sb));
    EXPECT_EQ(kv->free_blocks(), free_before - 1 + 2);  // one block reserved, two duplicates freed
    EXPECT_EQ(cache.cached_blocks(), 4);
    const auto m = cache.match(second.data(), second.size());
    EXPECT_EQ(m.blocks, kv->block_table(sb));
    EXPECT_TRUE(kv->check_invariants().is_ok());

    kv->free_sequence(sb);
    EXPECT_EQ(cache.evictable_blocks(), 4);
    EXPECT_EQ(cache.evict(10), 4);
    EXPECT_EQ(kv->free_blocks(), kv->n_blocks());
}

TEST_F(PrefixCacheTest, ForkCopiesASharedPartialBlockOnWrite) {
    const int32_t s = computed({1, 2, 3, 4, 5, 6});  // one full block, one with 2 of 4 slots
    const int32_t f = kv->fork_sequence(s).value();
    EXPECT_EQ(kv->block_table(f), kv->block_table(s));
    EXPECT_EQ(kv->refcount(kv->block_table(s)[1]), 2);
    EXPECT_EQ(kv->blocks_needed(f, 1), 1);  // the copy
    const int32_t shared = kv->block_table(s)[1];
    ASSERT_TRUE(kv->reserve(f, 7).is_ok());
    EXPECT_NE(kv->block_table(f)[1], shared);
    EXPECT_EQ(kv->block_table(f)[0], kv->block_table(s)[0]);  // the full block stays shared
    const auto copies = kv->take_pending_copies();
    ASSERT_EQ(copies.size(), 1u);
    EXPECT_EQ(copies[0], std::make_pair(shared, kv->block_table(f)[1]));
    EXPECT_EQ(kv->refcount(shared), 1);
    EXPECT_TRUE(kv->check_invariants().is_ok());
}

// Forked sequences continue independently: the copy carries the shared prefix's KV.
TEST(ServingEngine, ForkedSequencesDecodeLikeFreshOnes) {
    auto e = load(512, 4);
    ASSERT_TRUE(e);
    const auto prompt = random_tokens(10, 5);  // ends mid-block
    std::vector<float> logits, fork_logits, fresh_logits;
    const int32_t s = e->create_sequence().value();
    ASSERT_TRUE(e->step({{s, prompt, false}}, &logits).is_ok());
    const int32_t f = e->fork_sequence(s).value();
    ASSERT_TRUE(e->step({{s, {7}, false}, {f, {8}, false}}, &logits).is_ok());
    ASSERT_TRUE(e->step({{f, {9}, false}}, &fork_logits).is_ok());
    // Fresh: prompt + 8 + 9 on its own.
    auto tokens = prompt;
    tokens.push_back(8);
    tokens.push_back(9);
    const int32_t g = e->create_sequence().value();
    ASSERT_TRUE(e->step({{g, tokens, false}}, &fresh_logits).is_ok());
    ASSERT_EQ(fork_logits.size(), fresh_logits.size());
    for (size_t i = 0; i < fresh_logits.size(); ++i) ASSERT_NEAR(fork_logits[i], fresh_logits[i], 1e-3f) << i;
    EXPECT_TRUE(e->kv().check_invariants().is_ok());
}

// ------------------------------------------------------------------ batched equals sequential

class BatchedEqualsSequential : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        plain_ = new std::vector<ServeRequest>(workload(false));
        shared_ = new std::vector<ServeRequest>(workload(true));
        plain_expected_ = new std::vector<std::vector<int32_t>>(sequential(*plain_));
        shared_expected_ = new std::vector<std::vector<int32_t>>(sequential(*shared_));
    }
    static void TearDownTestSuite() {
        delete plain_;
        delete shared_;
        delete plain_expected_;
        delete shared_expected_;
    }
    static std::vector<ServeRequest>* plain_;
    static std::vector<ServeRequest>* shared_;
    static std::vector<std::vector<int32_t>>* plain_expected_;
    static std::vector<std::vector<int32_t>>* shared_expected_;
};
std::vector<ServeRequest>* BatchedEqualsSequential::plain_;
std::vector<ServeRequest>* BatchedEqualsSequential::shared_;
std::vector<std::vector<int32_t>>* BatchedEqualsSequential::plain_expected_;
std::vector<std::vector<int32_t>>* BatchedEqualsSequential::shared_expected_;

TEST_F(BatchedEqualsSequential, ChunkedPrefill) {
    auto e = load(4096);
    ServingOptions o;
    o.scheduler.max_batch_tokens = 48;  // prompts up to 75 tokens: several are split
    o.prefix_cache = false;
    const BatchedRun run = batched(*e, o, *plain_);
    expect_same(run, *plain_expected_);
    EXPECT_GE(run.max_running, 8);  // requests really ran together
}

TEST_F(BatchedEqualsSequential, WithoutChunkedPrefill) {
    auto e = load(4096);
    ServingOptions o;
    o.scheduler.chunked_prefill = false;
    o.scheduler.max_batch_tokens = 256;
    o.prefix_cache = false;
    const BatchedRun run = batched(*e, o, *plain_);
    expect_same(run, *plain_expected_);
    EXPECT_GE(run.max_running, 8);
}

// The ITL governor sizes prompt chunks beside decodes from measured step times;
// whatever sizes it picks, the tokens are those of sequential runs.
TEST_F(BatchedEqualsSequential, ItlGovernorLimitsPromptChunksBesideDecodes) {
    auto e = load(4096);
    ServingOptions o;
    o.scheduler.max_batch_tokens = 64;
    o.max_itl_factor = 2.0;
    o.prefix_cache = false;
    const BatchedRun run = batched(*e, o, *plain_);
    expect_same(run, *plain_expected_);
    EXPECT_GT(run.limited_steps, 0);
}

// Prompt-lookup speculation in the serving core: drafts verified in the batched step,
// rejected drafts' KV dropped; greedy output stays the sequential output, also when the
// pool is small enough to preempt.
TEST_F(BatchedEqualsSequential, SpeculativeDraftsKeepTheOutput) {
    // Long replies: greedy decoding of the peaked synthetic model falls into loops, which
    // prompt lookup then predicts.
    std::vector<ServeRequest> requests;
    for (uint32_t i = 0; i < 8; ++i) requests.push_back(greedy(random_tokens(6 + i * 5, 300 + i), 60 + int32_t(i) * 5));
    const auto expected = sequential(requests);
    for (ServeRequest& r : requests) {
        r.lookup_draft = 4;
        r.lookup_ngram = 2;
    }
    for (int32_t kv_tokens : {4096, 240}) {
        auto e = load(kv_tokens);
        ServingOptions o;
        o.scheduler.max_batch_tokens = 64;
        const BatchedRun run = batched(*e, o, requests);
        expect_same(run, expected);
        EXPECT_GT(run.drafted, 0) << kv_tokens;  // drafts were fed, rejected and rolled back
        EXPECT_LT(run.accepted, run.drafted) << kv_tokens;
    }
}

// Draft-model speculation in the serving core, the target itself as the draft (a second
// engine on the same file): greedy output stays the sequential output, nearly every draft
// is accepted, and the draft engine's pool is empty afterwards, also under preemption.
TEST_F(BatchedEqualsSequential, DraftModelKeepsTheOutput) {
    std::vector<ServeRequest> requests = *plain_;
    for (ServeRequest& r : requests) r.draft_model_tokens = 3;
    for (int32_t kv_tokens : {4096, 160}) {
        auto e = load(kv_tokens);
        auto draft = load(4096);
        ServingOptions o;
        o.scheduler.max_batch_tokens = 64;
        o.draft_engine = draft.get();
        const BatchedRun run = batched(*e, o, requests);
        expect_same(run, *plain_expected_);
        EXPECT_GT(run.drafted, 0) << kv_tokens;
        EXPECT_GT(run.accepted, run.drafted * 9 / 10) << kv_tokens;
        EXPECT_EQ(draft->kv().free_blocks(), draft->kv().n_blocks()) << kv_tokens;
        EXPECT_EQ(draft->kv().n_sequences(), 0) << kv_tokens;
    }
    auto e = load(1024);
    ServingEngine without(*e);
    auto refused = without.submit(requests[0]);
    ASSERT_FALSE(refused.is_ok());
    EXPECT_NE(refused.status().message().find("no draft model"), std::string::npos);

    // The draft model can be set later (the GUI does), but not changed while a request
    // drafts with it.
    auto draft = load(1024);
    ASSERT_TRUE(without.set_draft_engine(draft.get()).is_ok());
    ServeRequest long_reply = requests[0];
    long_reply.max_tokens = 400;  // still running after the first drafts
    auto id = without.submit(long_reply);
    ASSERT_TRUE(id.is_ok()) << id.status().message();
    bool drafting = false;
    for (int i = 0; i < 20 && !drafting; ++i) {
        auto m = without.step();
        ASSERT_TRUE(m.is_ok()) << m.status().message();
        drafting = m->n_draft_tokens > 0;
    }
    ASSERT_TRUE(drafting);
    const Status busy = without.set_draft_engine(nullptr);
    ASSERT_FALSE(busy.is_ok());
    EXPECT_NE(busy.message().find("drafting"), std::string::npos) << busy.message();
    ASSERT_TRUE(without.cancel(id.value()).is_ok());
    EXPECT_TRUE(without.set_draft_engine(nullptr).is_ok());
    EXPECT_EQ(draft->kv().n_sequences(), 0);
}

// On the real model with repetitive prompts most drafts are accepted, and the batched
// speculative output equals each request alone through Engine::generate.
TEST(ServingEngine, SpeculativeDraftsOnTheRealModel) {
    const std::string path = test::default_model_path();
    if (!test::file_exists(path)) GTEST_SKIP() << "default model not downloaded: " << path;
    EngineOptions eo;
    eo.kv_tokens = 2048;
    eo.backend.n_threads = 2;
    auto e = Engine::load(path, {}, eo);
    ASSERT_TRUE(e.is_ok()) << e.status().message();
    Engine& engine = *e.value();
    std::vector<ServeRequest> requests;
    std::string text;
    for (int i = 0; i < 5; ++i) text += "Once upon a time there was a little cat. The little cat liked to play. ";
    for (int i = 0; i < 3; ++i) {
        auto prompt = engine.tokenizer().encode(text.substr(size_t(i) * 5), true, false);
        requests.push_back(greedy(prompt, 40));
    }
    std::vector<std::vector<int32_t>> expected;
    for (const ServeRequest& r : requests) {
        GenerationRequest g;
        g.prompt_ids = r.prompt;
        g.max_tokens = r.max_tokens;
        g.sampling.temperature = 0;
        g.stop_at_eos = false;
        expected.push_back(engine.generate(g)->ids);
    }
    for (ServeRequest& r : requests) r.lookup_draft = 4;
    ServingOptions o;
    o.scheduler.max_batch_tokens = 128;
    const BatchedRun run = batched(engine, o, requests);
    expect_same(run, expected);
    EXPECT_GT(run.drafted, 0);
    EXPECT_GT(run.accepted, run.drafted / 2);
}

TEST_F(BatchedEqualsSequential, SmallPoolPreempts) {
    auto e = load(160);  // 10 blocks of 16 tokens for 16 requests of up to 105 tokens
    ServingOptions o;
    o.scheduler.max_batch_tokens = 64;
    const BatchedRun run = batched(*e, o, *plain_);
    expect_same(run, *plain_expected_);
    EXPECT_GT(run.preemptions, 0);
}

TEST_F(BatchedEqualsSequential, SmallPoolPreemptsWithoutChunking) {
    auto e = load(160);
    ServingOptions o;
    o.scheduler.chunked_prefill = false;
    o.prefix_cache = false;
    const BatchedRun run = batched(*e, o, *plain_);
    expect_same(run, *plain_expected_);
    EXPECT_GT(run.preemptions, 0);
}

TEST_F(BatchedEqualsSequential, SharedPrefixesHitTheCache) {
    auto e = load(4096);
    ServingOptions o;
    o.scheduler.max_batch_tokens = 64;
    const BatchedRun run = batched(*e, o, *shared_);
    expect_same(run, *shared_expected_);
    // Only the first request computes the 40-token prefix's two full blocks.
    EXPECT_GE(run.cached_tokens, 32 * 10);
}

TEST_F(BatchedEqualsSequential, SecondWaveReusesTheFirstWavesBlocks) {
    auto e = load(4096);
    ServingOptions o;
    o.scheduler.max_batch_tokens = 64;
    const BatchedRun run = batched(*e, o, *shared_, 4);
    expect_same(run, *shared_expected_);
    EXPECT_GE(run.cached_tokens, 32 * 12);  // every second-wave request hits the cached prefix
}

// Parallel sampling: n samples share the prompt's blocks and each equals a
// sequential run with its own seed (seed + i).
TEST(ServingEngine, ParallelSamplesShareThePromptAndMatchSequentialRuns) {
    auto e = load(2048);
    ServingEngine serving(*e);
    ServeRequest r = greedy(random_tokens(37, 21), 12);  // 2 full blocks + a shared partial one
    r.sampling.temperature = 0.9f;
    r.sampling.top_k = 0;
    r.sampling.top_p = 1.f;
    r.sampling.min_p = 0.f;
    r.sampling.seed = 77;
    r.n = 4;
    const int64_t id = serving.submit(r).value();
    bool checked_sharing = false;
    std::map<int32_t, std::vector<int32_t>> by_sample;
    while (!serving.idle()) {
        ASSERT_TRUE(serving.step().is_ok());
        ASSERT_TRUE(serving.check_invariants().is_ok());
        const auto& running = serving.scheduler().running();
        if (!checked_sharing && running.size() == 4) {
            // The first prompt block is held by all four sequences.
            const int32_t first = e->kv().block_table(running[0]->seq_id)[0];
            EXPECT_GE(e->kv().refcount(first), 4);
            checked_sharing = true;
        }
        for (auto& f : serving.take_finished()) {
            EXPECT_EQ(f->group_id, id);
            by_sample[f->sample_index] = std::vector<int32_t>(f->tokens.begin() + f->n_prompt, f->tokens.end());
        }
    }
    EXPECT_TRUE(checked_sharing);
    ASSERT_EQ(by_sample.size(), 4u);
    std::set<std::vector<int32_t>> distinct;
    for (int32_t i = 0; i < 4; ++i) {
        GenerationRequest g;
        g.prompt_ids = r.prompt;
        g.max_tokens = r.max_tokens;
        g.sampling = r.sampling;
        g.sampling.seed = r.sampling.seed + uint64_t(i);
        g.stop_at_eos = false;
        auto alone = load(2048)->generate(g);
        ASSERT_TRUE(alone.is_ok());
        EXPECT_EQ(by_sample[i], alone->ids) << "sample " << i;
        distinct.insert(by_sample[i]);
    }
    EXPECT_GT(distinct.size(), 1u);  // the samples really differ
    EXPECT_FALSE(serving
                     .submit([&] {
                         auto bad = r;
                         bad.n = 0;
                         return bad;
                     }())
                     .is_ok());
}

// ------------------------------------------------------------------ lifecycle

TEST(ServingEngine, CancelMidPrefillAndMidDecodeLeavesAConsistentPool) {
    auto e = load(1024);
    ServingOptions o;
    o.scheduler.max_batch_tokens = 32;
    ServingEngine serving(*e, o);
    const int64_t long_prompt = serving.submit(greedy(random_tokens(200, 1), 10)).value();
    const int64_t decoding = serving.submit(greedy(random_tokens(10, 2), 100)).value();
    ASSERT_TRUE(serving.step().is_ok());
    // After one 32-token step the long prompt is mid-prefill.
    const RequestState* lp = serving.request(long_prompt);
    ASSERT_TRUE(lp);
    EXPECT_GT(lp->n_computed, 0);
    EXPECT_LT(lp->n_computed, 200);
    ASSERT_TRUE(serving.cancel(long_prompt).is_ok());
    EXPECT_TRUE(serving.check_invariants().is_ok());
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(serving.step().is_ok());
    EXPECT_GT(serving.request(decoding)->n_generated(), 1);
    ASSERT_TRUE(serving.cancel(decoding).is_ok());
    EXPECT_TRUE(serving.check_invariants().is_ok());
    EXPECT_TRUE(serving.idle());
    auto finished = serving.take_finished();
    ASSERT_EQ(finished.size(), 2u);
    EXPECT_EQ(finished[0]->finish_reason, "cancelled");
    EXPECT_EQ(finished[1]->finish_reason, "cancelled");
    serving.prefix_cache()->clear();
    EXPECT_EQ(e->kv().free_blocks(), e->kv().n_blocks());
    EXPECT_FALSE(serving.cancel(decoding).is_ok());  // no longer in flight
}

// A token callback may cancel another request of the same step.
TEST(ServingEngine, CallbackCancelsAnotherRequest) {
    auto e = load(1024);
    ServingEngine serving(*e);
    const int64_t a = serving.submit(greedy(random_tokens(20, 7), 10)).value();
    const int64_t b = serving.submit(greedy(random_tokens(40, 8), 10)).value();
    serving.set_token_callback([&](const TokenOutput& out) {
        if (out.request_id == a && out.index == 2 && serving.request(b)) (void)serving.cancel(b);
    });
    while (!serving.idle()) {
        auto m = serving.step();
        ASSERT_TRUE(m.is_ok()) << m.status().message();
        ASSERT_TRUE(serving.check_invariants().is_ok());
    }
    std::map<int64_t, std::string> reasons;
    for (auto& f : serving.take_finished()) reasons[f->id] = f->finish_reason;
    EXPECT_EQ(reasons[a], "max_tokens");
    EXPECT_EQ(reasons[b], "cancelled");
}

TEST(ServingEngine, PrioritiesThenArrivalOrder) {
    auto e = load(1024);
    ServingOptions o;
    o.scheduler.max_running = 1;  // one at a time makes the order visible
    ServingEngine serving(*e, o);
    ServeRequest low = greedy(random_tokens(8, 3), 2), high = low;
    high.priority = 5;
    const int64_t a = serving.submit(low).value();
    const int64_t b = serving.submit(low).value();
    const int64_t c = serving.submit(high).value();
    std::vector<int64_t> order;
    while (!serving.idle()) {
        ASSERT_TRUE(serving.step().is_ok());
        for (auto& f : serving.take_finished()) order.push_back(f->id);
    }
    EXPECT_EQ(order, (std::vector<int64_t>{c, a, b}));
}

TEST(ServingEngine, BadRequestsAreErrors) {
    auto e = load(256);
    ServingEngine serving(*e);
    auto empty = serving.submit(greedy({}, 4));
    EXPECT_FALSE(empty.is_ok());
    auto too_long = serving.submit(greedy(random_tokens(300, 1), 4));
    ASSERT_FALSE(too_long.is_ok());
    EXPECT_NE(too_long.status().message().find("300"), std::string::npos);
    auto bad_token = serving.submit(greedy({5, 999999}, 4));
    ASSERT_FALSE(bad_token.is_ok());
    EXPECT_NE(bad_token.status().message().find("999999"), std::string::npos);
    EXPECT_FALSE(serving.submit(greedy({5}, 0)).is_ok());
    EXPECT_TRUE(serving.idle());
    ServingOptions bad_factor;
    bad_factor.max_itl_factor = 0.5;
    ServingEngine misconfigured(*e, bad_factor);
    auto refused = misconfigured.submit(greedy({5, 6}, 4));
    ASSERT_FALSE(refused.is_ok());
    EXPECT_NE(refused.status().message().find("ITL factor"), std::string::npos);
}

// Stop strings in the serving core: requests batched together end where Engine::generate
// ends them, with the same text (stop string removed), and their streamed text (the
// per-request token callback) adds up to it.
TEST(ServingEngine, StopStringsEndBatchedRequestsAsEngineGenerate) {
    auto e = load(2048);
    std::vector<ServeRequest> requests;
    for (uint32_t i = 0; i < 6; ++i) requests.push_back(greedy(random_tokens(8 + i * 7, 500 + i), 40));
    // Each request's stop string: a few bytes from the middle of its own greedy text.
    std::vector<GenerationResult> expected;
    for (ServeRequest& r : requests) {
        GenerationRequest g;
        g.prompt_ids = r.prompt;
        g.max_tokens = r.max_tokens;
        g.sampling = r.sampling;
        g.stop_at_eos = false;
        auto full = e->generate(g);
        ASSERT_TRUE(full.is_ok()) << full.status().message();
        ASSERT_GE(full->text.size(), 8u);
        r.stop_strings = {full->text.substr(full->text.size() / 2, 3), "never in the text"};
        g.stop_strings = r.stop_strings;
        auto stopped = e->generate(g);
        ASSERT_TRUE(stopped.is_ok());
        EXPECT_EQ(stopped->stop_reason, "stop_string");
        expected.push_back(stopped.value());
    }
    ServingEngine serving(*e);
    std::map<int64_t, std::string> streamed;
    std::vector<int64_t> ids;
    for (const ServeRequest& r : requests)
        ids.push_back(serving.submit(r, [&](const TokenOutput& out) { streamed[out.request_id] += out.text; }).value());
    while (!serving.idle()) ASSERT_TRUE(serving.step().is_ok());
    for (size_t i = 0; i < ids.size(); ++i) {
        auto f = serving.take_finished(ids[i]);
        ASSERT_TRUE(f);
        EXPECT_EQ(std::vector<int32_t>(f->tokens.begin() + f->n_prompt, f->tokens.end()), expected[i].ids) << i;
        EXPECT_EQ(f->text.text(), expected[i].text) << i;
        EXPECT_EQ(f->finish_reason, "stop_string") << i;
        EXPECT_EQ(streamed[ids[i]], expected[i].text) << i;
    }
    EXPECT_FALSE(serving.take_finished(ids[0]));  // taken already
}

// Early exit in the serving core: a decode step that runs alone exits at the rule's
// layer; batched with another request's work it runs every layer.
TEST(ServingEngine, EarlyExitAppliesToALoneDecode) {
    auto e = load(1024);
    const int32_t layers = e->model().config.n_layers;
    ASSERT_GE(layers, 2);
    ServingEngine serving(*e);
    ServeRequest short_one = greedy(random_tokens(10, 40), 4), long_one = greedy(random_tokens(12, 41), 12);
    short_one.early_exit = long_one.early_exit = {1000.f, 1, 1};  // no entropy is that high: exits at layer 1
    const int64_t a = serving.submit(short_one).value();
    const int64_t b = serving.submit(long_one).value();
    while (!serving.idle()) ASSERT_TRUE(serving.step().is_ok());
    auto fa = serving.take_finished(a), fb = serving.take_finished(b);
    ASSERT_TRUE(fa && fb);
    const auto& counts = fb->metrics.exit_layer_counts;
    ASSERT_EQ(counts.size(), size_t(layers) + 1);
    EXPECT_GT(counts[size_t(layers)], 0);  // beside the short request's decodes
    EXPECT_GT(counts[1], 0);               // alone, after it finished
    EXPECT_EQ(counts[1] + counts[size_t(layers)], fb->n_generated() - 1);
    EXPECT_EQ(fa->metrics.exit_layer_counts[1], 0);  // it never decoded alone
    // Not with speculative drafts.
    ServeRequest both = long_one;
    both.lookup_draft = 2;
    auto refused = serving.submit(both);
    ASSERT_FALSE(refused.is_ok());
    EXPECT_NE(refused.status().message().find("early exit"), std::string::npos);
}
