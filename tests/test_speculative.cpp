// Draft-model speculative decoding (GenerationRequest::draft_engine), on small
// synthetic models with the llama-spm test vocabulary:
//  - at temperature 0 the output equals plain greedy token for token, with the
//    target itself as the draft (every draft accepted) and with an unrelated
//    random draft model (few accepted), for several draft lengths, adaptive too;
//  - at temperature 0.25 and 1 the joint distribution of the first two generated
//    tokens (the second one comes out of verification) matches the target's exact
//    softmax over a few hundred seeds (per pair and by chi-square);
//  - both engines' KV pools are entirely free afterwards, also after a
//    cancellation, an exception from the token callback, and a draft pool too
//    small for the whole generation;
//  - another vocabulary, or a draft model combined with prompt lookup, is a
//    clear error;
//  - lumen-cli generate --draft-model fills the JSON "speculative" object;
//  - SmolLM2 (when cached) drafted by a q4_0 copy of itself gives its greedy output.
#include <gtest/gtest.h>

#include <unistd.h>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "model/synth.h"
#include "quant/quantize.h"
#include "runtime/engine.h"
#include "runtime/speculative.h"
#include "test_support.h"

using namespace lumen;

namespace {

std::string temp_dir() {
    static const std::string dir = [] {
        char tmpl[] = "/tmp/lumen-speculative-XXXXXX";
        return std::string(mkdtemp(tmpl));
    }();
    return dir;
}

std::string synth(const std::string& name, SynthSpec spec, const std::string& vocab = "ggml-vocab-llama-spm.gguf") {
    const std::string path = temp_dir() + "/" + name + ".gguf";
    if (test::file_exists(path)) return path;
    Status s = write_synthetic_model(spec, test::data_dir() + "/tokenizer/" + vocab, path);
    EXPECT_TRUE(s.is_ok()) << s.message();
    return path;
}

// The target: peaked distributions, so greedy picks are well separated.
std::string target_path() {
    SynthSpec spec;
    spec.init_std = 0.2f;
    return synth("target", spec);
}

// An unrelated, smaller model with the same vocabulary.
std::string other_draft_path() {
    SynthSpec spec;
    spec.dim = 32;
    spec.n_layers = 1;
    spec.n_heads = 2;
    spec.n_kv_heads = 1;
    spec.ffn_dim = 64;
    spec.init_std = 0.2f;
    spec.seed = 7;
    return synth("other-draft", spec);
}

std::unique_ptr<Engine> load(const std::string& path, int32_t kv_tokens = 1024) {
    EngineOptions o;
    o.kv_tokens = kv_tokens;
    o.backend.n_threads = 1;  // tiny models: a second thread only adds synchronization
    auto e = Engine::load(path, {}, o);
    EXPECT_TRUE(e.is_ok()) << e.status().message();
    return e.is_ok() ? std::move(e.value()) : nullptr;
}

GenerationRequest greedy(uint32_t prompt_seed, int32_t max_tokens) {
    GenerationRequest r;
    r.prompt_ids = test::random_tokens(12, prompt_seed);
    r.max_tokens = max_tokens;
    r.sampling.temperature = 0;
    r.stop_at_eos = false;
    return r;
}

void expect_all_free(const Engine& e) {
    EXPECT_EQ(e.kv().free_blocks(), e.kv().n_blocks());
}

int32_t sum(const std::vector<int32_t>& v) {
    int32_t s = 0;
    for (int32_t x : v) s += x;
    return s;
}

}  // namespace

// The target as its own draft: every draft is accepted and the output is plain greedy's.
TEST(DraftModel, GreedySelfDraftIsFullyAccepted) {
    auto target = load(target_path());
    auto draft = load(target_path());
    ASSERT_TRUE(target && draft);
    for (uint32_t prompt : {1u, 2u}) {
        const GenerationRequest plain = greedy(prompt, 48);
        auto a = target->generate(plain);
        ASSERT_TRUE(a.is_ok()) << a.status().message();
        for (int32_t k : {1, 3, 6}) {
            GenerationRequest spec = plain;
            spec.draft_engine = draft.get();
            spec.draft_tokens = k;
            auto b = target->generate(spec);
            ASSERT_TRUE(b.is_ok()) << b.status().message();
            EXPECT_EQ(a->ids, b->ids) << "k=" << k;
            EXPECT_GT(b->stats.n_verify_steps, 0);
            EXPECT_GT(b->stats.n_drafted, 0);
            EXPECT_EQ(b->stats.n_draft_accepted, b->stats.n_drafted) << "k=" << k;
            EXPECT_EQ(sum(b->stats.draft_accepted_at), b->stats.n_draft_accepted);
            EXPECT_LE(int32_t(b->stats.draft_accepted_at.size()), k);
            EXPECT_GT(b->stats.draft_ms, 0);
            // Every draft accepted, plus one token from the last row: few verify steps.
            EXPECT_LE(b->stats.n_verify_steps, (plain.max_tokens + k) / (k + 1) + 1);
            expect_all_free(*target);
            expect_all_free(*draft);
        }
    }
}

