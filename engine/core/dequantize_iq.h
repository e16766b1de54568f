// Block dequantizers of llama.cpp's i-quants, for dequantize_row (core/dtype.h).
// Each reads one block in its GGUF layout and writes the block's weights as f32,
// bit for bit what ggml's dequantize_row_iq* and gguf-py's dequantizers produce.
#pragma once

#include <cstdint>

namespace lumen::iq {

void dequantize_iq4_nl(const uint8_t* block, float* out);  // 32 weights
void dequantize_iq4_xs(const uint8_t* block, float* out);  // 256 weights, as every type below
void dequantize_iq3_xxs(const uint8_t* block, float* out);
void dequantize_iq3_s(const uint8_t* block, float* out);
void dequantize_iq2_xxs(const uint8_t* block, float* out);
void dequantize_iq2_xs(const uint8_t* block, float* out);
void dequantize_iq2_s(const uint8_t* block, float* out);
void dequantize_iq1_s(const uint8_t* block, float* out);
void dequantize_iq1_m(const uint8_t* block, float* out);

}  // namespace lumen::iq
