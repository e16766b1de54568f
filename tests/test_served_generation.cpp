// generate_served (serving/served_generation.h): a GenerationRequest through the
// serving core gives what Engine::generate gives. On stories15M, greedy ids equal
// Engine::generate's and the golden file's; so do they with prompt-lookup and
// draft-model speculation (with the same speculative statistics), with stop strings
// (the same text stream), early exit (the same exit layers), sampling, a full KV
// pool, and a conversation whose second turn reuses the first's KV through the
// prefix cache.
#include <gtest/gtest.h>

#include <sstream>

#include "runtime/engine.h"
#include "serving/served_generation.h"
#include "test_support.h"

using namespace lumen;

namespace {

std::string stories_path() {
    return test::shared_dir() + "/testdata/stories15M/stories15M.bin";
}

struct GoldenCase {
    std::string prompt;
    int32_t max_tokens = 0;
    std::vector<int32_t> ids;
};

// The prompts, lengths and ids of ../shared/golden/stories15M_greedy.tsv.
std::vector<GoldenCase> read_golden() {
    std::vector<GoldenCase> cases;
    for (const auto& line :
         test::split_lines(test::read_text_file(test::shared_dir() + "/golden/stories15M_greedy.tsv"))) {
        if (line.empty() || line[0] == '#') continue;
        std::vector<std::string> f;
        std::stringstream fields(line);
        for (std::string field; std::getline(fields, field, '\t');) f.push_back(field);
        if (f.size() != 4) continue;
        GoldenCase c{f[0], std::atoi(f[1].c_str()), {}};
        std::stringstream ids(f[3]);
        for (int32_t id; ids >> id;) c.ids.push_back(id);
        cases.push_back(c);
    }
    return cases;
}

GenerationRequest greedy(const std::string& prompt, int32_t max_tokens) {
    GenerationRequest r;
    r.prompt = prompt;
    r.max_tokens = max_tokens;
    r.sampling.temperature = 0;
    return r;
}

// One run's token stream, for comparing what the two paths show.
struct Streamed {
    std::vector<int32_t> ids;
    std::vector<std::string> texts;
    std::string joined() const {
        std::string s;
        for (const auto& t : texts) s += t;
        return s;
    }
};

TokenCallback recorder(Streamed* out) {
    return [out](const TokenEvent& ev) {
        EXPECT_EQ(ev.index, int32_t(out->ids.size()));
        out->ids.push_back(ev.id);
        out->texts.push_back(ev.text);
    };
}

void expect_same_speculation(const GenerationStats& a, const GenerationStats& b) {
    EXPECT_EQ(a.n_drafted, b.n_drafted);
    EXPECT_EQ(a.n_draft_accepted, b.n_draft_accepted);
    EXPECT_EQ(a.n_verify_steps, b.n_verify_steps);
    EXPECT_EQ(a.draft_accepted_at, b.draft_accepted_at);
}

// Nothing held by a sequence: every block is free or only in the prefix cache.
void expect_pool_reusable(const Engine& engine, ServingEngine& serving) {
    EXPECT_TRUE(serving.idle());
    EXPECT_EQ(engine.kv().free_blocks() + serving.prefix_cache()->evictable_blocks(), engine.kv().n_blocks());
    EXPECT_TRUE(serving.check_invariants().is_ok());
}

// One request through Engine::generate and through generate_served.
struct Both {
    GenerationResult direct, served;
};

// The request on both paths: results and streams equal. Returns both results.
Both expect_same(Engine& engine, ServingEngine& serving, const GenerationRequest& request) {
    Streamed direct_stream, served_stream;
    auto direct = engine.generate(request, recorder(&direct_stream));
    auto served = generate_served(serving, request, recorder(&served_stream));
    EXPECT_TRUE(direct.is_ok()) << direct.status().message();
    EXPECT_TRUE(served.is_ok()) << served.status().message();
    if (!direct.is_ok() || !served.is_ok()) return {};
    EXPECT_EQ(served->prompt_ids, direct->prompt_ids);
    EXPECT_EQ(served->ids, direct->ids);
    EXPECT_EQ(served->text, direct->text);
    EXPECT_EQ(served->stop_reason, direct->stop_reason);
    EXPECT_EQ(served->stats.n_prompt, direct->stats.n_prompt);
    EXPECT_EQ(served->stats.n_gen, direct->stats.n_gen);
    EXPECT_EQ(served->stats.exit_layer_counts, direct->stats.exit_layer_counts);
    EXPECT_EQ(served_stream.ids, served->ids);
    EXPECT_EQ(served_stream.texts, direct_stream.texts);
    EXPECT_EQ(served_stream.joined(), served->text);
    expect_pool_reusable(engine, serving);
    return {direct.value(), served.value()};
}

class ServedGeneration : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        test::skip_unless_exists(stories_path(), "stories15M checkpoint (../shared/testdata)");
        test::skip_unless_exists(test::shared_dir() + "/golden/stories15M_greedy.tsv",
                                 "golden file (../shared/golden)");
    }
    void SetUp() override {
        engine = test::load_engine(stories_path(), 256);
        ASSERT_TRUE(engine);
        serving = std::make_unique<ServingEngine>(*engine, single_stream_serving_options(*engine));
    }
    Both expect_same(const GenerationRequest& request) { return ::expect_same(*engine, *serving, request); }
    void expect_pool_reusable() { ::expect_pool_reusable(*engine, *serving); }
    std::unique_ptr<Engine> engine;
    std::unique_ptr<ServingEngine> serving;
};

}  // namespace