// An unrelated draft model is mostly wrong, yet the output is still exactly plain greedy's;
// the adaptive length and kept sequences too.
TEST(DraftModel, GreedyOtherDraftKeepsTheOutput) {
    auto target = load(target_path());
    auto draft = load(other_draft_path());
    ASSERT_TRUE(target && draft);
    const GenerationRequest plain = greedy(3, 64);
    auto a = target->generate(plain);
    ASSERT_TRUE(a.is_ok());
    for (bool adaptive : {false, true}) {
        GenerationRequest spec = plain;
        spec.draft_engine = draft.get();
        spec.draft_tokens = 4;
        spec.lookup_adaptive = adaptive;
        auto b = target->generate(spec);
        ASSERT_TRUE(b.is_ok()) << b.status().message();
        EXPECT_EQ(a->ids, b->ids);
        EXPECT_GT(b->stats.n_drafted, 0);
        EXPECT_LT(b->stats.n_draft_accepted, b->stats.n_drafted);  // random weights rarely agree
        EXPECT_EQ(sum(b->stats.draft_accepted_at), b->stats.n_draft_accepted);
        if (adaptive) EXPECT_LT(b->stats.n_drafted, 4 * b->stats.n_verify_steps);  // it shrank
        expect_all_free(*target);
        expect_all_free(*draft);
    }

    // A kept target sequence holds the prompt and the emitted tokens but the last, as without
    // a draft; the draft model's sequence is gone.
    const int32_t seq = target->create_sequence().value();
    GenerationRequest kept = plain;
    kept.seq_id = seq;
    kept.draft_engine = draft.get();
    auto k = target->generate(kept);
    ASSERT_TRUE(k.is_ok());
    EXPECT_EQ(k->ids, a->ids);
    std::vector<int32_t> expected = k->prompt_ids;
    expected.insert(expected.end(), k->ids.begin(), k->ids.end() - 1);
    EXPECT_EQ(target->sequence_tokens(seq), expected);
    target->free_sequence(seq);
    expect_all_free(*target);
    expect_all_free(*draft);
}

