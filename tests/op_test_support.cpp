// Helpers shared by the kernel and op tests (see op_test_support.h).
#include "op_test_support.h"

#include <cmath>
#include <cstring>

#include "quant/quantize.h"

namespace lumen::test {

std::vector<float> random_floats(size_t n, std::mt19937& rng, float lo, float hi) {
    std::uniform_real_distribution<float> uni(lo, hi);
    std::vector<float> v(n);
    for (auto& x : v) x = uni(rng);
    return v;
}

double nmse(const float* got, const double* ref, size_t n) {
    double err = 0, norm = 0;
    for (size_t i = 0; i < n; ++i) {
        if (!std::isfinite(got[i])) return INFINITY;
        err += (ref[i] - got[i]) * (ref[i] - got[i]);
        norm += ref[i] * ref[i];
    }
    return norm > 0 ? err / norm : err;
}

std::vector<uint8_t> random_weight_bytes(DType type, int64_t rows, int64_t cols, std::mt19937& rng) {
    const auto& tr = traits(type);
    std::vector<uint8_t> b(size_t(rows) * row_bytes(type, cols));
    if (!tr.in_gguf) {  // Lumen's formats: scales and codes as their encoder writes them
        std::uniform_real_distribution<float> uni(-1.f, 1.f);
        std::vector<float> values(size_t(rows * cols));
        for (float& v : values) v = uni(rng);
        if (!quantize_rows(type, values.data(), b.data(), rows, cols, 1).is_ok()) b.clear();
        return b;
    }
    for (auto& x : b) x = uint8_t(rng());
    std::uniform_real_distribution<float> scale(0.002f, 0.03f), offset(-0.1f, 0.1f), uni(-1.f, 1.f);
    auto set_u16 = [&](size_t at, uint16_t h) {
        b[at] = uint8_t(h);
        b[at + 1] = uint8_t(h >> 8);
    };
    auto set_half = [&](size_t at, float v) { set_u16(at, fp32_to_fp16(v)); };
    const size_t n_blocks = b.size() / size_t(tr.block_bytes);
    for (size_t k = 0; k < n_blocks; ++k) {
        const size_t at = k * size_t(tr.block_bytes);
        switch (type) {
            case DType::F32: {
                const float v = uni(rng);
                std::memcpy(&b[at], &v, 4);
                break;
            }
            case DType::F16: set_half(at, uni(rng)); break;
            case DType::BF16: set_u16(at, fp32_to_bf16(uni(rng))); break;
            case DType::Q4_1:
            case DType::Q5_1:
                set_half(at, scale(rng));
                set_half(at + 2, offset(rng));
                break;
            case DType::Q4_K:
            case DType::Q5_K:
                set_half(at, scale(rng) / 8);
                set_half(at + 2, scale(rng) / 8);
                break;
            case DType::Q6_K: set_half(at + 208, scale(rng) / 16); break;
            default: set_half(at, scale(rng)); break;  // Q4_0, Q5_0, Q8_0: d first
        }
    }
    return b;
}

}  // namespace lumen::test