TEST_F(ServedGeneration, GreedyEqualsEngineGenerateAndTheGoldenFile) {
    const auto cases = read_golden();
    ASSERT_EQ(cases.size(), 3u);
    for (const auto& c : cases) {
        const GenerationResult r = expect_same(greedy(c.prompt, c.max_tokens)).served;
        EXPECT_EQ(r.ids, c.ids) << c.prompt;
        EXPECT_EQ(r.stop_reason, "max_tokens");
        EXPECT_EQ(r.stats.n_gen, c.max_tokens);
        EXPECT_GT(r.stats.ttft_ms, 0);
        EXPECT_GT(r.stats.decode_tps, 0);
    }
}

TEST_F(ServedGeneration, PromptLookupKeepsTheGreedyOutput) {
    GenerationRequest plain = greedy("Once upon a time", 120);
    plain.stop_at_eos = false;
    auto reference = engine->generate(plain);
    ASSERT_TRUE(reference.is_ok());
    for (bool adaptive : {false, true}) {
        GenerationRequest lookup = plain;
        lookup.lookup_draft = 4;
        lookup.lookup_adaptive = adaptive;
        const auto [direct, served] = expect_same(lookup);
        EXPECT_EQ(served.ids, reference->ids) << "adaptive " << adaptive;
        EXPECT_GT(served.stats.n_draft_accepted, 0);
        expect_same_speculation(served.stats, direct.stats);
    }
}

TEST_F(ServedGeneration, DraftModelKeepsTheGreedyOutput) {
    auto draft = test::load_engine(stories_path(), 256);
    ASSERT_TRUE(draft);
    GenerationRequest request = greedy("The dragon", 48);
    request.draft_engine = draft.get();
    request.draft_tokens = 3;
    const auto [direct, served] = expect_same(request);
    const std::vector<int32_t> golden = read_golden()[1].ids;  // "The dragon"
    EXPECT_EQ(served.ids, std::vector<int32_t>(golden.begin(), golden.begin() + 48));
    expect_same_speculation(served.stats, direct.stats);
    EXPECT_EQ(served.stats.n_draft_accepted, served.stats.n_drafted);  // a model drafting for itself
    EXPECT_EQ(serving->draft_engine(), draft.get());
    EXPECT_EQ(draft->kv().free_blocks(), draft->kv().n_blocks());
}

TEST_F(ServedGeneration, StopStringsEndTheTextAlike) {
    auto full = engine->generate(greedy("Once upon a time", 64));
    ASSERT_TRUE(full.is_ok());
    // Stops from the greedy text end the generation at many points, some inside a
    // token, with and without drafts in flight.
    std::vector<std::string> stops = {"Lily wanted", "in the sky", ".", "\n", "not in the text"};
    std::istringstream words(full->text);
    for (std::string w; words >> w && stops.size() < 8;)
        if (w.size() >= 5) stops.push_back(w.substr(1, 3));
    for (const std::string& stop : stops)
        for (int32_t lookup : {0, 4}) {
            GenerationRequest request = greedy("Once upon a time", 64);
            request.stop_strings = {stop, "zzz"};
            request.lookup_draft = lookup;
            const GenerationResult r = expect_same(request).served;
            const size_t at = full->text.find(stop);
            if (at == std::string::npos) {
                EXPECT_EQ(r.stop_reason, "max_tokens");
                continue;
            }
            EXPECT_EQ(r.stop_reason, "stop_string") << stop;
            EXPECT_EQ(r.text, full->text.substr(0, at)) << stop;
        }
}

