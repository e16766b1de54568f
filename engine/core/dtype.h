// Tensor element types as GGUF/ggml numbers them, their block layouts, and the
// reference dequantizers. Block layouts follow the GGUF spec byte for byte, so
// that files written by llama.cpp and by Lumen are interchangeable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lumen {

enum class DType : uint32_t {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    // llama.cpp's i-quants (lattice grids and non-linear values) and ternary formats.
    // Lumen reads these, and Q2_K and Q3_K, through dequantize_row; it does not write them.
    IQ2_XXS = 16,
    IQ2_XS = 17,
    IQ3_XXS = 18,
    IQ1_S = 19,
    IQ4_NL = 20,
    IQ3_S = 21,
    IQ2_S = 22,
    IQ4_XS = 23,
    IQ1_M = 29,
    BF16 = 30,
    TQ1_0 = 34,
    TQ2_0 = 35,
    // Lumen's own formats, numbered outside ggml's range: GGUF cannot hold them, so
    // they exist only in memory (load-time quantization, the KV cache).
    I8_CH = 1000,   // int8 per output channel: f32 scale s heads the row, w = s * q
    I4_G32 = 1001,  // int4 symmetric groups: f16 d, G/2 bytes, w = d * (q - 8)
    I4_G64 = 1002,
    I4_G128 = 1003,
    I4Z_G32 = 1004,  // int4 asymmetric groups: f16 d, f16 m, G/2 bytes, w = d * q + m
    I4Z_G64 = 1005,
    I4Z_G128 = 1006,
    F8_E4M3_CH = 1007,  // fp8 e4m3 per output channel: f32 scale heads the row, w = s * e4m3(q)
    F8_E4M3_T = 1008,   // the same with one scale per tensor (repeated in each row's header)
    F8_E4M3 = 1009,     // plain fp8 values (the KV cache)
    F8_E5M2 = 1010,
    // LLM.int8 (W8A8 with outlier decomposition): int8 per output channel, the row header
    // holds the f32 scale s and the f32 outlier threshold; activations meet it as int8
    // except the values above the threshold, which stay f32 (ActivationFormat::i8_outlier).
    I8_W8A8 = 1011,
};

struct DTypeTraits {
    DType type;
    const char* name;      // "q4_k", as llama.cpp prints it
    int block_elements;    // elements per block (1 for plain floats)
    int block_bytes;       // bytes per block
    int row_header_bytes;  // bytes before a row's first block (a per-row scale), 0 for GGUF types
    bool in_gguf;          // a ggml type that GGUF files hold
};

// Traits for a supported GGUF type, or nullopt for a ggml type number Lumen does not read.
std::optional<DTypeTraits> dtype_traits(uint32_t ggml_type);
// The names of the GGUF types Lumen reads, "f32, f16, ...", for error messages.
std::string gguf_type_names();
const DTypeTraits& traits(DType type);
const char* dtype_name(DType type);
std::optional<DType> dtype_from_name(std::string_view name);  // "f32", "q8_0", ...

// Lumen's int4 groups with a zero point (w = d*q + m), int4-asym-g*.
inline bool is_int4_asymmetric(DType type) {
    return type == DType::I4Z_G32 || type == DType::I4Z_G64 || type == DType::I4Z_G128;
}

// Every type, GGUF's first.
std::vector<DType> all_dtypes();

// Bytes taken by a row of n elements; n must be a multiple of the block size.
size_t row_bytes(DType type, int64_t n);
// Bits per weight including scales, e.g. 4.5 for Q4_0; a row header (per-channel
// scale) is spread over a row of `row_length` elements.
double bits_per_weight(DType type, int64_t row_length = 4096);

// Dequantize one row of n elements (n a multiple of the block size) to f32.
void dequantize_row(DType type, const void* src, float* dst, int64_t n);

// Scalar conversions (IEEE half, bfloat16), round-to-nearest-even on the way down.
float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);
float bf16_to_fp32(uint16_t h);
uint16_t fp32_to_bf16(float f);
// FP8 (OCP): e4m3 has no infinities and saturates at +-448; e5m2 is the upper byte of
// an fp16 and saturates at +-57344. Round to nearest even, NaN stays NaN.
float fp8_e4m3_to_fp32(uint8_t v);
uint8_t fp32_to_fp8_e4m3(float f);
float fp8_e5m2_to_fp32(uint8_t v);
uint8_t fp32_to_fp8_e5m2(float f);
constexpr float kFp8E4M3Max = 448.f;

}  // namespace lumen
