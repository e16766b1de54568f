// Contrastive decoding (engine/runtime/contrastive.h) and the early-exit logits
// it uses (StepBatch::exit_layer). The anchor for the early-exit amateur is a
// real truncated model: the expert's first k layers written as their own GGUF
// file by the model writer. Its logits must equal the expert's early-exit rows,
// and contrastive decoding against that file must equal decoding against the
// early-exit amateur. With lambda 0 the output is the expert's greedy output;
// every chosen token is plausible and scores best, with probabilities that an
// independent forward pass reproduces. Bad requests are errors, pools end empty.
// Early exit (GenerationRequest::early_exit) forced at layer k continues exactly as
// the truncated model does, and its statistics count every decode step.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <set>

#include "backend/backend.h"
#include "model/model.h"
#include "model/model_writer.h"
#include "model/synth.h"
#include "runtime/contrastive.h"
#include "runtime/engine.h"
#include "test_support.h"

using namespace lumen;

namespace {

constexpr int32_t kLayers = 4, kAmateurLayers = 2;

std::string temp_dir() {
    static const std::string dir = [] {
        char tmpl[] = "/tmp/lumen-contrastive-XXXXXX";
        return std::string(mkdtemp(tmpl));
    }();
    return dir;
}

const std::string& expert_path() {
    static const std::string path = [] {
        SynthSpec spec;
        spec.n_layers = kLayers;
        spec.init_std = 0.15f;
        const std::string p = temp_dir() + "/expert.gguf";
        Status s = write_synthetic_model(spec, test::data_dir() + "/tokenizer/ggml-vocab-llama-spm.gguf", p);
        EXPECT_TRUE(s.is_ok()) << s.message();
        return p;
    }();
    return path;
}

// The expert's first k layers, with its own final norm and output head, as a model file.
const std::string& truncated_path() {
    static const std::string path = [] {
        auto model = load_model(expert_path());
        EXPECT_TRUE(model.is_ok()) << model.status().message();
        Model& m = *model.value();
        m.config.n_layers = kAmateurLayers;
        m.weights.layers.resize(kAmateurLayers);
        const std::string p = temp_dir() + "/first-layers.gguf";
        Status s = write_model_gguf(m, p);
        EXPECT_TRUE(s.is_ok()) << s.message();
        return p;
    }();
    return path;
}

// Softmax rows (double) of `tokens` fed to a fresh sequence, one per position.
std::vector<std::vector<double>> probabilities(Engine& e, const std::vector<int32_t>& tokens) {
    const int32_t seq = e.create_sequence().value();
    SequenceInput in;
    in.seq_id = seq;
    in.tokens = tokens;
    in.all_logits = true;
    std::vector<float> logits;
    EXPECT_TRUE(e.step({in}, &logits).is_ok());
    e.free_sequence(seq);
    const int32_t vocab = e.model().config.vocab_size;
    std::vector<std::vector<double>> rows;
    for (size_t r = 0; r < tokens.size(); ++r) {
        const float* row = logits.data() + r * size_t(vocab);
        const double mx = *std::max_element(row, row + vocab);
        std::vector<double> p(static_cast<size_t>(vocab));
        double z = 0;
        for (int32_t i = 0; i < vocab; ++i) z += p[size_t(i)] = std::exp(double(row[i]) - mx);
        for (double& x : p) x /= z;
        rows.push_back(std::move(p));
    }
    return rows;
}

void expect_free(const Engine& e) {
    EXPECT_EQ(e.kv().free_blocks(), e.kv().n_blocks());
    EXPECT_EQ(e.kv().n_sequences(), 0);
}

}  // namespace