TEST_F(ServedGeneration, EarlyExitRunsTheSameLayers) {
    GenerationRequest request = greedy("Once upon a time", 48);
    request.early_exit = {1.5f, 3, 1};
    const GenerationResult r = expect_same(request).served;
    const int32_t layers = engine->model().config.n_layers;
    ASSERT_EQ(r.stats.exit_layer_counts.size(), size_t(layers) + 1);
    int32_t decode_steps = 0;
    for (int32_t c : r.stats.exit_layer_counts) decode_steps += c;
    EXPECT_EQ(decode_steps, r.stats.n_gen - 1);  // every token but the last was fed back
    EXPECT_LT(r.stats.mean_layers_run(), double(layers));
    // Approximate KV (after the exit layer) never enters the prefix cache.
    EXPECT_EQ(serving->prefix_cache()->cached_blocks(), 0);
}

// Sampling draws the same random numbers on both paths, also when drafts are verified
// (the same drafts, so the same rejection-sampling draws).
TEST_F(ServedGeneration, SamplingFollowsTheSameSeed) {
    GenerationRequest request = greedy("The dragon", 64);
    request.sampling.temperature = 0.8f;
    request.sampling.seed = 42;
    request.sampling.repeat_penalty = 1.1f;
    const GenerationResult r = expect_same(request).served;
    EXPECT_EQ(r.stats.n_gen, 64);
    request.lookup_draft = 3;
    request.stop_at_eos = false;
    request.max_tokens = 100;
    const auto [direct, served] = expect_same(request);
    expect_same_speculation(served.stats, direct.stats);
    EXPECT_GT(served.stats.n_verify_steps, 0);
}

TEST_F(ServedGeneration, AFullPoolEndsAlike) {
    engine = test::load_engine(stories_path(), 48);
    ASSERT_TRUE(engine);
    serving = std::make_unique<ServingEngine>(*engine, single_stream_serving_options(*engine));
    GenerationRequest request = greedy("Once upon a time", 200);
    request.stop_at_eos = false;
    const GenerationResult r = expect_same(request).served;
    EXPECT_EQ(r.stop_reason, "context_full");
    request.lookup_draft = 4;          // drafts stop short of the end alike
    serving->prefix_cache()->clear();  // Engine::generate cannot evict the cache's blocks
    const auto [direct, served] = expect_same(request);
    EXPECT_EQ(served.ids, r.ids);
    expect_same_speculation(served.stats, direct.stats);
    EXPECT_EQ(r.stats.n_prompt + r.stats.n_gen, 48 + 1);  // 48 slots, then the last sampled token
}

// A conversation keeps one serving engine: the second turn's prompt starts with the
// first turn's prompt and reply, whose full blocks the prefix cache supplies.
TEST_F(ServedGeneration, ASecondTurnReusesTheFirstTurnsBlocks) {
    const std::string first_prompt = "Once upon a time, there was a little girl named Lily.";
    auto first = generate_served(*serving, greedy(first_prompt, 40));
    ASSERT_TRUE(first.is_ok()) << first.status().message();
    EXPECT_EQ(first->stats.n_cached, 0);
    GenerationRequest second = greedy("", 40);
    second.prompt_ids = first->prompt_ids;
    second.prompt_ids.insert(second.prompt_ids.end(), first->ids.begin(), first->ids.end());
    const std::vector<int32_t> more = engine->tokenizer().encode(" One day, Lily met a dragon.", false, false);
    second.prompt_ids.insert(second.prompt_ids.end(), more.begin(), more.end());
    const GenerationResult r = expect_same(second).served;
    const int32_t bs = engine->kv().layout().block_size;
    const int32_t first_tokens = int32_t(first->prompt_ids.size() + first->ids.size()) - 1;  // all but the last have KV
    EXPECT_EQ(r.stats.n_cached, first_tokens / bs * bs);
    EXPECT_GT(r.stats.n_cached, 0);
}

