// Weight matrices as the CUDA kernels read them. Plain C++ (no CUDA syntax): the
// engine's host code repacks each GGUF matrix into this layout once, at upload, and
// the kernels (quant_decode.cuh) decode it in registers.
//
// Every format splits a row into chunks of 32 consecutive elements. Chunk c of row r
// (c < cols / 32) is read from up to four arrays, each indexed by the chunk's flat
// number i = r * (cols / 32) + c so that neighbouring lanes of a warp read neighbouring
// bytes, and the main array's chunk stride is a power of two (16-byte vector loads):
//
//   format   qs (per chunk)                 qh (per chunk)   meta (per chunk)      super (per 256 elements, i / 8)
//   f32      32 floats (128 B)              -                -                     -
//   f16      32 halves (64 B)               -                -                     -
//   bf16     32 bfloat16 (64 B)             -                -                     -
//   q8_0     32 int8 (32 B)                 -                half d                -
//   q4_0     16 B nibbles                   -                half d                -
//   q4_1     16 B nibbles                   -                half d, half m        -
//   q4_k     16 B nibbles                   -                uint8 sc, uint8 m     half d, half dmin
//   q6_k     16 B nibbles (low 4 bits)      8 B (high 2)     int8 sc[2]            half d
//   fp8      32 e4m3 codes (32 B)           -                -                     - (one float per row: row_scale)
//
// Nibbles: byte j (0..15) holds element j in its low 4 bits and element j + 16 in its
// high 4 bits (GGUF's q4_0 order). q6_k's high bits: element e's are bits
// 2 * (e / 8) .. 2 * (e / 8) + 1 of qh byte e % 8. Values:
//   q8_0  d * q                       q4_0  d * (q - 8)            q4_1  d * q + m
//   q4_k  (d * sc) * q - (dmin * m)   q6_k  d * sc[e / 16] * (q - 32)
//   fp8   row_scale[r] * e4m3(code)
// Each is computed in f32 exactly as the CPU reference (engine/core/dtype.cpp) does,
// so a decoded weight equals the reference's bit for bit.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lumen::cuda {

// Values are the engine's DType numbers (GGUF's, Lumen's from 1000).
enum class WeightFormat : uint32_t {
    f32 = 0,
    f16 = 1,
    q4_0 = 2,
    q4_1 = 3,
    q8_0 = 8,
    q4_k = 12,
    q6_k = 14,
    bf16 = 30,
    fp8_e4m3 = 1007,  // Lumen's fp8-e4m3-ch and fp8-e4m3-tensor (a scale per row)
};

constexpr int kChunk = 32;   // elements per chunk
constexpr int kSuper = 256;  // elements per super-block (k-quants)

// The format the kernels read for an engine DType number, or false: the engine then
// converts that matrix to f16 at upload. fp8-e4m3-tensor (1008) maps to fp8_e4m3.
bool weight_format_for(uint32_t dtype, WeightFormat* format);
// The smallest row length a format takes (32, or 256 for the k-quants).
int64_t format_row_multiple(WeightFormat format);

// Byte sizes of the four arrays for a rows × cols matrix (0 where a format has none).
struct GpuMatrixBytes {
    size_t qs = 0, qh = 0, meta = 0, super = 0, row_scale = 0;
    size_t total() const { return qs + qh + meta + super + row_scale; }
};
GpuMatrixBytes gpu_matrix_bytes(WeightFormat format, int64_t rows, int64_t cols);

// A matrix in this layout; the pointers are device memory (or host memory, for the
// host-side tests of the decoders).
struct GpuMatrix {
    WeightFormat format = WeightFormat::f32;
    int64_t rows = 0;
    int64_t cols = 0;
    const uint8_t* qs = nullptr;
    const uint8_t* qh = nullptr;
    const uint8_t* meta = nullptr;
    const uint8_t* super = nullptr;
    const float* row_scale = nullptr;
};

// Host buffers that receive a repacked matrix (each sized by gpu_matrix_bytes).
struct GpuMatrixHost {
    uint8_t* qs = nullptr;
    uint8_t* qh = nullptr;
    uint8_t* meta = nullptr;
    uint8_t* super = nullptr;
    float* row_scale = nullptr;
};

// Repacks `rows` rows of the engine's row format (GGUF blocks; for fp8 a 4-byte f32
// scale heads each row, then cols e4m3 codes) starting at `src`, row stride
// `src_row_bytes`, into `dst`. Rows [row_begin, row_begin + rows) of the destination
// matrix (rows_total × cols) are written, so a large matrix can be repacked in slices.
// Returns false when cols is not a multiple of format_row_multiple(format).
bool repack_rows(WeightFormat format, const uint8_t* src, size_t src_row_bytes, int64_t row_begin, int64_t rows,
                 int64_t rows_total, int64_t cols, const GpuMatrixHost& dst);

}  // namespace lumen::cuda