TEST(EarlyExit, RowsEqualTheTruncatedModelsLogits) {
    auto expert = test::load_engine(expert_path(), 1024);
    auto truncated = test::load_engine(truncated_path(), 1024);
    ASSERT_TRUE(expert && truncated);
    ASSERT_EQ(truncated->model().config.n_layers, kAmateurLayers);
    const auto tokens = test::random_tokens(21, 5);
    std::vector<float> both, alone;
    auto run = [&](Engine& e, int32_t exit_layer, std::vector<float>* out) {
        const int32_t seq = e.create_sequence().value();
        SequenceInput in;
        in.seq_id = seq;
        in.tokens = tokens;
        in.all_logits = true;
        StepOptions options;
        options.exit_layer = exit_layer;
        ASSERT_TRUE(e.step({in}, out, options).is_ok());
        e.free_sequence(seq);
    };
    run(*expert, kAmateurLayers, &both);
    run(*truncated, 0, &alone);
    const size_t rows = tokens.size() * size_t(expert->model().config.vocab_size);
    ASSERT_EQ(both.size(), 2 * rows);  // the final rows, then the early-exit rows
    ASSERT_EQ(alone.size(), rows);
    double max_diff = 0;
    for (size_t i = 0; i < rows; ++i) max_diff = std::max(max_diff, double(std::abs(both[rows + i] - alone[i])));
    EXPECT_LT(max_diff, 1e-4);
    // And the final rows are not the early-exit ones (the check can fail).
    double final_diff = 0;
    for (size_t i = 0; i < rows; ++i) final_diff = std::max(final_diff, double(std::abs(both[i] - alone[i])));
    EXPECT_GT(final_diff, 1e-2);
    std::vector<float> bad;
    const int32_t seq = expert->create_sequence().value();
    SequenceInput in;
    in.seq_id = seq;
    in.tokens = {5};
    StepOptions all_layers;
    all_layers.exit_layer = kLayers;
    EXPECT_FALSE(expert->step({in}, &bad, all_layers).is_ok());  // k must leave at least one layer out
    expert->free_sequence(seq);
    expect_free(*expert);
}

TEST(Contrastive, LambdaZeroIsTheExpertsGreedyOutput) {
    auto expert = test::load_engine(expert_path(), 1024);
    ASSERT_TRUE(expert);
    for (uint32_t seed : {1u, 2u}) {
        ContrastiveRequest c;
        c.prompt_ids = test::random_tokens(6 + seed, seed);
        c.max_tokens = 24;
        c.lambda = 0;
        c.amateur_layers = kAmateurLayers;
        auto r = contrastive_generate(*expert, c);
        ASSERT_TRUE(r.is_ok()) << r.status().message();
        GenerationRequest g;
        g.prompt_ids = c.prompt_ids;
        g.max_tokens = 24;
        g.sampling.temperature = 0;
        auto greedy = expert->generate(g);
        ASSERT_TRUE(greedy.is_ok());
        EXPECT_EQ(r->ids, greedy->ids);
        EXPECT_EQ(r->n_differs, 0);
        expect_free(*expert);
    }
}

TEST(Contrastive, ChoicesArePlausibleBestScoredAndReproducible) {
    auto expert = test::load_engine(expert_path(), 1024);
    auto truncated = test::load_engine(truncated_path(), 1024);
    ASSERT_TRUE(expert && truncated);
    ContrastiveRequest c;
    c.prompt_ids = test::random_tokens(9, 3);
    c.max_tokens = 20;
    c.alpha = 0.1f;
    c.lambda = 1.0f;
    c.stop_at_eos = false;
    c.amateur_layers = kAmateurLayers;
    auto early = contrastive_generate(*expert, c);
    ASSERT_TRUE(early.is_ok()) << early.status().message();
    ASSERT_EQ(early->ids.size(), 20u);
    EXPECT_GT(early->n_differs, 0);  // the amateur changed something (else the test shows nothing)

    // The same amateur as a model file of its own gives the same tokens and probabilities.
    c.amateur_layers = 0;
    c.amateur = truncated.get();
    auto file = contrastive_generate(*expert, c);
    ASSERT_TRUE(file.is_ok()) << file.status().message();
    EXPECT_EQ(file->ids, early->ids);
    expect_free(*expert);
    expect_free(*truncated);

    // Independent forward passes over prompt + output reproduce every step's numbers.
    std::vector<int32_t> all = c.prompt_ids;
    all.insert(all.end(), early->ids.begin(), early->ids.end());
    const auto p_expert = probabilities(*expert, all);
    const auto p_amateur = probabilities(*truncated, all);
    for (size_t n = 0; n < early->trace.size(); ++n) {
        const ContrastiveToken& t = early->trace[n];
        const auto& pe = p_expert[c.prompt_ids.size() - 1 + n];
        const auto& pa = p_amateur[c.prompt_ids.size() - 1 + n];
        const double max_pe = *std::max_element(pe.begin(), pe.end());
        ASSERT_FALSE(t.candidates.empty());
        EXPECT_EQ(t.candidates[0].token, t.token);
        EXPECT_EQ(t.token, early->ids[n]);
        EXPECT_GE(pe[size_t(t.token)], 0.1 * max_pe - 1e-6) << "step " << n;  // plausible
        // The chosen token's score beats every plausible token's, recomputed here.
        const double chosen = std::log(pe[size_t(t.token)]) - std::log(pa[size_t(t.token)]);
        for (size_t v = 0; v < pe.size(); ++v)
            if (pe[v] >= 0.1 * max_pe + 1e-6)
                EXPECT_GE(chosen + 1e-4, std::log(pe[v]) - std::log(pa[v])) << n << " " << v;
        for (const ContrastiveCandidate& k : t.candidates) {
            EXPECT_NEAR(k.p_expert, pe[size_t(k.token)], 1e-4);
            EXPECT_NEAR(k.p_amateur, pa[size_t(k.token)], 1e-4);
            EXPECT_NEAR(k.score, std::log(pe[size_t(k.token)]) - std::log(pa[size_t(k.token)]), 1e-3);
        }
    }
}

