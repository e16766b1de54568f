// Weight quantization (engine/quant) and synthetic models in every type:
//  - every type round-trips through dequantize_row with an NMSE under its bound,
//    all-zero blocks come back exactly zero, exactly representable values exactly,
//    and rows that do not divide into blocks are an error;
//  - Lumen's Q8_0 of the stories15M checkpoint is byte-identical to llama.cpp's;
//  - each scheme's per-tensor types (llama.cpp's Q4_K_M mix included), and
//    quantize_model end to end: the output loads, has those types and generates;
//  - synth in quantized types and presets; the quantize and synth CLI commands.
#include <gtest/gtest.h>

#include <unistd.h>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <set>

#include "gguf/gguf_file.h"
#include "model/model_writer.h"
#include "model/synth.h"
#include "quant/quantize.h"
#include "quant/requantize.h"
#include "runtime/engine.h"
#include "test_support.h"

using namespace lumen;

namespace {

const std::vector<DType> kAllTypes = {DType::F32,  DType::F16,  DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_1,
                                      DType::Q5_0, DType::Q5_1, DType::Q4_K, DType::Q5_K, DType::Q6_K};

std::string temp_dir() {
    static std::string dir = [] {
        char tmpl[] = "/tmp/lumen-quant-XXXXXX";
        return std::string(mkdtemp(tmpl));
    }();
    return dir;
}

std::string spm_vocab() {
    return test::data_dir() + "/tokenizer/ggml-vocab-llama-spm.gguf";
}

// Gaussian values whose 32-element blocks span four decades of magnitude, with
// block 1 all zero and block 2 one large outlier among small values.
std::vector<float> awkward_row(int64_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.f, 1.f);
    std::uniform_real_distribution<float> decade(-3.f, 1.f);
    std::vector<float> x(static_cast<size_t>(n));
    for (int64_t b = 0; b < n / 32; ++b) {
        const float magnitude = std::pow(10.f, decade(rng));
        for (int64_t i = 0; i < 32; ++i) x[size_t(b * 32 + i)] = b == 1 ? 0.f : magnitude * normal(rng);
    }
    if (n >= 96) {
        for (int i = 0; i < 32; ++i) x[size_t(64 + i)] = 0.01f * normal(rng);
        x[64 + 17] = 25.f;
    }
    return x;
}

std::vector<float> round_trip(DType type, const std::vector<float>& x) {
    std::vector<uint8_t> q(row_bytes(type, int64_t(x.size())));
    Status s = quantize_row(type, x.data(), q.data(), int64_t(x.size()));
    EXPECT_TRUE(s.is_ok()) << s.message();
    std::vector<float> y(x.size());
    dequantize_row(type, q.data(), y.data(), int64_t(x.size()));
    return y;
}

double nmse(const std::vector<float>& ref, const std::vector<float>& got) {
    double err = 0, energy = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
        err += double(got[i] - ref[i]) * double(got[i] - ref[i]);
        energy += double(ref[i]) * double(ref[i]);
    }
    return err / energy;
}

// NMSE of `type` over several awkward rows of 768 elements.
double measured_nmse(DType type) {
    std::vector<float> all_x, all_y;
    for (uint32_t seed = 1; seed <= 8; ++seed) {
        const auto x = awkward_row(768, seed);
        const auto y = round_trip(type, x);
        all_x.insert(all_x.end(), x.begin(), x.end());
        all_y.insert(all_y.end(), y.begin(), y.end());
    }
    return nmse(all_x, all_y);
}

}  // namespace

// ------------------------------------------------------------------ rows

// Bounds for the awkward rows. A uniform quantizer with step Δ has error variance
// Δ²/12; with absmax scaling over Gaussian blocks of 32 (absmax ≈ 2.1σ) that is
// (2.1/127)²/12 ≈ 2.3e-5 for 8 bits, (2.1/8)²/12 ≈ 6e-3 for 4 bits and about a quarter
// of that per extra bit; the affine types (q4_1, q5_1) fit the range a little better.
// The k-quants search a scale and min per 32 values (q6_k: a scale per 16) but store
// them in 6 (8) bits against the largest of their 256-element super-block; q4_k ends
// about 30% below q4_0, here as on plain Gaussian rows (5.1e-3 vs 7.5e-3). Each bound
// is the measured value with 1.3-1.6x headroom, so a lost bit or a mis-packed scale fails.
TEST(QuantizeRow, EveryTypeRoundTripsWithinItsNmse) {
    const std::map<DType, double> bound = {
        {DType::F32, 0.0},   {DType::F16, 6e-8},    {DType::BF16, 4e-6},   {DType::Q8_0, 3.5e-5},
        {DType::Q6_K, 4e-4}, {DType::Q5_0, 2.4e-3}, {DType::Q5_1, 1.7e-3}, {DType::Q5_K, 1.5e-3},
        {DType::Q4_0, 9e-3}, {DType::Q4_1, 8e-3},   {DType::Q4_K, 6e-3},
    };
    for (DType type : kAllTypes) {
        const double e = measured_nmse(type);
        std::printf("  %-5s NMSE %.3g\n", dtype_name(type), e);
        EXPECT_LE(e, bound.at(type)) << dtype_name(type);
    }
}

