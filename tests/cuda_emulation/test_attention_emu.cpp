// kernels/attention.cu's device code, executed by the CPU emulator (no GPU needed):
// store_kv's slot placement and paged_attention (split kernel, combine kernel) for head
// sizes 32..256, GQA/MQA, several splits, prefill runs and odd block sizes, against a
// double-precision softmax over the fp16-rounded K/V; every schedule of the CTAs'
// threads must give bitwise the same output (no race between barriers).
#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "emu_test_support.h"

namespace lumen::emu_test {
namespace {

float f16_round(float x) {
    return fp16_to_fp32(fp32_to_fp16(x));
}

struct Seq {
    int n_new;  // tokens of this step: the last n_new positions of the context
    int ctx;    // positions stored in the cache, the step's included
};

struct AttnCase {
    const char* name;
    int n_heads, n_kv, head_dim, block_size, max_context;
    std::vector<Seq> seqs;
    unsigned seed;
};

// Positions a launch covers (attention_math.cuh: n_splits * split_len): a token past the
// promised max_context attends to this many positions only, and never indexes past the
// scratch.
int context_cap(int max_context) {
    const int64_t ctx = std::max(max_context, 1);
    const int64_t split_len = std::max<int64_t>(256, ((ctx + 127) / 128 + 31) / 32 * 32);
    return int((ctx + split_len - 1) / split_len * split_len);
}

struct AttnResult {
    std::vector<float> out;
    double max_rel_err = INFINITY;
};

// Stores every sequence's K/V through store_kv into shuffled physical blocks (caches
// prefilled with fp16 NaNs, so a slot that was never written poisons the output), runs
// paged_attention for the step's tokens and compares with the reference.
AttnResult run_attention(const AttnCase& c) {
    std::mt19937 rng(c.seed);
    std::uniform_real_distribution<float> uni(-1.f, 1.f);
    const int D = c.head_dim, kv_dim = c.n_kv * D, group = c.n_heads / c.n_kv;
    int n_blocks = 0;
    for (const Seq& s : c.seqs) n_blocks += (s.ctx + c.block_size - 1) / c.block_size;
    std::vector<int32_t> ids(static_cast<size_t>(n_blocks));
    std::iota(ids.begin(), ids.end(), 0);
    std::shuffle(ids.begin(), ids.end(), rng);

    std::vector<int32_t> tables, hist_off, hist_pos, step_off, step_pos, step_seq;
    std::vector<float> hist_k, hist_v;
    std::vector<std::vector<float>> seq_k, seq_v;
    size_t next = 0;
    for (size_t si = 0; si < c.seqs.size(); ++si) {
        const Seq& s = c.seqs[si];
        const int32_t off = int32_t(tables.size());
        for (int b = 0; b < (s.ctx + c.block_size - 1) / c.block_size; ++b) tables.push_back(ids[next++]);
        std::vector<float> k(size_t(s.ctx) * kv_dim), v(k.size());
        for (float& x : k) x = uni(rng);
        for (float& x : v) x = uni(rng);
        for (int p = 0; p < s.ctx; ++p) {
            hist_off.push_back(off);
            hist_pos.push_back(p);
        }
        hist_k.insert(hist_k.end(), k.begin(), k.end());
        hist_v.insert(hist_v.end(), v.begin(), v.end());
        for (int i = 0; i < s.n_new; ++i) {
            step_off.push_back(off);
            step_pos.push_back(s.ctx - s.n_new + i);
            step_seq.push_back(int32_t(si));
        }
        seq_k.push_back(std::move(k));
        seq_v.push_back(std::move(v));
    }

    const size_t cache_elems = size_t(n_blocks) * c.block_size * kv_dim;
    Buffer<uint16_t> kc_buf(cache_elems, 0x7E00), vc_buf(cache_elems, 0x7E00);
    EXPECT_EQ(kc::store_kv(hist_k.data(), hist_v.data(), kc_buf.data(), vc_buf.data(), c.block_size, kv_dim,
                           int32_t(hist_pos.size()), hist_pos.data(), hist_off.data(), tables.data(), nullptr),
              0);
    EXPECT_TRUE(kc_buf.guards_intact() && vc_buf.guards_intact());

    const int n_tokens = int(step_pos.size());
    const std::vector<float> q = [&] {
        std::vector<float> v(size_t(n_tokens) * c.n_heads * D);
        for (float& x : v) x = 2 * uni(rng);
        return v;
    }();
    const int64_t scratch_floats = kc::attention_scratch_floats(n_tokens, c.n_heads, D, c.max_context);
    Buffer<float> out(size_t(n_tokens) * c.n_heads * D, -777.f),
        scratch(size_t(std::max<int64_t>(scratch_floats, 1)), -777.f);
    kc::PagedAttentionParams p;
    p.k_cache = kc_buf.data();
    p.v_cache = vc_buf.data();
    p.block_size = c.block_size;
    p.n_heads = c.n_heads;
    p.n_kv_heads = c.n_kv;
    p.head_dim = D;
    p.scale = 1.f / std::sqrt(float(D));
    p.n_tokens = n_tokens;
    p.q = q.data();
    p.out = out.data();
    p.positions = step_pos.data();
    p.block_table_offset = step_off.data();
    p.block_tables = tables.data();
    p.max_context = c.max_context;
    p.scratch = scratch_floats ? scratch.data() : nullptr;
    EXPECT_EQ(kc::paged_attention(p, nullptr), 0);
    EXPECT_TRUE(out.guards_intact()) << "paged_attention wrote outside out";
    EXPECT_TRUE(scratch.guards_intact()) << "paged_attention wrote outside its scratch";

    AttnResult res;
    res.out = out.values();
    double max_err = 0;
    for (int t = 0; t < n_tokens; ++t)
        for (int h = 0; h < c.n_heads; ++h) {
            const std::vector<float>& K = seq_k[size_t(step_seq[size_t(t)])];
            const std::vector<float>& V = seq_v[size_t(step_seq[size_t(t)])];
            const int kvh = h / group, n = std::min(step_pos[size_t(t)] + 1, context_cap(c.max_context));
            const float* qr = q.data() + (size_t(t) * c.n_heads + h) * D;
            std::vector<double> s(static_cast<size_t>(n));
            double m = -INFINITY;
            for (int j = 0; j < n; ++j) {
                double d = 0;
                for (int i = 0; i < D; ++i) d += double(qr[i]) * f16_round(K[size_t(j) * kv_dim + kvh * D + i]);
                s[size_t(j)] = d / std::sqrt(double(D));
                m = std::max(m, s[size_t(j)]);
            }
            double sum = 0;
            for (double& x : s) sum += (x = std::exp(x - m));
            double scale = 0, err = 0;
            for (int i = 0; i < D; ++i) {
                double o = 0;
                for (int j = 0; j < n; ++j) o += s[size_t(j)] / sum * f16_round(V[size_t(j) * kv_dim + kvh * D + i]);
                const float got = res.out[(size_t(t) * c.n_heads + h) * D + i];
                err = std::isfinite(got) ? std::max(err, std::abs(got - o)) : INFINITY;
                scale = std::max(scale, std::abs(o));
            }
            max_err = std::max(max_err, err / scale);
        }
    res.max_rel_err = max_err;
    return res;
}

const AttnCase kCases[] = {
    {"Decode_D64_Group2_OneSplit", 4, 2, 64, 16, 200, {{1, 200}, {1, 1}, {1, 37}}, 1},
    {"MixedPrefillDecode_D64_ThreeSplits_Block7", 6, 2, 64, 7, 700, {{1, 700}, {40, 300}, {1, 1}, {20, 20}}, 2},
    {"Prefill_D128_Group4", 8, 2, 128, 16, 400, {{10, 400}, {1, 33}}, 10},
    {"Prefill_D48_Mha", 6, 6, 48, 16, 300, {{7, 300}, {1, 40}}, 8},
    {"Prefill_D32_Mha_16TokensPerCta", 8, 8, 32, 16, 600, {{33, 600}, {1, 500}}, 3},
    {"D128_Group16", 32, 2, 128, 16, 300, {{3, 300}, {1, 17}}, 4},
    {"D256_Mqa_HeadChunks_Block5", 20, 1, 256, 5, 600, {{2, 600}, {1, 258}}, 5},
    {"D96_Group2", 6, 3, 96, 16, 260, {{9, 260}, {1, 100}}, 6},
    {"D80_Group4", 8, 2, 80, 16, 270, {{3, 270}, {1, 5}}, 11},
    {"PositionPastMaxContext_Clamped", 4, 2, 64, 16, 200, {{2, 300}, {1, 40}}, 12},  // covers 256 positions
};

class EmulatedAttention : public ::testing::TestWithParam<AttnCase> {};

TEST_P(EmulatedAttention, MatchesDoubleReference) {
    const AttnCase& c = GetParam();
    emu::clear_launches();
    const AttnResult r = run_attention(c);
    EXPECT_LT(r.max_rel_err, 2e-5);
    EXPECT_TRUE(no_faults());
    // Multi-split launches must have gone through the combine kernel.
    const bool split = kc::attention_scratch_floats(1, c.n_heads, c.head_dim, c.max_context) > 0;
    const bool combined = std::any_of(emu::launches().begin(), emu::launches().end(),
                                      [](const emu::LaunchRecord& l) { return l.kernel == "combine_splits_kernel"; });
    EXPECT_EQ(split, combined);
}

INSTANTIATE_TEST_SUITE_P(Cases, EmulatedAttention, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<AttnCase>& info) { return std::string(info.param.name); });

// Threads of a CTA run in another order between barriers: a missing barrier would let a
// reader see another tile's (or no) data, so the output would change.
TEST(EmulatedAttentionSchedule, OutputIndependentOfThreadOrder) {
    const AttnCase& c = kCases[1];  // prefill runs, three splits, the combine
    const AttnResult forward = run_attention(c);
    emu::set_schedule(emu::Schedule::reverse);
    const AttnResult reverse = run_attention(c);
    emu::set_schedule(emu::Schedule::shuffled, 7);
    const AttnResult shuffled = run_attention(c);
    emu::set_schedule(emu::Schedule::forward);
    EXPECT_LT(forward.max_rel_err, 2e-5);
    EXPECT_TRUE(forward.out == reverse.out) << "reverse thread order changed the output";
    EXPECT_TRUE(forward.out == shuffled.out) << "shuffled thread order changed the output";
    EXPECT_TRUE(no_faults());
}

// store_kv: token t's K and V, rounded to fp16, land in slot positions[t] % block_size of
// block table[positions[t] / block_size] and nowhere else; position -1 stores nothing.
TEST(EmulatedStoreKv, PlacesEachTokenInItsSlot) {
    constexpr int kBlockSize = 4, kKvDim = 24, kBlocks = 6;
    const std::vector<int32_t> tables = {5, 2, /*seq 1*/ 0, 4, 1, /*seq 2*/ 3};
    const std::vector<int32_t> offsets = {2, 0, 0, 5, 2, 2};
    const std::vector<int32_t> positions = {9, 0, 7, 3, -1, 4};
    const int n_tokens = int(positions.size());
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> uni(-2.f, 2.f);
    std::vector<float> k(size_t(n_tokens) * kKvDim), v(k.size());
    for (float& x : k) x = uni(rng);
    for (float& x : v) x = uni(rng);
    k[3] = 70000.f;   // overflows to inf
    k[5] = 3e-6f;     // an fp16 subnormal
    v[7] = -65520.f;  // rounds (to even) to -inf
    const uint16_t kEmpty = 0xBEEF;
    Buffer<uint16_t> kc_buf(size_t(kBlocks) * kBlockSize * kKvDim, kEmpty), vc_buf(kc_buf.size(), kEmpty);
    ASSERT_EQ(kc::store_kv(k.data(), v.data(), kc_buf.data(), vc_buf.data(), kBlockSize, kKvDim, n_tokens,
                           positions.data(), offsets.data(), tables.data(), nullptr),
              0);
    EXPECT_TRUE(no_faults());
    std::vector<int> owner(size_t(kBlocks) * kBlockSize, -1);
    for (int t = 0; t < n_tokens; ++t) {
        if (positions[size_t(t)] < 0) continue;
        const int block = tables[size_t(offsets[size_t(t)] + positions[size_t(t)] / kBlockSize)];
        owner[size_t(block * kBlockSize + positions[size_t(t)] % kBlockSize)] = t;
    }
    for (size_t slot = 0; slot < owner.size(); ++slot)
        for (int i = 0; i < kKvDim; ++i) {
            const size_t at = slot * kKvDim + size_t(i);
            const int t = owner[slot];
            const uint16_t want_k = t < 0 ? kEmpty : fp32_to_fp16(k[size_t(t) * kKvDim + size_t(i)]);
            const uint16_t want_v = t < 0 ? kEmpty : fp32_to_fp16(v[size_t(t) * kKvDim + size_t(i)]);
            ASSERT_EQ(kc_buf[at], want_k) << "K slot " << slot << " dim " << i;
            ASSERT_EQ(vc_buf[at], want_v) << "V slot " << slot << " dim " << i;
        }
    EXPECT_TRUE(kc_buf.guards_intact() && vc_buf.guards_intact());
}

TEST(EmulatedAttentionArguments, RejectedBeforeAnyLaunch) {
    Buffer<uint16_t> cache(4096, 0);
    Buffer<float> q(256, 0.f), out(256, 0.f);
    const int32_t zero = 0;
    kc::PagedAttentionParams p;
    p.k_cache = cache.data();
    p.v_cache = cache.data();
    p.n_heads = 2;
    p.n_kv_heads = 1;
    p.head_dim = 40;  // not a supported head size
    p.scale = 0.125f;
    p.n_tokens = 1;
    p.q = q.data();
    p.out = out.data();
    p.positions = p.block_table_offset = p.block_tables = &zero;
    p.max_context = 16;
    emu::clear_launches();
    EXPECT_EQ(kc::paged_attention(p, nullptr), 1);  // cudaErrorInvalidValue
    p.head_dim = 64;
    p.k_cache = cache.data() + 1;                     // not 16-byte aligned
    EXPECT_EQ(kc::paged_attention(p, nullptr), 716);  // cudaErrorMisalignedAddress
    EXPECT_TRUE(emu::launches().empty());
}

}  // namespace
}  // namespace lumen::emu_test
