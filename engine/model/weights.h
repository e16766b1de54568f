// Model weights as views into the mapped file (or owned buffers): a struct of
// per-layer tensors with their shapes. Nothing here copies weight bytes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace lumen {

// A 1-D or 2-D weight. For a matrix, `rows` outputs each of `cols` inputs
// (GGUF dims [cols, rows]); rows are contiguous and quantized independently.
struct TensorView {
    DType type = DType::F32;
    const void* data = nullptr;
    int64_t rows = 0;
    int64_t cols = 0;
    std::string name;

    bool present() const { return data != nullptr; }
    size_t row_stride() const { return row_bytes(type, cols); }
    const uint8_t* row(int64_t r) const { return static_cast<const uint8_t*>(data) + size_t(r) * row_stride(); }
    int64_t n_bytes() const { return int64_t(row_stride()) * rows; }
};

struct LayerWeights {
    TensorView attn_norm;  // [dim]
    TensorView wq;         // [n_heads*head_dim, dim]
    TensorView wk;         // [n_kv_heads*head_dim, dim]
    TensorView wv;         // [n_kv_heads*head_dim, dim]
    TensorView wo;         // [dim, n_heads*head_dim]
    TensorView bq;         // [n_heads*head_dim], qwen2 only
    TensorView bk;         // [n_kv_heads*head_dim], qwen2 only
    TensorView bv;         // [n_kv_heads*head_dim], qwen2 only
    TensorView ffn_norm;   // [dim]
    TensorView w_gate;     // [ffn_dim, dim]  (w1)
    TensorView w_up;       // [ffn_dim, dim]  (w3)
    TensorView w_down;     // [dim, ffn_dim]  (w2)
};

struct ModelWeights {
    TensorView token_embedding;  // [vocab, dim]
    std::vector<LayerWeights> layers;
    TensorView output_norm;        // [dim]
    TensorView output;             // [vocab, dim]; the embedding itself when tied
    TensorView rope_freq_factors;  // [head_dim/2], optional (Llama 3.1 style scaling)
    // Buffers that own converted weights (e.g. llama2.c checkpoints read into memory).
    std::vector<std::shared_ptr<void>> owned;
};

}  // namespace lumen