TEST(QuantizeRow, MoreBitsGiveLessError) {
    EXPECT_LT(measured_nmse(DType::Q4_K), measured_nmse(DType::Q4_0)) << "k-quants fit scales and mins per 32 values";
    EXPECT_LT(measured_nmse(DType::Q5_K), measured_nmse(DType::Q4_K));
    EXPECT_LT(measured_nmse(DType::Q6_K), measured_nmse(DType::Q5_K));
    EXPECT_LT(measured_nmse(DType::Q8_0), measured_nmse(DType::Q6_K));
    EXPECT_LT(measured_nmse(DType::Q5_0), measured_nmse(DType::Q4_0));
    EXPECT_LT(measured_nmse(DType::Q5_1), measured_nmse(DType::Q4_1));
}

TEST(QuantizeRow, ShortRowsOfThe32BlockTypesWork) {
    for (DType type : kAllTypes) {
        const int64_t block = traits(type).block_elements;
        if (160 % block != 0) continue;
        const auto x = awkward_row(160, 3);
        const auto y = round_trip(type, x);
        EXPECT_LE(nmse(x, y), 1.5e-2) << dtype_name(type);
    }
}

TEST(QuantizeRow, ZeroBlocksStayExactlyZero) {
    for (DType type : kAllTypes) {
        const auto x = awkward_row(768, 5);
        auto zeros = x;
        std::fill(zeros.begin() + 256, zeros.begin() + 512, 0.f);  // a whole super-block, too
        const auto y = round_trip(type, zeros);
        for (int i = 32; i < 64; ++i) EXPECT_EQ(y[size_t(i)], 0.f) << dtype_name(type) << " element " << i;
        for (int i = 256; i < 512; ++i) ASSERT_EQ(y[size_t(i)], 0.f) << dtype_name(type) << " element " << i;
    }
}

TEST(QuantizeRow, ExactlyRepresentableValuesRoundTripExactly) {
    std::mt19937 rng(7);
    // Q8_0: integers in [-127, 127] times a power of two, with ±127 in every block.
    std::vector<float> q8(256);
    for (size_t i = 0; i < q8.size(); ++i) q8[i] = float(int(rng() % 255) - 127) * 0.0078125f;
    for (size_t b = 0; b < q8.size(); b += 32) q8[b + 5] = (b / 32) % 2 ? 127 * 0.0078125f : -127 * 0.0078125f;
    EXPECT_EQ(round_trip(DType::Q8_0, q8), q8);
    // Q4_0: integers in [-8, 7] times a power of two, with -8 (the signed extreme) in every block.
    std::vector<float> q4(256);
    for (size_t i = 0; i < q4.size(); ++i) q4[i] = float(int(rng() % 16) - 8) * 0.0625f;
    for (size_t b = 0; b < q4.size(); b += 32) q4[b + 9] = -8 * 0.0625f;
    EXPECT_EQ(round_trip(DType::Q4_0, q4), q4);
    // Q4_1: min + k·d with k in 0..15, both ends present.
    std::vector<float> q41(256);
    for (size_t i = 0; i < q41.size(); ++i) q41[i] = -1.0f + float(rng() % 16) * 0.125f;
    for (size_t b = 0; b < q41.size(); b += 32) q41[b] = -1.0f, q41[b + 1] = -1.0f + 15 * 0.125f;
    EXPECT_EQ(round_trip(DType::Q4_1, q41), q41);
    // Half and bfloat16 values survive their own encoding; f32 is a bit copy.
    std::vector<float> halves(256), bf16s(256);
    for (size_t i = 0; i < halves.size(); ++i) {
        halves[i] = fp16_to_fp32(uint16_t(rng() & 0xFBFF));  // finite halves of both signs, subnormals included
        bf16s[i] = bf16_to_fp32(uint16_t(rng() & 0xFF7F));
    }
    EXPECT_EQ(round_trip(DType::F16, halves), halves);
    EXPECT_EQ(round_trip(DType::BF16, bf16s), bf16s);
    const auto f = awkward_row(256, 9);
    EXPECT_EQ(round_trip(DType::F32, f), f);
}

