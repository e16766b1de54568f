// Dot products of 32-element-block quantized weight rows with activations
// quantized on the fly to 8 bits, the way llama.cpp's vec_dot does (Q8_0
// activations for Q4_0/Q5_0/Q8_0 weights, Q8_1 with its block sum for Q4_1/Q5_1).
// Doing the same arithmetic is what makes greedy output match llama.cpp token
// for token on quantized models; it is also the form the fast kernels take.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace lumen::cpu {

struct ActivationBlockQ8 {
    float d;          // scale, rounded through fp16 as the block format stores it
    float s;          // d * sum(qs), rounded through fp16 (used by Q4_1/Q5_1)
    int8_t qs[32];
};

// True for weight types whose matmul runs on 8-bit activations.
bool uses_q8_activations(DType weight_type);
// n must be a multiple of 32.
void quantize_activations_q8(const float* x, int64_t n, ActivationBlockQ8* out);
float dot_q8(DType weight_type, const void* weight_row, const ActivationBlockQ8* x, int64_t n);

}  // namespace lumen::cpu