TEST(Contrastive, BadRequestsAreErrorsThatLoseNothing) {
    auto expert = test::load_engine(expert_path(), 1024);
    auto truncated = test::load_engine(truncated_path(), 1024);
    ASSERT_TRUE(expert && truncated);
    ContrastiveRequest c;
    c.prompt_ids = test::random_tokens(5, 1);
    auto none = contrastive_generate(*expert, c);  // no amateur
    ASSERT_FALSE(none.is_ok());
    EXPECT_NE(none.status().message().find("amateur"), std::string::npos);
    c.amateur_layers = 1;
    c.amateur = truncated.get();
    EXPECT_FALSE(contrastive_generate(*expert, c).is_ok());  // both kinds
    c.amateur = nullptr;
    c.amateur_layers = kLayers;
    auto too_deep = contrastive_generate(*expert, c);
    ASSERT_FALSE(too_deep.is_ok());
    EXPECT_NE(too_deep.status().message().find("1..3"), std::string::npos) << too_deep.status().message();
    c.amateur_layers = 1;
    c.alpha = 2;
    EXPECT_FALSE(contrastive_generate(*expert, c).is_ok());
    c.alpha = 0.1f;
    c.prompt_ids.clear();
    EXPECT_FALSE(contrastive_generate(*expert, c).is_ok());

    // An amateur with another vocabulary.
    SynthSpec gpt2;
    const std::string other = temp_dir() + "/gpt2.gguf";
    ASSERT_TRUE(write_synthetic_model(gpt2, test::data_dir() + "/tokenizer/ggml-vocab-gpt-2.gguf", other).is_ok());
    auto foreign = test::load_engine(other, 1024);
    ASSERT_TRUE(foreign);
    c.prompt_ids = test::random_tokens(5, 1);
    c.amateur_layers = 0;
    c.amateur = foreign.get();
    auto mismatch = contrastive_generate(*expert, c);
    ASSERT_FALSE(mismatch.is_ok());
    EXPECT_NE(mismatch.status().message().find("amateur model"), std::string::npos) << mismatch.status().message();
    expect_free(*expert);
    expect_free(*foreign);
}

// With an entropy bound no logits can reach, every decode step exits at the first
// checked layer k: after the first token (from the full prompt pass) the output is the
// truncated model's greedy continuation, since both read the same KV below layer k.
TEST(EarlyExit, ForcedExitContinuesAsTheTruncatedModel) {
    auto expert = test::load_engine(expert_path(), 1024);
    auto truncated = test::load_engine(truncated_path(), 1024);
    ASSERT_TRUE(expert && truncated);
    GenerationRequest g;
    g.prompt_ids = test::random_tokens(11, 4);
    g.max_tokens = 16;
    g.sampling.temperature = 0;
    g.stop_at_eos = false;
    g.early_exit = {100.0f, kAmateurLayers, 1};
    auto exited = expert->generate(g);
    ASSERT_TRUE(exited.is_ok()) << exited.status().message();
    ASSERT_EQ(exited->ids.size(), 16u);
    ASSERT_EQ(exited->stats.exit_layer_counts.size(), size_t(kLayers) + 1);
    EXPECT_EQ(exited->stats.exit_layer_counts[kAmateurLayers], 15);  // every decode step
    GenerationRequest full = g;
    full.early_exit = {};
    auto plain = expert->generate(full);
    ASSERT_TRUE(plain.is_ok());
    EXPECT_EQ(exited->ids[0], plain->ids[0]);
    EXPECT_NE(exited->ids, plain->ids);  // exiting changed the text (else this shows nothing)
    GenerationRequest cont = full;
    cont.prompt_ids.push_back(exited->ids[0]);
    cont.max_tokens = 15;
    auto small = truncated->generate(cont);
    ASSERT_TRUE(small.is_ok());
    EXPECT_EQ(std::vector<int32_t>(exited->ids.begin() + 1, exited->ids.end()), small->ids);
    expect_free(*expert);
    EXPECT_TRUE(expert->kv().check_invariants().is_ok());
}

