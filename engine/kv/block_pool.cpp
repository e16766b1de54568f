// Block pool and KV cache manager: allocation on demand, reference counts,
// roll-back on a full pool, and the read-only snapshot for the memory map.
#include "kv/block_pool.h"

#include <algorithm>

#include "core/check.h"

namespace lumen {

const std::vector<DType>& kv_cache_types() {
    static const std::vector<DType> types = {DType::F16,  DType::F32,     DType::BF16,   DType::Q8_0,
                                             DType::Q4_0, DType::F8_E4M3, DType::F8_E5M2};
    return types;
}

std::string kv_cache_type_names() {
    std::string names;
    for (DType t : kv_cache_types()) {
        if (!names.empty()) names += '|';
        names += dtype_name(t);
    }
    return names;
}

Result<DType> parse_kv_cache_type(std::string_view name) {
    const auto type = dtype_from_name(name);
    if (type && std::find(kv_cache_types().begin(), kv_cache_types().end(), *type) != kv_cache_types().end())
        return *type;
    return Status::error("KV cache type '" + std::string(name) + "' is not supported, expected one of " +
                         kv_cache_type_names());
}

Status check_kv_cache_type(DType type, int32_t head_dim) {
    if (std::find(kv_cache_types().begin(), kv_cache_types().end(), type) == kv_cache_types().end())
        return Status::error(std::string("KV cache type ") + dtype_name(type) + " is not supported, expected one of " +
                             kv_cache_type_names());
    const int block = traits(type).block_elements;
    if (head_dim % block != 0)
        return Status::error(std::string("KV cache type ") + dtype_name(type) + " stores heads in blocks of " +
                             std::to_string(block) + " values, but this model's heads have " +
                             std::to_string(head_dim) + "; choose f16, bf16 or fp8-e4m3");
    return Status::ok();
}

BlockPool::BlockPool(int32_t n_blocks) : refcount_(size_t(n_blocks), 0) {
    for (int32_t i = 0; i < n_blocks; ++i) free_list_.push_back(i);
}

std::optional<int32_t> BlockPool::allocate() {
    if (free_list_.empty()) return std::nullopt;
    const int32_t b = free_list_.front();
    free_list_.pop_front();
    refcount_[size_t(b)] = 1;
    return b;
}

void BlockPool::retain(int32_t block) {
    LUMEN_CHECK(refcount_[size_t(block)] > 0);
    ++refcount_[size_t(block)];
}

void BlockPool::release(int32_t block) {
    LUMEN_CHECK(refcount_[size_t(block)] > 0);
    if (--refcount_[size_t(block)] == 0) free_list_.push_back(block);
}

int32_t KVSnapshot::used_blocks() const {
    int32_t n = 0;
    for (const auto& b : blocks) n += b.refcount > 0;
    return n;
}

KVCacheManager::KVCacheManager(const KVCacheLayout& layout)
    : layout_(layout), pool_(layout.n_blocks), external_(size_t(layout.n_blocks), 0) {}

Result<int32_t> KVCacheManager::create_sequence() {
    const int32_t id = next_seq_id_++;
    sequences_[id] = Sequence{};
    return id;
}

Result<int32_t> KVCacheManager::create_sequence_from(const std::vector<int32_t>& blocks, int32_t n_tokens) {
    const int32_t bs = layout_.block_size;
    if (n_tokens < 0 || size_t((n_tokens + bs - 1) / bs) != blocks.size())
        return Status::error("KV cache: " + std::to_string(blocks.size()) + " blocks cannot hold exactly " +
                             std::to_string(n_tokens) + " tokens");
    for (int32_t b : blocks)
        if (b < 0 || b >= pool_.n_blocks() || pool_.refcount(b) == 0)
            return Status::error("KV cache: block " + std::to_string(b) + " is not allocated");
    const int32_t id = next_seq_id_++;
    for (int32_t b : blocks) pool_.retain(b);
    sequences_[id] = Sequence{blocks, n_tokens};
    return id;
}

Result<int32_t> KVCacheManager::fork_sequence(int32_t seq) {
    auto it = sequences_.find(seq);
    if (it == sequences_.end()) return Status::error("KV cache: sequence " + std::to_string(seq) + " does not exist");
    return create_sequence_from(it->second.blocks, it->second.n_tokens);
}

int32_t KVCacheManager::blocks_needed(int32_t seq, int32_t n_tokens) const {
    auto it = sequences_.find(seq);
    if (it == sequences_.end()) return 0;
    const Sequence& s = it->second;
    const int32_t bs = layout_.block_size;
    const int32_t total = s.n_tokens + n_tokens;
    int32_t needed = std::max<int32_t>(0, (total + bs - 1) / bs - int32_t(s.blocks.size()));
    const bool partial_last = s.n_tokens % bs != 0 && size_t(s.n_tokens / bs) < s.blocks.size();
    if (n_tokens > 0 && partial_last && pool_.refcount(s.blocks[size_t(s.n_tokens / bs)]) > 1) ++needed;
    return needed;
}

std::vector<std::pair<int32_t, int32_t>> KVCacheManager::take_pending_copies() {
    std::vector<std::pair<int32_t, int32_t>> out;
    out.swap(pending_copies_);
    return out;
}

void KVCacheManager::retain_external(int32_t block) {
    pool_.retain(block);
    ++external_[size_t(block)];
}

void KVCacheManager::release_external(int32_t block) {
    LUMEN_CHECK(external_[size_t(block)] > 0);
    --external_[size_t(block)];
    pool_.release(block);
}

Status KVCacheManager::reserve(int32_t seq, int32_t n_tokens) {
    auto it = sequences_.find(seq);
    if (it == sequences_.end()) return Status::error("KV cache: sequence " + std::to_string(seq) + " does not exist");
    Sequence& s = it->second;
    const int32_t bs = layout_.block_size;
    // Copy-on-write: the next token lands in a partly filled block someone else also holds.
    const size_t write_block = size_t(s.n_tokens / bs);
    const bool cow = n_tokens > s.n_tokens && s.n_tokens % bs != 0 && write_block < s.blocks.size() &&
                     pool_.refcount(s.blocks[write_block]) > 1;
    const size_t needed = size_t((n_tokens + bs - 1) / bs);
    if (needed <= s.blocks.size() && !cow) return Status::ok();
    const size_t missing = (needed > s.blocks.size() ? needed - s.blocks.size() : 0) + (cow ? 1 : 0);
    if (missing > size_t(pool_.free_count()))
        return Status::recoverable("KV pool full: sequence " + std::to_string(seq) + " needs " +
                                   std::to_string(missing) + " more blocks of " + std::to_string(layout_.block_size) +
                                   " tokens, " + std::to_string(pool_.free_count()) + " of " +
                                   std::to_string(pool_.n_blocks()) + " are free");
    if (cow) {
        const int32_t copy = *pool_.allocate();
        pending_copies_.emplace_back(s.blocks[write_block], copy);
        pool_.release(s.blocks[write_block]);
        s.blocks[write_block] = copy;
    }
    while (s.blocks.size() < needed) s.blocks.push_back(*pool_.allocate());
    return Status::ok();
}

void KVCacheManager::set_length(int32_t seq, int32_t n_tokens) {
    Sequence& s = sequences_.at(seq);
    LUMEN_CHECK(size_t(n_tokens) <= s.blocks.size() * size_t(layout_.block_size));
    s.n_tokens = n_tokens;
}

Status KVCacheManager::truncate(int32_t seq, int32_t n_tokens) {
    auto it = sequences_.find(seq);
    if (it == sequences_.end()) return Status::error("KV cache: sequence " + std::to_string(seq) + " does not exist");
    Sequence& s = it->second;
    if (n_tokens < 0 || n_tokens > s.n_tokens)
        return Status::error("KV cache: cannot truncate sequence " + std::to_string(seq) + " of " +
                             std::to_string(s.n_tokens) + " tokens to " + std::to_string(n_tokens));
    const size_t keep = size_t((n_tokens + layout_.block_size - 1) / layout_.block_size);
    while (s.blocks.size() > keep) {
        pool_.release(s.blocks.back());
        s.blocks.pop_back();
    }
    s.n_tokens = n_tokens;
    return Status::ok();
}

void KVCacheManager::free_sequence(int32_t seq) {
    auto it = sequences_.find(seq);
    if (it == sequences_.end()) return;
    for (int32_t b : it->second.blocks) pool_.release(b);
    sequences_.erase(it);
}

int32_t KVCacheManager::length(int32_t seq) const {
    auto it = sequences_.find(seq);
    return it == sequences_.end() ? 0 : it->second.n_tokens;
}

const std::vector<int32_t>& KVCacheManager::block_table(int32_t seq) const {
    return sequences_.at(seq).blocks;
}

KVSnapshot KVCacheManager::snapshot() const {
    KVSnapshot snap;
    snap.block_size = layout_.block_size;
    snap.bytes_per_block = layout_.bytes_per_block();
    snap.blocks.resize(size_t(pool_.n_blocks()));
    for (int32_t b = 0; b < pool_.n_blocks(); ++b) {
        snap.blocks[size_t(b)].refcount = pool_.refcount(b);
        snap.blocks[size_t(b)].cached = external_[size_t(b)] > 0;
        if (external_[size_t(b)] > 0)
            snap.blocks[size_t(b)].tokens = layout_.block_size;  // the cache holds full blocks
    }
    for (const auto& [id, s] : sequences_) {
        for (size_t i = 0; i < s.blocks.size(); ++i) {
            BlockInfo& info = snap.blocks[size_t(s.blocks[i])];
            info.owners.push_back(id);
            const int32_t held = s.n_tokens - int32_t(i) * layout_.block_size;
            info.tokens = std::max(info.tokens, std::clamp(held, 0, layout_.block_size));
        }
    }
    return snap;
}

Status KVCacheManager::check_invariants() const {
    std::vector<int32_t> owners(size_t(pool_.n_blocks()), 0);
    for (const auto& [id, s] : sequences_) {
        for (int32_t b : s.blocks) {
            if (b < 0 || b >= pool_.n_blocks())
                return Status::error("sequence " + std::to_string(id) + " references block " + std::to_string(b) +
                                     " outside the pool");
            ++owners[size_t(b)];
        }
        if (size_t(s.n_tokens) > s.blocks.size() * size_t(layout_.block_size))
            return Status::error("sequence " + std::to_string(id) + " holds more tokens than its blocks");
    }
    int32_t free_expected = 0;
    for (int32_t b = 0; b < pool_.n_blocks(); ++b) {
        if (owners[size_t(b)] + external_[size_t(b)] != pool_.refcount(b))
            return Status::error("block " + std::to_string(b) + " has refcount " + std::to_string(pool_.refcount(b)) +
                                 " but " + std::to_string(owners[size_t(b)]) + " owners and " +
                                 std::to_string(external_[size_t(b)]) + " cache references");
        owners[size_t(b)] += external_[size_t(b)];
        free_expected += owners[size_t(b)] == 0;
    }
    if (free_expected != pool_.free_count())
        return Status::error("free list holds " + std::to_string(pool_.free_count()) + " blocks, expected " +
                             std::to_string(free_expected));
    return Status::ok();
}

}  // namespace lumen
