// GPTQ (Frantar et al. 2022, "GPTQ: Accurate Post-Training Quantization for
// Generative Pre-trained Transformers"): quantizes a weight matrix one column at a
// time and pushes each column's rounding error onto the columns not yet quantized,
// weighted by the inverse Hessian of the layer's squared output error, so that
// X W^T moves as little as possible on calibration activations X. Also
// round-to-nearest (RTN) on the same grid, as the baseline, and the error measure.
//
// The grid is affine per group of `group_size` consecutive columns of a row:
// value = d * q + m with an integer code q in [0, qmax]. Codes are
// q = clamp(nearbyint((w - m) / d), 0, qmax), nearbyint in the default rounding
// mode (round half to even), computed in double.
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"

namespace lumen {

class ThreadPool;

struct QuantGrid {
    int qmax = 15;  // codes are 0..qmax; at most 255 (codes are bytes)
    // symmetric: m = -zero_code * d with zero_code = (qmax + 1) / 2 and
    //   d = absmax / (qmax - zero_code), so +absmax lands on qmax. Only d is stored;
    //   m is derived in float (exactly, with fp16_params). For qmax = 15 code 0 stays free for GPTQ's
    //   compensation to reach below -absmax; int8 uses qmax = 254, zero_code 127.
    // asymmetric: d = (max - min) / qmax and m = min of the group.
    bool symmetric = true;
    int group_size = 32;      // columns per group; 0 = one group per row. A last group may be partial.
    bool fp16_params = true;  // d and m go through IEEE half before use, as the storage formats keep them
};

// Whether the grid can be used (qmax in range, group_size >= 0); says why not.
Status validate_grid(const QuantGrid& grid);

// A [rows][cols] matrix on a grid. scales/offsets are exactly the d and m that
// produced the codes, so value() is bit for bit what the quantizer compensated for.
struct GroupQuantized {
    int64_t rows = 0, cols = 0;
    int64_t group_size = 0;  // as in QuantGrid, 0 = whole row
    int64_t groups_per_row = 0;
    int qmax = 0;
    std::vector<float> scales;   // [rows][groups_per_row], d
    std::vector<float> offsets;  // [rows][groups_per_row], m
    std::vector<uint8_t> codes;  // [rows][cols], each in [0, qmax]

    int64_t group_of(int64_t c) const { return group_size == 0 ? 0 : c / group_size; }
    float value(int64_t r, int64_t c) const;  // d * q + m
    std::vector<float> dequantized() const;   // [rows][cols]
};

// ---------------------------------------------------------------- Hessian

// Accumulates H = (2/n) X^T X over calibration activations X [n][cols] that
// arrive in batches (a few hundred tokens at a time). Sums in double.
class HessianAccumulator {
public:
    explicit HessianAccumulator(int64_t cols);
    // x: [n][cols] row-major. Rejects NaN/Inf (they would poison every later column).
    Status add(const float* x, int64_t n, ThreadPool* pool = nullptr);
    int64_t cols() const { return cols_; }
    int64_t samples() const { return samples_; }
    // (2/samples) X^T X, [cols][cols] row-major, symmetric; all zero before any sample.
    std::vector<double> finish() const;

private:
    int64_t cols_ = 0;
    int64_t samples_ = 0;
    std::vector<double> sum_;  // upper triangle of X^T X
};

// One-shot form of HessianAccumulator; x [n][cols]. Empty on invalid input.
std::vector<double> hessian_from_activations(const float* x, int64_t n, int64_t cols, ThreadPool* pool = nullptr);

// ---------------------------------------------------------------- quantizers

Result<GroupQuantized> rtn_quantize(const float* w, int64_t rows, int64_t cols, const QuantGrid& grid);

struct GptqOptions {
    QuantGrid grid;
    double damp_percent = 0.01;  // H += damp_percent * mean(diag H) * I
    int block_size = 128;        // lazy-batch width; without act_order rounded up to whole groups
    // Process columns by descending diag(H). Groups stay consecutive original columns;
    // their params are then fixed up front from the weights ("static groups"),
    // because a group's columns are scattered over the processing order.
    bool act_order = false;
};

// w: [rows][cols] row-major; hessian: [cols][cols] (e.g. HessianAccumulator::finish()).
// Without act_order a group's params come from its columns' current, already
// compensated weights when its first column is reached (static_groups=False).
// Dead columns (H[i][i] == 0) are quantized as zeros. Fails with a Status if the
// damped Hessian is not positive definite.
Result<GroupQuantized> gptq_quantize(const float* w, int64_t rows, int64_t cols, const std::vector<double>& hessian,
                                     const GptqOptions& options, ThreadPool* pool = nullptr);

// The upper Cholesky factor U of H^-1 (U^T U = H^-1), [n][n] row-major: the matrix
// GPTQ's column loop reads. Exposed for tests; gptq_quantize damps H first.
Result<std::vector<double>> inverse_hessian_factor(const std::vector<double>& h, int64_t n, ThreadPool* pool = nullptr);

// ||X W^T - X Wq^T||^2: summed over the n rows of X [n][cols] and all `rows`
// outputs; W and Wq are [rows][cols]. NaN on empty or null input.
double reconstruction_error(const float* x, int64_t n, int64_t cols, const float* w, const float* wq, int64_t rows,
                            ThreadPool* pool = nullptr);

}  // namespace lumen
