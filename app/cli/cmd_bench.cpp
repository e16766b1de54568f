// lumen-cli bench: prompt processing (ppN) and text generation (tgN) throughput,
// measured the way llama-bench measures it, with the same test names and JSON
// field names so results line up with llama.cpp's. For tg it also reports the
// memory bandwidth decoding achieved, against the machine's read ceiling; on the
// CUDA backend that ceiling is the measured device-to-device copy bandwidth, and pp
// tests also report TFLOP/s against a measured cuBLAS fp16 GEMM peak.
//
//   ppN: N random token ids (BOS first when the vocab adds one) go through the
//        model from an empty context, in steps of at most 512 tokens (llama-bench's
//        default n_ubatch: a longer prompt is computed 512 tokens at a time).
//   tgN: from an empty context, N steps of one token each: BOS (or a random id)
//        first, then random ids; nothing is sampled.
// Each test runs once untimed (warm-up), then -r times, each on a fresh sequence
// that is freed afterwards. tok/s is computed per repetition, then its mean and
// sample standard deviation are reported.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <thread>

#include "backend/cpu/bandwidth.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "runtime/decode_bytes.h"
#ifdef LUMEN_HAVE_CUDA
#include "device_bench.cuh"
#endif

namespace lumen::cli {

namespace {

constexpr int32_t kUbatch = 512;             // llama-bench's default n_ubatch
constexpr int32_t kMaxTestTokens = 1 << 20;  // per -p / -n value

// ------------------------------------------------------------------ options

struct Test {
    int32_t n_prompt = 0;
    int32_t n_gen = 0;
    std::string name() const { return n_prompt > 0 ? "pp" + std::to_string(n_prompt) : "tg" + std::to_string(n_gen); }
};

struct TestResult {
    Test test;
    std::vector<double> samples_ns;
    std::vector<double> samples_ts;
    double avg_ts = 0, stddev_ts = 0, avg_ns = 0, stddev_ns = 0;
    std::optional<double> avg_gbs, pct_of_ceiling;  // tg only
    std::optional<double> avg_tflops, pct_of_peak;  // pp only, with a measured GEMM peak (CUDA)
};

double mean(const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return v.empty() ? 0 : s / double(v.size());
}

// Sample standard deviation (n - 1), 0 for a single sample, as llama-bench.
double sample_stddev(const std::vector<double>& v) {
    if (v.size() < 2) return 0;
    const double m = mean(v);
    double ss = 0;
    for (double x : v) ss += (x - m) * (x - m);
    return std::sqrt(ss / double(v.size() - 1));
}

// ------------------------------------------------------------------ model description

// llama-bench's "llama 7B Q4_0": architecture, size class, file type. The file
// type is the type most of the layers' matrices have (Q4_K for a q4_k_m mix).
std::string model_description(const Model& m) {
    const double n = double(m.n_parameters());
    char size[32];
    if (n < 1e9) {
        std::snprintf(size, sizeof size, "%.0fM", n / 1e6);
    } else {
        std::snprintf(size, sizeof size, "%.1fB", n / 1e9);
        std::string s = size;
        if (s.size() > 3 && s.compare(s.size() - 3, 3, ".0B") == 0) s = s.substr(0, s.size() - 3) + "B";
        std::snprintf(size, sizeof size, "%s", s.c_str());
    }
    std::map<DType, int> counts;
    for (const auto& l : m.weights.layers)
        for (const TensorView* t : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) counts[t->type]++;
    DType type = m.weights.token_embedding.type;
    int best = 0;
    for (auto [t, c] : counts)
        if (c > best) best = c, type = t;
    std::string ftype = dtype_name(type);
    for (char& ch : ftype) ch = char(std::toupper(static_cast<unsigned char>(ch)));
    return m.config.architecture + " " + size + " " + ftype;
}

std::string format_size(int64_t bytes) {
    char s[32];
    if (bytes < (int64_t(1) << 30))
        std::snprintf(s, sizeof s, "%.2f MiB", double(bytes) / (1 << 20));
    else
        std::snprintf(s, sizeof s, "%.2f GiB", double(bytes) / (1 << 30));
    return s;
}

std::string format_params(int64_t n) {
    char s[32];
    if (n < 1000000000)
        std::snprintf(s, sizeof s, "%.2f M", double(n) / 1e6);
    else
        std::snprintf(s, sizeof s, "%.2f B", double(n) / 1e9);
    return s;
}

std::string utc_now() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char s[32];
    std::strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return s;
}

// ------------------------------------------------------------------ running

// One run of `test` on a fresh sequence; returns its wall time in nanoseconds.
// The token ids are drawn before the clock starts.
Result<double> run_once(Engine& engine, const Test& test, std::mt19937& rng) {
    const Vocab& vocab = engine.tokenizer().vocab();
    std::uniform_int_distribution<int32_t> random_id(0, engine.model().config.vocab_size - 1);
    std::vector<int32_t> ids(size_t(test.n_prompt > 0 ? test.n_prompt : test.n_gen));
    for (auto& id : ids) id = random_id(rng);
    if (vocab.add_bos && vocab.bos_id >= 0) ids[0] = vocab.bos_id;

    auto seq = engine.create_sequence();
    if (!seq) return seq.status();
    struct SequenceGuard {
        Engine& e;
        int32_t id;
        ~SequenceGuard() { e.free_sequence(id); }
    } guard{engine, seq.value()};

    std::vector<float> logits;
    std::vector<SequenceInput> step(1);
    step[0].seq_id = seq.value();
    const auto t0 = std::chrono::steady_clock::now();
    const size_t chunk = test.n_prompt > 0 ? size_t(kUbatch) : 1;
    for (size_t i = 0; i < ids.size(); i += chunk) {
        step[0].tokens.assign(ids.begin() + long(i), ids.begin() + long(std::min(ids.size(), i + chunk)));
        Status s = engine.step(step, &logits);
        if (!s.is_ok()) return Status::error(test.name() + ": " + s.message());
    }
    engine.backend().synchronize();
    return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
}

Result<TestResult> run_test(Engine& engine, const Test& test, int repetitions, std::mt19937& rng) {
    TestResult r;
    r.test = test;
    auto warm_up = run_once(engine, test, rng);
    if (!warm_up) return warm_up.status();
    const double n_tokens = double(test.n_prompt + test.n_gen);
    for (int i = 0; i < repetitions; ++i) {
        auto ns = run_once(engine, test, rng);
        if (!ns) return ns.status();
        r.samples_ns.push_back(ns.value());
        r.samples_ts.push_back(n_tokens * 1e9 / std::max(ns.value(), 1.0));
    }
    r.avg_ts = mean(r.samples_ts);
    r.stddev_ts = sample_stddev(r.samples_ts);
    r.avg_ns = mean(r.samples_ns);
    r.stddev_ns = sample_stddev(r.samples_ns);
    return r;
}

// ------------------------------------------------------------------ output

// What every row repeats: the model, the backend and the settings.
struct RowContext {
    std::string filename, description, backend, kv_type;
    int64_t size_bytes = 0, n_params = 0;
    int threads = 0;
    std::optional<double> ceiling_gbs;
    std::optional<double> peak_tflops;  // the CUDA backend's measured cuBLAS fp16 rate
    bool bandwidth_columns = false;     // any tg test: md gets GB/s and % of ceiling columns
    bool flops_columns = false;         // pp tests and a peak: TFLOP/s and % of peak columns
};

// Floating-point operations of one prompt token at `context` positions: two per
// weight of every matrix but the embedding (a gather), and the attention's
// q·k and p·v (2 · 2 · q_dim per position and layer).
double flops_per_prompt_token(const Model& m, double context) {
    double weights = 0;
    for (const auto& l : m.weights.layers)
        for (const TensorView* t : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down})
            weights += double(t->rows) * double(t->cols);
    weights += double(m.weights.output.rows) * double(m.weights.output.cols);
    return 2.0 * weights + 4.0 * double(m.config.n_layers) * double(m.config.q_dim()) * context;
}

