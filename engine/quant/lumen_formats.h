// Encoders for Lumen's own weight formats (core/dtype.h, numbered from 1000): INT8
// per channel, INT4 groups (symmetric and with a zero point), FP8 E4M3 with a
// per-channel or per-tensor scale, and plain FP8 for the KV cache. GGUF cannot
// hold them; they come from load-time quantization. Every format is an affine grid
// per group, w = d * q + m with integer codes q in [0, qmax], so round-to-nearest
// and GPTQ (quant/gptq.h) write the same bytes from (d, m, codes).
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "model/weights.h"
#include "quant/gptq.h"

namespace lumen {

bool is_lumen_format(DType type);

// LLM.int8's threshold: activation values above it in magnitude stay f32 (int8-w8a8).
constexpr float kDefaultOutlierThreshold = 6.0f;
// Writes `threshold` into every row header of an int8-w8a8 matrix (others: no change).
void set_outlier_threshold(TensorView& t, float threshold);
// The scale is one value for the whole tensor (F8_E4M3_T): encoders need its absmax.
bool has_tensor_scale(DType type);

// Round-to-nearest encoding of n values (a whole row: per-channel types put their
// scale in the row header). tensor_absmax is used by has_tensor_scale types only.
void encode_lumen_row(DType type, const float* src, uint8_t* dst, int64_t n, float tensor_absmax);

// The integer grid of `type` (quant/gptq.h), or false for types that are not an affine
// integer grid (floats, fp8, the k-quants' two-level scales).
bool quant_grid_for_type(DType type, QuantGrid* grid);

// Writes one row of `type` from its grid: per group g, scale d[g] and offset m[g]
// (as the grid computed them), codes[i] in 0..qmax. Only types with a grid.
void encode_row_from_codes(DType type, const float* d, const float* m, const uint8_t* codes, uint8_t* dst, int64_t n);

}  // namespace lumen
