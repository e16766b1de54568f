// The prefix cache: a radix tree over full KV blocks (SGLang's RadixAttention).
// Each edge is a run of whole blocks with their tokens; a new request reuses the
// longest cached prefix of its tokens. The cache holds one reference on every
// block it stores (KVCacheManager::retain_external), so a cached block is freed
// only by eviction, and eviction takes only blocks no sequence uses, least
// recently used leaves first, and only when the pool needs room.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "kv/block_pool.h"

namespace lumen {

class PrefixCache {
public:
    explicit PrefixCache(KVCacheManager& kv);
    ~PrefixCache();
    PrefixCache(const PrefixCache&) = delete;
    PrefixCache& operator=(const PrefixCache&) = delete;

    struct Match {
        std::vector<int32_t> blocks;  // in position order
        int32_t n_tokens = 0;         // blocks.size() * block_size
    };
    // The longest cached prefix of tokens[0, n), in whole blocks; marks it used now.
    Match match(const int32_t* tokens, size_t n);
    // Caches the whole blocks of tokens[0, n) held by `blocks` (a sequence's block
    // table). New runs are retained. Runs already cached keep their blocks, except
    // blocks only the cache holds, which give way to the sequence's (duplicates freed).
    void insert(const int32_t* tokens, size_t n, const std::vector<int32_t>& blocks);
    // Frees up to n_blocks blocks that only the cache holds, LRU leaves first. Returns how many.
    int32_t evict(int32_t n_blocks);
    // Releases every block the cache holds that no sequence uses; the rest stay.
    void clear();
    // Forgets the cached path of tokens[0, n): its blocks that no sequence uses and
    // that no other cached path continues from (a conversation that was deleted).
    int32_t evict_path(const int32_t* tokens, size_t n);

    int32_t cached_blocks() const { return cached_blocks_; }
    // Cached blocks eviction can free now: held by the cache only, with nothing in use below them.
    int32_t evictable_blocks() const;
    int32_t node_count() const;  // tree nodes below the root (edges), for tests
    int32_t block_size() const { return block_size_; }

private:
    struct Node;
    using Key = std::vector<int32_t>;  // the tokens of an edge's first block
    Node* split(Node* node, size_t at_block);
    void remove_leaf(Node* node);
    int32_t drop_unused_tail(Node* leaf, int32_t limit);

    KVCacheManager& kv_;
    int32_t block_size_;
    std::unique_ptr<Node> root_;
    int32_t cached_blocks_ = 0;
    uint64_t clock_ = 0;
};

}  // namespace lumen
