// Repacks the engine's weight rows (GGUF blocks, Lumen's fp8 rows) into the chunked GPU
// layout of gpu_weights.h, once per matrix at upload. Plain C++ built by the host compiler
// into lumen_kernels, so the engine and the host-side tests use it without a GPU. It only
// moves bits: scales are copied as raw halves, never converted, so the decoders
// (quant_decode.cuh) compute exactly what the reference dequantizer computes.
#include "gpu_weights.h"

#include <cstring>

#include "quant_decode.cuh"  // chunk_layout: the byte counts the decoders read

namespace lumen::cuda {

namespace {

// Bytes of one source row of `cols` elements in the engine's layout (core/dtype.cpp's
// traits; duplicated here because lumen_kernels does not link the engine).
size_t source_row_bytes(WeightFormat format, int64_t cols) {
    const size_t n = size_t(cols);
    switch (format) {
        case WeightFormat::f32: return 4 * n;
        case WeightFormat::f16:
        case WeightFormat::bf16: return 2 * n;
        case WeightFormat::q8_0: return n / 32 * 34;
        case WeightFormat::q4_0: return n / 32 * 18;
        case WeightFormat::q4_1: return n / 32 * 20;
        case WeightFormat::q4_k: return n / 256 * 144;
        case WeightFormat::q6_k: return n / 256 * 210;
        case WeightFormat::fp8_e4m3: return 4 + n;
    }
    return 0;
}

// Q4_K's eight 6-bit scales and mins packed in 12 bytes (dtype.cpp's scale_min_k4).
void scale_min_k4(int j, const uint8_t* q, uint8_t* scale, uint8_t* min) {
    if (j < 4) {
        *scale = q[j] & 63;
        *min = q[j + 4] & 63;
    } else {
        *scale = uint8_t((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4));
        *min = uint8_t((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

// Packs 32 4-bit values as the chunk's 16 qs bytes: byte j = element j | element j + 16 << 4.
void pack_nibbles(const uint8_t* q, uint8_t* qs) {
    for (int j = 0; j < 16; ++j) qs[j] = uint8_t((q[j] & 0x0F) | (q[j + 16] & 0x0F) << 4);
}

// GGUF Q4_K super-block (d, dmin, 12 scale bytes, 128 nibble bytes) to 8 chunks from flat
// chunk i. Each 32 bytes of GGUF nibbles hold two sub-blocks of 32: the low nibbles are
// sub-block 2g, the high nibbles sub-block 2g + 1, element l of either in byte l.
void repack_q4_k(const uint8_t* b, int64_t i, const GpuMatrixHost& dst) {
    std::memcpy(dst.super + i / 8 * 4, b, 4);  // half d, half dmin
    for (int s = 0; s < 8; ++s) {
        const int64_t c = i + s;
        scale_min_k4(s, b + 4, &dst.meta[c * 2], &dst.meta[c * 2 + 1]);
        const uint8_t* q = b + 16 + 32 * (s / 2);
        const int shift = 4 * (s % 2);
        uint8_t v[32];
        for (int e = 0; e < 32; ++e) v[e] = uint8_t((q[e] >> shift) & 0x0F);
        pack_nibbles(v, dst.qs + c * 16);
    }
}

// GGUF Q6_K super-block (128 ql bytes, 64 qh bytes, 16 int8 scales, half d) to 8 chunks.
// In dequant_q6_k, half n (128 elements) and quarter k of it (chunk s = 4n + k) take
// element l from ql[64n + 32 (k % 2) + l] (low nibble for k < 2, high for k >= 2) and
// bits 2k, 2k + 1 of qh[32n + l]; its scale is sc[8n + 2k + l / 16] = sc[2s + l / 16].
void repack_q6_k(const uint8_t* b, int64_t i, const GpuMatrixHost& dst) {
    const uint8_t* ql = b;
    const uint8_t* qh = b + 128;
    const uint8_t* sc = b + 192;
    std::memcpy(dst.super + i / 8 * 2, b + 208, 2);  // half d
    for (int s = 0; s < 8; ++s) {
        const int64_t c = i + s;
        const int n = s / 4, k = s % 4;
        dst.meta[c * 2] = sc[2 * s];
        dst.meta[c * 2 + 1] = sc[2 * s + 1];
        uint8_t lo[32];
        uint8_t* hi = dst.qh + c * 8;
        std::memset(hi, 0, 8);
        for (int e = 0; e < 32; ++e) {
            lo[e] = uint8_t((ql[64 * n + 32 * (k % 2) + e] >> (4 * (k / 2))) & 0x0F);
            const int h2 = (qh[32 * n + e] >> (2 * k)) & 3;
            hi[e % 8] = uint8_t(hi[e % 8] | h2 << (2 * (e / 8)));
        }
        pack_nibbles(lo, dst.qs + c * 16);
    }
}

// Row `row` of the destination from its source bytes `s`.
void repack_row(WeightFormat format, const uint8_t* s, int64_t row, int64_t cols, const GpuMatrixHost& dst) {
    const int64_t chunks = cols / kChunk;
    const int64_t i0 = row * chunks;  // the row's first flat chunk
    switch (format) {
        case WeightFormat::f32:
        case WeightFormat::f16:
        case WeightFormat::bf16:  // chunk c is elements 32c .. 32c + 31: the row as it is
            std::memcpy(dst.qs + i0 * chunk_layout(format).qs, s, source_row_bytes(format, cols));
            return;
        case WeightFormat::fp8_e4m3:  // f32 scale, then one code per element
            std::memcpy(&dst.row_scale[row], s, 4);
            std::memcpy(dst.qs + i0 * 32, s + 4, size_t(cols));
            return;
        case WeightFormat::q8_0:  // half d, 32 int8
            for (int64_t c = 0; c < chunks; ++c) {
                std::memcpy(dst.meta + (i0 + c) * 2, s + c * 34, 2);
                std::memcpy(dst.qs + (i0 + c) * 32, s + c * 34 + 2, 32);
            }
            return;
        case WeightFormat::q4_0:  // half d, 16 nibble bytes already in chunk order
            for (int64_t c = 0; c < chunks; ++c) {
                std::memcpy(dst.meta + (i0 + c) * 2, s + c * 18, 2);
                std::memcpy(dst.qs + (i0 + c) * 16, s + c * 18 + 2, 16);
            }
            return;
        case WeightFormat::q4_1:  // half d, half m, 16 nibble bytes
            for (int64_t c = 0; c < chunks; ++c) {
                std::memcpy(dst.meta + (i0 + c) * 4, s + c * 20, 4);
                std::memcpy(dst.qs + (i0 + c) * 16, s + c * 20 + 4, 16);
            }
            return;
        case WeightFormat::q4_k:
            for (int64_t sb = 0; sb < chunks / 8; ++sb) repack_q4_k(s + sb * 144, i0 + sb * 8, dst);
            return;
        case WeightFormat::q6_k:
            for (int64_t sb = 0; sb < chunks / 8; ++sb) repack_q6_k(s + sb * 210, i0 + sb * 8, dst);
            return;
    }
}

bool known_format(WeightFormat format) {
    return chunk_layout(format).qs != 0;
}

}  // namespace

bool weight_format_for(uint32_t dtype, WeightFormat* format) {
    WeightFormat f;
    switch (dtype) {
        case 0: f = WeightFormat::f32; break;
        case 1: f = WeightFormat::f16; break;
        case 2: f = WeightFormat::q4_0; break;
        case 3: f = WeightFormat::q4_1; break;
        case 8: f = WeightFormat::q8_0; break;
        case 12: f = WeightFormat::q4_k; break;
        case 14: f = WeightFormat::q6_k; break;
        case 30: f = WeightFormat::bf16; break;
        case 1007:  // fp8-e4m3-ch
        case 1008:  // fp8-e4m3-tensor: the same rows, its one scale repeated in each row's header
            f = WeightFormat::fp8_e4m3;
            break;
        default: return false;
    }
    if (format) *format = f;
    return true;
}

int64_t format_row_multiple(WeightFormat format) {
    if (!known_format(format)) return 0;
    return chunk_layout(format).super != 0 ? kSuper : kChunk;
}

GpuMatrixBytes gpu_matrix_bytes(WeightFormat format, int64_t rows, int64_t cols) {
    GpuMatrixBytes b;
    const int64_t multiple = format_row_multiple(format);
    if (multiple == 0 || rows < 0 || cols < 0 || cols % multiple != 0) return b;
    const ChunkLayout L = chunk_layout(format);
    const size_t chunks = size_t(rows) * size_t(cols / kChunk);
    b.qs = chunks * size_t(L.qs);
    b.qh = chunks * size_t(L.qh);
    b.meta = chunks * size_t(L.meta);
    b.super = chunks / 8 * size_t(L.super);
    b.row_scale = L.row_scale ? size_t(rows) * 4 : 0;
    return b;
}

bool repack_rows(WeightFormat format, const uint8_t* src, size_t src_row_bytes, int64_t row_begin, int64_t rows,
                 int64_t rows_total, int64_t cols, const GpuMatrixHost& dst) {
    const int64_t multiple = format_row_multiple(format);
    if (multiple == 0 || cols <= 0 || cols % multiple != 0) return false;
    if (row_begin < 0 || rows < 0 || rows_total < 0 || row_begin > rows_total || rows > rows_total - row_begin)
        return false;
    if (rows == 0) return true;
    const ChunkLayout L = chunk_layout(format);
    if (!src || src_row_bytes < source_row_bytes(format, cols) || !dst.qs || (L.qh && !dst.qh) ||
        (L.meta && !dst.meta) || (L.super && !dst.super) || (L.row_scale && !dst.row_scale))
        return false;
    for (int64_t r = 0; r < rows; ++r) repack_row(format, src + size_t(r) * src_row_bytes, row_begin + r, cols, dst);
    return true;
}

}  // namespace lumen::cuda