TEST(QuantizeRow, RowsThatDoNotFillBlocksAreAnError) {
    std::vector<float> x(300, 1.f);
    std::vector<uint8_t> out(4096);
    Status s = quantize_row(DType::Q4_K, x.data(), out.data(), 300);
    ASSERT_FALSE(s.is_ok());
    EXPECT_NE(s.message().find("multiple of 256"), std::string::npos) << s.message();
    s = quantize_row(DType::Q8_0, x.data(), out.data(), 33);
    ASSERT_FALSE(s.is_ok());
    EXPECT_NE(s.message().find("multiple of 32"), std::string::npos) << s.message();
    EXPECT_FALSE(quantize_rows(DType::Q6_K, x.data(), out.data(), 2, 160).is_ok());
    EXPECT_FALSE(quantize_row(DType::Q4_0, x.data(), out.data(), -32).is_ok());
}

TEST(QuantizeRow, ThreadedRowsEqualOneRowAtATime) {
    const int64_t rows = 64, n = 1024;
    std::vector<float> x;
    for (int64_t r = 0; r < rows; ++r) {
        const auto row = awkward_row(n, uint32_t(100 + r));
        x.insert(x.end(), row.begin(), row.end());
    }
    for (DType type : {DType::Q4_K, DType::Q8_0}) {
        const size_t stride = row_bytes(type, n);
        std::vector<uint8_t> threaded(stride * rows), serial(stride * rows);
        ASSERT_TRUE(quantize_rows(type, x.data(), threaded.data(), rows, n, 4).is_ok());
        for (int64_t r = 0; r < rows; ++r)
            ASSERT_TRUE(quantize_row(type, x.data() + r * n, serial.data() + size_t(r) * stride, n).is_ok());
        EXPECT_EQ(threaded, serial) << dtype_name(type);
    }
}

// ------------------------------------------------------------------ llama.cpp byte identity

// llama.cpp wrote stories15M-q8_0.gguf from the fp32 stories15M checkpoint. Our Q8_0
// of the same checkpoint is the same bytes, tensor for tensor: the same f32 values
// went through the same reference quantizer (quantize_row_q8_0_ref), with no f16 step
// in between. llama.cpp's file also carries output.weight, a copy of the tied
// embedding: it must equal our token_embd.weight.
TEST(QuantizeModel, Q8_0OfStories15MIsByteIdenticalToLlamaCpp) {
    const std::string bin = test::shared_dir() + "/testdata/stories15M/stories15M.bin";
    const std::string theirs_path = test::shared_dir() + "/testdata/gguf/stories15M-q8_0.gguf";
    if (!test::file_exists(bin) || !test::file_exists(theirs_path))
        GTEST_SKIP() << "../shared/testdata (stories15M.bin, stories15M-q8_0.gguf) absent";
    const std::string ours_path = temp_dir() + "/stories15M-q8_0.gguf";
    ASSERT_TRUE(quantize_model(bin, ours_path, "q8_0", nullptr).is_ok());
    auto ours = GgufFile::open(ours_path);
    auto theirs = GgufFile::open(theirs_path);
    ASSERT_TRUE(ours && theirs);
    int compared = 0;
    for (const auto& t : theirs->tensors()) {
        const GgufTensorInfo* mine = ours->find_tensor(t.name);
        if (!mine && t.name == "output.weight") mine = ours->find_tensor("token_embd.weight");
        ASSERT_NE(mine, nullptr) << t.name;
        ASSERT_EQ(mine->type, t.type) << t.name;
        ASSERT_EQ(mine->dims, t.dims) << t.name;
        ASSERT_EQ(mine->n_bytes, t.n_bytes) << t.name;
        EXPECT_EQ(std::memcmp(mine->data, t.data, t.n_bytes), 0) << t.name << ": bytes differ";
        ++compared;
    }
    EXPECT_EQ(compared, 57);
    EXPECT_EQ(ours->get_int_or("general.file_type", -1), 7);
    std::remove(ours_path.c_str());
}

