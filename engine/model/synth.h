// Synthetic models: random weights in the exact shapes of a llama-family
// architecture, with a real vocabulary copied from a vocab GGUF, in any weight
// type or quantization scheme. Used for tests and benchmarks at realistic sizes
// without downloading weights; tensors are generated while the file is written,
// so an 8B model needs no more memory than a small one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "quant/quantize.h"

namespace lumen {

struct SynthSpec {
    std::string architecture = "llama";  // "llama" or "qwen2" (adds QKV biases)
    int32_t dim = 64;
    int32_t n_layers = 2;
    int32_t n_heads = 4;
    int32_t n_kv_heads = 2;
    int32_t head_dim = 0;  // per-head width; 0: dim / n_heads
    int32_t ffn_dim = 128;
    int32_t context_length = 2048;
    float rope_theta = 10000.f;
    bool tied_output = true;            // no output.weight: the embedding doubles as the output projection
    DType type = DType::F32;            // type of every matrix (norms and biases stay f32) ...
    std::optional<QuantScheme> scheme;  // ... unless a scheme is given (e.g. q4_k_m's mix)
    float init_std = 0.02f;             // matrices ~ N(0, std) (approximately); norm weights are ones
    uint64_t seed = 1;
};

// Writes the model to `output_path`; vocabulary and tokenizer metadata come from `vocab_gguf_path`.
Status write_synthetic_model(const SynthSpec& spec, const std::string& vocab_gguf_path, const std::string& output_path);

// The shape of a well-known model, and the vocab GGUF of tests/data/tokenizer/ it goes with.
struct SynthPreset {
    std::string name;
    SynthSpec spec;
    std::string vocab_file;  // e.g. "ggml-vocab-llama-spm.gguf"
};

// tinyllama-1.1b, llama2-7b, llama3-8b, qwen2-0.5b, smollm2-135m, stories15m.
std::optional<SynthPreset> synth_preset(std::string_view name);
std::vector<std::string> synth_preset_names();

}  // namespace lumen
