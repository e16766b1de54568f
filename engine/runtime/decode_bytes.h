// Bandwidth accounting for decoding: the bytes one decode step of one sequence
// reads from memory. Achieved GB/s = bytes per token x tok/s / 1e9, which is
// compared with the machine's read-bandwidth ceiling (backend/cpu/bandwidth.h).
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "model/model.h"

namespace lumen {

struct DecodeBytes {
    int64_t weights = 0;          // read once per token, whatever the context
    int64_t kv_per_position = 0;  // K and V of one cached position, all layers
    // Bytes read for a token that attends to `context` positions (itself included).
    double at_context(double context) const { return double(weights) + double(kv_per_position) * context; }
};

// Weights: every matrix is read once per token except the token embedding, of
// which only the token's own row is read; a tied output projection reads the
// embedding in full once, as the output matrix. The f32 norm and bias vectors
// (a few KB) are counted too. KV: attention reads K and V of every position it
// attends to, n_layers x 2 x kv_dim x element bytes each. Activations stay in
// cache and the one K/V row written per layer is negligible, so neither counts.
DecodeBytes decode_bytes_per_token(const Model& model, DType kv_type);

}  // namespace lumen