void print_md_header(const RowContext& c) {
    const int w = std::max(30, int(c.description.size()));
    std::printf("| %-*s | %10s | %10s | %-7s | %7s | %10s | %20s |", w, "model", "size", "params", "backend", "threads",
                "test", "t/s");
    if (c.bandwidth_columns) std::printf(" %8s | %12s |", "GB/s", "% of ceiling");
    if (c.flops_columns) std::printf(" %8s | %9s |", "TFLOP/s", "% of peak");
    std::printf("\n| %s | ---------: | ---------: | ------- | ------: | ---------: | -------------------: |",
                std::string(size_t(w), '-').c_str());
    if (c.bandwidth_columns) std::printf(" -------: | -----------: |");
    if (c.flops_columns) std::printf(" -------: | --------: |");
    std::printf("\n");
    std::fflush(stdout);
}

void print_md_row(const RowContext& c, const TestResult& r) {
    const int w = std::max(30, int(c.description.size()));
    char ts[64];
    std::snprintf(ts, sizeof ts, "%.2f ± %.2f", r.avg_ts, r.stddev_ts);
    // "±" is two bytes but one column: pad the field by one more byte.
    std::printf("| %-*s | %10s | %10s | %-7s | %7d | %10s | %21s |", w, c.description.c_str(),
                format_size(c.size_bytes).c_str(), format_params(c.n_params).c_str(), c.backend.c_str(), c.threads,
                r.test.name().c_str(), ts);
    if (c.bandwidth_columns) {
        if (r.avg_gbs)
            std::printf(" %8.1f |", *r.avg_gbs);
        else
            std::printf(" %8s |", "");
        if (r.pct_of_ceiling)
            std::printf(" %11.1f%% |", *r.pct_of_ceiling);
        else
            std::printf(" %12s |", "");
    }
    if (c.flops_columns) {
        if (r.avg_tflops)
            std::printf(" %8.1f |", *r.avg_tflops);
        else
            std::printf(" %8s |", "");
        if (r.pct_of_peak)
            std::printf(" %8.1f%% |", *r.pct_of_peak);
        else
            std::printf(" %9s |", "");
    }
    std::printf("\n");
    std::fflush(stdout);
}

