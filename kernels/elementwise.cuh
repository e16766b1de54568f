// The small per-token ops of a llama layer on the GPU: RMSNorm (optionally fused with
// the residual add), RoPE, SwiGLU, and the conversions cuBLAS needs. Host-side
// declarations only; every function launches on `stream` and returns a CUDA error
// code (0 = cudaSuccess). All pointers are device memory, activations f32.
#pragma once

#include <cstdint>

typedef struct CUstream_st* cudaStream_t;

namespace lumen::cuda {

// out[t] = weight * x[t] / sqrt(mean(x[t]^2) + eps) for t < n_tokens rows of n.
// With residual != nullptr, first x[t] += residual[t] (in place), then the norm of the sum:
// one pass instead of an add and a norm.
int rms_norm(float* x, const float* residual, const float* weight, float* out, int32_t n_tokens, int32_t n, float eps,
             cudaStream_t stream);

// Rotates the first rope_dim dims of each head of x[t] ([n_tokens][n_heads * head_dim])
// by positions[t] / scale times frequencies[i] (rope_dim / 2 of them, precomputed on
// the host as the CPU does). neox: pairs (i, i + rope_dim / 2); else (2i, 2i + 1).
int rope(float* x, int32_t n_tokens, int32_t n_heads, int32_t head_dim, int32_t rope_dim, const int32_t* positions,
         const float* frequencies, float scale, bool neox, cudaStream_t stream);

// gate[i] = silu(gate[i]) * up[i], n elements.
int swiglu(float* gate, const float* up, int64_t n, cudaStream_t stream);

// x[t][i] += bias[i] for t < n_tokens rows of n (qwen2's q/k/v biases).
int add_bias(float* x, const float* bias, int32_t n_tokens, int32_t n, cudaStream_t stream);

// x[i] += y[i], n elements.
int add(float* x, const float* y, int64_t n, cudaStream_t stream);

// f32 -> fp16 / bf16 (round to nearest even), n elements; outputs are uint16_t storage.
int to_f16(const float* x, uint16_t* out, int64_t n, cudaStream_t stream);
int to_bf16(const float* x, uint16_t* out, int64_t n, cudaStream_t stream);

// dst[i] = src[rows[i]] for i < n_rows rows of n floats (the rows that want logits).
int gather_rows(const float* src, const int32_t* rows, int32_t n_rows, int32_t n, float* dst, cudaStream_t stream);

}  // namespace lumen::cuda