// llama.cpp's Q4_0 of three stories15M tensors (tests/data/quant/README.md: llama-quantize
// --pure, cut down to those tensors byte for byte). Lumen's Q4_0 of the same checkpoint
// must be the same bytes, and so dequantize to the same weights.
TEST(QuantizeModel, Q4_0OfStories15MIsByteIdenticalToLlamaCpp) {
    const std::string bin = test::shared_dir() + "/testdata/stories15M/stories15M.bin";
    if (!test::file_exists(bin)) GTEST_SKIP() << "../shared/testdata/stories15M/stories15M.bin absent";
    auto theirs = GgufFile::open(test::data_dir() + "/quant/stories15M-blk0-q4_0.llama.gguf");
    ASSERT_TRUE(theirs) << theirs.status().message();
    const std::string ours_path = temp_dir() + "/stories15M-q4_0.gguf";
    ASSERT_TRUE(quantize_model(bin, ours_path, "q4_0", nullptr).is_ok());
    auto ours = GgufFile::open(ours_path);
    ASSERT_TRUE(ours);
    ASSERT_EQ(theirs->tensors().size(), 3u);
    for (const auto& t : theirs->tensors()) {
        SCOPED_TRACE(t.name);
        const GgufTensorInfo* mine = ours->find_tensor(t.name);
        ASSERT_NE(mine, nullptr);
        ASSERT_EQ(t.type, DType::Q4_0);
        ASSERT_EQ(mine->type, DType::Q4_0);
        ASSERT_EQ(mine->dims, t.dims);
        ASSERT_EQ(mine->n_bytes, t.n_bytes);
        EXPECT_EQ(std::memcmp(mine->data, t.data, t.n_bytes), 0) << "bytes differ";
        const int64_t n = t.dims[0] * t.dims[1];
        std::vector<float> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
        dequantize_row(DType::Q4_0, mine->data, a.data(), n);
        dequantize_row(DType::Q4_0, t.data, b.data(), n);
        EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << "dequantized weights differ";
    }
    std::remove(ours_path.c_str());
}

// ------------------------------------------------------------------ schemes

TEST(QuantScheme, NamesParseAndBadNamesListTheChoices) {
    for (const char* name :
         {"q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q4_k", "q5_k", "q6_k", "q4_k_m", "f16", "bf16", "f32"}) {
        auto s = parse_quant_scheme(name);
        ASSERT_TRUE(s) << name;
        EXPECT_STREQ(quant_scheme_name(s.value()), name);
    }
    auto bad = parse_quant_scheme("q3_k");
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.status().message().find("q3_k"), std::string::npos);
    EXPECT_NE(bad.status().message().find("q8_0|q4_0|q4_1|q5_0|q5_1|q4_k|q5_k|q6_k|q4_k_m|f16|bf16|f32"),
              std::string::npos);
    EXPECT_EQ(quant_scheme_file_type(QuantScheme::q4_k_m), 15u);  // LLAMA_FTYPE_MOSTLY_Q4_K_M
    EXPECT_EQ(quant_scheme_file_type(QuantScheme::q8_0), 7u);
}

// llama.cpp's Q4_K_M on a Llama-2-7B shape: Q6_K for output.weight and for attn_v and
// ffn_down in layers 0-3, 28-31 and every third layer from 6 (use_more_bits), Q4_K for
// the other matrices including the untied embedding; norms stay f32.
TEST(QuantScheme, Q4KMOnLlama7BShapes) {
    const QuantModelShape llama7b{32, true};
    auto type = [&](const std::string& name, std::vector<int64_t> dims) {
        return tensor_type_for_scheme(QuantScheme::q4_k_m, name, dims, DType::F16, llama7b);
    };
    const std::set<int> more_bits = {0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31};
    for (int l = 0; l < 32; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        const DType expected = more_bits.count(l) ? DType::Q6_K : DType::Q4_K;
        EXPECT_EQ(type(p + "attn_v.weight", {4096, 4096}), expected) << l;
        EXPECT_EQ(type(p + "ffn_down.weight", {11008, 4096}), expected) << l;
        EXPECT_EQ(type(p + "attn_q.weight", {4096, 4096}), DType::Q4_K);
        EXPECT_EQ(type(p + "attn_norm.weight", {4096}), DType::F16) << "1-D tensors keep their type";
    }
    EXPECT_EQ(type("output.weight", {4096, 32000}), DType::Q6_K);
    EXPECT_EQ(type("token_embd.weight", {4096, 32000}), DType::Q4_K);
    // Tied (Qwen2-0.5B): the embedding is the output projection; 896 is not a multiple of 256.
    EXPECT_EQ(tensor_type_for_scheme(QuantScheme::q4_k_m, "token_embd.weight", {896, 151936}, DType::BF16, {24, false}),
              DType::Q8_0);
    EXPECT_EQ(tensor_type_for_scheme(QuantScheme::q4_k_m, "blk.5.attn_q.weight", {896, 896}, DType::BF16, {24, false}),
              DType::Q5_0);
}