// The propagated K/V directly: after an early exit at layer k, the skipped layers' keys
// and values come from the hidden state after layer k. Their inputs (observed through
// Backend::set_activation_observer) are rmsnorm(h_k) times each layer's attention norm:
// at layer k bitwise what the full pass feeds that layer, and at every later layer the
// same normalized state, not one the skipped layers advanced. K and V are these inputs
// through the layer's own wk/wv and RoPE, the code every step runs.
TEST(EarlyExit, SkippedLayersKvComesFromTheExitState) {
    struct Recorder : ActivationObserver {
        std::vector<std::pair<int32_t, std::vector<float>>> attn_in;  // (layer, input) in call order
        void observe(int32_t layer, MatmulInput input, const float* x, int64_t n, int64_t cols) override {
            if (input == MatmulInput::attn_in) attn_in.push_back({layer, std::vector<float>(x, x + n * cols)});
        }
    };
    auto expert = test::load_engine(expert_path(), 1024);
    ASSERT_TRUE(expert);
    const std::vector<int32_t> prompt = test::random_tokens(9, 6);
    std::vector<float> logits;
    auto observe_last_token = [&](StepOptions options) {
        auto seq = expert->create_sequence();
        EXPECT_TRUE(seq.is_ok());
        EXPECT_TRUE(expert->feed(seq.value(), std::vector<int32_t>(prompt.begin(), prompt.end() - 1), &logits).is_ok());
        Recorder r;
        EXPECT_TRUE(expert->backend().set_activation_observer(&r));
        EXPECT_TRUE(expert->step({{seq.value(), {prompt.back()}}}, &logits, options).is_ok());
        expert->backend().set_activation_observer(nullptr);
        expert->free_sequence(seq.value());
        return r.attn_in;
    };
    StepOptions exit_early;
    exit_early.early_exit = {100.0f, kAmateurLayers, 1};  // no bound is that high: exits at layer k
    const auto full = observe_last_token({});
    const auto exited = observe_last_token(exit_early);
    EXPECT_EQ(expert->backend().last_exit_layer(), kAmateurLayers);
    ASSERT_EQ(full.size(), size_t(kLayers));
    ASSERT_EQ(exited.size(), size_t(kLayers));  // layers below k as usual, then the skipped ones
    const ModelWeights& w = expert->model().weights;
    const int64_t dim = expert->model().config.dim;
    for (int32_t l = 0; l < kLayers; ++l) {
        ASSERT_EQ(exited[size_t(l)].first, l);
        if (l <= kAmateurLayers) {  // the layers run, and layer k's input: bitwise the full pass's
            EXPECT_EQ(exited[size_t(l)].second, full[size_t(l)].second) << "layer " << l;
            continue;
        }
        // rmsnorm(h_k) recovered from each skipped layer's input equals layer k's.
        const auto* norm_k = static_cast<const float*>(w.layers[kAmateurLayers].attn_norm.data);
        const auto* norm_l = static_cast<const float*>(w.layers[size_t(l)].attn_norm.data);
        double diff = 0, ref = 0, moved = 0;
        for (int64_t i = 0; i < dim; ++i) {
            const double at_k = exited[kAmateurLayers].second[size_t(i)] / norm_k[i];
            const double at_l = exited[size_t(l)].second[size_t(i)] / norm_l[i];
            diff += (at_l - at_k) * (at_l - at_k);
            ref += at_k * at_k;
            const double full_l = full[size_t(l)].second[size_t(i)] / norm_l[i];
            moved += (full_l - at_k) * (full_l - at_k);
        }
        EXPECT_LT(diff / ref, 1e-10) << "layer " << l;
        EXPECT_GT(moved / ref, 1e-4) << "layer " << l << ": the full pass moves the state (else this shows nothing)";
    }
}

