// Synthetic models: random weights in the exact shapes of a llama-family
// architecture, with a real vocabulary copied from a vocab GGUF. Used for
// tests and benchmarks at realistic sizes without downloading weights.
#pragma once

#include <cstdint>
#include <string>

#include "core/dtype.h"
#include "core/status.h"

namespace lumen {

struct SynthSpec {
    std::string architecture = "llama";  // "llama" or "qwen2" (adds QKV biases)
    int32_t dim = 64;
    int32_t n_layers = 2;
    int32_t n_heads = 4;
    int32_t n_kv_heads = 2;
    int32_t ffn_dim = 128;
    int32_t context_length = 2048;
    float rope_theta = 10000.f;
    bool tied_output = true;
    DType type = DType::F32;   // matrix type: f32, f16 or bf16 (norms stay f32)
    float init_std = 0.02f;    // matrices ~ N(0, std); norm weights are ones
    uint64_t seed = 1;
};

// Writes the model to `output_path`; vocabulary and tokenizer metadata come from `vocab_gguf_path`.
Status write_synthetic_model(const SynthSpec& spec, const std::string& vocab_gguf_path, const std::string& output_path);

}  // namespace lumen
