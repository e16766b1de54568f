// BlockPool and KVCacheManager: allocation on demand, reference counts,
// roll-back on a full pool, truncation, snapshots, and the invariant that every
// block is back in the pool when every sequence is freed.
#include <gtest/gtest.h>

#include <random>

#include "kv/block_pool.h"

using namespace lumen;

namespace {
KVCacheLayout layout(int32_t n_blocks, int32_t block_size = 4) {
    KVCacheLayout l;
    l.n_layers = 2;
    l.n_kv_heads = 3;
    l.head_dim = 8;
    l.block_size = block_size;
    l.n_blocks = n_blocks;
    l.type = DType::F16;
    return l;
}
}  // namespace

TEST(BlockPool, AllocateRetainRelease) {
    BlockPool pool(3);
    auto a = pool.allocate(), b = pool.allocate(), c = pool.allocate();
    ASSERT_TRUE(a && b && c);
    EXPECT_FALSE(pool.allocate().has_value());
    pool.retain(*b);
    EXPECT_EQ(pool.refcount(*b), 2);
    pool.release(*b);
    EXPECT_EQ(pool.free_count(), 0);
    pool.release(*b);
    EXPECT_EQ(pool.free_count(), 1);
    EXPECT_EQ(*pool.allocate(), *b) << "a freed block is reused";
}

TEST(KVCacheLayout, BytesFollowTheSeedFormula) {
    const auto l = layout(10, 16);
    // 2 · layers · kv_heads · head_dim · bytes
    EXPECT_EQ(l.bytes_per_token(), 2 * 2 * 3 * 8 * 2);
    EXPECT_EQ(l.bytes_per_block(), l.bytes_per_token() * 16);
    EXPECT_EQ(l.total_bytes(), l.bytes_per_block() * 10);
}

TEST(KVCacheManager, AllocatesOnDemandWithoutReservation) {
    KVCacheManager kv(layout(8));
    auto s = kv.create_sequence().value();
    EXPECT_EQ(kv.block_table(s).size(), 0u) << "no per-sequence max-length reservation";
    ASSERT_TRUE(kv.reserve(s, 1).is_ok());
    EXPECT_EQ(kv.block_table(s).size(), 1u);
    ASSERT_TRUE(kv.reserve(s, 4).is_ok());
    EXPECT_EQ(kv.block_table(s).size(), 1u);
    ASSERT_TRUE(kv.reserve(s, 5).is_ok());
    EXPECT_EQ(kv.block_table(s).size(), 2u);
    kv.set_length(s, 5);
    EXPECT_EQ(kv.length(s), 5);
    EXPECT_TRUE(kv.check_invariants().is_ok());
}

TEST(KVCacheManager, FullPoolIsRecoverableAndAllocatesNothing) {
    KVCacheManager kv(layout(3));
    auto a = kv.create_sequence().value(), b = kv.create_sequence().value();
    ASSERT_TRUE(kv.reserve(a, 8).is_ok());
    Status s = kv.reserve(b, 8);
    EXPECT_EQ(s.code(), StatusCode::recoverable);
    EXPECT_NE(s.message().find("needs 2 more blocks"), std::string::npos) << s.message();
    EXPECT_EQ(kv.block_table(b).size(), 0u);
    EXPECT_EQ(kv.free_blocks(), 1);
    EXPECT_FALSE(kv.reserve(999, 1).is_ok());
}

TEST(KVCacheManager, TruncateReturnsBlocks) {
    KVCacheManager kv(layout(4));
    auto s = kv.create_sequence().value();
    ASSERT_TRUE(kv.reserve(s, 13).is_ok());
    kv.set_length(s, 13);
    ASSERT_TRUE(kv.truncate(s, 5).is_ok());
    EXPECT_EQ(kv.block_table(s).size(), 2u);
    EXPECT_EQ(kv.free_blocks(), 2);
    EXPECT_FALSE(kv.truncate(s, 9).is_ok()) << "cannot grow by truncation";
    EXPECT_TRUE(kv.check_invariants().is_ok());
}

TEST(KVCacheManager, SnapshotShowsOwnersAndFill) {
    KVCacheManager kv(layout(4));
    auto a = kv.create_sequence().value(), b = kv.create_sequence().value();
    ASSERT_TRUE(kv.reserve(a, 6).is_ok());
    kv.set_length(a, 6);
    ASSERT_TRUE(kv.reserve(b, 3).is_ok());
    kv.set_length(b, 3);
    const KVSnapshot snap = kv.snapshot();
    EXPECT_EQ(snap.used_blocks(), 3);
    const auto& ta = kv.block_table(a);
    EXPECT_EQ(snap.blocks[size_t(ta[0])].tokens, 4);
    EXPECT_EQ(snap.blocks[size_t(ta[1])].tokens, 2);
    EXPECT_EQ(snap.blocks[size_t(ta[1])].owners, std::vector<int32_t>{a});
    EXPECT_EQ(snap.blocks[size_t(kv.block_table(b)[0])].tokens, 3);
}

TEST(KVCacheManager, RandomWorkloadKeepsInvariantsAndReturnsEveryBlock) {
    KVCacheManager kv(layout(64, 4));
    std::mt19937 rng(42);
    std::vector<int32_t> live;
    for (int op = 0; op < 5000; ++op) {
        const int choice = int(rng() % 4);
        if (choice == 0 || live.empty()) {
            live.push_back(kv.create_sequence().value());
        } else if (choice == 1) {
            const size_t i = rng() % live.size();
            kv.free_sequence(live[i]);
            live.erase(live.begin() + long(i));
        } else if (choice == 2) {
            const int32_t s = live[rng() % live.size()];
            const int32_t grow = kv.length(s) + int32_t(rng() % 9);
            Status st = kv.reserve(s, grow);
            if (st.is_ok())
                kv.set_length(s, grow);
            else
                ASSERT_EQ(st.code(), StatusCode::recoverable);
        } else {
            const int32_t s = live[rng() % live.size()];
            ASSERT_TRUE(kv.truncate(s, kv.length(s) / 2).is_ok());
        }
        ASSERT_TRUE(kv.check_invariants().is_ok()) << "after op " << op << ": " << kv.check_invariants().message();
    }
    for (int32_t s : live) kv.free_sequence(s);
    EXPECT_EQ(kv.free_blocks(), kv.n_blocks());
    EXPECT_EQ(kv.snapshot().used_blocks(), 0);
}