// Rejection sampling keeps the target's distribution: over 300 seeds, the frequency of
// each likely (first, second) token pair matches its exact probability under the target
// (softmax over the top 40 of the logits / T; the second token is the first one verification decides).
// Both branches of the verification run: the self draft is often accepted, the other
// draft almost never. Seeds are fixed, so the test is deterministic; the tolerance is
// 5 standard deviations of the empirical frequency.
namespace {

// A way of drafting for the distribution checks: sets up the request, names the source.
struct DraftSetup {
    const char* name;
    std::function<void(GenerationRequest&)> apply;
    bool often_accepted;  // the accepting branch must run (else only the rejecting one is seen)
};

// The joint distribution of the first two generated tokens over n fixed seeds against the
// target's exact probabilities (softmax over the top 40 of the logits / T; the second token
// is the first one verification decides): every likely pair within 5 standard deviations,
// and a chi-square test over those pairs plus the rest, at p = 1e-4 (seeds are fixed, so
// the test is deterministic).
void expect_first_two_tokens_distributed_as_target(Engine& target, float T, const std::vector<int32_t>& prompt,
                                                   const std::vector<DraftSetup>& setups, int n) {
    const int32_t top_k = 40;  // a partial sort: much faster than sorting the whole vocabulary
    auto softmax_after = [&](const std::vector<int32_t>& context) {
        const int32_t seq = target.create_sequence().value();
        std::vector<float> logits;
        EXPECT_TRUE(target.step({{seq, context}}, &logits).is_ok());
        target.free_sequence(seq);
        std::vector<float> sorted = logits;
        std::nth_element(sorted.begin(), sorted.begin() + (top_k - 1), sorted.end(), std::greater<float>());
        const float kth = sorted[size_t(top_k - 1)];
        const float max = *std::max_element(logits.begin(), logits.end());
        std::vector<double> p(logits.size(), 0.0);
        double z = 0;
        for (size_t i = 0; i < p.size(); ++i)
            if (logits[i] >= kth) z += p[i] = std::exp(double(logits[i] - max) / T);
        for (double& x : p) x /= z;
        return p;
    };
    // Exact probabilities of the pairs whose first token has probability >= 1%.
    std::map<std::pair<int32_t, int32_t>, double> exact;
    const auto p0 = softmax_after(prompt);
    for (int32_t a = 0; a < int32_t(p0.size()); ++a) {
        if (p0[size_t(a)] < 0.01) continue;
        std::vector<int32_t> context = prompt;
        context.push_back(a);
        const auto p1 = softmax_after(context);
        for (int32_t b = 0; b < int32_t(p1.size()); ++b)
            if (p0[size_t(a)] * p1[size_t(b)] >= 0.02) exact[{a, b}] = p0[size_t(a)] * p1[size_t(b)];
    }
    double covered = 0;
    for (const auto& [pair, p] : exact) covered += p;
    ASSERT_GT(covered, 0.5) << "the test needs a few likely pairs";

    for (const DraftSetup& setup : setups) {
        std::map<std::pair<int32_t, int32_t>, int> count;
        int32_t drafted = 0, accepted = 0;
        for (int s = 0; s < n; ++s) {
            GenerationRequest r;
            r.prompt_ids = prompt;
            r.max_tokens = 4;  // room for two drafts after the first token
            r.stop_at_eos = false;
            r.sampling.temperature = T;
            r.sampling.top_k = top_k;
            r.sampling.top_p = 1.f;
            r.sampling.min_p = 0.f;
            r.sampling.seed = uint64_t(s) + 1;
            setup.apply(r);
            auto g = target.generate(r);
            ASSERT_TRUE(g.is_ok()) << g.status().message();
            ASSERT_EQ(g->ids.size(), 4u);
            ++count[{g->ids[0], g->ids[1]}];
            drafted += g->stats.n_drafted;
            accepted += g->stats.n_draft_accepted;
        }
        EXPECT_GT(drafted, 0) << setup.name;
        if (setup.often_accepted) EXPECT_GT(accepted, drafted / 10) << setup.name;  // the accepting branch ran
        EXPECT_LT(accepted, drafted) << setup.name;                                 // the rejecting branch ran
        double chi2 = 0;
        int in_pairs = 0;
        for (const auto& [pair, p] : exact) {
            const double freq = double(count[pair]) / n;
            const double tolerance = 5 * std::sqrt(p * (1 - p) / n) + 1.0 / n;
            EXPECT_NEAR(freq, p, tolerance) << "pair (" << pair.first << ", " << pair.second << "), " << setup.name;
            chi2 += std::pow(count[pair] - n * p, 2) / (n * p);
            in_pairs += count[pair];
        }
        const double rest = n * (1 - covered);
        if (rest >= 5) chi2 += std::pow((n - in_pairs) - rest, 2) / rest;
        // Critical value at p = 1e-4 (Wilson-Hilferty), df = bins - 1.
        const double df = double(exact.size()) - (rest >= 5 ? 0 : 1);
        const double critical = df * std::pow(1 - 2 / (9 * df) + 3.719 * std::sqrt(2 / (9 * df)), 3);
        EXPECT_LT(chi2, critical) << setup.name << ": chi-square over " << exact.size() << " pairs";
    }
}

}  // namespace

// Temperature 0.25 on the peaked target, drafted by itself and by an unrelated model.
TEST(DraftModel, SamplingDistributionIsPreserved) {
    auto target = load(target_path());
    auto self_draft = load(target_path());
    auto other_draft = load(other_draft_path());
    ASSERT_TRUE(target && self_draft && other_draft);
    expect_first_two_tokens_distributed_as_target(*target, 0.25f, test::random_tokens(8, 11),
                                                  {{"self draft",
                                                    [&](GenerationRequest& r) {
                                                        r.draft_engine = self_draft.get();
                                                        r.draft_tokens = 2;
                                                    },
                                                    true},
                                                   {"other draft",
                                                    [&](GenerationRequest& r) {
                                                        r.draft_engine = other_draft.get();
                                                        r.draft_tokens = 2;
                                                    },
                                                    false}},
                                                  300);
    for (Engine* e : {target.get(), self_draft.get(), other_draft.get()}) expect_all_free(*e);
}