// ordered_json keeps llama-bench's field order in the output.
using Json = nlohmann::ordered_json;

Json optional_json(const std::optional<double>& v) {
    return v ? Json(*v) : Json(nullptr);
}

// llama-bench's fields (nanoseconds as whole numbers, as it prints them), then Lumen's.
Json json_row(const RowContext& c, const TestResult& r) {
    std::vector<int64_t> samples_ns;
    for (double ns : r.samples_ns) samples_ns.push_back(std::llround(ns));
    return Json{{"model_filename", c.filename},
                {"model_type", c.description},
                {"model_size", c.size_bytes},
                {"model_n_params", c.n_params},
                {"backend", c.backend},
                {"n_batch", kUbatch},
                {"n_ubatch", kUbatch},
                {"n_threads", c.threads},
                {"type_k", c.kv_type},
                {"type_v", c.kv_type},
                {"kv_type", c.kv_type},
                {"n_prompt", r.test.n_prompt},
                {"n_gen", r.test.n_gen},
                {"n_depth", 0},
                {"test", r.test.name()},
                {"test_time", utc_now()},
                {"avg_ns", std::llround(r.avg_ns)},
                {"stddev_ns", std::llround(r.stddev_ns)},
                {"avg_ts", r.avg_ts},
                {"stddev_ts", r.stddev_ts},
                {"samples_ns", samples_ns},
                {"samples_ts", r.samples_ts},
                {"avg_gbs", optional_json(r.avg_gbs)},
                {"ceiling_gbs", optional_json(c.ceiling_gbs)},
                {"pct_of_ceiling", optional_json(r.pct_of_ceiling)},
                {"avg_tflops", optional_json(r.avg_tflops)},
                {"peak_tflops", optional_json(c.peak_tflops)},
                {"pct_of_peak", optional_json(r.pct_of_peak)}};
}

