// The CPU backend's hot kernels behind one table per instruction-set level:
// the matrix-row dot products (every weight type, fused dequantize-dot, never a
// whole matrix expanded) and the on-the-fly 8-bit quantization of activations.
// The scalar table is the readable reference; faster tables (AVX2, ...) must
// agree with it (tests/test_cpu_kernels.cpp) and are picked once at start-up.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/dtype.h"

namespace lumen::cpu {

// ---------------------------------------------------------------- activation formats

// What a weight type multiplies with. The 32-block formats meet activations
// quantized to 8 bits per 32 values (llama.cpp's Q8_0, or Q8_1 with the block
// sum for the formats with a minimum); the k-quants meet 8 bits per 256 values
// with 16-value partial sums (Q8_K); plain float weights meet f32 activations.
// int8-w8a8 weights (LLM.int8) meet i8_outlier activations (ActivationRowI8 below);
// Lumen's W8A16/W4A16 integer formats (int8-ch, int4-g*) meet 16-bit activations (i16).
enum class ActivationFormat { f32, q8, q8k, i8_outlier, i16 };
ActivationFormat activation_format(DType weight_type);

struct ActivationBlockQ8 {
    float d;  // scale, rounded through fp16 as the block format stores it
    float s;  // d * sum(qs), rounded through fp16 (used by q4_1/q5_1)
    // 8 * sum(qs[i]) over i % 4 < 2, and over i % 4 >= 2, exact (|.| <= 16256): the packed
    // Q4_0 kernel takes its offset of 8 off each int16 pair sum with one subtraction.
    int16_t sum8[2];
    int8_t qs[32];
};

struct ActivationBlockQ8K {
    float d;  // scale (f32)
    int8_t qs[256];
    int16_t bsums[16];  // sums of qs over each run of 16
};

// One token's activations for int8-w8a8 weights, LLM.int8's mixed-precision
// decomposition: the values whose magnitude exceeds the threshold stay f32 as
// (column, value) pairs and are zero in the int8 part; the rest are int8 with one
// scale per token (absmax / 127). Laid out as this header, then int8 q[n rounded up
// to 32, zero-padded], then n_outliers pairs (room for n).
struct ActivationRowI8 {
    float scale;
    int32_t n_outliers;
};
struct ActivationOutlier {
    int32_t column;
    float value;
};
void quantize_i8_outlier(const float* x, int64_t n, float threshold, uint8_t* out);
inline const int8_t* i8_values(const uint8_t* row) {
    return reinterpret_cast<const int8_t*>(row + sizeof(ActivationRowI8));
}
inline const ActivationOutlier* i8_outliers(const uint8_t* row, int64_t n) {
    return reinterpret_cast<const ActivationOutlier*>(row + sizeof(ActivationRowI8) + size_t((n + 31) / 32 * 32));
}

// One token's 16-bit activations for int8-ch and int4-g* weights: int16 with one scale
// per token (absmax / 32767, a relative step of 1.5e-5 of the largest value: finer than
// the weights' by far), so that the dot products run in integers (madd_epi16). Laid out
// as this header, then int16 q[n rounded up to 32, zero-padded], then the int32 sums of
// q over each run of 32 (the int4 formats' offsets take them).
struct ActivationRowI16 {
    float scale;
    float unused;  // keeps q 8-byte aligned
};
void quantize_i16(const float* x, int64_t n, uint8_t* out);
inline const int16_t* i16_values(const uint8_t* row) {
    return reinterpret_cast<const int16_t*>(row + sizeof(ActivationRowI16));
}
inline const int32_t* i16_block_sums(const uint8_t* row, int64_t n) {
    return reinterpret_cast<const int32_t*>(row + sizeof(ActivationRowI16) + 2 * size_t((n + 31) / 32 * 32));
}

// Bytes of one token's activations in `format` for a row of n inputs.
size_t activation_row_bytes(ActivationFormat format, int64_t n);

// ---------------------------------------------------------------- instruction-set levels

// avx512: F, BW, VL and DQ; avx512_vnni adds VNNI. Both are the AVX2 table with their
// own packed-layout kernels (kernels_avx512.inc).
enum class CpuLevel { scalar, avx2, avx512, avx512_vnni };
const char* cpu_level_name(CpuLevel level);

// Up to this many tokens share one pass over a weight row (weights unpacked once).
constexpr int kMaxTokensPerRowPass = 4;
// dot_packed8 takes up to this many tokens for Q4_0 (kMaxTokensPerRowPass for the other types).
constexpr int kMaxTokensPerPackedQ4_0Pass = 8;
// dot_rows takes up to this many tokens and tiles them as its level likes.
constexpr int kMaxTokensPerRowsPass = 12;

// Weight streams ask for their bytes 2 KiB ahead: with the hardware prefetcher alone,
// decode stayed 10-20% further from the memory ceiling on Zen 3 (A/B runs of tg64 on
// the 1.1B shape: 2 KiB beat none, 0.5, 1 and 4 KiB). One request per 64 bytes.
// Shared by every SIMD level's weight streams.
constexpr int kPrefetchAhead = 2048;

struct KernelTable {
    CpuLevel level;
    float (*dot_f32)(const float* a, const float* b, int64_t n);
    // y += alpha * x, over f32 or fp16 x (attention's value sums).
    void (*axpy_f32)(float alpha, const float* x, float* y, int64_t n);
    void (*axpy_f16)(float alpha, const uint16_t* x, float* y, int64_t n);
    // Four cache positions into n_out outputs at once, each value vector widened once:
    // output o (at y + o * y_stride) += alpha[o * alpha_stride + j] * values[j] for
    // j = 0..3 in turn (the roundings of four axpy_f16 calls).
    void (*axpy4_f16)(const float* alpha, int64_t alpha_stride, int n_out, const uint16_t* const values[4], float* y,
                      int64_t y_stride, int64_t n);
    // x = softmax(x) over n values.
    void (*softmax)(float* x, int64_t n);
    // out = silu(gate) * up; and fp16 (round to nearest even) of n floats, for the KV cache.
    void (*silu_mul)(const float* gate, const float* up, float* out, int64_t n);
    void (*f32_to_f16)(const float* x, uint16_t* out, int64_t n);
    // Quantize one row of n activations (n a multiple of 32, resp. 256).
    void (*quantize_q8)(const float* x, int64_t n, ActivationBlockQ8* out);
    void (*quantize_q8k)(const float* x, int64_t n, ActivationBlockQ8K* out);
    // y[t] = <weight row, activations of token t> for t < n_tokens (1..kMaxTokensPerRowPass).
    // Token t's activations start at x + t * x_stride bytes, in activation_format(type).
    void (*dot_row)(DType type, const uint8_t* row, const uint8_t* x, size_t x_stride, int n_tokens, int64_t n,
                    float* y);
    // dot_row over n_rows consecutive rows (row_stride bytes apart) and n_tokens
    // (1..kMaxTokensPerRowsPass), written as the matmul output is laid out: row r for
    // token t at y[t * y_stride + r]. A level may tile rows
    // and tokens as it likes, but every result equals dot_row's bitwise, so a token's
    // logits never depend on the batch it was in.
    void (*dot_rows)(DType type, const uint8_t* rows, size_t row_stride, int n_rows, const uint8_t* x, size_t x_stride,
                     int n_tokens, int64_t n, float* y, int64_t y_stride);
    // The same for a group of 8 rows in the packed layout (packed_weights.h), for every
    // packable type: y[t * 8 + r] for row r of the group and token t (up to
    // kMaxTokensPerPackedQ4_0Pass tokens for Q4_0). nullptr when this
    // level has no packed kernels; weights are then not repacked.
    void (*dot_packed8)(DType type, const uint8_t* group, const uint8_t* x, size_t x_stride, int n_tokens, int64_t n,
                        float* y);
    // Attention scores against keys stored transposed (the KV cache's key layout):
    // dimension d of slot s at keys[d * key_stride + s], f32 or fp16 (type F32 or F16).
    // out[r * out_stride + s] = sum over d of q_r[d] * key_s[d] for n_rows query rows
    // (q_r at q + r * q_stride) and n_slots slots, each accumulated from 0 in d order with
    // one fused multiply-add per d: a score never depends on the other rows or slots.
    void (*key_scores)(DType type, const void* keys, int64_t key_stride, int n_slots, const float* q, int64_t q_stride,
                       int n_rows, int64_t head_dim, float* out, int64_t out_stride);
};

// dot_rows done as calls of a level's dot_row, row by row, up to kMaxTokensPerRowPass
// tokens each: the scalar table's dot_rows, and faster tables' for the block formats.
using DotRowFn = void (*)(DType type, const uint8_t* row, const uint8_t* x, size_t x_stride, int n_tokens, int64_t n,
                          float* y);
void dot_rows_by_row(DotRowFn dot_row, DType type, const uint8_t* rows, size_t row_stride, int n_rows, const uint8_t* x,
                     size_t x_stride, int n_tokens, int64_t n, float* y, int64_t y_stride);

// Levels this CPU can run, scalar first.
std::vector<CpuLevel> supported_cpu_levels();
const KernelTable& kernel_table(CpuLevel level);  // the level must be supported
// The table in use: the best supported level, or LUMEN_CPU_LEVEL=scalar|avx2|avx512|avx512_vnni when set
// (and supported). Chosen once.
const KernelTable& active_kernels();

// Per-level tables, defined in kernels_<level>.cpp.
const KernelTable& scalar_kernels();
#if defined(__x86_64__)
const KernelTable& avx2_kernels();
namespace avx512 {
const KernelTable& kernels();
}
namespace avx512_vnni {
const KernelTable& kernels();
}
#endif

}  // namespace lumen::cpu