// Temperature 1, as the issue asks, on a target whose logits are spread six times wider
// (so that a few pairs are likely), drafted by itself and by an unrelated model. (Prompt
// lookup goes through the same verification; a random model's first token rarely repeats
// the prompt, so lookup would seldom draft here.)
TEST(DraftModel, SamplingDistributionIsPreservedAtTemperatureOne) {
    SynthSpec spec;
    spec.init_std = 1.2f;
    spec.seed = 5;
    const std::string wide = synth("wide-target", spec);
    auto target = load(wide);
    auto self_draft = load(wide);
    auto other_draft = load(other_draft_path());
    ASSERT_TRUE(target && self_draft && other_draft);
    expect_first_two_tokens_distributed_as_target(*target, 1.0f, test::random_tokens(9, 21),
                                                  {{"self draft",
                                                    [&](GenerationRequest& r) {
                                                        r.draft_engine = self_draft.get();
                                                        r.draft_tokens = 2;
                                                    },
                                                    true},
                                                   {"other draft",
                                                    [&](GenerationRequest& r) {
                                                        r.draft_engine = other_draft.get();
                                                        r.draft_tokens = 2;
                                                    },
                                                    false}},
                                                  400);
    for (Engine* e : {target.get(), self_draft.get(), other_draft.get()}) expect_all_free(*e);
}

// The draft model's sequence goes back to its pool on every way out of generate.
TEST(DraftModel, PoolsAreFreeOnEveryPath) {
    auto target = load(target_path());
    auto draft = load(target_path());
    ASSERT_TRUE(target && draft);
    GenerationRequest r = greedy(4, 40);
    r.draft_engine = draft.get();

    // An exception from the token callback unwinds through generate.
    int seen = 0;
    auto throwing = [&](const TokenEvent&) {
        if (++seen == 10) throw std::runtime_error("client went away");
    };
    EXPECT_THROW((void)target->generate(r, throwing), std::runtime_error);
    expect_all_free(*target);
    expect_all_free(*draft);

    // Cancellation after a few tokens.
    std::atomic<bool> cancel{false};
    int tokens = 0;
    auto cancelling = [&](const TokenEvent&) {
        if (++tokens == 7) cancel = true;
    };
    auto c = target->generate(r, cancelling, &cancel);
    ASSERT_TRUE(c.is_ok());
    EXPECT_EQ(c->stop_reason, "cancelled");
    expect_all_free(*target);
    expect_all_free(*draft);

    // A draft pool (48 tokens) shorter than the generation (12 + 80): drafting stops when it
    // is full, the output stays plain greedy's.
    auto small = load(target_path(), 48);
    ASSERT_TRUE(small);
    GenerationRequest longer = greedy(4, 80);
    auto plain = target->generate(longer);
    ASSERT_TRUE(plain.is_ok());
    longer.draft_engine = small.get();
    auto s = target->generate(longer);
    ASSERT_TRUE(s.is_ok()) << s.status().message();
    EXPECT_EQ(s->ids, plain->ids);
    EXPECT_GT(s->stats.n_drafted, 0);
    EXPECT_LT(s->stats.n_drafted, 70);
    expect_all_free(*target);
    expect_all_free(*small);
}

// Another vocabulary, or two draft sources at once, is an error that names the problem and
// leaves no sequence behind.
TEST(DraftModel, BadSetupsAreClearErrors) {
    auto target = load(target_path());
    SynthSpec spec;
    spec.seed = 3;
    auto gpt2 = load(synth("gpt2-vocab", spec, "ggml-vocab-gpt-2.gguf"));
    ASSERT_TRUE(target && gpt2);
    GenerationRequest r = greedy(5, 8);
    r.draft_engine = gpt2.get();
    auto e = target->generate(r);
    ASSERT_FALSE(e.is_ok());
    const std::string msg = e.status().message();
    EXPECT_NE(msg.find("vocabulary"), std::string::npos) << msg;
    EXPECT_NE(msg.find(std::to_string(target->model().config.vocab_size)), std::string::npos) << msg;
    EXPECT_NE(msg.find(std::to_string(gpt2->model().config.vocab_size)), std::string::npos) << msg;
    EXPECT_FALSE(check_same_vocabulary(*target, *gpt2).is_ok());
    EXPECT_TRUE(check_same_vocabulary(*target, *target).is_ok());
    expect_all_free(*target);
    expect_all_free(*gpt2);

    auto draft = load(other_draft_path());
    ASSERT_TRUE(draft);
    r.draft_engine = draft.get();
    r.lookup_draft = 3;
    auto both = target->generate(r);
    ASSERT_FALSE(both.is_ok());
    EXPECT_NE(both.status().message().find("combined"), std::string::npos) << both.status().message();
    r.lookup_draft = 0;
    r.draft_tokens = -1;
    EXPECT_FALSE(target->generate(r).is_ok());
    expect_all_free(*target);
    expect_all_free(*draft);
}

