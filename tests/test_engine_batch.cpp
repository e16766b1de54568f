// The forward pass over a ragged batch and the paged KV cache, on small
// synthetic models (random weights, the llama-spm test vocabulary):
//  - three sequences of different lengths in one batch give the same logits as
//    each run alone (relative error <= 1e-5), also with interleaved block tables;
//  - logits equal an independent, naive double-precision forward pass for
//    llama (GQA and MQA) and qwen2 (QKV biases, NeoX RoPE);
//  - chunked prefill equals one pass; a full pool is a recoverable error that
//    changes nothing; every block returns to the pool;
//  - the activation bytes the backend reports are the shared table's at its capacity.
#include <gtest/gtest.h>

#include <unistd.h>
#include <cmath>
#include <cstdio>
#include <random>
#include <sstream>

#include "backend/activations.h"
#include "model/synth.h"
#include "runtime/engine.h"
#include "test_support.h"

using namespace lumen;

namespace {

std::string vocab_path() {
    return test::data_dir() + "/tokenizer/ggml-vocab-llama-spm.gguf";
}

std::string make_model(const SynthSpec& spec, const std::string& name) {
    static std::string dir = [] {
        char tmpl[] = "/tmp/lumen-batch-XXXXXX";
        return std::string(mkdtemp(tmpl));
    }();
    const std::string path = dir + "/" + name + ".gguf";
    Status s = write_synthetic_model(spec, vocab_path(), path);
    EXPECT_TRUE(s.is_ok()) << s.message();
    return path;
}

std::unique_ptr<Engine> load(const std::string& path, EngineOptions opts = {}) {
    auto e = Engine::load(path, {}, opts);
    EXPECT_TRUE(e.is_ok()) << e.status().message();
    return e.is_ok() ? std::move(e.value()) : nullptr;
}

using test::random_tokens;

double max_rel_error(const float* a, const float* b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; ++i) {
        num = std::max(num, double(std::fabs(a[i] - b[i])));
        den = std::max(den, double(std::fabs(b[i])));
    }
    return num / den;
}

// ------------------------------------------------------------------ naive reference forward (double, contiguous KV)

std::vector<double> row_f64(const TensorView& t, int64_t r) {
    std::vector<float> f(size_t(t.cols));
    dequantize_row(t.type, t.row(r), f.data(), t.cols);
    return {f.begin(), f.end()};
}

std::vector<double> matvec(const TensorView& w, const std::vector<double>& x) {
    std::vector<double> y(size_t(w.rows));
    for (int64_t r = 0; r < w.rows; ++r) {
        const auto row = row_f64(w, r);
        double s = 0;
        for (int64_t c = 0; c < w.cols; ++c) s += row[size_t(c)] * x[size_t(c)];
        y[size_t(r)] = s;
    }
    return y;
}

std::vector<double> rmsnorm(const std::vector<double>& x, const TensorView& w, double eps) {
    double ss = 0;
    for (double v : x) ss += v * v;
    const double inv = 1.0 / std::sqrt(ss / double(x.size()) + eps);
    const auto* g = static_cast<const float*>(w.data);
    std::vector<double> y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * inv * g[i];
    return y;
}

void rope_ref(std::vector<double>& v, int n_heads, int head_dim, int pos, double theta, bool neox) {
    for (int h = 0; h < n_heads; ++h)
        for (int i = 0; i < head_dim / 2; ++i) {
            const double angle = pos * std::pow(theta, -2.0 * i / head_dim);
            const int a = neox ? i : 2 * i, b = neox ? i + head_dim / 2 : 2 * i + 1;
            double& x0 = v[size_t(h * head_dim + a)];
            double& x1 = v[size_t(h * head_dim + b)];
            const double r0 = x0 * std::cos(angle) - x1 * std::sin(angle);
            const double r1 = x0 * std::sin(angle) + x1 * std::cos(angle);
            x0 = r0;
            x1 = r1;
        }
}