struct BenchArgs {
    ModelArgs model;
    EngineArgs engine;
    std::vector<int32_t> n_prompt{512};
    std::vector<int32_t> n_gen{128};
    int repetitions = 5;
    std::string output = "md";
    double bandwidth_gbs = 0;  // 0: measure it
};

int run_bench(const BenchArgs& a);

}  // namespace

Command add_bench_command(CLI::App& root) {
    auto args = std::make_shared<BenchArgs>();
    CLI::App* app = root.add_subcommand(
        "bench", "prompt (ppN) and generation (tgN) throughput, as llama-bench measures it; 0 skips a test");
    add_model_options(*app, args->model);
    app->add_option("-p,--n-prompt", args->n_prompt, "prompt lengths, comma-separated")
        ->delimiter(',')
        ->check(in_range(0, kMaxTestTokens))
        ->capture_default_str();
    app->add_option("-n,--n-gen", args->n_gen, "generation lengths, comma-separated")
        ->delimiter(',')
        ->check(in_range(0, kMaxTestTokens))
        ->capture_default_str();
    app->add_option("-r,--repetitions", args->repetitions, "timed repetitions of each test")
        ->check(in_range(1, 100000))
        ->capture_default_str();
    app->add_option("-o,--output", args->output, "md (a table) or json (llama-bench's fields)")
        ->check(CLI::IsMember({"md", "json"}))
        ->capture_default_str();
    app->add_option("--bandwidth-gbs", args->bandwidth_gbs,
                    "the memory ceiling to compare with, instead of measuring it")
        ->check(in_range(1e-3, 1e6));
    add_engine_options(*app, args->engine);
    add_quantization_options(*app, args->engine);
    return {app, [args] { return run_bench(*args); }};
}