// ------------------------------------------------------------------ quantize_model end to end

namespace {

// A 4-layer llama (dim 64, ffn 256, tied) in f32: rows of 64 force the k-quant
// fallbacks, ffn_down's rows of 256 take k-quants as they are.
const std::string& f32_model() {
    static const std::string path = [] {
        SynthSpec spec;
        spec.n_layers = 4;
        spec.ffn_dim = 256;
        const std::string p = temp_dir() + "/synth-f32.gguf";
        Status s = write_synthetic_model(spec, spm_vocab(), p);
        EXPECT_TRUE(s.is_ok()) << s.message();
        return p;
    }();
    return path;
}

// What each scheme must give the tensors of f32_model(), stated independently of the library.
DType expected_type(QuantScheme scheme, const std::string& name, const std::vector<int64_t>& dims) {
    if (dims.size() == 1) return DType::F32;
    const bool row_256 = dims[0] % 256 == 0;
    const std::map<DType, DType> k_fallback = {
        {DType::Q4_K, DType::Q5_0}, {DType::Q5_K, DType::Q5_1}, {DType::Q6_K, DType::Q8_0}};
    auto fit = [&](DType t) { return row_256 || !k_fallback.count(t) ? t : k_fallback.at(t); };
    if (scheme != QuantScheme::q4_k_m) return fit(*dtype_from_name(quant_scheme_name(scheme)));
    const bool late_layer = name.rfind("blk.2.", 0) == 0 || name.rfind("blk.3.", 0) == 0;  // use_more_bits(i, 4)
    if (name == "token_embd.weight") return fit(DType::Q6_K);                              // tied: the output
    if (late_layer && (name.find("attn_v") != std::string::npos || name.find("ffn_down") != std::string::npos))
        return fit(DType::Q6_K);
    return fit(DType::Q4_K);
}

std::vector<float> last_logits(const std::string& path, const std::vector<int32_t>& tokens) {
    EngineOptions opts;
    opts.kv_type = DType::F32;
    auto engine = Engine::load(path, {}, opts);
    EXPECT_TRUE(engine) << engine.status().message();
    if (!engine) return {};
    auto seq = engine.value()->create_sequence();
    std::vector<float> logits;
    EXPECT_TRUE(engine.value()->step({{seq.value(), tokens, false}}, &logits).is_ok());
    return logits;
}

}  // namespace

TEST(QuantizeModel, EverySchemeLoadsWithItsTypesAndGenerates) {
    const std::vector<int32_t> prompt = {1, 15043, 3186, 29892, 590};
    const std::vector<float> reference = last_logits(f32_model(), prompt);
    ASSERT_FALSE(reference.empty());
    for (const char* name :
         {"q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q4_k", "q5_k", "q6_k", "q4_k_m", "f16", "bf16", "f32"}) {
        SCOPED_TRACE(name);
        const QuantScheme scheme = parse_quant_scheme(name).value();
        const std::string out = temp_dir() + "/quantized-" + name + ".gguf";
        std::string report;
        Status s = quantize_model(f32_model(), out, name, &report);
        ASSERT_TRUE(s.is_ok()) << s.message();
        EXPECT_NE(report.find("total"), std::string::npos) << report;

        auto file = GgufFile::open(out);
        ASSERT_TRUE(file);
        EXPECT_EQ(file->get_int_or("general.file_type", -1), int64_t(quant_scheme_file_type(scheme)));
        EXPECT_EQ(file->tensors().size(), 1u + 4 * 9 + 1);
        for (const auto& t : file->tensors())
            EXPECT_STREQ(dtype_name(t.type), dtype_name(expected_type(scheme, t.name, t.dims))) << t.name;

        // The quantized model tracks the f32 one, and generates. The logits' NMSE is the
        // weights' (see the row bounds above) amplified through four layers, plus the CPU
        // backend's 8-bit activations for the 32-block types: measured about 2e-4 for
        // 8 bits, 5e-3..8e-3 for 5 bits and q4_k(_m), 2e-2..3e-2 for q4_0/q4_1; bounds ~2x.
        const std::vector<float> logits = last_logits(out, prompt);
        ASSERT_EQ(logits.size(), reference.size());
        const double e = nmse(reference, logits);
        std::printf("  %-6s logits NMSE vs f32 %.3g\n", name, e);
        const std::map<std::string, double> logits_bound = {
            {"f32", 0.0},     {"f16", 1e-6},    {"bf16", 5e-5}, {"q8_0", 5e-4},   {"q6_k", 5e-4}, {"q5_0", 1.5e-2},
            {"q5_1", 1.5e-2}, {"q5_k", 1.5e-2}, {"q4_k", 2e-2}, {"q4_k_m", 2e-2}, {"q4_0", 6e-2}, {"q4_1", 6e-2}};
        EXPECT_LE(e, logits_bound.at(name));
        auto engine = Engine::load(out);
        ASSERT_TRUE(engine);
        GenerationRequest req;
        req.prompt_ids = prompt;
        req.max_tokens = 4;
        req.sampling.temperature = 0;
        req.stop_at_eos = false;
        auto result = engine.value()->generate(req);
        ASSERT_TRUE(result) << result.status().message();
        EXPECT_EQ(result->ids.size(), 4u);
        std::remove(out.c_str());
    }
}