// Logits of the last token of `tokens`, computed naively from the definition.
std::vector<double> reference_logits(const Model& m, const std::vector<int32_t>& tokens) {
    const ModelConfig& c = m.config;
    const ModelWeights& w = m.weights;
    const int hd = c.head_dim, group = c.n_heads / c.n_kv_heads;
    std::vector<std::vector<std::vector<double>>> K(size_t(c.n_layers)), V(size_t(c.n_layers));
    std::vector<double> x;
    for (size_t pos = 0; pos < tokens.size(); ++pos) {
        x = row_f64(w.token_embedding, tokens[pos]);
        for (int l = 0; l < c.n_layers; ++l) {
            const LayerWeights& lw = w.layers[size_t(l)];
            auto xn = rmsnorm(x, lw.attn_norm, c.rms_eps);
            auto q = matvec(lw.wq, xn), k = matvec(lw.wk, xn), v = matvec(lw.wv, xn);
            auto add_bias = [](std::vector<double>& y, const TensorView& b) {
                if (!b.present()) return;
                for (size_t i = 0; i < y.size(); ++i) y[i] += static_cast<const float*>(b.data)[i];
            };
            add_bias(q, lw.bq);
            add_bias(k, lw.bk);
            add_bias(v, lw.bv);
            const bool neox = c.rope_style == RopeStyle::neox;
            rope_ref(q, c.n_heads, hd, int(pos), c.rope_theta, neox);
            rope_ref(k, c.n_kv_heads, hd, int(pos), c.rope_theta, neox);
            K[size_t(l)].push_back(k);
            V[size_t(l)].push_back(v);
            std::vector<double> att(size_t(c.q_dim()), 0.0);
            for (int h = 0; h < c.n_heads; ++h) {
                const int kvh = h / group;
                std::vector<double> s(pos + 1);
                double mx = -1e300;
                for (size_t p = 0; p <= pos; ++p) {
                    double d = 0;
                    for (int i = 0; i < hd; ++i) d += q[size_t(h * hd + i)] * K[size_t(l)][p][size_t(kvh * hd + i)];
                    s[p] = d / std::sqrt(double(hd));
                    mx = std::max(mx, s[p]);
                }
                double z = 0;
                for (auto& e : s) z += (e = std::exp(e - mx));
                for (size_t p = 0; p <= pos; ++p)
                    for (int i = 0; i < hd; ++i)
                        att[size_t(h * hd + i)] += s[p] / z * V[size_t(l)][p][size_t(kvh * hd + i)];
            }
            auto o = matvec(lw.wo, att);
            for (size_t i = 0; i < x.size(); ++i) x[i] += o[i];
            xn = rmsnorm(x, lw.ffn_norm, c.rms_eps);
            auto g = matvec(lw.w_gate, xn), u = matvec(lw.w_up, xn);
            for (size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1 + std::exp(-g[i])) * u[i];
            auto d = matvec(lw.w_down, g);
            for (size_t i = 0; i < x.size(); ++i) x[i] += d[i];
        }
    }
    return matvec(w.output, rmsnorm(x, w.output_norm, c.rms_eps));
}

void expect_matches_reference(const SynthSpec& spec, const std::string& name) {
    EngineOptions opts;
    opts.kv_type = DType::F32;
    opts.block_size = 4;
    auto e = load(make_model(spec, name), opts);
    ASSERT_TRUE(e);
    const auto tokens = random_tokens(11, 7);
    auto seq = e->create_sequence();
    std::vector<float> logits;
    ASSERT_TRUE(e->step({{seq.value(), tokens, false}}, &logits).is_ok());
    const auto ref = reference_logits(e->model(), tokens);
    ASSERT_EQ(logits.size(), ref.size());
    double num = 0, den = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
        num += (logits[i] - ref[i]) * (logits[i] - ref[i]);
        den += ref[i] * ref[i];
    }
    EXPECT_LT(num / den, 1e-9) << name << ": NMSE of engine logits against the naive double-precision forward";
}

}  // namespace

TEST(EngineForward, LlamaGqaMatchesNaiveReference) {
    SynthSpec s;
    s.init_std = 0.2f;  // large enough that attention is far from uniform
    expect_matches_reference(s, "llama-gqa");
}

TEST(EngineForward, LlamaMqaUntiedMatchesNaiveReference) {
    SynthSpec s;
    s.n_kv_heads = 1;
    s.tied_output = false;
    s.init_std = 0.2f;
    expect_matches_reference(s, "llama-mqa");
}

TEST(EngineForward, Qwen2BiasNeoxMatchesNaiveReference) {
    SynthSpec s;
    s.architecture = "qwen2";
    s.init_std = 0.2f;
    s.rope_theta = 1000000.f;
    expect_matches_reference(s, "qwen2");
}

