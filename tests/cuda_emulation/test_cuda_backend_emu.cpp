// The CUDA backend's host code (engine/backend/cuda: upload and repack, the KV pool, the
// step's kernels and cuBLAS prefill, graph capture and replay, early exit, KV block
// copies, input checks) run in the CPU emulator (tests/cuda_emulation) against the CPU
// backend, through the Backend interface, on small synthetic models: the logits of
// every step agree (NMSE), for every GPU weight format and one converted at upload.
// The emulator also checks the host code's CUDA usage: copy directions and bounds,
// cuBLAS operands inside their allocations, no prohibited call during a capture, and
// every device resource released when the backend is destroyed.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/activations.h"
#include "backend/cpu/cpu_backend.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "model/model.h"
#include "model/synth.h"
#include "shim/emu_control.h"
#include "test_support.h"

// The emulated backend, renamed as cuda_backend_emu.cpp compiles it.
#define cuda cuda_emu
#define CudaBackend EmuCudaBackend
#define CudaBackendOptions EmuCudaBackendOptions
#include "backend/cuda/cuda_backend.h"
#undef cuda
#undef CudaBackend
#undef CudaBackendOptions

namespace lumen {
namespace {

// The tokenizer's vocabulary cut to its first kVocab tokens: the output matrix is the
// largest of the model, and the emulator runs every CUDA thread as a fiber: with the
// full 32000 this test took 68 s on 2 cores, with 512 about 7 s. The engine never
// tokenizes text here.
constexpr int64_t kVocab = 512;

const std::string& temp_dir() {
    static const std::string dir = [] {
        char tmpl[] = "/tmp/lumen-cuda-backend-emu-XXXXXX";
        const char* d = mkdtemp(tmpl);
        return std::string(d ? d : "/tmp");
    }();
    return dir;
}

const std::string& small_vocab() {
    static const std::string path = [] {
        const std::string full = test::data_dir() + "/tokenizer/ggml-vocab-llama-spm.gguf";
        auto file = GgufFile::open(full);
        EXPECT_TRUE(file.is_ok()) << file.status().message();
        const size_t n = file->find("tokenizer.ggml.tokens")->array_size();
        GgufWriter w;
        for (const std::string& key : file->metadata_order()) {
            if (key.rfind("tokenizer.", 0) != 0) continue;
            GgufValue v = *file->find(key);
            if (v.type == GgufValueType::ARRAY && v.array_size() == n) {
                if (!v.strings.empty()) v.strings.resize(size_t(kVocab));
                if (!v.numbers.empty()) v.numbers.resize(size_t(kVocab));
                if (!v.integers.empty()) v.integers.resize(size_t(kVocab));
            }
            w.set_value(key, v);
        }
        const std::string p = temp_dir() + "/vocab.gguf";
        const Status s = w.write(p);
        EXPECT_TRUE(s.is_ok()) << s.message();
        return p;
    }();
    return path;
}

// Dims small enough to emulate quickly; the k-quants need rows of 256.
SynthSpec spec_for(DType type) {
    SynthSpec s;
    const bool k_quant = type == DType::Q4_K || type == DType::Q6_K;
    s.dim = k_quant ? 256 : 128;
    s.ffn_dim = k_quant ? 512 : 256;
    s.n_layers = 2;
    s.n_heads = 4;
    s.n_kv_heads = 2;  // GQA
    s.type = type;
    s.init_std = 0.1f;
    s.context_length = 512;
    return s;
}

const Model& model_for(const SynthSpec& spec) {
    static std::map<std::string, std::unique_ptr<Model>> models;
    const std::string key = std::string(dtype_name(spec.type)) + "_" + std::to_string(spec.dim) + "_" +
                            std::to_string(spec.head_dim) + "_" + std::to_string(spec.n_heads) + "_" +
                            std::to_string(spec.n_kv_heads) + (spec.tied_output ? "_tied" : "_untied");
    auto& slot = models[key];
    if (!slot) {
        const std::string path = temp_dir() + "/" + key + ".gguf";
        const Status s = write_synthetic_model(spec, small_vocab(), path);
        EXPECT_TRUE(s.is_ok()) << s.message();
        auto m = load_model(path);
        EXPECT_TRUE(m.is_ok()) << m.status().message();
        slot = std::move(m.value());
    }
    return *slot;
}

// Per row of `vocab` values: sum (got - want)^2 / sum want^2, the worst row.
double worst_row_nmse(const std::vector<float>& got, const std::vector<float>& want, int64_t vocab) {
    double worst = 0;
    for (size_t r = 0; r * size_t(vocab) < want.size(); ++r) {
        double num = 0, den = 0;
        for (int64_t i = 0; i < vocab; ++i) {
            const double w = want[r * size_t(vocab) + size_t(i)], g = got[r * size_t(vocab) + size_t(i)];
            num += (g - w) * (g - w);
            den += w * w;
        }
        worst = std::max(worst, den > 0 ? num / den : num);
    }
    return worst;
}

// Bounds on the worst row's NMSE, from the differences of the two computations: f32
// weights differ only in summation order (about 1e-8 seen); the GPU's prefill rounds
// activations to f16 for cuBLAS against f16 weights (about 3e-6 seen); the CPU
// quantizes activations to 8 bits against quantized weights and the GPU does not
// (up to about 3e-3 seen on these random models, whose logits are near-uniform).
double bound_for(DType type) {
    if (type == DType::F32) return 1e-6;
    if (type == DType::F16) return 2e-5;
    return 1e-2;
}

struct Seq {
    int32_t id = 0;
    std::vector<int32_t> table;
    int32_t length = 0;  // tokens stored
};

// A step under construction: tokens appended per sequence at its next positions.
struct Step {
    StepBatch batch;
    void add(Seq& s, const std::vector<int32_t>& tokens, const std::vector<uint8_t>& want) {
        size_t index = 0;
        while (index < batch.sequences.size() && batch.sequences[index].seq_id != s.id) ++index;
        if (index == batch.sequences.size()) batch.sequences.push_back({s.id, &s.table});
        for (size_t i = 0; i < tokens.size(); ++i) {
            batch.tokens.push_back(tokens[i]);
            batch.positions.push_back(s.length++);
            batch.sequence_index.push_back(int32_t(index));
            batch.want_logits.push_back(want[i]);
        }
    }
};

std::vector<int32_t> random_tokens(size_t n, std::mt19937& rng) {
    std::uniform_int_distribution<int32_t> d(0, int32_t(kVocab) - 1);
    std::vector<int32_t> t(n);
    for (auto& x : t) x = d(rng);
    return t;
}
std::vector<uint8_t> last_only(size_t n) {
    std::vector<uint8_t> w(n, 0);
    w.back() = 1;
    return w;
}

// Both backends on one model with identical KV layouts; compares each step.
class Pair {
public:
    explicit Pair(const Model& model, EmuCudaBackendOptions options = {}) : model_(model), cpu_(2) {
        auto gpu = EmuCudaBackend::create(options);
        EXPECT_TRUE(gpu.is_ok()) << gpu.status().message();
        gpu_ = std::move(gpu.value());
        layout_.n_layers = model.config.n_layers;
        layout_.n_kv_heads = model.config.n_kv_heads;
        layout_.head_dim = model.config.head_dim;
        layout_.block_size = 16;
        layout_.n_blocks = 16;
        layout_.type = DType::F16;
        for (Backend* b : {static_cast<Backend*>(&cpu_), static_cast<Backend*>(gpu_.get())}) {
            EXPECT_TRUE(b->upload(model).is_ok());
            EXPECT_TRUE(b->allocate_kv(layout_).is_ok());
        }
    }
    EmuCudaBackend& gpu() { return *gpu_; }
    CpuBackend& cpu() { return cpu_; }