// lumen-cli generate --draft-model: the greedy output of a plain run, the "speculative" JSON
// object in either mode, one-line errors for another vocabulary and for two draft sources.
TEST(DraftModel, Cli) {
    auto run = [](const std::vector<std::string>& args, std::string* out, std::string* err) {
        std::string cmd = test::cli_path();
        for (const auto& a : args) cmd += " '" + a + "'";
        const std::string err_path = temp_dir() + "/stderr.txt";
        const int rc = test::run_command(cmd + " 2>" + err_path, out);
        *err = test::read_text_file(err_path);
        return rc;
    };
    const std::vector<std::string> base = {
        "generate", "--model",   target_path(), "--prompt", "Once upon a time", "--max-tokens", "24", "--temperature",
        "0",        "--threads", "1",           "--json"};
    std::string out, err;
    ASSERT_EQ(run(base, &out, &err), 0) << err;
    const auto plain = nlohmann::json::parse(out);
    EXPECT_FALSE(plain.contains("speculative"));

    auto with = base;
    with.insert(with.end(), {"--draft-model", target_path(), "--draft-tokens", "3"});
    ASSERT_EQ(run(with, &out, &err), 0) << err;
    const auto spec = nlohmann::json::parse(out);
    EXPECT_EQ(spec["ids"], plain["ids"]);
    const auto& s = spec["speculative"];
    EXPECT_EQ(s["mode"], "draft_model");
    EXPECT_EQ(s["draft_tokens"], 3);
    EXPECT_GT(s["drafted"].get<int>(), 0);
    EXPECT_EQ(s["accepted"], s["drafted"]);
    EXPECT_DOUBLE_EQ(s["acceptance_rate"].get<double>(), 1.0);
    EXPECT_GE(s["draft_ms"].get<double>(), 0.0);

    auto lookup = base;
    lookup.insert(lookup.end(), {"--lookup-draft", "3"});
    ASSERT_EQ(run(lookup, &out, &err), 0) << err;
    EXPECT_EQ(nlohmann::json::parse(out)["speculative"]["mode"], "prompt_lookup");

    SynthSpec gpt2_spec;
    gpt2_spec.seed = 3;
    auto other_vocab = base;
    other_vocab.insert(other_vocab.end(), {"--draft-model", synth("gpt2-vocab", gpt2_spec, "ggml-vocab-gpt-2.gguf")});
    EXPECT_NE(run(other_vocab, &out, &err), 0);
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
    EXPECT_NE(err.find("--draft-model"), std::string::npos) << err;
    EXPECT_NE(err.find("32000"), std::string::npos) << err;
    EXPECT_NE(err.find("50257"), std::string::npos) << err;

    auto both = with;
    both.insert(both.end(), {"--lookup-draft", "2"});
    EXPECT_NE(run(both, &out, &err), 0);
    EXPECT_NE(err.find("--lookup-draft"), std::string::npos) << err;
}

// The real model drafted by a q4_0 copy of itself: plain greedy output, most drafts accepted.
TEST(DraftModel, SmolLM2WithQ4_0CopyIsGreedy) {
    const std::string model = test::default_model_path();
    if (!test::file_exists(model)) GTEST_SKIP() << "default model absent: " << model;
    const std::string copy = temp_dir() + "/smollm2-q4_0.gguf";
    Status q = quantize_model(model, copy, "q4_0", nullptr);
    ASSERT_TRUE(q.is_ok()) << q.message();
    auto target = load(model, 512);
    auto draft = load(copy, 512);
    ASSERT_TRUE(target && draft);
    GenerationRequest plain;
    plain.prompt = "Once upon a time";
    plain.max_tokens = 32;
    plain.sampling.temperature = 0;
    plain.stop_at_eos = false;
    auto a = target->generate(plain);
    ASSERT_TRUE(a.is_ok());
    GenerationRequest spec = plain;
    spec.draft_engine = draft.get();
    spec.draft_tokens = 4;
    auto b = target->generate(spec);
    ASSERT_TRUE(b.is_ok()) << b.status().message();
    EXPECT_EQ(a->ids, b->ids);
    EXPECT_GT(b->stats.n_draft_accepted, 0);
    std::printf("SmolLM2 drafted by its q4_0 copy: %d of %d drafts accepted, %d verify steps\n",
                b->stats.n_draft_accepted, b->stats.n_drafted, b->stats.n_verify_steps);
    expect_all_free(*target);
    expect_all_free(*draft);
    std::remove(copy.c_str());
}