namespace {

int run_bench(const BenchArgs& a) {
    auto options = a.engine.to_engine_options();
    if (!options) return usage_error(options.status().message());
    std::vector<Test> tests;
    for (int32_t p : a.n_prompt)
        if (p > 0) tests.push_back({p, 0});
    for (int32_t n : a.n_gen)
        if (n > 0) tests.push_back({0, n});
    if (tests.empty())
        return usage_error("nothing to run: every -p and -n value is 0; expected at least one positive count");
    const bool any_tg = std::any_of(tests.begin(), tests.end(), [](const Test& t) { return t.n_gen > 0; });

    // Like llama-bench (n_ctx = n_prompt + n_gen), the KV pool holds the longest test.
    int32_t kv_tokens = options->block_size;
    for (const Test& t : tests) kv_tokens = std::max(kv_tokens, t.n_prompt + t.n_gen);
    EngineOptions engine_options = options.value();
    engine_options.kv_tokens = kv_tokens;
    engine_options.max_batch_tokens = kUbatch;
    const int threads = engine_options.backend.n_threads > 0 ? engine_options.backend.n_threads
                                                             : int(std::max(1u, std::thread::hardware_concurrency()));
    engine_options.backend.n_threads = threads;

    auto loaded = Engine::load(a.model.model, a.model.load_options(), engine_options);
    if (!loaded) return fail(loaded.status().message());
    Engine& engine = *loaded.value();
    const Model& model = engine.model();

    // The ceiling is measured after loading (a bad model fails fast) with the
    // engine's own thread count, and only when a tg test will be compared with it.
    std::optional<double> ceiling_gbs, peak_tflops;
    std::string ceiling_note;
    const bool on_gpu = engine.backend().name() == "cuda";
    const bool any_pp = std::any_of(tests.begin(), tests.end(), [](const Test& t) { return t.n_prompt > 0; });
#ifdef LUMEN_HAVE_CUDA
    if (on_gpu && any_pp) {
        const cuda::CeilingMeasurement peak = cuda::measure_cublas_f16_tflops();
        if (!peak.error.empty()) return fail(peak.error);
        peak_tflops = peak.value;
    }
#endif
    if (a.bandwidth_gbs > 0) {
        ceiling_gbs = a.bandwidth_gbs;
        ceiling_note = "given with --bandwidth-gbs";
    } else if (any_tg && on_gpu) {
#ifdef LUMEN_HAVE_CUDA
        const cuda::CeilingMeasurement copy = cuda::measure_copy_bandwidth();
        if (!copy.error.empty()) return fail(copy.error);
        ceiling_gbs = copy.value;
        ceiling_note = "device-to-device copy of 1 GiB, bytes read + written, best of 10";
#endif
    } else if (any_tg) {
        ThreadPool pool(threads);
        auto bw = measure_read_bandwidth(pool);
        if (!bw) return fail(bw.status().message());
        ceiling_gbs = bw->gbs;
        char note[128];
        std::snprintf(note, sizeof note, "streaming sum over %.2f GiB, threads: %d, best of %d passes",
                      double(bw->buffer_bytes) / (1 << 30), bw->n_threads, bw->passes);
        ceiling_note = note;
    }

    RowContext row;
    row.filename = a.model.model;
    row.description = model_description(model);
    row.backend = engine.backend().name();
    for (char& ch : row.backend) ch = char(std::toupper(static_cast<unsigned char>(ch)));
    row.kv_type = dtype_name(engine_options.kv_type);
    row.size_bytes = model.weight_bytes();
    row.n_params = model.n_parameters();
    row.threads = threads;
    row.ceiling_gbs = ceiling_gbs;
    row.bandwidth_columns = any_tg;
    row.peak_tflops = peak_tflops;
    row.flops_columns = any_pp && peak_tflops.has_value();
    const bool md = a.output == "md";
    if (md) {
        if (ceiling_gbs) std::printf("memory read ceiling: %.1f GB/s (%s)\n", *ceiling_gbs, ceiling_note.c_str());
        if (peak_tflops)
            std::printf("GEMM peak: %.1f TFLOP/s (cuBLAS fp16, f32 accumulation, 8192^3, best of 10)\n", *peak_tflops);
        if (ceiling_gbs || peak_tflops) std::printf("\n");
        print_md_header(row);
    }

    const DecodeBytes bytes = decode_bytes_per_token(model, engine_options.kv_type);
    std::mt19937 rng(1234);
    Json results = Json::array();
    for (const Test& test : tests) {
        auto r = run_test(engine, test, a.repetitions, rng);
        if (!r) return fail(r.status().message());
        if (test.n_gen > 0) {
            // Token i (0-based) attends to i + 1 positions: (n + 1) / 2 on average.
            r->avg_gbs = bytes.at_context((test.n_gen + 1) / 2.0) * r->avg_ts / 1e9;
            if (ceiling_gbs) r->pct_of_ceiling = 100.0 * *r->avg_gbs / *ceiling_gbs;
        }
        if (test.n_prompt > 0 && peak_tflops) {
            // Token i (0-based) attends to i + 1 positions: (n + 1) / 2 on average.
            r->avg_tflops = flops_per_prompt_token(model, (test.n_prompt + 1) / 2.0) * r->avg_ts / 1e12;
            r->pct_of_peak = 100.0 * *r->avg_tflops / *peak_tflops;
        }
        if (md)
            print_md_row(row, r.value());
        else
            results.push_back(json_row(row, r.value()));
    }
    if (!md) std::puts(results.dump(2, ' ', false, Json::error_handler_t::replace).c_str());
    return 0;
}

}  // namespace

}  // namespace lumen::cli