TEST(EngineForward, RaggedBatchEqualsEachSequenceAlone) {
    SynthSpec spec;
    spec.init_std = 0.2f;
    EngineOptions opts;
    opts.block_size = 4;  // many small blocks, so tables interleave as sequences grow
    auto batched = load(make_model(spec, "ragged"), opts);
    auto alone = load(make_model(spec, "ragged"), opts);
    ASSERT_TRUE(batched && alone);
    const int32_t vocab = batched->model().config.vocab_size;
    const std::vector<std::vector<int32_t>> prompts = {random_tokens(5, 1), random_tokens(17, 2), random_tokens(33, 3)};

    std::vector<int32_t> seqs;
    std::vector<SequenceInput> inputs;
    for (const auto& p : prompts) {
        seqs.push_back(batched->create_sequence().value());
        inputs.push_back({seqs.back(), p, true});
    }
    std::vector<float> batch_logits;
    ASSERT_TRUE(batched->step(inputs, &batch_logits).is_ok());
    ASSERT_TRUE(batched->kv().check_invariants().is_ok());
    // Three decode steps, one token per sequence, interleaving their block allocation.
    std::vector<std::vector<float>> decode_logits;
    for (int step = 0; step < 3; ++step) {
        std::vector<SequenceInput> decode;
        for (size_t i = 0; i < seqs.size(); ++i) decode.push_back({seqs[i], {int32_t(100 + step + 7 * int(i))}, false});
        decode_logits.emplace_back();
        ASSERT_TRUE(batched->step(decode, &decode_logits.back()).is_ok());
        ASSERT_TRUE(batched->kv().check_invariants().is_ok()) << batched->kv().check_invariants().message();
    }

    size_t row = 0;
    for (size_t i = 0; i < prompts.size(); ++i) {
        auto seq = alone->create_sequence().value();
        std::vector<float> logits;
        ASSERT_TRUE(alone->step({{seq, prompts[i], true}}, &logits).is_ok());
        for (size_t t = 0; t < prompts[i].size(); ++t, ++row)
            EXPECT_LE(max_rel_error(batch_logits.data() + row * size_t(vocab), logits.data() + t * size_t(vocab),
                                    size_t(vocab)),
                      1e-5)
                << "sequence " << i << " token " << t;
        for (int step = 0; step < 3; ++step) {
            ASSERT_TRUE(alone->step({{seq, {int32_t(100 + step + 7 * int(i))}, false}}, &logits).is_ok());
            EXPECT_LE(
                max_rel_error(decode_logits[size_t(step)].data() + i * size_t(vocab), logits.data(), size_t(vocab)),
                1e-5)
                << "sequence " << i << " decode step " << step;
        }
        alone->free_sequence(seq);
    }
    for (int32_t s : seqs) batched->free_sequence(s);
    EXPECT_EQ(batched->kv().free_blocks(), batched->kv().n_blocks());
    EXPECT_TRUE(batched->kv().check_invariants().is_ok());
}

TEST(EngineForward, ChunkedPrefillEqualsOnePass) {
    SynthSpec spec;
    spec.init_std = 0.2f;
    const std::string path = make_model(spec, "chunked");
    EngineOptions small_chunks;
    small_chunks.max_batch_tokens = 7;
    auto a = load(path), b = load(path, small_chunks);
    ASSERT_TRUE(a && b);
    GenerationRequest req;
    req.prompt_ids = random_tokens(40, 9);
    req.max_tokens = 12;
    req.sampling.temperature = 0;
    auto ra = a->generate(req), rb = b->generate(req);
    ASSERT_TRUE(ra.is_ok() && rb.is_ok());
    EXPECT_EQ(ra->ids, rb->ids);
    EXPECT_EQ(ra->ids.size(), 12u);
}

// The CPU backend allocates its activations from the shared table (backend/activations.h),
// sized for the largest step so far, and memory_info reports the bytes it holds: they
// equal the table's at that capacity, with no slack from growing 5 -> 7 tokens.
TEST(EngineMemory, ActivationBytesEqualTheTable) {
    SynthSpec spec;
    auto e = load(make_model(spec, "activations"));
    ASSERT_TRUE(e);
    const ModelConfig& c = e->model().config;
    std::vector<float> logits;
    int32_t largest = 0;
    for (int32_t n : {5, 7, 2}) {
        const int32_t seq = e->create_sequence().value();
        ASSERT_TRUE(e->step({{seq, random_tokens(size_t(n), uint32_t(n)), false}}, &logits).is_ok());
        largest = std::max(largest, n);
        const MemoryInfo m = e->backend().memory_info();
        EXPECT_EQ(m.activation_bytes, activation_bytes(c, largest)) << "after a step of " << n << " tokens";
        EXPECT_GT(m.scratch_bytes, m.activation_bytes) << "the attention scratch is counted beside them";
        e->free_sequence(seq);
    }
}