// Load-time quantization (EngineOptions::weights_scheme) gives the same weights, byte for
// byte, as loading the file `quantize` writes for the scheme, hence the same logits.
TEST(QuantizeModel, LoadTimeQuantizationEqualsTheQuantizedFile) {
    const std::vector<int32_t> prompt = {1, 15043, 3186, 29892, 590};
    for (const char* name : {"q8_0", "q4_0", "q4_k_m", "bf16"}) {
        SCOPED_TRACE(name);
        const std::string out = temp_dir() + "/file-" + name + ".gguf";
        ASSERT_TRUE(quantize_model(f32_model(), out, name, nullptr).is_ok());
        EngineOptions opts;
        opts.kv_type = DType::F32;
        auto from_file = Engine::load(out, {}, opts);
        opts.weights_scheme = name;
        auto at_load = Engine::load(f32_model(), {}, opts);
        ASSERT_TRUE(from_file && at_load) << (at_load ? "" : at_load.status().message());
        const auto a = gguf_named_tensors(from_file.value()->model()), b = gguf_named_tensors(at_load.value()->model());
        ASSERT_EQ(a.size(), b.size());
        for (size_t i = 0; i < a.size(); ++i) {
            ASSERT_EQ(a[i].first, b[i].first);
            EXPECT_EQ(a[i].second->type, b[i].second->type) << a[i].first;
            ASSERT_EQ(a[i].second->n_bytes(), b[i].second->n_bytes()) << a[i].first;
            EXPECT_EQ(std::memcmp(a[i].second->data, b[i].second->data, size_t(a[i].second->n_bytes())), 0)
                << a[i].first;
        }
        EXPECT_EQ(from_file.value()->model().weight_bytes(), at_load.value()->model().weight_bytes());
        auto original = load_model(f32_model());
        ASSERT_TRUE(original);
        EXPECT_EQ(predicted_weight_bytes(*original.value(), parse_quant_scheme(name).value()),
                  at_load.value()->model().weight_bytes());
        std::vector<float> la, lb;
        for (const auto& [engine, logits] :
             {std::pair{from_file.value().get(), &la}, std::pair{at_load.value().get(), &lb}}) {
            auto seq = engine->create_sequence();
            ASSERT_TRUE(engine->step({{seq.value(), prompt, false}}, logits).is_ok());
        }
        EXPECT_EQ(la, lb);
        std::remove(out.c_str());
    }
    EngineOptions bad;
    bad.weights_scheme = "q3_x";
    auto refused = Engine::load(f32_model(), {}, bad);
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.status().message().find("q4_k_m"), std::string::npos) << refused.status().message();
}

