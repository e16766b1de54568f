// Calibrated quantization on a real model (stories15M): GPTQ beats round-to-nearest
// on every layer's reconstruction error, the GPTQ weights lie on the format's grid
// and run, the out-of-sample quality ranks GPTQ INT4 below RTN INT4, and bad
// calibration input is a clear error.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "runtime/engine.h"
#include "runtime/evaluate.h"
#include "test_support.h"

using namespace lumen;

namespace {

std::string stories15M() {
    return test::shared_dir() + "/testdata/stories15M/stories15M.bin";
}
std::string calibration_text() {
    return test::data_dir() + "/eval/cc0-1.0.txt";
}

Result<std::unique_ptr<Engine>> load(const std::string& weights, bool gptq, CalibrationOptions calibration = {}) {
    EngineOptions options;
    options.kv_tokens = 256;
    options.kv_type = DType::F32;
    options.backend.n_threads = 2;
    options.weights_scheme = weights;
    options.weights_gptq = gptq;
    calibration.text_path =
        calibration.text_path == CalibrationOptions{}.text_path ? calibration_text() : calibration.text_path;
    options.calibration = calibration;
    return Engine::load(stories15M(), {}, options);
}

}  // namespace

TEST(Calibration, GptqBeatsRoundToNearestOnEveryMatrix) {
    if (!test::file_exists(stories15M())) GTEST_SKIP() << "stories15M (../shared) absent";
    for (const char* weights : {"int4-asym-g32", "int8-ch"}) {
        SCOPED_TRACE(weights);
        CalibrationOptions calibration;
        calibration.samples = 4;
        calibration.sample_tokens = 128;
        auto engine = load(weights, true, calibration);
        ASSERT_TRUE(engine) << engine.status().message();
        const CalibrationReport& report = engine.value()->calibration_report();
        EXPECT_EQ(report.calibration_tokens, 4 * 128);
        ASSERT_EQ(report.matrices.size(), 6u * 7u);  // q, k, v, o, gate, up, down in six layers
        double rtn = 0, gptq = 0;
        for (const MatrixQuantError& m : report.matrices) {
            EXPECT_GT(m.rtn, 0.0) << m.name;
            EXPECT_GT(m.gptq, 0.0) << m.name;
            EXPECT_LT(m.gptq, m.rtn) << m.name;
            rtn += m.rtn;
            gptq += m.gptq;
        }
        std::printf("  %-14s mean relative error RTN %.3e  GPTQ %.3e  (%.2fx)\n", weights, rtn / 42, gptq / 42,
                    rtn / gptq);
        const ModelWeights& w = engine.value()->model().weights;
        EXPECT_STREQ(dtype_name(w.layers[3].w_down.type), weights);
        EXPECT_STREQ(dtype_name(w.token_embedding.type), weights);  // round-to-nearest: no observed input
        GenerationRequest g;
        g.prompt_ids = {1, 9038, 2501, 263, 931};
        g.max_tokens = 8;
        g.sampling.temperature = 0;
        g.stop_at_eos = false;
        auto out = engine.value()->generate(g);
        ASSERT_TRUE(out) << out.status().message();
        EXPECT_EQ(out->ids.size(), 8u);
    }
}

// Issue 7's quality target: KLD against fp32 ranks GPTQ INT4 below round-to-nearest
// INT4. GPTQ fits the layers to the calibration activations, so the calibration text
// must resemble what is scored: stories sampled from stories15M (seeds 11-20) calibrate,
// six other stories (seeds 1-6) are scored (tests/data/eval/README.md). Calibrated on
// the GPL instead, GPTQ is worse than RTN on stories (0.197 vs 0.145), better on legal
// text (0.888 vs 0.983).
TEST(Calibration, GptqInt4HasLowerKldThanRoundToNearest) {
    if (!test::file_exists(stories15M())) GTEST_SKIP() << "stories15M (../shared) absent";
    EngineOptions ref_options;
    ref_options.kv_tokens = 256;
    ref_options.kv_type = DType::F32;
    ref_options.backend.n_threads = 2;
    auto reference = Engine::load(stories15M(), {}, ref_options);
    ASSERT_TRUE(reference);
    const std::string text = test::read_text_file(test::data_dir() + "/eval/stories15M-samples.txt");
    const std::vector<int32_t> tokens = reference.value()->tokenizer().encode(text, true, false);
    EvalOptions eval;
    eval.n_ctx = 256;
    CalibrationOptions calibration;
    calibration.text_path = test::data_dir() + "/eval/stories15M-calibration.txt";
    calibration.samples = 9;
    for (const char* weights : {"int4-g32", "int4-asym-g32"}) {
        double kld[2];
        for (bool gptq : {false, true}) {
            auto engine = load(weights, gptq, calibration);
            ASSERT_TRUE(engine) << engine.status().message();
            auto r = evaluate_perplexity(*engine.value(), tokens, eval, reference.value().get());
            ASSERT_TRUE(r) << r.status().message();
            kld[gptq] = r->kld_mean;
            std::printf("  %-14s %-5s KLD mean %.4f  top-1 %.3f  PPL %.3f\n", weights, gptq ? "GPTQ" : "RTN",
                        r->kld_mean, r->top1_agreement, r->perplexity);
        }
        EXPECT_LT(kld[1], kld[0]) << weights;
    }
}

