// The paged KV cache's bookkeeping (PagedAttention-style). The BlockPool owns
// every block id with a reference count and a free list; the KVCacheManager
// maps sequences to block tables and is the only view of memory the rest of
// the engine has. The K/V bytes themselves live in the backend, addressed by
// block id, so the same tables drive the CPU and CUDA backends.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"

namespace lumen {

// The element types the KV cache stores: f16 (the default), f32, bf16, q8_0 (INT8 with
// a scale per 32 values), q4_0 (4-bit), fp8-e4m3 and fp8-e5m2. Each token's K and V
// are encoded per head, so the block formats need head_dim to divide into blocks.
const std::vector<DType>& kv_cache_types();
std::string kv_cache_type_names();  // "f16|f32|..."
Result<DType> parse_kv_cache_type(std::string_view name);
// An error when `type` cannot hold heads of head_dim values.
Status check_kv_cache_type(DType type, int32_t head_dim);

struct KVCacheLayout {
    int32_t n_layers = 0;
    int32_t n_kv_heads = 0;
    int32_t head_dim = 0;
    int32_t block_size = 16;  // tokens per block
    int32_t n_blocks = 0;
    DType type = DType::F32;  // element type of stored K and V

    int64_t kv_dim() const { return int64_t(n_kv_heads) * head_dim; }
    // Bytes of one head's K (or V) for one token in `type`.
    int64_t bytes_per_head() const { return int64_t(row_bytes(type, head_dim)); }
    // 2 (K and V) · layers · kv_heads · bytes of a head, per token.
    int64_t bytes_per_token() const { return 2 * int64_t(n_layers) * n_kv_heads * bytes_per_head(); }
    int64_t bytes_per_block() const { return bytes_per_token() * block_size; }
    int64_t total_bytes() const { return bytes_per_block() * n_blocks; }
};

class BlockPool {
public:
    explicit BlockPool(int32_t n_blocks);
    std::optional<int32_t> allocate();  // refcount becomes 1
    void retain(int32_t block);         // one more owner
    void release(int32_t block);        // one fewer; back to the free list at zero
    int32_t n_blocks() const { return int32_t(refcount_.size()); }
    int32_t free_count() const { return int32_t(free_list_.size()); }
    int32_t refcount(int32_t block) const { return refcount_[size_t(block)]; }

private:
    std::vector<int32_t> refcount_;
    std::deque<int32_t> free_list_;  // least recently freed first
};

// One block's state, for the KV memory map and invariant checks.
struct BlockInfo {
    int32_t refcount = 0;
    int32_t tokens = 0;           // tokens held (0..block_size)
    std::vector<int32_t> owners;  // sequence ids whose tables reference it
    bool cached = false;          // also held by the prefix cache
};

struct KVSnapshot {
    int32_t block_size = 0;
    int64_t bytes_per_block = 0;
    std::vector<BlockInfo> blocks;
    int32_t used_blocks() const;
};

class KVCacheManager {
public:
    explicit KVCacheManager(const KVCacheLayout& layout);

    const KVCacheLayout& layout() const { return layout_; }
    Result<int32_t> create_sequence();
    // A sequence whose first n_tokens tokens are held by `blocks` (shared: each is retained).
    Result<int32_t> create_sequence_from(const std::vector<int32_t>& blocks, int32_t n_tokens);
    // A new sequence sharing every block of `seq` (parallel sampling, beams).
    Result<int32_t> fork_sequence(int32_t seq);
    bool has_sequence(int32_t seq) const { return sequences_.count(seq) != 0; }
    // Grow `seq` so it can hold `n_tokens` tokens, allocating blocks on demand.
    // Appending into a partly filled block that is shared copies it first
    // (copy-on-write; the copy is queued in pending_copies()). On a full pool
    // nothing changes and the status is recoverable.
    Status reserve(int32_t seq, int32_t n_tokens);
    // Blocks that need at least `n_tokens` more tokens in `seq` (new blocks plus a copy-on-write).
    int32_t blocks_needed(int32_t seq, int32_t n_tokens) const;
    // Block copies (src, dst) the backend must perform before the next forward pass.
    std::vector<std::pair<int32_t, int32_t>> take_pending_copies();
    // References held outside sequences (the prefix cache).
    void retain_external(int32_t block);
    void release_external(int32_t block);
    int32_t refcount(int32_t block) const { return pool_.refcount(block); }
    int32_t external_refs(int32_t block) const { return external_[size_t(block)]; }
    // Record that `seq` now holds n_tokens (after the forward pass wrote them).
    void set_length(int32_t seq, int32_t n_tokens);
    // Drop tokens from position n_tokens on, returning blocks no longer needed.
    Status truncate(int32_t seq, int32_t n_tokens);
    void free_sequence(int32_t seq);

    int32_t length(int32_t seq) const;
    const std::vector<int32_t>& block_table(int32_t seq) const;
    int32_t free_blocks() const { return pool_.free_count(); }
    int32_t n_blocks() const { return pool_.n_blocks(); }
    int32_t n_sequences() const { return int32_t(sequences_.size()); }
    KVSnapshot snapshot() const;
    // Checks refcounts against the block tables; returns an error describing the first mismatch.
    Status check_invariants() const;

private:
    struct Sequence {
        std::vector<int32_t> blocks;
        int32_t n_tokens = 0;
    };
    KVCacheLayout layout_;
    BlockPool pool_;
    std::map<int32_t, Sequence> sequences_;
    std::vector<int32_t> external_;  // per block: references outside sequences
    std::vector<std::pair<int32_t, int32_t>> pending_copies_;
    int32_t next_seq_id_ = 0;
};

}  // namespace lumen
