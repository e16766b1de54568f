// Tensor element types as GGUF/ggml numbers them, their block layouts, and the
// reference dequantizers. Block layouts follow the GGUF spec byte for byte, so
// that files written by llama.cpp and by Lumen are interchangeable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace lumen {

enum class DType : uint32_t {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    BF16 = 30,
};

struct DTypeTraits {
    DType type;
    const char* name;        // "q4_k", as llama.cpp prints it
    int block_elements;      // elements per block (1 for plain floats)
    int block_bytes;         // bytes per block
};

// Traits for a supported type, or nullopt for a ggml type number Lumen does not read.
std::optional<DTypeTraits> dtype_traits(uint32_t ggml_type);
const DTypeTraits& traits(DType type);
const char* dtype_name(DType type);
std::optional<DType> dtype_from_name(std::string_view name);  // "f32", "q8_0", ...

// Bytes taken by a row of n elements; n must be a multiple of the block size.
size_t row_bytes(DType type, int64_t n);
// Bits per weight including scales, e.g. 4.5 for Q4_0.
double bits_per_weight(DType type);

// Dequantize one row of n elements (n a multiple of the block size) to f32.
void dequantize_row(DType type, const void* src, float* dst, int64_t n);

// Scalar conversions (IEEE half, bfloat16), round-to-nearest-even on the way down.
float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);
float bf16_to_fp32(uint16_t h);
uint16_t fp32_to_bf16(float f);

}  // namespace lumen