TEST(Calibration, BadCalibrationInputIsAClearError) {
    if (!test::file_exists(stories15M())) GTEST_SKIP() << "stories15M (../shared) absent";
    CalibrationOptions missing;
    missing.text_path = "/nonexistent/calibration.txt";
    auto a = load("int4-g32", true, missing);
    ASSERT_FALSE(a);
    EXPECT_NE(a.status().message().find("/nonexistent/calibration.txt"), std::string::npos) << a.status().message();
    CalibrationOptions too_long;
    too_long.sample_tokens = 100000;
    auto b = load("int4-g32", true, too_long);
    ASSERT_FALSE(b);
    EXPECT_NE(b.status().message().find("100000"), std::string::npos) << b.status().message();

    std::string out;
    EXPECT_NE(
        test::run_command(test::cli_path() + " generate --model '" + stories15M() + "' --prompt x --gptq 2>&1", &out),
        0);
    EXPECT_NE(out.find("--gptq"), std::string::npos) << out;
    EXPECT_NE(test::run_command(test::cli_path() + " generate --model '" + stories15M() +
                                    "' --prompt x --weights q4_0 --calib-samples 4 2>&1",
                                &out),
              0);
    EXPECT_NE(out.find("--calib-samples requires --gptq"), std::string::npos) << out;
}

TEST(Calibration, CliReportsEveryMatrix) {
    if (!test::file_exists(stories15M())) GTEST_SKIP() << "stories15M (../shared) absent";
    std::string out;
    ASSERT_EQ(test::run_command(test::cli_path() + " calibrate --model '" + stories15M() + "' --weights int4-asym-g64" +
                                    " --calib '" + calibration_text() +
                                    "' --calib-samples 2 --calib-tokens 96 --json 2>/dev/null",
                                &out),
              0)
        << out;
    const auto j = nlohmann::json::parse(out);
    EXPECT_EQ(j["calibration_tokens"], 192);
    EXPECT_EQ(j["matrices"].size(), 42u);
    EXPECT_EQ(j["with_grid"], 42);  // rows of 288 fall back to groups of 32, still a grid
    EXPECT_GT(j["gptq_better"].get<int>(), 38);
    EXPECT_LT(j["mean_gptq"].get<double>(), j["mean_rtn"].get<double>());
    for (const auto& m : j["matrices"]) EXPECT_GT(m["kernel"].get<double>(), 0.0) << m["name"];
}

// LLM.int8 per layer, through the kernels on the calibration tokens: the outlier split
// is never worse than plain W8A8 and better where activations exceed the threshold
// (measured: 33 of 42 matrices, mean error 1.6e-4 against 3.1e-4).
TEST(Calibration, OutlierSplitLowersEachLayersW8A8Error) {
    if (!test::file_exists(stories15M())) GTEST_SKIP() << "stories15M (../shared) absent";
    std::string out;
    ASSERT_EQ(test::run_command(test::cli_path() + " calibrate --model '" + stories15M() +
                                    "' --weights int8-w8a8 --rtn" + " --calib '" + test::data_dir() +
                                    "/eval/stories15M-calibration.txt'" + " --calib-samples 4 --json 2>/dev/null",
                                &out),
              0)
        << out;
    const auto j = nlohmann::json::parse(out);
    int better = 0;
    double split = 0, plain = 0;
    for (const auto& m : j["matrices"]) {
        const double a = m["kernel"].get<double>(), b = m["kernel_no_outliers"].get<double>();
        EXPECT_LE(a, b * (1 + 1e-9)) << m["name"];
        better += a < b;
        split += a;
        plain += b;
    }
    EXPECT_GT(better, 20);
    EXPECT_LT(split, 0.75 * plain);
}
