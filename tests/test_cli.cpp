// lumen-cli's stable interface: subcommands, JSON fields, exit codes, and the
// one-line errors for bad flags and bad files. Runs the real binary on a small
// synthetic model (and on stories15M for convert, when ../shared is present).
#include <gtest/gtest.h>

#include <set>
#include <tuple>

#include <unistd.h>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/synth.h"
#include "test_support.h"

using namespace lumen;
using nlohmann::json;

namespace {

struct Run {
    int exit_code;
    std::string out, err;
};

std::string temp_dir() {
    static std::string dir = [] {
        char tmpl[] = "/tmp/lumen-cli-XXXXXX";
        return std::string(mkdtemp(tmpl));
    }();
    return dir;
}

std::string quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

Run cli(const std::vector<std::string>& args) {
    std::string cmd = quote(test::cli_path());
    for (const auto& a : args) cmd += " " + quote(a);
    const std::string err_path = temp_dir() + "/stderr.txt";
    Run r;
    r.exit_code = test::run_command(cmd + " 2>" + quote(err_path), &r.out);
    r.err = test::read_text_file(err_path);
    return r;
}

const std::string& model() {
    static std::string path = [] {
        SynthSpec spec;
        spec.init_std = 0.2f;
        const std::string p = temp_dir() + "/synth.gguf";
        Status s = write_synthetic_model(spec, test::data_dir() + "/tokenizer/ggml-vocab-llama-spm.gguf", p);
        EXPECT_TRUE(s.is_ok()) << s.message();
        return p;
    }();
    return path;
}

void expect_one_line_error(const Run& r, const std::string& must_mention) {
    EXPECT_NE(r.exit_code, 0);
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(r.err.rfind("lumen-cli: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(must_mention), std::string::npos) << r.err;
}

}  // namespace

TEST(Cli, GenerateJsonHasTheDocumentedFields) {
    auto r = cli({"generate", "--model", model(), "--prompt", "Hello world", "--max-tokens", "6", "--temperature", "0",
                  "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const json j = json::parse(r.out);
    EXPECT_EQ(j["prompt_ids"], json::array({1, 15043, 3186}));
    EXPECT_EQ(j["ids"].size(), 6u);
    EXPECT_TRUE(j["text"].is_string());
    for (const char* k : {"load_ms", "ttft_ms", "prefill_tps", "decode_tps", "n_prompt", "n_gen"})
        EXPECT_TRUE(j["stats"].contains(k)) << k;
    EXPECT_EQ(j["stats"]["n_prompt"], 3);
    EXPECT_EQ(j["stats"]["n_gen"], 6);
    EXPECT_GT(j["stats"]["decode_tps"].get<double>(), 0.0);

    auto again = cli({"generate", "--model", model(), "--prompt", "Hello world", "--max-tokens", "6", "--temperature",
                      "0", "--json"});
    EXPECT_EQ(json::parse(again.out)["ids"], j["ids"]) << "greedy is deterministic";
}

TEST(Cli, SeededSamplingIsReproducible) {
    std::vector<std::string> args = {"generate", "--model",       model(), "--prompt", "Hello", "--max-tokens",
                                     "8",        "--temperature", "1.5",   "--top-k",  "0",     "--top-p",
                                     "1",        "--min-p",       "0",     "--json"};
    auto seeded = [&](const char* seed) {
        auto a = args;
        a.insert(a.end(), {"--seed", seed});
        return json::parse(cli(a).out)["ids"];
    };
    EXPECT_EQ(seeded("7"), seeded("7"));
    EXPECT_NE(seeded("7"), seeded("8"));
}

TEST(Cli, GenerateStreamsText) {
    auto r = cli({"generate", "--model", model(), "--prompt", "Hello", "--max-tokens", "4", "--temperature", "0"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.rfind("Hello", 0), 0u) << "the prompt is echoed, then the continuation";
    EXPECT_NE(r.err.find("decode"), std::string::npos) << r.err;
}

TEST(Cli, TokenizeJson) {
    auto r = cli({"tokenize", "--model", model(), "--text", "Hello world", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(json::parse(r.out), json::parse(R"({"ids":[1,15043,3186]})"));
    r = cli({"tokenize", "--model", model(), "--text", "Hello world", "--no-bos", "--json"});
    EXPECT_EQ(json::parse(r.out)["ids"], json::array({15043, 3186}));
    r = cli({"tokenize", "--model", model(), "--text", "</s>", "--no-bos", "--json"});
    EXPECT_NE(json::parse(r.out)["ids"], json::array({2})) << "special tokens are not parsed";
}

// tokenize needs only the vocabulary, so llama.cpp's vocabulary-only GGUF files work, and
// BOS follows the vocabulary (llama-bpe adds it without an add_bos_token key, as llama.cpp).
TEST(Cli, TokenizeWorksOnAVocabularyOnlyFile) {
    const std::string vocab = test::data_dir() + "/tokenizer/ggml-vocab-llama-bpe.gguf";
    auto r = cli({"tokenize", "--model", vocab, "--text", "Hello world", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(json::parse(r.out)["ids"], json::array({128000, 9906, 1917}));
    r = cli({"tokenize", "--model", vocab, "--text", "Hello world", "--no-bos", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(json::parse(r.out)["ids"], json::array({9906, 1917}));
    r = cli({"tokenize", "--model", test::data_dir() + "/tokenizer/ggml-vocab-llama-spm.gguf", "--text", "Hello world",
             "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(json::parse(r.out)["ids"], json::array({1, 15043, 3186}));
    // A model-running command still refuses a file without weights, naming what is missing.
    expect_one_line_error(cli({"generate", "--model", vocab, "--prompt", "x"}), "ggml-vocab-llama-bpe.gguf");
}

// info sizes the KV cache as a load does (f16 unless --kv says otherwise).
TEST(Cli, InfoDefaultsToTheRuntimeKvFormat) {
    auto r = cli({"info", "--model", model(), "--ctx", "100", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const json j = json::parse(r.out);
    EXPECT_EQ(j["memory"]["kv_type"], "f16");
    EXPECT_EQ(j["memory"]["kv_bytes_per_token"], 2 * 2 * 2 * 16 * 2);
    r = cli({"info", "--model", model(), "--ctx", "100", "--kv", "f32", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(json::parse(r.out)["memory"]["kv_bytes_per_token"], 2 * 2 * 2 * 16 * 4);
}

// --top-logprobs N: each token's log-probability and its N likeliest alternatives, and the
// reply's perplexity from them.
TEST(Cli, GenerateReportsTokenLogprobs) {
    auto r = cli({"generate", "--model", model(), "--prompt", "Hello world", "--max-tokens", "5", "--temperature", "0",
                  "--json", "--top-logprobs", "2"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const json j = json::parse(r.out);
    ASSERT_EQ(j["logprobs"].size(), j["ids"].size());
    double sum = 0;
    for (size_t i = 0; i < j["ids"].size(); ++i) {
        const json& t = j["logprobs"][i];
        EXPECT_EQ(t["token"], j["ids"][i]);
        ASSERT_EQ(t["top_logprobs"].size(), 2u);
        EXPECT_EQ(t["top_logprobs"][0]["token"], t["token"]) << "greedy takes the likeliest";
        EXPECT_LE(t["logprob"].get<double>(), 0.0);
        sum += t["logprob"].get<double>();
    }
    EXPECT_NEAR(j["logprob_summary"]["perplexity"].get<double>(), std::exp(-sum / double(j["ids"].size())), 1e-6);
    expect_one_line_error(cli({"generate", "--model", model(), "--prompt", "x", "--top-logprobs", "2"}), "--json");
}

TEST(Cli, InfoReportsShapeAndMemoryEstimate) {
    auto r = cli({"info", "--model", model(), "--ctx", "1000", "--batch", "3", "--kv-type", "f16", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const json j = json::parse(r.out);
    EXPECT_EQ(j["architecture"], "llama");
    EXPECT_EQ(j["config"]["n_layers"], 2);
    EXPECT_EQ(j["config"]["n_kv_heads"], 2);
    const int64_t per_token = 2 * 2 * 2 * 16 * 2;  // 2 · layers · kv_heads · head_dim · bytes(f16)
    EXPECT_EQ(j["memory"]["kv_bytes_per_token"], per_token);
    EXPECT_EQ(j["memory"]["kv_bytes"], per_token * 1000 * 3);
    EXPECT_EQ(j["memory"]["total_bytes"], j["memory"]["weights_bytes"].get<int64_t>() + per_token * 3000);
    const int64_t params = 32000 * 64 + 2 * (64 * 64 * 2 + 64 * 32 * 2 + 3 * 64 * 128 + 2 * 64) + 64;
    EXPECT_EQ(j["parameters"], params);
    EXPECT_GE(j["tensors"].size(), 20u);
    EXPECT_EQ(j["metadata"]["general.architecture"], "llama");
}

TEST(Cli, ConvertedModelGeneratesTheSame) {
    const std::string out = temp_dir() + "/converted.gguf";
    auto c = cli({"convert", "--model", model(), "--output", out});
    ASSERT_EQ(c.exit_code, 0) << c.err;
    auto a =
        cli({"generate", "--model", model(), "--prompt", "Hi", "--max-tokens", "5", "--temperature", "0", "--json"});
    auto b = cli({"generate", "--model", out, "--prompt", "Hi", "--max-tokens", "5", "--temperature", "0", "--json"});
    EXPECT_EQ(json::parse(a.out)["ids"], json::parse(b.out)["ids"]);
}

TEST(Cli, ConvertsALlama2cCheckpoint) {
    const std::string bin = test::shared_dir() + "/testdata/stories15M/stories15M.bin";
    if (!test::file_exists(bin)) GTEST_SKIP() << "../shared/testdata/stories15M absent";
    const std::string out = temp_dir() + "/stories15M.gguf";
    auto c = cli({"convert", "--model", bin, "--output", out});
    ASSERT_EQ(c.exit_code, 0) << c.err;
    auto r = cli({"generate", "--model", out, "--prompt", "Once upon a time", "--max-tokens", "8", "--temperature", "0",
                  "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(json::parse(r.out)["ids"], json::array({29892, 727, 471, 263, 2217, 7826, 4257, 365}));
    std::remove(out.c_str());
}

// bench follows llama-bench's JSON field names; speed itself is never asserted.
TEST(Cli, BenchJsonFollowsLlamaBench) {
    auto r =
        cli({"bench", "--model", model(), "-p", "16", "-n", "8", "-r", "2", "-o", "json", "--bandwidth-gbs", "50"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const json j = json::parse(r.out);
    ASSERT_TRUE(j.is_array());
    ASSERT_EQ(j.size(), 2u);
    EXPECT_EQ(j[0]["test"], "pp16");
    EXPECT_EQ(j[0]["n_prompt"], 16);
    EXPECT_EQ(j[0]["n_gen"], 0);
    EXPECT_EQ(j[1]["test"], "tg8");
    EXPECT_EQ(j[1]["n_prompt"], 0);
    EXPECT_EQ(j[1]["n_gen"], 8);
    for (const json& t : j) {
        for (const char* k :
             {"model_filename", "model_type", "model_size", "model_n_params", "n_threads", "backend", "kv_type",
              "avg_ts", "stddev_ts", "samples_ts", "avg_gbs", "ceiling_gbs", "pct_of_ceiling"})
            EXPECT_TRUE(t.contains(k)) << k;
        EXPECT_EQ(t["model_filename"], model());
        EXPECT_EQ(t["model_type"], "llama 2M F32");
        EXPECT_EQ(t["kv_type"], "f16");
        EXPECT_EQ(t["ceiling_gbs"], 50.0);
        const auto samples = t["samples_ts"].get<std::vector<double>>();
        ASSERT_EQ(samples.size(), 2u);
        const double avg = t["avg_ts"].get<double>(), sd = t["stddev_ts"].get<double>();
        EXPECT_TRUE(std::isfinite(avg) && avg > 0) << avg;
        const double mean = (samples[0] + samples[1]) / 2;
        EXPECT_NEAR(avg, mean, 1e-9 * mean) << "the mean of the per-repetition tok/s";
        EXPECT_GE(sd, 0.0);
        EXPECT_NEAR(sd, std::abs(samples[0] - samples[1]) / std::sqrt(2.0), 1e-9 * mean) << "sample stdev (n - 1)";
    }
    EXPECT_TRUE(j[0]["avg_gbs"].is_null());
    EXPECT_TRUE(j[0]["pct_of_ceiling"].is_null());
    // Bytes read per decoded token of the synthetic model (f32, tied output, f16 KV):
    // layer matrices 2 x (64·64·2 + 32·64·2 + 3·64·128) x 4, norms (2·2 + 1) x 64 x 4,
    // one embedding row 64 x 4, the tied output 32000 x 64 x 4, and K+V at the
    // average context of tg8, (8 + 1) / 2 positions x 2 layers x 2 x 32 x 2 bytes.
    const double bytes_per_token = 294912 + 1280 + 256 + 8192000 + 4.5 * 256;
    const double avg_ts = j[1]["avg_ts"].get<double>(), gbs = j[1]["avg_gbs"].get<double>();
    EXPECT_GT(gbs, 0.0);
    EXPECT_NEAR(gbs, bytes_per_token * avg_ts / 1e9, 1e-9 * gbs);
    EXPECT_NEAR(j[1]["pct_of_ceiling"].get<double>(), 100 * gbs / 50, 1e-9 * gbs);
}

TEST(Cli, BenchMarkdownTable) {
    // -p 600 goes through in two steps (512 + 88), as llama-bench's n_ubatch does; 0 skips a test.
    auto r = cli({"bench", "--model", model(), "-p", "4,600", "-n", "0,8", "-r", "1", "--bandwidth-gbs", "50"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("memory read ceiling: 50.0 GB/s"), std::string::npos) << r.out;
    std::vector<std::string> rows;
    for (const auto& line : test::split_lines(r.out))
        if (line.rfind("|", 0) == 0) rows.push_back(line);
    ASSERT_EQ(rows.size(), 5u) << r.out;  // header, alignment, pp4, pp600, tg8
    for (const char* col : {"model", "size", "params", "backend", "threads", "test", "t/s", "GB/s", "% of ceiling"})
        EXPECT_NE(rows[0].find(col), std::string::npos) << col;
    EXPECT_NE(rows[2].find(" pp4 |"), std::string::npos) << rows[2];
    EXPECT_NE(rows[3].find(" pp600 |"), std::string::npos) << rows[3];
    EXPECT_NE(rows[4].find(" tg8 |"), std::string::npos) << rows[4];
    EXPECT_NE(rows[4].find("%"), std::string::npos) << rows[4];
    EXPECT_NE(rows[2].find("llama 2M F32"), std::string::npos) << rows[2];
}

TEST(Cli, BenchBadFlagsGiveOneLineErrors) {
    expect_one_line_error(cli({"bench", "--model", model(), "-r", "0"}), "-r");
    expect_one_line_error(cli({"bench", "--model", model(), "-o", "xml"}), "-o");
    expect_one_line_error(cli({"bench", "--model", model(), "--bogus"}), "--bogus");
    expect_one_line_error(cli({"bench", "--model", model(), "-p", "12,x"}), "-p");
    expect_one_line_error(cli({"bench", "--model", model(), "-n", "-3"}), "-n");
    expect_one_line_error(cli({"bench", "--model", model(), "-p", "0", "-n", "0"}), "nothing to run");
    expect_one_line_error(cli({"bench", "--model", model(), "--bandwidth-gbs", "0"}), "--bandwidth-gbs");
    expect_one_line_error(cli({"bench", "-p", "16"}), "--model");
}

TEST(Cli, BadInputGivesOneLineErrors) {
    expect_one_line_error(cli({"generate", "--model", model(), "--prompt", "x", "--bogus"}), "--bogus");
    expect_one_line_error(cli({"generate", "--model", model(), "--prompt", "x", "--max-tokens", "lots"}),
                          "--max-tokens");
    expect_one_line_error(cli({"generate", "--model", model(), "--prompt", "x", "--top-p", "2"}), "--top-p");
    expect_one_line_error(cli({"generate", "--model", model()}), "--prompt");
    expect_one_line_error(cli({"generate", "--model", "/nonexistent/model.gguf", "--prompt", "x"}),
                          "/nonexistent/model.gguf");
    expect_one_line_error(cli({"frobnicate"}), "frobnicate");
    expect_one_line_error(cli({"info", "--model", model(), "--kv-type", "q3"}), "--kv: KV cache type 'q3'");

    // A truncated model file names the file and what was cut.
    const std::string truncated = temp_dir() + "/truncated.gguf";
    {
        const std::string bytes = test::read_text_file(model());
        std::ofstream(truncated, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size() / 2));
    }
    auto r = cli({"generate", "--model", truncated, "--prompt", "x"});
    expect_one_line_error(r, "truncated.gguf");
    EXPECT_NE(r.err.find("data"), std::string::npos) << r.err;
}

TEST(Cli, ServeBenchJsonReportsTheWorkload) {
    const auto r =
        cli({"serve-bench", "--model", model(), "--requests", "12", "--input-len", "40", "--output-len", "6",
             "--shared-prefix", "0.5", "--batch-tokens", "64", "-o", "json", "--steps-csv", temp_dir() + "/steps.csv"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["completed"], 12);
    EXPECT_EQ(j["total_input_tokens"], 12 * 40);
    EXPECT_EQ(j["total_output_tokens"], 12 * 6);  // no jitter, EOS ignored: exact lengths
    for (const char* key : {"ttft_ms", "tpot_ms", "itl_ms", "e2el_ms"}) {
        const auto& d = j[key];
        EXPECT_GT(d["count"].get<int>(), 0) << key;
        EXPECT_LE(d["median"].get<double>(), d["p90"].get<double>()) << key;
        EXPECT_LE(d["p90"].get<double>(), d["p99"].get<double>()) << key;
        EXPECT_LE(d["p99"].get<double>(), d["max"].get<double>()) << key;
    }
    EXPECT_EQ(j["itl_ms"]["count"], 12 * 5);
    EXPECT_GT(j["request_throughput"].get<double>(), 0);
    EXPECT_NEAR(j["output_throughput"].get<double>() / j["request_throughput"].get<double>(), 6.0, 1e-6);
    // 64 tokens per step admit requests over several steps, so later ones reuse the shared 20-token prefix's block.
    EXPECT_GT(j["prefix_hit_rate"].get<double>(), 0);
    EXPECT_LE(j["kv_utilization"]["max"].get<double>(), 1.0);
    const auto lines = test::split_lines(test::read_text_file(temp_dir() + "/steps.csv"));
    EXPECT_EQ(int64_t(lines.size()), j["steps"].get<int64_t>() + 1);
    EXPECT_EQ(lines[0].rfind("step,time_ms,", 0), 0u);
}

TEST(Cli, ServeBenchParallelSamples) {
    const auto r = cli({"serve-bench", "--model", model(), "--requests", "3", "--input-len", "40", "--output-len", "5",
                        "--n", "4", "--temperature", "0.8", "-o", "json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["completed"], 12);  // 3 requests × 4 samples
    EXPECT_EQ(j["total_output_tokens"], 12 * 5);
    EXPECT_EQ(j["total_input_tokens"], 12 * 40);  // each sample reports its prompt
    EXPECT_EQ(j["config"]["n"], 4);
}

TEST(Cli, ServeBenchBadFlagsGiveOneLineErrors) {
    expect_one_line_error(cli({"serve-bench", "--model", model(), "--preset", "huge"}), "--preset");
    expect_one_line_error(cli({"serve-bench", "--model", model(), "--requests", "0"}), "--requests");
    expect_one_line_error(cli({"serve-bench", "--model", model(), "--n", "0"}), "--n");
    expect_one_line_error(cli({"serve-bench", "--model", model(), "--shared-prefix", "1.5"}), "--shared-prefix");
    expect_one_line_error(cli({"serve-bench", "--model", model(), "--prompts", "/nonexistent.txt"}),
                          "/nonexistent.txt");
    expect_one_line_error(cli({"serve-bench", "--model", model(), "--input-len", "5000", "--ctx", "256"}), "5000");
}

// --no-repeat-ngram 3: no trigram of prompt + output appears twice. Without it the same
// greedy run of stories15M repeats 16 (so the check can fail).
TEST(Cli, NoRepeatNgramHoldsOverPromptAndOutput) {
    const std::string stories = test::shared_dir() + "/testdata/stories15M/stories15M.bin";
    if (!test::file_exists(stories))
        GTEST_SKIP() << "stories15M (../shared)"
                     << " absent";
    auto trigram_repeats = [](const nlohmann::json& j) {
        std::vector<int32_t> all = j["prompt_ids"].get<std::vector<int32_t>>();
        for (int32_t id : j["ids"].get<std::vector<int32_t>>()) all.push_back(id);
        std::set<std::tuple<int32_t, int32_t, int32_t>> seen;
        for (size_t i = 0; i + 3 <= all.size(); ++i)
            if (!seen.insert({all[i], all[i + 1], all[i + 2]}).second) return true;
        return false;
    };
    const std::vector<std::string> base = {"generate",     "--model", stories,         "--prompt", "Once upon a time",
                                           "--max-tokens", "200",     "--temperature", "0",        "--json"};
    const auto plain = cli(base);
    ASSERT_EQ(plain.exit_code, 0) << plain.err;
    EXPECT_TRUE(trigram_repeats(nlohmann::json::parse(plain.out)));
    auto args = base;
    args.insert(args.end(), {"--no-repeat-ngram", "3"});
    const auto banned = cli(args);
    ASSERT_EQ(banned.exit_code, 0) << banned.err;
    const auto j = nlohmann::json::parse(banned.out);
    EXPECT_GT(j["ids"].size(), 50u);
    EXPECT_FALSE(trigram_repeats(j));
    expect_one_line_error(cli({"generate", "--model", model(), "--prompt", "x", "--no-repeat-ngram", "-1"}),
                          "--no-repeat-ngram");
}

// generate --beams: hypotheses best first with their scores and search statistics;
// bad beam flags are one-line errors.
TEST(Cli, GenerateWithBeamSearch) {
    const auto r = cli({"generate", "--model", model(), "--prompt", "Once upon a time", "--max-tokens", "12", "--beams",
                        "3", "--beam-return", "3", "--length-penalty", "0.5", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j["hypotheses"].size(), 3u);
    for (size_t i = 0; i < 3; ++i) {
        const auto& h = j["hypotheses"][i];
        const double expected = h["sum_logprob"].get<double>() / std::pow(double(h["ids"].size()), 0.5);
        EXPECT_NEAR(h["score"].get<double>(), expected, 1e-9);
        if (i > 0) EXPECT_GE(j["hypotheses"][i - 1]["score"].get<double>(), h["score"].get<double>());
    }
    EXPECT_EQ(j["stats"]["width"], 3);
    EXPECT_GE(j["stats"]["steps"].get<int>(), 1);
    expect_one_line_error(cli({"generate", "--model", model(), "--prompt", "x", "--beams", "0"}), "--beams");
    expect_one_line_error(cli({"generate", "--model", model(), "--prompt", "x", "--beams", "2", "--beam-return", "3"}),
                          "width");
    expect_one_line_error(cli({"generate", "--model", model(), "--prompt", "x", "--beams", "2", "--lookup-draft", "3"}),
                          "--beams");
}

// generate --contrastive-layers: the per-token trace of expert and amateur probabilities;
// the options are checked, and contrastive decoding excludes the other strategies.
TEST(Cli, GenerateWithContrastiveDecoding) {
    const auto r = cli({"generate", "--model", model(), "--prompt", "Once upon a time", "--max-tokens", "8",
                        "--contrastive-layers", "1", "--contrastive-alpha", "0.2", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    const auto& trace = j["contrastive"]["trace"];
    ASSERT_EQ(trace.size(), j["ids"].size());
    for (size_t i = 0; i < trace.size(); ++i) {
        EXPECT_EQ(trace[i]["token"], j["ids"][i]);
        EXPECT_EQ(trace[i]["candidates"][0]["token"], trace[i]["token"]);
        EXPECT_GE(trace[i]["n_plausible"].get<int>(), 1);
        for (const auto& k : trace[i]["candidates"]) {
            EXPECT_GT(k["p_expert"].get<double>(), 0.0);
            EXPECT_NEAR(k["score"].get<double>(),
                        std::log(k["p_expert"].get<double>()) - std::log(k["p_amateur"].get<double>()), 1e-4);
        }
    }
    EXPECT_EQ(j["contrastive"]["alpha"].get<double>(), 0.2f);
    expect_one_line_error(cli({"generate", "--model", model(), "--prompt", "x", "--contrastive-layers", "99"}),
                          "--contrastive-layers");
    expect_one_line_error(
        cli({"generate", "--model", model(), "--prompt", "x", "--contrastive-layers", "1", "--contrastive-alpha", "3"}),
        "--contrastive-alpha");
    expect_one_line_error(
        cli({"generate", "--model", model(), "--prompt", "x", "--contrastive-layers", "1", "--beams", "2"}), "--beams");
    expect_one_line_error(
        cli({"generate", "--model", model(), "--prompt", "x", "--contrastive-amateur", "/nonexistent.gguf"}),
        "/nonexistent.gguf");
}

// convert --keep-layers: the first K layers as a model of their own; out of range is an error.
TEST(Cli, ConvertKeepsTheFirstLayers) {
    char tmpl[] = "/tmp/lumen-keep-XXXXXX";
    const std::string out = std::string(mkdtemp(tmpl)) + "/first.gguf";
    const auto r = cli({"convert", "--model", model(), "--output", out, "--keep-layers", "1"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto info = cli({"info", "--model", out, "--json"});
    ASSERT_EQ(info.exit_code, 0) << info.err;
    const auto j = nlohmann::json::parse(info.out);
    EXPECT_EQ(j["config"]["n_layers"], 1) << info.out.substr(0, 400);
    expect_one_line_error(cli({"convert", "--model", model(), "--output", out, "--keep-layers", "0"}), "--keep-layers");
}

// --weights FMT quantizes at load: eval against the unquantized reference gives the same
// figures as evaluating the file `quantize` writes; a bad format is a one-line error.
TEST(Cli, LoadTimeWeightsEvaluateAsTheQuantizedFile) {
    char tmpl[] = "/tmp/lumen-weights-XXXXXX";
    const std::string file = std::string(mkdtemp(tmpl)) + "/q4_0.gguf";
    ASSERT_EQ(cli({"quantize", "--input", model(), "--output", file, "--type", "q4_0"}).exit_code, 0);
    const std::string text = test::data_dir() + "/eval/cc0-1.0.txt";
    const std::vector<std::string> common = {"--reference", model(),    "--text", text,    "--ctx",
                                             "64",          "--chunks", "3",      "--json"};
    auto run = [&](std::vector<std::string> args) {
        args.insert(args.end(), common.begin(), common.end());
        const auto r = cli(args);
        EXPECT_EQ(r.exit_code, 0) << r.err;
        return r.exit_code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json{};
    };
    const auto at_load = run({"eval", "--model", model(), "--weights", "q4_0"});
    const auto from_file = run({"eval", "--model", file});
    ASSERT_FALSE(at_load.is_null() || from_file.is_null());
    EXPECT_EQ(at_load["weights"], "q4_0");
    EXPECT_EQ(at_load["perplexity"], from_file["perplexity"]);
    EXPECT_EQ(at_load["reference"]["kld_mean"], from_file["reference"]["kld_mean"]);
    EXPECT_GT(at_load["reference"]["kld_mean"].get<double>(), 0.0);  // the reference stayed unquantized
    expect_one_line_error(cli({"generate", "--model", model(), "--prompt", "x", "--weights", "q3"}), "--weights");
}

// serve-bench --draft-model: draft-model speculation in the serving core reports its
// acceptance (the model drafting for itself accepts nearly everything); bad combinations
// are one-line errors.
TEST(Cli, ServeBenchWithADraftModel) {
    const auto r = cli({"serve-bench", "--model", model(), "--requests", "3", "--input-len", "24", "--output-len", "12",
                        "--draft-model", model(), "--draft-tokens", "3", "-o", "json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["completed"], 3);
    EXPECT_EQ(j["config"]["draft_model_tokens"], 3);
    ASSERT_TRUE(j.contains("speculative"));
    EXPECT_GT(j["speculative"]["drafted"].get<int>(), 0);
    EXPECT_GT(j["speculative"]["acceptance_rate"].get<double>(), 0.9);
    expect_one_line_error(cli({"serve-bench", "--model", model(), "--draft-tokens", "3"}), "--draft-tokens");
    expect_one_line_error(cli({"serve-bench", "--model", model(), "--draft-model", model(), "--lookup-draft", "2"}),
                          "--lookup-draft");
}
