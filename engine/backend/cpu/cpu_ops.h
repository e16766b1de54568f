// The CPU backend's ops: what each op computes, on f32 activations. The hot
// inner loops run through the kernel table (kernels.h), whose scalar level is the
// reference; other backends are tested against these ops.
#pragma once

#include <cstdint>
#include <vector>

#include "model/config.h"
#include "model/weights.h"

namespace lumen {

class ThreadPool;

namespace cpu {

struct KernelTable;

float dot(const float* a, const float* b, int64_t n);
void rms_norm(const float* x, const float* weight, float* out, int64_t n, float eps);
void softmax(float* x, int64_t n);
// Entropy in nats of softmax(logits), in double (early exit's confidence test).
double softmax_entropy(const float* logits, int64_t n);
void silu_mul(const float* gate, const float* up, float* out, int64_t n);
void add_inplace(float* x, const float* y, int64_t n);

// Rotates the first rope_dim dims of each of n_heads heads (head_dim apart) in place.
struct RopeParams {
    int32_t head_dim = 0;
    int32_t rope_dim = 0;
    float theta = 10000.f;
    float scale = 1.f;  // linear scaling: position / scale
    RopeStyle style = RopeStyle::normal;
    const float* freq_factors = nullptr;  // optional [rope_dim/2]: frequencies divided by these
    const float* frequencies = nullptr;   // optional [rope_dim/2]: rope_frequencies() of these params
};
// The rope_dim/2 rotation frequencies of p (freq_factors applied), computed once per model
// instead of once per token.
std::vector<float> rope_frequencies(const RopeParams& p);
void rope(float* x, int32_t n_heads, int32_t position, const RopeParams& p);

// Y[t][r] = sum_c W[r][c] * X[t][c] for t < n_tokens, all rows r of W, with fused
// dequantize-dot kernels (W is never expanded); quantized types run on activations
// quantized to 8 bits on the fly (kernels.h). matmul uses the active kernel table.
// `packed`, when given, is w repacked in groups of 8 rows (packed_weights.h); it is
// used when the table has packed kernels, else the plain rows are.
void matmul(const TensorView& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool,
            const uint8_t* packed = nullptr);
void matmul_with_kernels(const KernelTable& kernels, const TensorView& w, const float* x, int64_t n_tokens, float* y,
                         ThreadPool& pool, const uint8_t* packed = nullptr);

// Several matrices applied to the same x in one parallel pass (q/k/v, gate/up): x is
// quantized once and one hand-off to the threads covers all their rows. Each y is what
// matmul writes, bitwise. Up to 4 targets with the same width and activation format;
// others fall back to one pass each.
struct MatmulTarget {
    const TensorView* w = nullptr;
    float* y = nullptr;
    const uint8_t* packed = nullptr;  // w in groups of 8 rows, or nullptr
};
void matmul_targets(const KernelTable& kernels, const MatmulTarget* targets, int n_targets, const float* x,
                    int64_t n_tokens, ThreadPool& pool);

// Paged K/V for one layer. Values: element (block, slot, kv_dim index) at
// base + (block * block_size + slot) * kv_dim + index. Keys are stored transposed within
// each block, index-major: element (block, slot, index) at
// base + block * block_size * kv_dim + index * block_size + slot, so that the score
// kernel reads one dimension of many slots as a vector. T is float or uint16_t (fp16).
template <typename T>
struct PagedKV {
    const T* k = nullptr;
    const T* v = nullptr;
    int32_t block_size = 0;
    int64_t kv_dim = 0;
    const int32_t* block_table = nullptr;

    // The keys of the block holding logical position `pos`, starting at dimension `index`.
    const T* key_block(int32_t pos, int64_t index) const { return k + key_block_offset(pos) + index * block_size; }
    const T* value(int32_t pos) const { return v + offset(pos); }
    int64_t offset(int32_t pos) const {
        return (int64_t(block_table[pos / block_size]) * block_size + pos % block_size) * kv_dim;
    }
    int64_t key_block_offset(int32_t pos) const { return int64_t(block_table[pos / block_size]) * block_size * kv_dim; }
    int64_t key_offset(int32_t pos, int64_t index) const {
        return key_block_offset(pos) + index * block_size + pos % block_size;
    }
};

// Causal attention of n_queries (1..4) consecutive tokens of one sequence for one query
// head: query t sits at position first_position + t and attends to positions
// 0..first_position + t of the head's K/V (kv_head), read from the paged blocks in
// place. The scores go through the matmul kernel (dot_rows: keys as rows, queries as
// tokens), so a score does not depend on how many queries share the call. Query t is
// at q + t * q_stride, its output at out + t * out_stride; scores is scratch of
// n_queries * (first_position + n_queries) floats. T is float or uint16_t (fp16).
template <typename T>
void attention_queries(const float* q, int64_t q_stride, int n_queries, int32_t first_position, const PagedKV<T>& kv,
                       int32_t kv_head, int32_t head_dim, float* scores, float* out, int64_t out_stride);

// The most query rows (queries × heads) one pass over the keys serves (dot_rows' limit).
constexpr int kMaxAttentionRows = 12;

// GQA: n_queries consecutive tokens for `group` query heads sharing one KV head, in one
// pass over the keys and values (n_queries · group <= kMaxAttentionRows). Query (t, g)
// is at q + t * q_stride + g * head_dim, its output at out + t * out_stride + g * head_dim.
// Every output is bitwise what attention_queries gives for that head and token alone.
// scratch: n_rows * (first_position + n_queries) + 2 * n_rows * head_dim floats.
template <typename T>
void attention_group(const float* q, int64_t q_stride, int n_queries, int group, int32_t first_position,
                     const PagedKV<T>& kv, int32_t kv_head, int32_t head_dim, float* scratch, float* out,
                     int64_t out_stride);
inline int64_t attention_group_scratch(int n_rows, int32_t n_ctx, int32_t head_dim, int32_t block_size = 0) {
    return int64_t(n_rows) * n_ctx + 2 * int64_t(n_rows) * head_dim + 2 * int64_t(block_size) * head_dim;
}

// Paged K/V in an encoded type (bf16, q8_0, q4_0, fp8, ...): each slot holds its
// heads' K (and V) one after the other, each head row_bytes(type, head_dim) long:
// head h of the token at logical position pos at base + (block * block_size + slot) *
// slot_bytes + h * head_bytes.
struct EncodedPagedKV {
    const uint8_t* k = nullptr;
    const uint8_t* v = nullptr;
    DType type = DType::F16;
    int32_t block_size = 0;
    int64_t slot_bytes = 0;
    int64_t head_bytes = 0;
    const int32_t* block_table = nullptr;

    int64_t offset(int32_t pos, int32_t head) const {
        return (int64_t(block_table[pos / block_size]) * block_size + pos % block_size) * slot_bytes +
               head * head_bytes;
    }
};

// attention_group over encoded K/V: each block of the head's keys and values is
// decoded to f32 once per call (dequantize_row) and goes through the f32 kernels.
// group may be 1. scratch: attention_group_scratch(n_queries * group, n_ctx, head_dim, block_size).
void attention_encoded(const float* q, int64_t q_stride, int n_queries, int group, int32_t first_position,
                       const EncodedPagedKV& kv, int32_t kv_head, int32_t head_dim, float* scratch, float* out,
                       int64_t out_stride);

}  // namespace cpu
}  // namespace lumen