// Per-tensor error of a requantized model against its original: zero against itself,
// small for q8_0, larger for q4_0, for every matrix.
TEST(QuantizeModel, TensorErrorsCompareEveryMatrix) {
    auto original = load_model(f32_model());
    auto q8 = load_model(f32_model());
    auto q4 = load_model(f32_model());
    ASSERT_TRUE(original && q8 && q4);
    ASSERT_TRUE(requantize_model(*q8.value(), QuantScheme::q8_0));
    ASSERT_TRUE(requantize_model(*q4.value(), QuantScheme::q4_0));
    const auto same = tensor_errors(*original.value(), *original.value());
    const auto e8 = tensor_errors(*q8.value(), *original.value());
    const auto e4 = tensor_errors(*q4.value(), *original.value());
    ASSERT_EQ(same.size(), 1u + 4 * 7);  // the embedding and 7 matrices per layer (tied output)
    ASSERT_EQ(e8.size(), same.size());
    ASSERT_EQ(e4.size(), same.size());
    for (size_t i = 0; i < same.size(); ++i) {
        EXPECT_EQ(same[i].nmse, 0.0) << same[i].name;
        EXPECT_EQ(e8[i].type, DType::Q8_0) << e8[i].name;
        EXPECT_EQ(e8[i].original_type, DType::F32);
        EXPECT_GT(e8[i].nmse, 0.0) << e8[i].name;
        EXPECT_LT(e8[i].nmse, 1e-4) << e8[i].name;  // 8-bit rows: ~1e-5 (see the row bounds above)
        EXPECT_GT(e4[i].nmse, 10 * e8[i].nmse) << e4[i].name;
        EXPECT_LT(e4[i].nmse, 2e-2) << e4[i].name;
    }
}

TEST(QuantizeModel, BadInputsAreErrors) {
    const std::string out = temp_dir() + "/never.gguf";
    Status s = quantize_model(f32_model(), out, "q2_k", nullptr);
    ASSERT_FALSE(s.is_ok());
    EXPECT_NE(s.message().find("q4_k_m"), std::string::npos) << s.message();
    s = quantize_model(temp_dir() + "/missing.gguf", out, "q8_0", nullptr);
    ASSERT_FALSE(s.is_ok());
    EXPECT_NE(s.message().find("missing.gguf"), std::string::npos) << s.message();
    EXPECT_FALSE(test::file_exists(out));
}

// ------------------------------------------------------------------ synth

TEST(Synth, QuantizedMixedAndWideHeadModelsLoadAndRun) {
    SynthSpec spec;
    spec.ffn_dim = 256;
    spec.n_layers = 4;
    spec.scheme = QuantScheme::q4_k_m;
    const std::string mixed = temp_dir() + "/synth-q4km.gguf";
    ASSERT_TRUE(write_synthetic_model(spec, spm_vocab(), mixed).is_ok());
    auto file = GgufFile::open(mixed);
    ASSERT_TRUE(file);
    for (const auto& t : file->tensors())
        EXPECT_STREQ(dtype_name(t.type), dtype_name(expected_type(QuantScheme::q4_k_m, t.name, t.dims))) << t.name;

    // Heads wider than dim / n_heads (as Gemma and Qwen3 have), untied, in q8_0 via `type`.
    SynthSpec wide;
    wide.head_dim = 32;  // 4 heads x 32 = 128 > dim 64
    wide.tied_output = false;
    wide.type = DType::Q8_0;
    const std::string wide_path = temp_dir() + "/synth-wide.gguf";
    ASSERT_TRUE(write_synthetic_model(wide, spm_vocab(), wide_path).is_ok());
    for (const std::string& path : {mixed, wide_path}) {
        auto model = load_model(path);
        ASSERT_TRUE(model) << model.status().message();
        EXPECT_EQ(last_logits(path, {1, 2, 3}).size(), size_t(model.value()->config.vocab_size));
    }
    auto model = load_model(wide_path);
    EXPECT_EQ(model.value()->config.q_dim(), 128);
    EXPECT_EQ(model.value()->weights.output.type, DType::Q8_0);
    EXPECT_FALSE(model.value()->config.tied_output);
}

TEST(Synth, StreamedFileIsDeterministicAndPresetsHaveTheirShapes) {
    SynthSpec spec;
    spec.scheme = QuantScheme::q6_k;
    const std::string a = temp_dir() + "/det-a.gguf", b = temp_dir() + "/det-b.gguf";
    ASSERT_TRUE(write_synthetic_model(spec, spm_vocab(), a).is_ok());
    ASSERT_TRUE(write_synthetic_model(spec, spm_vocab(), b).is_ok());
    EXPECT_EQ(test::read_text_file(a), test::read_text_file(b));
    spec.seed = 2;
    ASSERT_TRUE(write_synthetic_model(spec, spm_vocab(), b).is_ok());
    EXPECT_NE(test::read_text_file(a), test::read_text_file(b));

    auto llama3 = synth_preset("llama3-8b");
    ASSERT_TRUE(llama3);
    EXPECT_EQ(llama3->spec.dim, 4096);
    EXPECT_EQ(llama3->spec.n_kv_heads, 8);
    EXPECT_EQ(llama3->spec.ffn_dim, 14336);
    EXPECT_EQ(llama3->spec.rope_theta, 500000.f);
    EXPECT_FALSE(llama3->spec.tied_output);
    EXPECT_EQ(llama3->vocab_file, "ggml-vocab-llama-bpe.gguf");
    auto qwen = synth_preset("qwen2-0.5b");
    ASSERT_TRUE(qwen);
    EXPECT_EQ(qwen->spec.architecture, "qwen2");
    EXPECT_TRUE(qwen->spec.tied_output);
    EXPECT_EQ(synth_preset_names().size(), 6u);
    for (const auto& name : synth_preset_names())
        EXPECT_TRUE(test::file_exists(test::data_dir() + "/tokenizer/" + synth_preset(name)->vocab_file)) << name;
    EXPECT_FALSE(synth_preset("llama-9000"));
}

