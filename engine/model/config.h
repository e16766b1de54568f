// The model's hyperparameters as one plain struct, one line per field.
#pragma once

#include <cstdint>
#include <string>

namespace lumen {

enum class RopeStyle {
    normal,  // rotate adjacent pairs (x[2i], x[2i+1]): llama in GGUF, llama2.c
    neox,    // rotate halves (x[i], x[i+d/2]): qwen2
};

struct ModelConfig {
    std::string architecture;    // "llama" or "qwen2"
    std::string name;            // general.name, for display
    int32_t dim = 0;             // embedding width
    int32_t n_layers = 0;        // transformer blocks
    int32_t n_heads = 0;         // query heads
    int32_t n_kv_heads = 0;      // key/value heads (< n_heads: GQA, 1: MQA)
    int32_t head_dim = 0;        // per-head width (usually dim / n_heads)
    int32_t ffn_dim = 0;         // SwiGLU hidden width
    int32_t vocab_size = 0;      // rows of the embedding / output matrix
    int32_t context_length = 0;  // trained context, from metadata
    float rms_eps = 1e-5f;       // RMSNorm epsilon
    float rope_theta = 10000.f;  // RoPE base frequency
    float rope_scale = 1.f;      // linear RoPE scaling: positions are divided by this
    int32_t rope_dim = 0;        // leading dims of each head that RoPE rotates (usually head_dim)
    RopeStyle rope_style = RopeStyle::normal;
    bool tied_output = false;   // output projection shares the token embedding
    bool has_qkv_bias = false;  // qwen2: biases on q, k, v projections

    int32_t q_dim() const { return n_heads * head_dim; }
    int32_t kv_dim() const { return n_kv_heads * head_dim; }
    // KV bytes per token with elements of `bytes_per_element`: 2 (K and V) · layers · kv_heads · head_dim · bytes.
    int64_t kv_bytes_per_token(double bytes_per_element) const {
        return int64_t(2.0 * n_layers * n_kv_heads * head_dim * bytes_per_element);
    }
};

}  // namespace lumen
