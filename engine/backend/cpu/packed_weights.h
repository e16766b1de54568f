// Weights repacked once, at upload, into groups of 8 rows so that one SIMD
// register holds a few weights of each of the 8 rows: a GEMV then produces 8
// outputs per pass, every per-block scale of the 8 rows widens in a single
// instruction, and each activation value is broadcast once for 8 rows instead
// of being multiplied row by row. llama.cpp's "repack" buffers do the same for
// its AVX2 Q4_0 path. The group layout is the same for every kernel level; a
// level opts in by providing KernelTable::dot_packed8.
//
// Layout of one group of 8 rows, block by block (b = 0 .. cols/block-1), each
// group block 8x the size of one row's block:
//   d[8]        fp16 scales of rows 0..7
//   m[8]        fp16 minimums of rows 0..7           (Q4_1; Q4_K's dmin)
//   vectors     the rest of each row's block in 32-byte vectors: vector k holds,
//               at bytes 4r..4r+3, row r's bytes 4k..4k+3 of the block without
//               its fp16 fields. Q4_0/Q4_1: 4 vectors of quants; Q8_0: 8; Q4_K:
//               3 vectors of 6-bit scales and minimums, then 32 of quants; Q6_K
//               (whose fp16 scale ends the block): 32 vectors of low 4 bits,
//               16 of high 2 bits, 4 of int8 sub-block scales.
// In Q4_0/Q4_1 byte j of a block packs element j (low nibble) and element j+16
// (high nibble), so vector k's low nibbles are elements 4k..4k+3 and its high
// nibbles elements 16+4k..16+4k+3 of each row. In Q4_K quant byte 32c+i packs
// elements 64c+i and 64c+32+i.
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>

#include "core/dtype.h"
#include "model/weights.h"

namespace lumen::cpu {

constexpr int kPackedRows = 8;

// Types with a packed layout: Q4_0, Q4_1, Q8_0, Q4_K, Q6_K.
bool packable_type(DType type);
// The type is packable and the shape fits the layout (rows a multiple of 8, whole blocks).
bool can_pack(const TensorView& w);

// Bytes of one packed group block (8 rows, one block each).
size_t packed_group_block_bytes(DType type);

// Repacks rows [0, rows) of `w` (can_pack(w)) into `out` (w.n_bytes() bytes), and back.
void pack_rows8(const TensorView& w, uint8_t* out);
void unpack_rows8(DType type, const uint8_t* packed, int64_t rows, int64_t cols, uint8_t* out);

// The packed copies of a model's matrices, found by the tensor they were made from.
class PackedWeights {
public:
    // Packs `w` when the type and shape allow it; false (and nothing stored) otherwise.
    // The plain rows are then no longer read by the matmuls, so their pages are handed
    // back to the OS (MADV_PAGEOUT): resident memory holds the weights once, not twice.
    bool add(const TensorView& w);
    // The packed copy of `w`, or nullptr.
    const uint8_t* find(const TensorView& w) const;
    int64_t bytes() const { return bytes_; }
    void clear();

private:
    static void release_pages(const void* data, size_t bytes);
    struct FreeDeleter {
        void operator()(uint8_t* p) const;
    };
    std::unordered_map<const void*, std::unique_ptr<uint8_t, FreeDeleter>> packed_;
    int64_t bytes_ = 0;
};

}  // namespace lumen::cpu
