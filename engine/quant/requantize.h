// Load-time quantization (mistral.rs calls it ISQ): a loaded model's matrices are
// re-encoded in memory in the types a quantization scheme gives them, so an F32,
// F16 or BF16 file runs as Q8_0, Q4_K_M, ... without a separate file. Each matrix
// goes through f32 a chunk of rows at a time with the same encoders as
// `lumen-cli quantize`, so the weights are byte for byte those of the quantized
// file (tested). Norms and biases keep their types.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "model/model.h"
#include "quant/quantize.h"

namespace lumen {

struct RequantizeReport {
    int32_t tensors_changed = 0;
    int64_t bytes_before = 0;  // weights, all tensors
    int64_t bytes_after = 0;
};

// What predicting a model's quantized size needs: every tensor's name, GGUF dims and
// type. Small, so a GUI keeps it to predict any format without the model.
struct WeightShapes {
    struct Tensor {
        std::string name;
        std::vector<int64_t> dims;  // GGUF order, dims[0] = row length
        DType type = DType::F32;
    };
    std::vector<Tensor> tensors;
    QuantModelShape model;
    int64_t bytes = 0;  // the weights as loaded (a tied output counted once)
};
WeightShapes weight_shapes(const Model& model);

// The weight bytes the model would have after requantize_model(scheme, mix), without doing it.
int64_t predicted_weight_bytes(const WeightShapes& shapes, QuantScheme scheme, const QuantMix& mix = {});
int64_t predicted_weight_bytes(const Model& model, QuantScheme scheme, const QuantMix& mix = {});

// Re-encodes model's matrices for `scheme`; the new bytes are owned by model.weights.
// Matrices already in their scheme type are left as they are.
// `mix` keeps chosen tensors in a higher-precision type (quantize.h).
Result<RequantizeReport> requantize_model(Model& model, QuantScheme scheme, int n_threads = 0,
                                          const QuantMix& mix = {});

}  // namespace lumen

namespace lumen {

// How far a tensor of one model is from the same tensor of another (the original):
// NMSE = sum (w - w0)^2 / sum w0^2 over its dequantized values.
struct TensorError {
    std::string name;
    DType type = DType::F32;  // in `model`
    DType original_type = DType::F32;
    int64_t elements = 0;
    double nmse = 0;
};

// Every matrix that `model` and `original` both have with the same shape, in GGUF order.
std::vector<TensorError> tensor_errors(const Model& model, const Model& original);

}  // namespace lumen