    // Runs the step on both; the GPU's logits (empty on failure).
    std::vector<float> run(const StepBatch& batch, double bound, const std::string& what) {
        SCOPED_TRACE(what);
        std::vector<float> want, got;
        const Status c = cpu_.forward(batch, &want);
        const Status g = gpu_->forward(batch, &got);
        EXPECT_TRUE(c.is_ok()) << c.message();
        EXPECT_TRUE(g.is_ok()) << g.message();
        EXPECT_EQ(got.size(), want.size());
        if (got.size() == want.size() && !want.empty())
            EXPECT_LT(worst_row_nmse(got, want, model_.config.vocab_size), bound);
        EXPECT_EQ(gpu_->last_exit_layer(), cpu_.last_exit_layer());
        const std::vector<std::string> faults = emu::take_failures();
        EXPECT_TRUE(faults.empty()) << faults.front();
        return got;
    }
    Status copy_blocks(const std::vector<std::pair<int32_t, int32_t>>& src_dst) {
        const Status c = cpu_.copy_kv_blocks(src_dst);
        const Status g = gpu_->copy_kv_blocks(src_dst);
        EXPECT_EQ(c.is_ok(), g.is_ok());
        return g;
    }

private:
    const Model& model_;
    CpuBackend cpu_;
    std::unique_ptr<EmuCudaBackend> gpu_;
    KVCacheLayout layout_;
};

// Every device resource is released with the backend.
class EmulatedCudaBackend : public ::testing::Test {
protected:
    void SetUp() override { before_ = emu::host_stats(); }
    void TearDown() override {
        const emu::HostStats& now = emu::host_stats();
        EXPECT_EQ(now.device_blocks, before_.device_blocks) << "cudaMalloc blocks leaked";
        EXPECT_EQ(now.pinned_blocks, before_.pinned_blocks) << "pinned blocks leaked";
        EXPECT_EQ(now.streams, before_.streams) << "streams leaked";
        EXPECT_EQ(now.graphs, before_.graphs) << "graphs leaked";
        EXPECT_EQ(now.graph_execs, before_.graph_execs) << "graph executables leaked";
        EXPECT_EQ(now.cublas_handles, before_.cublas_handles) << "cuBLAS handles leaked";
    }
    emu::HostStats before_;
};

class EmulatedCudaBackendTypes : public EmulatedCudaBackend, public ::testing::WithParamInterface<DType> {};

// A 20-token prefill (cuBLAS, after dequantize_to_f16 for quantized weights), then
// decode steps: the first of the 1-token bucket runs eagerly, the second captures its
// graph, the rest replay it.
TEST_P(EmulatedCudaBackendTypes, PrefillThenDecodeWithGraphs) {
    const DType type = GetParam();
    const Model& model = model_for(spec_for(type));
    Pair pair(model);
    cuda_emu::WeightFormat format{};
    const bool native = cuda_emu::weight_format_for(uint32_t(type), &format);
    EXPECT_EQ(pair.gpu().converted_matrices() > 0, !native) << "matrices without a kernel are converted at upload";
    std::mt19937 rng(7);
    Seq s{0, {0, 1, 2}};
    Step prefill;
    prefill.add(s, random_tokens(20, rng), std::vector<uint8_t>(20, 1));
    const long gemms = emu::host_stats().gemms;
    pair.run(prefill.batch, bound_for(type), "prefill");
    EXPECT_GT(emu::host_stats().gemms, gemms) << "a 20-token step multiplies with cuBLAS";
    for (int step = 0; step < 10; ++step) {
        const emu::HostStats before = emu::host_stats();
        Step decode;
        decode.add(s, random_tokens(1, rng), {1});
        pair.run(decode.batch, bound_for(type), "decode step " + std::to_string(step));
        const emu::HostStats& after = emu::host_stats();
        EXPECT_EQ(after.captures - before.captures, step == 1 ? 1 : 0) << "step " << step;
        EXPECT_EQ(after.graph_launches - before.graph_launches, step == 0 ? 0 : 1) << "step " << step;
    }
}

INSTANTIATE_TEST_SUITE_P(Types, EmulatedCudaBackendTypes,
                         ::testing::Values(DType::F32, DType::F16, DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q6_K,
                                           DType::Q5_0),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

// One step of three sequences: two decode tokens and 7 tokens of a third (9 tokens:
// cuBLAS). When every token wants logits (decode and speculative verification) the step
// takes the 16-token graph bucket: three rounds run it eagerly, capture it, replay it.
// A step with logits for a subset (a prefill chunk) runs eagerly and captures nothing.
TEST_F(EmulatedCudaBackend, RaggedBatch) {
    for (DType type : {DType::F32, DType::Q4_0}) {
        SCOPED_TRACE(dtype_name(type));
        const Model& model = model_for(spec_for(type));
        Pair pair(model);
        std::mt19937 rng(3);
        Seq a{0, {4, 5}}, b{1, {6, 7}}, c{2, {8, 9, 10}};
        Step first;
        first.add(a, random_tokens(5, rng), last_only(5));
        first.add(b, random_tokens(3, rng), {1, 0, 1});
        pair.run(first.batch, bound_for(type), "two prompts");
        for (int round = 0; round < 4; ++round) {
            const bool all_rows = round < 3;
            const emu::HostStats before = emu::host_stats();
            Step step;
            step.add(a, random_tokens(1, rng), {1});
            step.add(c, random_tokens(7, rng),
                     all_rows ? std::vector<uint8_t>(7, 1) : std::vector<uint8_t>{0, 0, 1, 0, 0, 1, 0});
            step.add(b, random_tokens(1, rng), {1});
            const std::vector<float> got = pair.run(step.batch, bound_for(type), "round " + std::to_string(round));
            EXPECT_EQ(got.size(), (all_rows ? 9 : 4) * size_t(kVocab));
            const emu::HostStats& after = emu::host_stats();
            EXPECT_EQ(after.captures - before.captures, round == 1 ? 1 : 0) << "round " << round;
            EXPECT_EQ(after.graph_launches - before.graph_launches, round == 1 || round == 2 ? 1 : 0)
                << "round " << round;
        }
    }
}

// stories15M's head_dim 48, with GQA (4 query heads on 2 KV heads), f32 and q8_0.
TEST_F(EmulatedCudaBackend, HeadDim48) {
    for (DType type : {DType::F32, DType::Q8_0}) {
        SCOPED_TRACE(dtype_name(type));
        SynthSpec spec = spec_for(type);
        spec.dim = 192;
        spec.head_dim = 48;
        spec.n_heads = 4;
        spec.n_kv_heads = 2;
        spec.ffn_dim = 256;
        const Model& model = model_for(spec);
        ASSERT_EQ(model.config.head_dim, 48);
        Pair pair(model);
        std::mt19937 rng(5);
        Seq s{0, {1, 3}};
        Step prefill;
        prefill.add(s, random_tokens(18, rng), last_only(18));
        pair.run(prefill.batch, bound_for(type), "prefill");
        for (int step = 0; step < 4; ++step) {
            Step decode;
            decode.add(s, random_tokens(1, rng), {1});
            pair.run(decode.batch, bound_for(type), "decode " + std::to_string(step));
        }
    }
}

// exit_layer 1: each wanted row's logits, then the same rows after one layer; on a
// prefill (cuBLAS) and on decode steps (gemv; never a graph).
TEST_F(EmulatedCudaBackend, ExitLayerRows) {
    for (DType type : {DType::F32, DType::Q4_K}) {
        SCOPED_TRACE(dtype_name(type));
        const Model& model = model_for(spec_for(type));
        Pair pair(model);
        std::mt19937 rng(9);
        Seq s{0, {2, 0}};
        Step prefill;
        prefill.add(s, random_tokens(12, rng), {1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1});
        prefill.batch.exit_layer = 1;
        EXPECT_EQ(pair.run(prefill.batch, bound_for(type), "prefill").size(), 8u * size_t(kVocab));
        for (int step = 0; step < 3; ++step) {
            Step decode;
            decode.add(s, random_tokens(1, rng), {1});
            decode.batch.exit_layer = 1;
            EXPECT_EQ(pair.run(decode.batch, bound_for(type), "decode").size(), 2u * size_t(kVocab));
        }
    }
}

// An early-exit rule that always fires (huge max_entropy: exit after first_layer, the
// skipped layer's K/V propagated) and one that never does; later steps without a rule
// read the propagated K/V. last_exit_layer() agrees with the CPU's (Pair::run).
TEST_F(EmulatedCudaBackend, EarlyExitRule) {
    const Model& model = model_for(spec_for(DType::F32));
    Pair pair(model);
    std::mt19937 rng(13);
    Seq s{0, {0, 1}};
    Step prefill;
    prefill.add(s, random_tokens(10, rng), last_only(10));
    pair.run(prefill.batch, 1e-6, "prefill");
    for (float max_entropy : {1e9f, 1e-9f, 1e9f}) {
        Step step;
        step.add(s, random_tokens(1, rng), {1});
        step.batch.early_exit.max_entropy = max_entropy;
        step.batch.early_exit.first_layer = 1;
        pair.run(step.batch, 1e-6, "early exit, max_entropy " + std::to_string(max_entropy));
        EXPECT_EQ(pair.gpu().last_exit_layer(), max_entropy > 1 ? 1 : model.config.n_layers);
    }
    for (int i = 0; i < 3; ++i) {
        Step step;
        step.add(s, random_tokens(1, rng), {1});
        pair.run(step.batch, 1e-6, "after early exits");
        EXPECT_EQ(pair.gpu().last_exit_layer(), 0);
    }
}

// Both backends allocate their activations from the shared table (backend/activations.h)
// and report the bytes they hold: the CPU's sized for the largest step, the GPU's for at
// least one graph bucket of kMaxGraphTokens tokens.
TEST_F(EmulatedCudaBackend, ActivationBytesEqualTheTable) {
    const Model& model = model_for(spec_for(DType::F32));
    Pair pair(model);
    std::mt19937 rng(23);
    Seq s{0, {0, 1}};
    Step prefill;
    prefill.add(s, random_tokens(10, rng), last_only(10));
    pair.run(prefill.batch, 1e-6, "prefill");
    EXPECT_EQ(pair.cpu().memory_info().activation_bytes, activation_bytes(model.config, 10));
    const MemoryInfo gpu = pair.gpu().memory_info();
    EXPECT_EQ(gpu.activation_bytes, activation_bytes(model.config, EmuCudaBackend::kMaxGraphTokens));
    EXPECT_GT(gpu.scratch_bytes, gpu.activation_bytes) << "the logits and attention scratch are counted beside them";
}

// Fork: a 20-token sequence's two blocks copied to new ids (the second one partly
// filled), then both continue with different tokens (graph replays included).
TEST_F(EmulatedCudaBackend, CopyKvBlocksForks) {
    const Model& model = model_for(spec_for(DType::Q6_K));
    Pair pair(model);
    std::mt19937 rng(17);
    Seq a{0, {3, 7}};
    Step prefill;
    prefill.add(a, random_tokens(20, rng), last_only(20));
    pair.run(prefill.batch, bound_for(DType::Q6_K), "prefill");
    ASSERT_TRUE(pair.copy_blocks({{3, 11}, {7, 12}}).is_ok());
    Seq b{1, {11, 12}, a.length};
    for (int step = 0; step < 4; ++step) {
        Step both;
        both.add(a, random_tokens(1, rng), {1});
        both.add(b, random_tokens(1, rng), {1});
        pair.run(both.batch, bound_for(DType::Q6_K), "fork step " + std::to_string(step));
    }
    // The source block was not disturbed: the original continues alone too.
    Step alone;
    alone.add(a, random_tokens(1, rng), {1});
    pair.run(alone.batch, bound_for(DType::Q6_K), "original alone");
    EXPECT_FALSE(pair.copy_blocks({{3, 16}}).is_ok()) << "a block outside the pool";
}

// Graphs off and on give the same logits bit for bit: a replay is the eager step.
TEST_F(EmulatedCudaBackend, GraphsOffMatchOn) {
    const Model& model = model_for(spec_for(DType::Q4_0));
    Pair on(model), off(model, EmuCudaBackendOptions{.graphs = false});
    std::mt19937 rng(19);
    Seq s1{0, {0, 1}}, s2{0, {0, 1}};
    const std::vector<int32_t> prompt = random_tokens(20, rng);
    Step p1, p2;
    p1.add(s1, prompt, last_only(20));
    p2.add(s2, prompt, last_only(20));
    // A prefill chunk that wants one row runs eagerly either way: the same logits.
    EXPECT_EQ(on.run(p1.batch, 1e-2, "on"), off.run(p2.batch, 1e-2, "off"));
    const long launches = emu::host_stats().graph_launches;
    for (int step = 0; step < 5; ++step) {
        const std::vector<int32_t> t = random_tokens(1, rng);
        Step d1, d2;
        d1.add(s1, t, {1});
        d2.add(s2, t, {1});
        const std::vector<float> with = on.run(d1.batch, 1e-2, "on");
        const long before_off = emu::host_stats().graph_launches;
        const std::vector<float> without = off.run(d2.batch, 1e-2, "off");
        EXPECT_EQ(emu::host_stats().graph_launches, before_off) << "graphs = false launched a graph";
        EXPECT_EQ(with, without) << "step " << step;
    }
    EXPECT_EQ(emu::host_stats().graph_launches - launches, 4);
}

// Bad input: the same Status as the CPU backend; a KV type other than f16 is refused.
TEST_F(EmulatedCudaBackend, BadInput) {
    const Model& model = model_for(spec_for(DType::F32));
    Pair pair(model);
    Seq s{0, {0}};
    Step bad;
    bad.add(s, {1, int32_t(kVocab), 2}, {0, 0, 1});
    std::vector<float> cpu_logits, gpu_logits;
    const Status c = pair.cpu().forward(bad.batch, &cpu_logits);
    const Status g = pair.gpu().forward(bad.batch, &gpu_logits);
    ASSERT_FALSE(g.is_ok());
    ASSERT_FALSE(c.is_ok());
    EXPECT_EQ(g.message(), c.message());
    Seq t{0, {0}};
    Step beyond;  // position 16 has no block in a one-block table
    t.length = 16;
    beyond.add(t, {5}, {1});
    const Status c2 = pair.cpu().forward(beyond.batch, &cpu_logits);
    const Status g2 = pair.gpu().forward(beyond.batch, &gpu_logits);
    ASSERT_FALSE(g2.is_ok());
    EXPECT_EQ(g2.message(), c2.message());

    KVCacheLayout layout;
    layout.n_layers = model.config.n_layers;
    layout.n_kv_heads = model.config.n_kv_heads;
    layout.head_dim = model.config.head_dim;
    layout.n_blocks = 4;
    for (DType kv : {DType::F32, DType::Q8_0}) {
        layout.type = kv;
        const Status st = pair.gpu().allocate_kv(layout);
        ASSERT_FALSE(st.is_ok());
        EXPECT_NE(st.message().find("f16"), std::string::npos) << st.message();
        EXPECT_NE(st.message().find(dtype_name(kv)), std::string::npos) << st.message();
    }
    // The refused layouts left the pool as it was: steps still run.
    Seq u{1, {2}};
    Step good;
    good.add(u, {1, 2, 3}, {0, 0, 1});
    pair.run(good.batch, 1e-6, "after refusals");
    EXPECT_TRUE(emu::take_failures().empty());
}

// create() finds the emulated H100; a GPU index past the devices is an error.
TEST_F(EmulatedCudaBackend, Create) {
    auto ok = EmuCudaBackend::create({});
    ASSERT_TRUE(ok.is_ok()) << ok.status().message();
    EXPECT_NE(ok.value()->device_name().find("H100"), std::string::npos);
    auto missing = EmuCudaBackend::create(EmuCudaBackendOptions{.device = 7});
    ASSERT_FALSE(missing.is_ok());
    EXPECT_NE(missing.status().message().find("GPU 7 requested"), std::string::npos) << missing.status().message();
}

}  // namespace
}  // namespace lumen
