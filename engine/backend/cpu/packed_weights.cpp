// Row-interleaved packing of the block formats (layout in packed_weights.h).
#include "backend/cpu/packed_weights.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace lumen::cpu {

namespace {

// Per-row block parts: the fp16 fields (scale, and minimum for Q4_1 and Q4_K), where
// they sit in the block, and the other bytes, moved 4 at a time (Q4_K: 12 scale bytes
// and 128 quants; Q6_K: 128 + 64 quant bytes and 16 scales, its fp16 scale last).
struct BlockParts {
    int header_halves;
    int header_at;
    int quant_bytes;
    int quants_at() const { return header_at == 0 ? 2 * header_halves : 0; }
};

BlockParts block_parts(DType type) {
    switch (type) {
        case DType::Q4_0: return {1, 0, 16};
        case DType::Q4_1: return {2, 0, 16};
        case DType::Q8_0: return {1, 0, 32};
        case DType::Q4_K: return {2, 0, 140};
        case DType::Q6_K: return {1, 208, 208};
        default: return {0, 0, 0};
    }
}

// Offset, within a group block, of row r's quant byte j.
inline size_t quant_offset(const BlockParts& p, int r, int j) {
    return size_t(kPackedRows * 2 * p.header_halves) + size_t(j / 4) * 32 + size_t(4 * r + j % 4);
}

// Copies between one row's block and its place in the group block, either way.
template <bool kPack>
void move_block(const BlockParts& p, int r, uint8_t* row_block, uint8_t* group_block) {
    for (int h = 0; h < p.header_halves; ++h) {
        uint8_t* in_group = group_block + 2 * (h * kPackedRows + r);
        uint8_t* in_row = row_block + p.header_at + 2 * h;
        if (kPack)
            std::memcpy(in_group, in_row, 2);
        else
            std::memcpy(in_row, in_group, 2);
    }
    uint8_t* quants = row_block + p.quants_at();
    for (int j = 0; j < p.quant_bytes; ++j) {
        uint8_t& in_group = group_block[quant_offset(p, r, j)];
        if (kPack)
            in_group = quants[j];
        else
            quants[j] = in_group;
    }
}

template <bool kPack>
void repack(DType type, uint8_t* packed, int64_t rows, int64_t cols, uint8_t* plain) {
    const BlockParts p = block_parts(type);
    const size_t block_bytes = size_t(traits(type).block_bytes);
    const size_t row_stride = row_bytes(type, cols);
    const int64_t n_blocks = cols / traits(type).block_elements;
    const size_t group_block = packed_group_block_bytes(type);
    for (int64_t g = 0; g < rows / kPackedRows; ++g) {
        uint8_t* group = packed + size_t(g) * kPackedRows * row_stride;
        for (int r = 0; r < kPackedRows; ++r) {
            uint8_t* row = plain + size_t(g * kPackedRows + r) * row_stride;
            for (int64_t b = 0; b < n_blocks; ++b)
                move_block<kPack>(p, r, row + size_t(b) * block_bytes, group + size_t(b) * group_block);
        }
    }
}

}  // namespace

bool packable_type(DType type) {
    return block_parts(type).quant_bytes != 0;
}

bool can_pack(const TensorView& w) {
    return w.present() && packable_type(w.type) && w.rows > 0 && w.rows % kPackedRows == 0 &&
           w.cols % traits(w.type).block_elements == 0;
}

size_t packed_group_block_bytes(DType type) {
    return size_t(kPackedRows) * size_t(traits(type).block_bytes);
}

void pack_rows8(const TensorView& w, uint8_t* out) {
    repack<true>(w.type, out, w.rows, w.cols, const_cast<uint8_t*>(static_cast<const uint8_t*>(w.data)));
}

void unpack_rows8(DType type, const uint8_t* packed, int64_t rows, int64_t cols, uint8_t* out) {
    repack<false>(type, const_cast<uint8_t*>(packed), rows, cols, out);
}

void PackedWeights::FreeDeleter::operator()(uint8_t* p) const {
    std::free(p);
}

bool PackedWeights::add(const TensorView& w) {
    if (!can_pack(w)) return false;
    if (packed_.count(w.data)) return true;  // tied tensors are packed once
    const size_t bytes = size_t(w.n_bytes());
    // 64-byte aligned: a group block's vectors then start on cache-line boundaries
    // whenever the group block size is a multiple of 64 (Q4_1, Q8_0) or of 16 (Q4_0).
    auto* buffer = static_cast<uint8_t*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64));
    if (!buffer) return false;  // the plain layout still works
    pack_rows8(w, buffer);
    packed_.emplace(w.data, std::unique_ptr<uint8_t, FreeDeleter>(buffer));
    bytes_ += int64_t(bytes);
    release_pages(w.data, bytes);
    return true;
}

void PackedWeights::release_pages(const void* data, size_t bytes) {
#if defined(MADV_PAGEOUT)
    // Only whole pages inside the tensor: its neighbours in the file may still be in use.
    const uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
    const uintptr_t begin = (uintptr_t(data) + page - 1) / page * page;
    const uintptr_t end = (uintptr_t(data) + bytes) / page * page;
    // Advice only: the pages keep their contents and come back if read (a tied embedding
    // is); a kernel without MADV_PAGEOUT refuses it, and nothing changes.
    if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_PAGEOUT);
#else
    (void)data;
    (void)bytes;
#endif
}

const uint8_t* PackedWeights::find(const TensorView& w) const {
    const auto it = packed_.find(w.data);
    return it == packed_.end() ? nullptr : it->second.get();
}

void PackedWeights::clear() {
    packed_.clear();
    bytes_ = 0;
}

}  // namespace lumen::cpu
