// Load-time quantization (mistral.rs calls it ISQ): a loaded model's matrices are
// re-encoded in memory in the types a quantization scheme gives them, so an F32,
// F16 or BF16 file runs as Q8_0, Q4_K_M, ... without a separate file. Each matrix
// goes through f32 a chunk of rows at a time with the same encoders as
// `lumen-cli quantize`, so the weights are byte for byte those of the quantized
// file (tested). Norms and biases keep their types.
#pragma once

#include <string>

#include "core/status.h"
#include "model/model.h"
#include "quant/quantize.h"

namespace lumen {

struct RequantizeReport {
    int32_t tensors_changed = 0;
    int64_t bytes_before = 0;  // weights, all tensors
    int64_t bytes_after = 0;
};

// The weight bytes the model would have after requantize_model(scheme), without doing it.
int64_t predicted_weight_bytes(const Model& model, QuantScheme scheme);

// Re-encodes model's matrices for `scheme`; the new bytes are owned by model.weights.
// Matrices already in their scheme type are left as they are.
Result<RequantizeReport> requantize_model(Model& model, QuantScheme scheme, int n_threads = 0);

}  // namespace lumen
