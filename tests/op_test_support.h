// Helpers shared by the kernel and op tests: random inputs and weight rows,
// the NMSE error measure, and output buffers with guard values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "core/dtype.h"

namespace lumen::test {

std::vector<float> random_floats(size_t n, std::mt19937& rng, float lo = -1.f, float hi = 1.f);

// NMSE = sum((ref - got)^2) / sum(ref^2); infinite when `got` holds a NaN or an
// infinity, so such output never passes.
double nmse(const float* got, const double* ref, size_t n);

// Random but valid rows of a weight type: random quant bytes, scale fields set to small finite halves.
std::vector<uint8_t> random_weight_bytes(DType type, int64_t rows, int64_t cols, std::mt19937& rng);

// An output buffer with sentinel floats before and after, to catch out-of-bounds writes.
class Guarded {
public:
    explicit Guarded(size_t n) : n_(n), buf_(n + 2 * kGuard, kSentinel) {}
    float* data() { return buf_.data() + kGuard; }
    size_t size() const { return n_; }
    bool guards_intact() const {
        for (size_t i = 0; i < kGuard; ++i)
            if (buf_[i] != kSentinel || buf_[kGuard + n_ + i] != kSentinel) return false;
        return true;
    }

private:
    static constexpr size_t kGuard = 64;
    static constexpr float kSentinel = -31337.25f;
    size_t n_;
    std::vector<float> buf_;
};

}  // namespace lumen::test
