// lumen-cli eval: perplexity chunked as llama-perplexity, anchored to llama.cpp's
// figures on a public-domain text (tests/data/eval/README.md), and the KLD /
// top-1 statistics against a reference model.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "test_support.h"

using namespace lumen;

namespace {

std::string text() {
    return test::data_dir() + "/eval/cc0-1.0.txt";
}

nlohmann::json eval_json(const std::vector<std::string>& args, int* exit_code = nullptr) {
    std::string cmd = test::cli_path() + " eval";
    for (const auto& a : args) cmd += " '" + a + "'";
    std::string out;
    const int rc = test::run_command(cmd + " --json 2>/dev/null", &out);
    if (exit_code) *exit_code = rc;
    if (rc != 0) return {};
    return nlohmann::json::parse(out);
}

std::string stories15M() {
    return test::shared_dir() + "/testdata/stories15M/stories15M.bin";
}

}  // namespace

// The fp32 anchor: every chunk's running estimate within 0.05% of llama.cpp's.
TEST(Eval, Stories15MPerplexityMatchesLlamaCpp) {
    if (!test::file_exists(stories15M()))
        GTEST_SKIP() << "stories15M (../shared)"
                     << " absent";
    const auto j = eval_json({"--model", stories15M(), "--text", text(), "--ctx", "256", "--threads", "2"});
    ASSERT_FALSE(j.is_null());
    const std::vector<double> expected = {41144.5058, 11119.4489, 8384.4632, 8017.4707,
                                          7253.4745,  7183.8042,  6808.2880};
    const auto chunks = j["chunk_perplexity"].get<std::vector<double>>();
    ASSERT_EQ(chunks.size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(chunks[i] / expected[i], 1.0, 5e-4) << "chunk " << i;
    EXPECT_EQ(j["scored"], 7 * 127);
    EXPECT_NEAR(j["perplexity_error"].get<double>() / 909.8624, 1.0, 1e-3);
}

// The default model (Q4_1): within 0.5% of llama.cpp (the engines' 8-bit activation
// rounding differs slightly).
TEST(Eval, DefaultModelPerplexityMatchesLlamaCpp) {
    if (!test::file_exists(test::default_model_path()))
        GTEST_SKIP() << "the default model"
                     << " absent";
    const auto j = eval_json({"--model", test::default_model_path(), "--text", text(), "--ctx", "256"});
    ASSERT_FALSE(j.is_null());
    EXPECT_EQ(j["chunks"], 6);
    EXPECT_NEAR(j["perplexity"].get<double>() / 19.1283, 1.0, 5e-3);
}

// Against itself: no divergence and full agreement; against its Q8_0 quantization:
// a small positive divergence and high agreement.
TEST(Eval, ReferenceStatistics) {
    if (!test::file_exists(stories15M()))
        GTEST_SKIP() << "stories15M (../shared)"
                     << " absent";
    const auto self = eval_json(
        {"--model", stories15M(), "--reference", stories15M(), "--text", text(), "--ctx", "256", "--chunks", "2"});
    ASSERT_FALSE(self.is_null());
    EXPECT_EQ(self["reference"]["kld_max"].get<double>(), 0.0);
    EXPECT_EQ(self["reference"]["top1_agreement"].get<double>(), 1.0);
    EXPECT_EQ(self["reference"]["perplexity"].get<double>(), self["perplexity"].get<double>());

    char dir_template[] = "/tmp/lumen-eval-XXXXXX";
    const std::string q8 = std::string(mkdtemp(dir_template)) + "/stories15M-q8_0.gguf";
    std::string out;
    ASSERT_EQ(
        test::run_command(
            test::cli_path() + " quantize --input '" + stories15M() + "' --output '" + q8 + "' --type q8_0 2>&1", &out),
        0)
        << out;
    const auto q =
        eval_json({"--model", q8, "--reference", stories15M(), "--text", text(), "--ctx", "256", "--chunks", "2"});
    ASSERT_FALSE(q.is_null());
    const auto& r = q["reference"];
    EXPECT_GT(r["kld_mean"].get<double>(), 0.0);
    EXPECT_LT(r["kld_mean"].get<double>(), 0.01);
    EXPECT_LE(r["kld_mean"].get<double>(), r["kld_p99"].get<double>());
    EXPECT_LE(r["kld_p99"].get<double>(), r["kld_max"].get<double>());
    // Legal text is far from stories15M's training data: its distributions are flat and
    // near-ties flip under 8-bit weights, so agreement is lower than on stories (0.89 here).
    EXPECT_GT(r["top1_agreement"].get<double>(), 0.8);
    EXPECT_LT(r["top1_agreement"].get<double>(), 1.0);
    EXPECT_NEAR(q["perplexity"].get<double>() / r["perplexity"].get<double>(), 1.0, 0.02);
}

// Issue 7's bound: Q8_0 and INT8 (per-channel, W8A16) weights on stories15M, in the
// model's own distribution (tests/data/eval/README.md): mean KLD < 0.01 against fp32
// and top-1 agreement >= 97%. Measured 0.0008 / 98.4% and 0.0008 / 98.9%.
TEST(Eval, EightBitWeightsStayCloseToFp32) {
    if (!test::file_exists(stories15M()))
        GTEST_SKIP() << "stories15M (../shared)"
                     << " absent";
    const std::string samples = test::data_dir() + "/eval/stories15M-samples.txt";
    for (const char* weights : {"q8_0", "int8-ch"}) {
        SCOPED_TRACE(weights);
        const auto j = eval_json({"--model", stories15M(), "--reference", stories15M(), "--text", samples, "--ctx",
                                  "256", "--weights", weights, "--threads", "2"});
        ASSERT_FALSE(j.is_null());
        EXPECT_EQ(j["weights"], weights);
        const auto& r = j["reference"];
        std::printf("  %-8s KLD mean %.5f  top-1 %.4f\n", weights, r["kld_mean"].get<double>(),
                    r["top1_agreement"].get<double>());
        EXPECT_GT(r["kld_mean"].get<double>(), 0.0);
        EXPECT_LT(r["kld_mean"].get<double>(), 0.01);
        EXPECT_GE(r["top1_agreement"].get<double>(), 0.97);
    }
}

TEST(Eval, BadInputIsAnError) {
    if (!test::file_exists(test::default_model_path()))
        GTEST_SKIP() << "the default model"
                     << " absent";
    int rc = 0;
    eval_json({"--model", test::default_model_path(), "--text", "/nonexistent.txt"}, &rc);
    EXPECT_NE(rc, 0);
    eval_json({"--model", test::default_model_path(), "--text", text(), "--ctx", "4096"}, &rc);  // < 2 chunks
    EXPECT_NE(rc, 0);
    eval_json({"--model", test::default_model_path(), "--text", text(), "--reference", stories15M()}, &rc);
    EXPECT_NE(rc, 0);  // different vocabularies (or stories15M absent): an error either way
}
