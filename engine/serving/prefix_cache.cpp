// PrefixCache: radix-tree match, insert with edge splits, LRU eviction of
// unreferenced leaf blocks.
#include "serving/prefix_cache.h"

#include <algorithm>
#include <climits>
#include <functional>

namespace lumen {

struct PrefixCache::Node {
    std::vector<int32_t> tokens;  // the edge's tokens: blocks.size() * block_size
    std::vector<int32_t> blocks;  // the edge's KV blocks
    std::map<Key, std::unique_ptr<Node>> children;
    Node* parent = nullptr;
    uint64_t last_used = 0;

    Key first_block_key(int32_t bs) const { return Key(tokens.begin(), tokens.begin() + bs); }
};

PrefixCache::PrefixCache(KVCacheManager& kv)
    : kv_(kv), block_size_(kv.layout().block_size), root_(std::make_unique<Node>()) {}

PrefixCache::~PrefixCache() {
    // Drop the cache's references; blocks sequences still use stay with them.
    std::function<void(Node*)> release = [&](Node* n) {
        for (int32_t b : n->blocks) kv_.release_external(b);
        for (auto& [key, child] : n->children) release(child.get());
    };
    release(root_.get());
}

// Splits `node`'s edge so that its first `at_block` blocks become a new parent node.
PrefixCache::Node* PrefixCache::split(Node* node, size_t at_block) {
    const size_t at_token = at_block * size_t(block_size_);
    Node* parent = node->parent;
    auto owned = std::move(parent->children[node->first_block_key(block_size_)]);
    auto head = std::make_unique<Node>();
    head->tokens.assign(node->tokens.begin(), node->tokens.begin() + long(at_token));
    head->blocks.assign(node->blocks.begin(), node->blocks.begin() + long(at_block));
    head->parent = parent;
    head->last_used = node->last_used;
    node->tokens.erase(node->tokens.begin(), node->tokens.begin() + long(at_token));
    node->blocks.erase(node->blocks.begin(), node->blocks.begin() + long(at_block));
    node->parent = head.get();
    Node* head_ptr = head.get();
    head->children[node->first_block_key(block_size_)] = std::move(owned);
    parent->children[head_ptr->first_block_key(block_size_)] = std::move(head);
    return head_ptr;
}

PrefixCache::Match PrefixCache::match(const int32_t* tokens, size_t n) {
    Match m;
    const size_t bs = size_t(block_size_);
    const uint64_t now = ++clock_;
    Node* node = root_.get();
    size_t pos = 0;
    while (pos + bs <= n) {
        auto it = node->children.find(Key(tokens + pos, tokens + pos + bs));
        if (it == node->children.end()) break;
        Node* child = it->second.get();
        size_t k = 0;  // whole blocks of the edge that match
        while (k < child->blocks.size() && pos + (k + 1) * bs <= n &&
               std::equal(tokens + pos + k * bs, tokens + pos + (k + 1) * bs, child->tokens.begin() + long(k * bs)))
            ++k;
        if (k < child->blocks.size()) child = split(child, k);  // the match ends inside the edge
        child->last_used = now;
        m.blocks.insert(m.blocks.end(), child->blocks.begin(), child->blocks.end());
        pos += child->blocks.size() * bs;
        node = child;
    }
    for (Node* up = node; up; up = up->parent) up->last_used = now;
    m.n_tokens = int32_t(m.blocks.size() * bs);
    return m;
}

void PrefixCache::insert(const int32_t* tokens, size_t n, const std::vector<int32_t>& blocks) {
    const size_t bs = size_t(block_size_);
    const size_t n_blocks = std::min(n / bs, blocks.size());
    const uint64_t now = ++clock_;
    Node* node = root_.get();
    size_t b = 0;  // blocks consumed
    while (b < n_blocks) {
        const int32_t* at = tokens + b * bs;
        auto it = node->children.find(Key(at, at + bs));
        if (it == node->children.end()) {
            auto leaf = std::make_unique<Node>();
            leaf->tokens.assign(at, tokens + n_blocks * bs);
            leaf->blocks.assign(blocks.begin() + long(b), blocks.begin() + long(n_blocks));
            leaf->parent = node;
            leaf->last_used = now;
            for (int32_t block : leaf->blocks) kv_.retain_external(block);
            cached_blocks_ += int32_t(leaf->blocks.size());
            node->children[leaf->first_block_key(block_size_)] = std::move(leaf);
            break;
        }
        Node* child = it->second.get();
        size_t k = 0;
        while (k < child->blocks.size() && b + k < n_blocks &&
               std::equal(tokens + (b + k) * bs, tokens + (b + k + 1) * bs, child->tokens.begin() + long(k * bs))) {
            // The same tokens computed twice (two requests ran the prefix at once): a copy
            // only the cache holds gives way to the sequence's, so the duplicate is freed
            // now and the cached path stays in use while this sequence runs.
            int32_t& cached = child->blocks[k];
            if (cached != blocks[b + k] && kv_.refcount(cached) == 1) {
                kv_.retain_external(blocks[b + k]);
                kv_.release_external(cached);
                cached = blocks[b + k];
            }
            ++k;
        }
        if (k < child->blocks.size()) child = split(child, k);
        child->last_used = now;
        b += k;
        node = child;
    }
    for (Node* up = node; up; up = up->parent) up->last_used = now;
}

int32_t PrefixCache::evict(int32_t n_blocks) {
    int32_t freed = 0;
    while (freed < n_blocks) {
        // The least recently used leaf whose last block only the cache holds.
        Node* victim = nullptr;
        std::function<void(Node*)> visit = [&](Node* n) {
            for (auto& [key, child] : n->children) visit(child.get());
            if (n != root_.get() && n->children.empty() && kv_.refcount(n->blocks.back()) == 1 &&
                (!victim || n->last_used < victim->last_used))
                victim = n;
        };
        visit(root_.get());
        if (!victim) break;
        freed += drop_unused_tail(victim, n_blocks - freed);
        if (victim->blocks.empty()) remove_leaf(victim);
    }
    return freed;
}

// Releases up to `limit` blocks from the end of a leaf's edge while only the cache holds them.
int32_t PrefixCache::drop_unused_tail(Node* leaf, int32_t limit) {
    int32_t dropped = 0;
    while (dropped < limit && !leaf->blocks.empty() && kv_.refcount(leaf->blocks.back()) == 1) {
        kv_.release_external(leaf->blocks.back());
        leaf->blocks.pop_back();
        leaf->tokens.resize(leaf->blocks.size() * size_t(block_size_));
        --cached_blocks_;
        ++dropped;
    }
    return dropped;
}

void PrefixCache::remove_leaf(Node* node) {
    Node* parent = node->parent;
    for (auto it = parent->children.begin(); it != parent->children.end(); ++it)
        if (it->second.get() == node) {
            parent->children.erase(it);
            return;
        }
}

void PrefixCache::clear() {
    evict(cached_blocks_);
}

int32_t PrefixCache::evict_path(const int32_t* tokens, size_t n) {
    const size_t bs = size_t(block_size_);
    // Walk the path without splitting; remember the nodes whose edges it covers.
    std::vector<Node*> path;
    Node* node = root_.get();
    size_t pos = 0;
    while (pos + bs <= n) {
        auto it = node->children.find(Key(tokens + pos, tokens + pos + bs));
        if (it == node->children.end()) break;
        Node* child = it->second.get();
        const size_t edge = child->tokens.size();
        if (pos + edge > n || !std::equal(tokens + pos, tokens + pos + edge, child->tokens.begin())) break;
        path.push_back(child);
        pos += edge;
        node = child;
    }
    // From the deepest node up, drop leaf blocks only the cache holds.
    int32_t freed = 0;
    for (auto it = path.rbegin(); it != path.rend(); ++it) {
        Node* leaf = *it;
        if (!leaf->children.empty()) break;
        freed += drop_unused_tail(leaf, INT32_MAX);
        if (!leaf->blocks.empty()) break;
        remove_leaf(leaf);
    }
    return freed;
}

int32_t PrefixCache::evictable_blocks() const {
    // Exactly what evict() can reach: eviction drops unused blocks from the ends of
    // leaves, so a node's unused blocks count only when every block below it can go
    // first. Unused blocks above a live sequence's blocks stay until it ends.
    struct Reach {
        int32_t blocks = 0;
        bool whole = true;  // the node and everything below it can be evicted
    };
    std::function<Reach(const Node*)> visit = [&](const Node* node) {
        Reach r;
        for (const auto& [key, child] : node->children) {
            const Reach c = visit(child.get());
            r.blocks += c.blocks;
            r.whole = r.whole && c.whole;
        }
        if (!r.whole) return r;
        size_t tail = 0;
        while (tail < node->blocks.size() && kv_.refcount(node->blocks[node->blocks.size() - 1 - tail]) == 1) ++tail;
        r.blocks += int32_t(tail);
        r.whole = tail == node->blocks.size();
        return r;
    };
    return visit(root_.get()).blocks;
}

int32_t PrefixCache::node_count() const {
    int32_t n = 0;
    std::function<void(const Node*)> visit = [&](const Node* node) {
        n += int32_t(node->children.size());
        for (const auto& [key, child] : node->children) visit(child.get());
    };
    visit(root_.get());
    return n;
}

}  // namespace lumen