// An unreachable bound never exits and changes nothing; a bound every row meets exits at
// the first checked layer only; the counts cover every decode step; bad rules are errors.
TEST(EarlyExit, CountsAndRules) {
    auto expert = test::load_engine(expert_path(), 1024);
    ASSERT_TRUE(expert);
    GenerationRequest g;
    g.prompt_ids = test::random_tokens(7, 9);
    g.max_tokens = 30;
    g.sampling.temperature = 0;
    g.stop_at_eos = false;
    g.early_exit = {1e-9f, 1, 2};  // no distribution is that peaked: never exits
    auto never = expert->generate(g);
    ASSERT_TRUE(never.is_ok()) << never.status().message();
    EXPECT_EQ(never->stats.exit_layer_counts[kLayers], 29);
    EXPECT_DOUBLE_EQ(never->stats.mean_layers_run(), double(kLayers));
    GenerationRequest plain = g;
    plain.early_exit = {};
    EXPECT_EQ(never->ids, expert->generate(plain)->ids);  // checking alone changes nothing

    g.early_exit = {100.0f, 1, 2};  // always exits at the first checked layer, 1
    auto always = expert->generate(g);
    ASSERT_TRUE(always.is_ok());
    EXPECT_EQ(always->stats.exit_layer_counts[1], 29);
    EXPECT_DOUBLE_EQ(always->stats.mean_layers_run(), 1.0);
    int32_t total = 0;
    for (size_t l = 0; l < always->stats.exit_layer_counts.size(); ++l) {
        total += always->stats.exit_layer_counts[l];
        if (l != 1) EXPECT_EQ(always->stats.exit_layer_counts[l], 0) << l;
    }
    EXPECT_EQ(total, 29);
    expect_free(*expert);

    g.early_exit = {1.0f, kLayers, 1};
    auto bad = expert->generate(g);
    ASSERT_FALSE(bad.is_ok());
    EXPECT_NE(bad.status().message().find("first layer"), std::string::npos) << bad.status().message();
    g.early_exit = {1.0f, 1, 1};
    g.lookup_draft = 3;
    EXPECT_FALSE(expert->generate(g).is_ok());
    expect_free(*expert);
}

// distinct-n: unique n-grams over all n-grams of a token sequence.
namespace {
double distinct_n(const std::vector<int32_t>& ids, size_t n) {
    if (ids.size() < n) return 1.0;
    std::set<std::vector<int32_t>> seen;
    for (size_t i = 0; i + n <= ids.size(); ++i)
        seen.insert(std::vector<int32_t>(ids.begin() + long(i), ids.begin() + long(i + n)));
    return double(seen.size()) / double(ids.size() - n + 1);
}
}  // namespace

// On the real model and a repetitive prompt, greedy decoding loops; contrastive decoding
// against an early-exit amateur departs from it and repeats less (distinct-2 and -3).
TEST(Contrastive, RealModelRepeatsLessThanGreedyOnARepetitivePrompt) {
    const std::string path = test::default_model_path();
    if (!test::file_exists(path)) GTEST_SKIP() << "default model not downloaded: " << path;
    auto e = test::load_engine(path, 1024);
    ASSERT_TRUE(e);
    const auto prompt = e->tokenizer().encode(
        "The cat sat on the mat. The cat sat on the mat. The cat sat on the mat. The cat", true, false);
    GenerationRequest g;
    g.prompt_ids = prompt;
    g.max_tokens = 60;
    g.sampling.temperature = 0;
    g.stop_at_eos = false;
    auto greedy = e->generate(g);
    ASSERT_TRUE(greedy.is_ok());
    ContrastiveRequest c;
    c.prompt_ids = prompt;
    c.max_tokens = 60;
    c.stop_at_eos = false;
    c.amateur_layers = 8;
    auto contrastive = contrastive_generate(*e, c);
    ASSERT_TRUE(contrastive.is_ok()) << contrastive.status().message();
    EXPECT_NE(contrastive->ids, greedy->ids);
    EXPECT_GT(contrastive->n_differs, 0);
    for (size_t n : {2u, 3u}) {
        const double d_greedy = distinct_n(greedy->ids, n), d_contrastive = distinct_n(contrastive->ids, n);
        std::printf("distinct-%zu: greedy %.3f, contrastive %.3f\n", n, d_greedy, d_contrastive);
        EXPECT_GT(d_contrastive, d_greedy) << "distinct-" << n;
    }
    expect_free(*e);
}