TEST(GgufWriter, StreamedTensorsMustProduceTheirExactSize) {
    GgufWriter w;
    const std::vector<float> data(64, 0.5f);
    ASSERT_TRUE(w.add_tensor_streamed("short", {64}, DType::F32, [&](const ByteSink& sink) {
                     return sink(data.data(), 60 * 4);
                 }).is_ok());
    const std::string path = temp_dir() + "/short.gguf";
    Status s = w.write(path);
    ASSERT_FALSE(s.is_ok());
    EXPECT_NE(s.message().find("short"), std::string::npos) << s.message();
    EXPECT_FALSE(test::file_exists(path)) << "no partial file is left behind";
    EXPECT_FALSE(test::file_exists(path + ".partial"));
    EXPECT_TRUE(w.to_bytes().empty());
}

// ------------------------------------------------------------------ CLI

namespace {

struct CliRun {
    int exit_code;
    std::string out;  // stdout and stderr together
};

CliRun run_cli(const std::string& args) {
    CliRun r;
    r.exit_code = test::run_command("'" + test::cli_path() + "' " + args + " 2>&1", &r.out);
    return r;
}

}  // namespace

TEST(QuantizeCli, SynthPresetThenQuantizeThenGenerate) {
    const std::string synth = temp_dir() + "/cli-synth.gguf", quantized = temp_dir() + "/cli-q8.gguf";
    // The preset's vocabulary is found in the source tree; --layers overrides the preset.
    auto r = run_cli("synth --preset stories15m --layers 2 --type q4_k_m --output " + synth);
    ASSERT_EQ(r.exit_code, 0) << r.out;
    auto model = load_model(synth);
    ASSERT_TRUE(model) << model.status().message();
    EXPECT_EQ(model.value()->config.n_layers, 2);
    EXPECT_EQ(model.value()->config.dim, 288);

    r = run_cli("quantize --input " + synth + " --output " + quantized + " --type q8_0");
    ASSERT_EQ(r.exit_code, 0) << r.out;
    EXPECT_NE(r.out.find("q8_0"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("q5_0"), std::string::npos) << "the before column lists the input's types: " << r.out;
    r = run_cli("generate --model " + quantized + " --prompt Hello --max-tokens 3 --temperature 0 --json");
    EXPECT_EQ(r.exit_code, 0) << r.out;
}

TEST(QuantizeCli, BadArgumentsGiveOneLineErrors) {
    auto expect_error = [](const std::string& args, const std::string& must_mention) {
        auto r = run_cli(args);
        EXPECT_NE(r.exit_code, 0) << args;
        EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
        EXPECT_NE(r.out.find(must_mention), std::string::npos) << r.out;
    };
    const std::string out = " --output " + temp_dir() + "/x.gguf";
    expect_error("quantize --input " + f32_model() + out + " --type q3_k",
                 "q8_0|q4_0|q4_1|q5_0|q5_1|q4_k|q5_k|q6_k|q4_k_m|f16|bf16|f32");
    expect_error("quantize --input " + f32_model() + out, "--type");
    expect_error("synth --preset stories15m --type q9" + out, "q4_k_m");
    expect_error("synth --preset stories99m --type f16" + out, "smollm2-135m");
    expect_error("synth --dim 64 --layers 1 --heads 2 --ffn 64 --type f16" + out, "--vocab");
    expect_error("synth --preset stories15m --layers many --type f16" + out, "--layers");
    expect_error("synth --preset stories15m --bogus --type f16" + out, "--bogus");
    EXPECT_FALSE(test::file_exists(temp_dir() + "/x.gguf"));
}
