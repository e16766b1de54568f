// Causal GQA/MQA attention over the paged KV cache, on the GPU.
// Host-side declarations only, so that the engine's C++ includes this header.
//
// K/V layout, per layer: element (block, slot, kv_head, i) of K (and of V) at
//   cache + ((block * block_size + slot) * n_kv_heads + kv_head) * head_dim + i, fp16.
// The token at logical position p of a sequence lives in block block_table[p / block_size],
// slot p % block_size.
#pragma once

#include <cstdint>

typedef struct CUstream_st* cudaStream_t;

namespace lumen::cuda {

struct PagedAttentionParams {
    // This layer's caches (fp16, stored as uint16_t).
    const uint16_t* k_cache = nullptr;
    const uint16_t* v_cache = nullptr;
    int32_t block_size = 16;
    int32_t n_heads = 0;
    int32_t n_kv_heads = 0;  // n_heads % n_kv_heads == 0
    int32_t head_dim = 0;    // one of attention_head_dim_supported
    float scale = 0;         // 1 / sqrt(head_dim)

    // The step's tokens, all device memory. Token t sits at position positions[t] of
    // its sequence and attends to positions 0..positions[t] of it (whose K/V are
    // already stored); its sequence's block table starts at
    // block_tables + block_table_offset[t].
    int32_t n_tokens = 0;
    const float* q = nullptr;  // [n_tokens][n_heads * head_dim], after RoPE
    float* out = nullptr;      // [n_tokens][n_heads * head_dim]
    const int32_t* positions = nullptr;
    const int32_t* block_table_offset = nullptr;
    const int32_t* block_tables = nullptr;

    // An upper bound on positions[t] + 1 over the step, known on the host: it sizes the
    // launch (the number of KV splits), so a CUDA graph captured with the pool's
    // context length stays valid for every shorter step.
    int32_t max_context = 0;
    // Scratch for the split-K partial results, attention_scratch_floats(...) floats.
    float* scratch = nullptr;
};

// The head sizes the kernel is built for: 32, 48, 64, 80, 96, 128 and 256.
bool attention_head_dim_supported(int32_t head_dim);

// Floats of scratch a launch with these sizes needs.
int64_t attention_scratch_floats(int32_t n_tokens, int32_t n_heads, int32_t head_dim, int32_t max_context);

// out = softmax(q · Kᵀ · scale) · V per token and query head, over the paged blocks in
// place (no K/V copies, no T × T matrix). Decode steps use FlashDecoding: the KV
// length is split into chunks processed in parallel, each keeping an online-softmax
// partial (max, sum, weighted values), then one reduction per token and head. K/V of
// a KV head are read once for the query heads that share it (GQA). Returns a CUDA
// error code (0 = cudaSuccess) from the launch.
int paged_attention(const PagedAttentionParams& p, cudaStream_t stream);

// Stores one step's K and V (f32, [n_tokens][n_kv_heads * head_dim], after RoPE) as
// fp16 into their slots: token t at position positions[t] of its sequence.
int store_kv(const float* k, const float* v, uint16_t* k_cache, uint16_t* v_cache, int32_t block_size, int32_t kv_dim,
             int32_t n_tokens, const int32_t* positions, const int32_t* block_table_offset, const int32_t* block_tables,
             cudaStream_t stream);

}  // namespace lumen::cuda