TEST(EngineKv, FullPoolIsRecoverableAndChangesNothing) {
    EngineOptions opts;
    opts.kv_tokens = 32;
    opts.block_size = 8;
    auto e = load(make_model(SynthSpec{}, "small-pool"), opts);
    ASSERT_TRUE(e);
    ASSERT_EQ(e->kv().n_blocks(), 4);
    auto a = e->create_sequence().value(), b = e->create_sequence().value();
    std::vector<float> logits;
    ASSERT_TRUE(e->step({{a, random_tokens(10, 1), false}}, &logits).is_ok());  // a holds 2 blocks
    // b asks for 3 blocks with only 2 free, in the same step as a grows within its blocks.
    Status s = e->step({{a, {5}, false}, {b, random_tokens(20, 2), false}}, &logits);
    EXPECT_EQ(s.code(), StatusCode::recoverable) << s.message();
    EXPECT_NE(s.message().find("KV pool full"), std::string::npos) << s.message();
    EXPECT_EQ(e->kv().length(a), 10);
    EXPECT_EQ(e->kv().length(b), 0);
    EXPECT_EQ(e->kv().free_blocks(), 2);
    EXPECT_TRUE(e->kv().check_invariants().is_ok());
    // The engine keeps working afterwards.
    EXPECT_TRUE(e->step({{b, random_tokens(16, 3), false}}, &logits).is_ok());
    EXPECT_EQ(e->kv().free_blocks(), 0);
    e->free_sequence(a);
    e->free_sequence(b);
    EXPECT_EQ(e->kv().free_blocks(), 4);
}

TEST(EngineKv, GenerationStopsCleanlyWhenThePoolIsFull) {
    EngineOptions opts;
    opts.kv_tokens = 24;
    opts.block_size = 8;
    auto e = load(make_model(SynthSpec{}, "tiny-pool"), opts);
    ASSERT_TRUE(e);
    GenerationRequest req;
    req.prompt_ids = random_tokens(10, 4);
    req.max_tokens = 100;
    req.sampling.temperature = 0;
    req.stop_at_eos = false;
    auto r = e->generate(req);
    ASSERT_TRUE(r.is_ok()) << r.status().message();
    EXPECT_EQ(r->stop_reason, "context_full");
    EXPECT_EQ(r->ids.size(), 15u);  // 24 slots: 10 prompt + 14 fed back + the last sampled token
    EXPECT_EQ(e->kv().free_blocks(), e->kv().n_blocks());

    req.prompt_ids = random_tokens(30, 5);
    auto too_long = e->generate(req);
    EXPECT_FALSE(too_long.is_ok());
    EXPECT_NE(too_long.status().message().find("30 tokens"), std::string::npos) << too_long.status().message();
}

TEST(EngineKv, BadTokenIsAnErrorAndRollsBack) {
    auto e = load(make_model(SynthSpec{}, "bad-token"));
    ASSERT_TRUE(e);
    auto seq = e->create_sequence().value();
    std::vector<float> logits;
    Status s = e->step({{seq, {5, 999999}, false}}, &logits);
    EXPECT_FALSE(s.is_ok());
    EXPECT_NE(s.message().find("999999"), std::string::npos) << s.message();
    EXPECT_EQ(e->kv().length(seq), 0);
    EXPECT_EQ(e->kv().free_blocks(), e->kv().n_blocks());
    EXPECT_FALSE(e->step({{12345, {5}, false}}, &logits).is_ok());
    // The same sequence twice in one step is an error, not an abort.
    Status twice = e->step({{seq, {5}, false}, {seq, {6}, false}}, &logits);
    EXPECT_FALSE(twice.is_ok());
    EXPECT_NE(twice.message().find("twice"), std::string::npos) << twice.message();
    EXPECT_EQ(e->kv().length(seq), 0);
}

