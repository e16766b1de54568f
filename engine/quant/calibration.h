// Calibrated quantization of a loaded model: calibration text runs through the
// unquantized model, every matrix input's Hessian H = (2/n) X^T X is collected
// (Backend::set_activation_observer), and each matrix is quantized with GPTQ
// (quant/gptq.h) on its target type's grid. The same Hessians give the per-matrix
// reconstruction error ||X W^T - X Wq^T||^2 = (n/2) sum_r (w_r - wq_r)^T H (w_r - wq_r)
// for round-to-nearest and for GPTQ, without keeping X. Calibration is one-shot:
// every layer sees the unquantized model's activations.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "quant/quantize.h"

namespace lumen {

class Engine;
struct Model;

struct CalibrationOptions {
    // Plain text; every Debian system has this public licence text (base-files).
    std::string text_path = "/usr/share/common-licenses/GPL-3";
    int32_t samples = 8;  // sequences of sample_tokens tokens
    int32_t sample_tokens = 256;
    double damp_percent = 0.01;                  // GPTQ's dampening of H
    int64_t memory_budget = int64_t(512) << 20;  // Hessian bytes held at once (layers per pass)
    bool apply_gptq = true;                      // false: keep round-to-nearest weights, only measure
};

// One matrix's error on the calibration activations, relative to ||X W^T||^2.
struct MatrixQuantError {
    std::string name;
    DType type = DType::F32;
    double rtn = 0;    // round-to-nearest on the type's grid (or the type's own encoder)
    double gptq = -1;  // GPTQ; -1 where the type has no integer grid (k-quants, fp8, floats)
    // The weights kept, through the backend's kernels (activation quantization included),
    // on up to kKernelSampleTokens calibration tokens: ||X W^T - matmul(Wq, X)||^2 / ||X W^T||^2.
    double kernel = -1;
    double kernel_no_outliers = -1;  // int8-w8a8 only: the same with no outlier split (plain W8A8)
};
constexpr int64_t kKernelSampleTokens = 256;

struct CalibrationReport {
    int64_t calibration_tokens = 0;
    double seconds = 0;
    std::vector<MatrixQuantError> matrices;  // the layers' matrices, in order
};

// Quantizes `model` (which `engine` runs) for scheme/mix: GPTQ where
// options.apply_gptq and the type has a grid, round-to-nearest otherwise; always
// measures both errors, and the kept weights' error through the kernels.
// Matrices without observed inputs (embedding, output) go through requantize_model.
// The caller re-uploads the model to the backend afterwards.
Result<CalibrationReport> calibrate_and_quantize(Engine& engine, Model& model, QuantScheme scheme, const QuantMix& mix,
                                                 const CalibrationOptions& options,
                                                 const std::function<bool(float)>& on_progress = {});

}  // namespace lumen