TEST_F(ServedGeneration, RequestsTheServingCoreCannotRunAreErrors) {
    GenerationRequest kept = greedy("Once upon a time", 8);
    kept.seq_id = 0;
    auto r = generate_served(*serving, kept);
    ASSERT_FALSE(r.is_ok());
    EXPECT_NE(r.status().message().find("prefix cache"), std::string::npos) << r.status().message();

    GenerationRequest both = greedy("Once upon a time", 8);
    both.lookup_draft = 2;
    both.early_exit = {1.0f, 3, 1};
    r = generate_served(*serving, both);
    ASSERT_FALSE(r.is_ok());
    EXPECT_NE(r.status().message().find("early exit"), std::string::npos) << r.status().message();

    GenerationRequest bad_layer = greedy("Once upon a time", 8);
    bad_layer.early_exit = {1.0f, 99, 1};
    EXPECT_FALSE(generate_served(*serving, bad_layer).is_ok());

    auto none = generate_served(*serving, greedy("Once upon a time", 0));
    ASSERT_TRUE(none.is_ok());
    EXPECT_TRUE(none->ids.empty());
    EXPECT_EQ(none->stop_reason, "max_tokens");
    expect_pool_reusable();
}

TEST_F(ServedGeneration, CancelStopsAfterTheCurrentStep) {
    std::atomic<bool> cancel{false};
    int32_t seen = 0;
    auto r = generate_served(
        *serving, greedy("Once upon a time", 64),
        [&](const TokenEvent&) {
            if (++seen == 5) cancel = true;
        },
        &cancel);
    ASSERT_TRUE(r.is_ok()) << r.status().message();
    EXPECT_EQ(r->stop_reason, "cancelled");
    EXPECT_EQ(r->ids.size(), 5u);
    expect_pool_reusable();
}

// SmolLM2-135M-Instruct (Q4_1, byte-level BPE, a chat template): chat prompts on both
// paths, with a stop string, prompt lookup and early exit, and a second turn that
// finds the first turn's blocks in the prefix cache.
TEST(ServedGenerationSmolLM2, ChatEqualsEngineGenerate) {
    const std::string path = test::default_model_path();
    if (!test::file_exists(path)) GTEST_SKIP() << "default model absent (installer/fetch-model.sh)";
    auto engine = test::load_engine(path, 1024);
    ASSERT_TRUE(engine);
    ServingEngine serving(*engine, single_stream_serving_options(*engine));
    auto chatml = [](const std::string& turns) { return turns + "<|im_start|>assistant\n"; };
    const std::string first_turn = "<|im_start|>user\nWrite a short poem about the sea.<|im_end|>\n";
    GenerationRequest request;
    request.prompt = chatml(first_turn);
    request.parse_special = true;
    request.max_tokens = 40;
    request.sampling.temperature = 0;
    const GenerationResult plain = expect_same(*engine, serving, request).served;
    EXPECT_EQ(plain.stats.n_gen, 40);

    GenerationRequest stopped = request;
    stopped.stop_strings = {plain.text.substr(plain.text.size() / 2, 6)};
    const GenerationResult s = expect_same(*engine, serving, stopped).served;
    EXPECT_EQ(s.stop_reason, "stop_string");
    EXPECT_EQ(s.text, plain.text.substr(0, plain.text.find(stopped.stop_strings[0])));

    GenerationRequest lookup = request;
    lookup.lookup_draft = 4;
    EXPECT_EQ(expect_same(*engine, serving, lookup).served.ids, plain.ids);

    GenerationRequest early = request;
    early.early_exit = {0.5f, engine->model().config.n_layers / 2, 1};
    expect_same(*engine, serving, early);

    GenerationRequest second = request;
    second.prompt = chatml(first_turn + "<|im_start|>assistant\n" + plain.text + "<|im_end|>\n" +
                           "<|im_start|>user\nNow one about the mountains.<|im_end|>\n");
    const GenerationResult next = expect_same(*engine, serving, second).served;
    EXPECT_GE(next.stats.n_cached, engine->kv().layout().block_size);  // the first turn's blocks
}