// A kept sequence continues from the longest common prefix: the next turn's
// output equals a fresh generation on the whole prompt, and only the new part
// is computed.
TEST(EngineSequence, ContinuationReusesThePrefixAndEqualsAFreshRun) {
    SynthSpec spec;
    spec.init_std = 0.2f;
    auto e = load(make_model(spec, "continue"));
    ASSERT_TRUE(e);
    const int32_t seq = e->create_sequence().value();
    GenerationRequest turn1;
    turn1.prompt_ids = random_tokens(20, 11);
    turn1.max_tokens = 6;
    turn1.sampling.temperature = 0;
    turn1.stop_at_eos = false;
    turn1.seq_id = seq;
    std::vector<StepEvent> steps;
    auto r1 = e->generate(turn1, {}, nullptr, [&](const StepEvent& ev) { steps.push_back(ev); });
    ASSERT_TRUE(r1.is_ok()) << r1.status().message();
    EXPECT_EQ(r1->stats.n_cached, 0);
    // One prefill step (20 tokens < 512), then one step per generated token but the last.
    ASSERT_EQ(steps.size(), 6u);
    EXPECT_TRUE(steps[0].prefill);
    EXPECT_EQ(steps[0].n_tokens, 20);
    for (size_t i = 1; i < steps.size(); ++i) {
        EXPECT_FALSE(steps[i].prefill);
        EXPECT_EQ(steps[i].n_tokens, 1);
        EXPECT_EQ(steps[i].step, int32_t(i));
        EXPECT_GE(steps[i].elapsed_ms, steps[i - 1].elapsed_ms);
    }
    // The sequence is kept with the prompt and every generated token fed back.
    std::vector<int32_t> held = turn1.prompt_ids;
    held.insert(held.end(), r1->ids.begin(), r1->ids.end() - 1);
    EXPECT_EQ(e->sequence_tokens(seq), held);
    EXPECT_EQ(e->kv().length(seq), int32_t(held.size()));

    GenerationRequest turn2 = turn1;
    turn2.prompt_ids = held;
    turn2.prompt_ids.push_back(r1->ids.back());
    const auto extra = random_tokens(5, 12);
    turn2.prompt_ids.insert(turn2.prompt_ids.end(), extra.begin(), extra.end());
    auto r2 = e->generate(turn2);
    ASSERT_TRUE(r2.is_ok()) << r2.status().message();
    EXPECT_EQ(r2->stats.n_cached, int32_t(held.size()));

    GenerationRequest fresh = turn2;
    fresh.seq_id = -1;
    auto rf = e->generate(fresh);
    ASSERT_TRUE(rf.is_ok());
    EXPECT_EQ(r2->ids, rf->ids);
    EXPECT_EQ(rf->stats.n_cached, 0);

    // A diverging prompt drops the sequence's tail and returns its blocks.
    GenerationRequest turn3 = turn1;
    turn3.prompt_ids = random_tokens(3, 13);
    turn3.max_tokens = 1;
    auto r3 = e->generate(turn3);
    ASSERT_TRUE(r3.is_ok());
    EXPECT_EQ(e->kv().length(seq), 3);
    EXPECT_TRUE(e->kv().check_invariants().is_ok());
    e->free_sequence(seq);
    EXPECT_TRUE(e->sequence_tokens(seq).empty());
    EXPECT_EQ(e->kv().free_blocks(), e->kv().n_blocks());

    GenerationRequest unknown = turn1;
    unknown.seq_id = 999;
    EXPECT_FALSE(e->generate(unknown).is_ok());
}

TEST(EngineLoad, ProgressIsReportedAndCanCancel) {
    const std::string path = make_model(SynthSpec{}, "progress");
    std::vector<float> fractions;
    EngineOptions opts;
    opts.on_load_progress = [&](const std::string&, float f) {
        fractions.push_back(f);
        return true;
    };
    ASSERT_TRUE(load(path, opts));
    ASSERT_GE(fractions.size(), 3u);
    EXPECT_EQ(fractions.front(), 0.f);
    EXPECT_EQ(fractions.back(), 1.f);
    EXPECT_TRUE(std::is_sorted(fractions.begin(), fractions.end()));

    opts.on_load_progress = [](const std::string& stage, float) { return stage != "preparing the backend"; };
    auto cancelled = Engine::load(path, {}, opts);
    ASSERT_FALSE(cancelled.is_ok());
    EXPECT_NE(cancelled.status().message().find("cancelled"), std::string::npos);
}

