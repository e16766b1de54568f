// Matrix products over GpuMatrix weights (gpu_weights.h), launched on a stream.
// Host-side declarations only, so that the engine's C++ includes this header.
#pragma once

#include <cstdint>

#include "gpu_weights.h"

typedef struct CUstream_st* cudaStream_t;

namespace lumen::cuda {

// The most tokens one gemv launch multiplies (the decode path); more go through
// dequantize_to_f16 and cuBLAS.
constexpr int kGemvMaxTokens = 8;

// y[t][r] = sum_c W[r][c] * x[t][c] for t < n_tokens (1..kGemvMaxTokens), every row r.
// x: [n_tokens][w.cols] f32, y: [n_tokens][w.rows] f32 (row stride w.rows). Weights are
// decoded in registers (quant_decode.cuh), never expanded in memory. Returns a CUDA
// error code (0 = cudaSuccess) from the launch.
int gemv(const GpuMatrix& w, const float* x, int n_tokens, float* y, cudaStream_t stream);

// W decoded into out[rows][cols] fp16 (uint16_t storage), for cuBLAS prefill.
int dequantize_to_f16(const GpuMatrix& w, uint16_t* out, cudaStream_t stream);

// Embedding gather: out[t][0..cols) = row tokens[t] of w decoded to f32, t < n_tokens.
// tokens is device memory; out-of-range ids write zeros (the engine checks ids first).
int embedding_rows(const GpuMatrix& w, const int32_t* tokens, int n_tokens, float* out, cudaStream_t stream);

}  // namespace lumen::cuda