TEST(EngineSpeculative, PromptLookupDraft) {
    // The longest earlier match of the context's tail, most recent first.
    EXPECT_EQ(prompt_lookup_draft({1, 2, 3, 4, 9, 1, 2, 3}, 3, 2), (std::vector<int32_t>{4, 9}));
    EXPECT_EQ(prompt_lookup_draft({1, 2, 7, 5, 2, 8, 1, 2}, 3, 3), (std::vector<int32_t>{7, 5, 2}));
    EXPECT_EQ(prompt_lookup_draft({5, 6, 7, 8}, 3, 4), (std::vector<int32_t>{}));  // no earlier match
    EXPECT_EQ(prompt_lookup_draft({4, 4}, 3, 4), (std::vector<int32_t>{4}));       // the draft stops at the end
}

// Prompt-lookup speculation at temperature 0 gives exactly plain greedy output, with
// drafts really verified: stories15M repeats itself enough for drafts to match.
TEST(EngineSpeculative, GreedyOutputIsUnchanged) {
    const std::string stories = test::shared_dir() + "/testdata/stories15M/stories15M.bin";
    if (!test::file_exists(stories)) GTEST_SKIP() << "stories15M (../shared) absent";
    auto e = load(stories);
    ASSERT_TRUE(e);
    GenerationRequest plain;
    plain.prompt = "Once upon a time";
    plain.max_tokens = 120;
    plain.sampling.temperature = 0;
    plain.stop_at_eos = false;
    auto a = e->generate(plain);
    ASSERT_TRUE(a.is_ok());
    GenerationRequest spec_req = plain;
    spec_req.lookup_draft = 4;
    auto b = e->generate(spec_req);
    ASSERT_TRUE(b.is_ok()) << b.status().message();
    EXPECT_EQ(a->ids, b->ids);
    EXPECT_GT(b->stats.n_verify_steps, 0);
    EXPECT_GT(b->stats.n_draft_accepted, 0);
    EXPECT_GE(b->stats.n_drafted, b->stats.n_draft_accepted);
    int32_t by_position = 0;
    for (int32_t c : b->stats.draft_accepted_at) by_position += c;
    EXPECT_EQ(by_position, b->stats.n_draft_accepted);
    EXPECT_EQ(e->kv().free_blocks(), e->kv().n_blocks());  // rejected drafts' KV went back too

    // An adaptive draft length changes the speed, never the greedy output.
    GenerationRequest adaptive = spec_req;
    adaptive.lookup_adaptive = true;
    auto d = e->generate(adaptive);
    ASSERT_TRUE(d.is_ok());
    EXPECT_EQ(a->ids, d->ids);
    EXPECT_GT(d->stats.n_verify_steps, 0);

    // A kept sequence holds exactly the prompt and the emitted tokens but the last, even
    // when accepted drafts were still queued at the stop.
    // Stop strings taken from the greedy text end generations at many points (whether a
    // verified draft is still queued at the stop depends on the text).
    std::vector<std::string> stops;
    {
        std::istringstream words(a->text);
        std::string w;
        for (int i = 0; words >> w && stops.size() < 12; ++i)
            if (i >= 8 && w.size() >= 4) stops.push_back(w);
    }
    ASSERT_GE(stops.size(), 4u);
    for (const std::string& stop : stops) {
        const int32_t seq = e->create_sequence().value();
        GenerationRequest kept = spec_req;
        kept.seq_id = seq;
        kept.stop_strings = {stop};
        auto k = e->generate(kept);
        ASSERT_TRUE(k.is_ok());
        std::vector<int32_t> expected = k->prompt_ids;
        expected.insert(expected.end(), k->ids.begin(), k->ids.end() - 1);
        EXPECT_EQ(e->sequence_tokens(seq), expected) << stop;
        EXPECT_EQ(e->kv().length(seq), int32_t(expected.size()));
        e->free_sequence(seq);
    }

    // Sampling: seeded runs repeat exactly.
    spec_req.sampling.temperature = 0.9f;
    auto c1 = e->generate(spec_req), c2 = e->generate(spec_req);
    ASSERT_TRUE(c1.is_ok() && c2.is_ok());
    EXPECT_EQ(c1->ids, c2->ids);
    EXPECT_EQ(int32_t(c1->ids.size()), spec_req.max_tokens);
}
