// Host checks of the CUDA paged attention's numerics and bookkeeping, without a GPU.
// The kernels (kernels/attention.cu) run their online softmax, split combine, launch
// shape, scratch layout and token-run rule through the functions of
// kernels/attention_math.cuh; here the same functions drive a host emulation that
// walks the positions the way the kernels do (splits, 32-position tiles, one l share
// per lane, the CTA grid over tokens, splits and head chunks), compared with a direct
// softmax-weighted sum in double. What this cannot check is the device code itself
// (shared-memory indexing, barriers): that needs the GPU tests.
#include <gtest/gtest.h>

#ifdef LUMEN_HAVE_CUDA

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "attention.cuh"
#include "attention_math.cuh"

namespace {

using namespace lumen::cuda;

// ------------------------------------------------------------------ emulation

struct Partial {
    float m = -INFINITY;
    float l = 0.f;
    std::vector<float> acc;
};

// Keys and values of one KV head: position p's row at base + p * stride.
struct KVRows {
    const float* k = nullptr;
    const float* v = nullptr;
    int64_t stride = 0;
};

// One query row over the positions [begin, range_end) of a split, as the split kernel
// does: tiles of kAttnTile positions from begin, lane j holding position p0 + j; only
// positions below row_end count (the row's causal limit). q is already scaled.
Partial split_partial(const float* q, const KVRows& kv, int head_dim, int32_t begin, int32_t range_end,
                      int32_t row_end) {
    Partial part;
    part.acc.assign(head_dim, 0.f);
    OnlineSoftmax lanes[kAttnTile];
    for (auto& lane : lanes) lane = online_softmax_init();
    for (int32_t p0 = begin; p0 < range_end; p0 += kAttnTile) {
        float score[kAttnTile];
        float tile_max = -INFINITY;
        for (int j = 0; j < kAttnTile; ++j) {
            const int32_t pos = p0 + j;
            score[j] = -INFINITY;
            if (pos < row_end && pos < range_end) {
                float s = 0.f;
                for (int i = 0; i < head_dim; ++i) s += q[i] * kv.k[pos * kv.stride + i];
                score[j] = s;
            }
            tile_max = std::max(tile_max, score[j]);
        }
        float alpha = 0.f;
        for (auto& lane : lanes) alpha = online_softmax_begin_tile(lane, tile_max);  // the same on every lane
        for (float& a : part.acc) a *= alpha;
        for (int j = 0; j < kAttnTile; ++j) {
            const float w = online_softmax_add(lanes[j], score[j]);
            if (w == 0.f) continue;  // the kernel multiplies by zero-filled rows here
            const float* v = kv.v + (p0 + j) * kv.stride;
            for (int i = 0; i < head_dim; ++i) part.acc[i] += w * v[i];
        }
    }
    part.m = lanes[0].m;
    for (const auto& lane : lanes) part.l += lane.l;
    return part;
}

// The combine kernel's arithmetic over a row's partials.
std::vector<float> combine(const std::vector<Partial>& parts, int head_dim) {
    float M = -INFINITY;
    for (const auto& p : parts) M = combine_max(M, p.m);
    float L = 0.f;
    std::vector<float> out(head_dim, 0.f);
    for (const auto& p : parts) {
        const float w = combine_weight(p.m, M);
        L += p.l * w;
        for (int i = 0; i < head_dim; ++i) out[i] += p.acc[i] * w;
    }
    const float inv = combine_inverse(L);
    for (float& o : out) o *= inv;
    return out;
}

// softmax(scale · q·k) · V over positions 0..n-1, in double.
std::vector<double> direct_attention(const float* q, const KVRows& kv, int head_dim, int32_t n, double scale) {
    std::vector<double> scores(n);
    double max_score = -INFINITY;
    for (int32_t p = 0; p < n; ++p) {
        double s = 0;
        for (int i = 0; i < head_dim; ++i) s += double(q[i]) * kv.k[p * kv.stride + i];
        scores[p] = s * scale;
        max_score = std::max(max_score, scores[p]);
    }
    double sum = 0;
    for (double& s : scores) sum += (s = std::exp(s - max_score));
    std::vector<double> out(head_dim, 0.0);
    for (int32_t p = 0; p < n; ++p)
        for (int i = 0; i < head_dim; ++i) out[i] += scores[p] / sum * kv.v[p * kv.stride + i];
    return out;
}

// max |got - want| / max |want|, or infinity if got has a NaN.
double relative_error(const std::vector<float>& got, const std::vector<double>& want) {
    double err = 0, scale = 0;
    for (size_t i = 0; i < want.size(); ++i) {
        if (!std::isfinite(got[i])) return INFINITY;
        err = std::max(err, std::abs(got[i] - want[i]));
        scale = std::max(scale, std::abs(want[i]));
    }
    return scale > 0 ? err / scale : err;
}

std::vector<float> uniform(std::mt19937& rng, size_t n, float lo, float hi) {
    std::uniform_real_distribution<float> dist(lo, hi);
    std::vector<float> x(n);
    for (float& v : x) v = dist(rng);
    return x;
}

std::vector<float> scaled(const std::vector<float>& q, float scale) {
    std::vector<float> out(q);
    for (float& v : out) v *= scale;
    return out;
}

// A context of n positions split every split_len positions, each split tile by tile.
std::vector<Partial> split_all(const std::vector<float>& q_scaled, const KVRows& kv, int head_dim, int32_t n,
                               int32_t split_len) {
    std::vector<Partial> parts;
    for (int32_t begin = 0; begin < n; begin += split_len) {
        const int32_t end = std::min(n, begin + split_len);
        parts.push_back(split_partial(q_scaled.data(), kv, head_dim, begin, end, end));
    }
    return parts;
}

// ------------------------------------------------------------------ numerics

TEST(CudaAttentionMath, SplitOnlineSoftmaxMatchesDirect) {
    std::mt19937 rng(1234);
    for (int head_dim : {64, 128}) {
        const float scale = 1.f / std::sqrt(float(head_dim));
        for (int32_t n : {1, 17, 300, 1000}) {
            const std::vector<float> k = uniform(rng, size_t(n) * head_dim, -1.f, 1.f);
            const std::vector<float> v = uniform(rng, size_t(n) * head_dim, -1.f, 1.f);
            const KVRows kv{k.data(), v.data(), head_dim};
            for (float amplitude : {1.f, 8.f}) {  // flat and peaked softmax
                const std::vector<float> q = uniform(rng, head_dim, -amplitude, amplitude);
                const std::vector<double> want = direct_attention(q.data(), kv, head_dim, n, scale);
                for (int32_t split_len : {32, 96, 256, attention_split_len(n)}) {
                    const auto parts = split_all(scaled(q, scale), kv, head_dim, n, split_len);
                    EXPECT_LT(relative_error(combine(parts, head_dim), want), 1e-5)
                        << "head_dim " << head_dim << " n " << n << " split_len " << split_len << " amplitude "
                        << amplitude;
                }
            }
        }
    }
}

TEST(CudaAttentionMath, EmptySplitsChangeNothing) {
    std::mt19937 rng(7);
    const int head_dim = 64;
    const int32_t n = 300;
    const std::vector<float> k = uniform(rng, size_t(n) * head_dim, -1.f, 1.f);
    const std::vector<float> v = uniform(rng, size_t(n) * head_dim, -1.f, 1.f);
    const std::vector<float> q = scaled(uniform(rng, head_dim, -2.f, 2.f), 0.125f);
    const KVRows kv{k.data(), v.data(), head_dim};
    const auto parts = split_all(q, kv, head_dim, n, 96);
    const std::vector<float> base = combine(parts, head_dim);

    // A split whose positions all lie past the row's limit (a token of a run that ends
    // before the split) leaves exactly the empty partial.
    const Partial empty = split_partial(q.data(), kv, head_dim, 128, 192, 100);
    EXPECT_EQ(empty.m, -INFINITY);
    EXPECT_EQ(empty.l, 0.f);
    for (float a : empty.acc) EXPECT_EQ(a, 0.f);

    for (size_t at = 0; at <= parts.size(); ++at) {
        auto with_empty = parts;
        with_empty.insert(with_empty.begin() + at, empty);
        EXPECT_EQ(combine(with_empty, head_dim), base) << "empty split at " << at;
    }

    // Fully masked tiles after the row's limit leave the partial bitwise unchanged.
    const Partial exact = split_partial(q.data(), kv, head_dim, 0, 150, 150);
    const Partial padded = split_partial(q.data(), kv, head_dim, 0, 256, 150);
    EXPECT_EQ(exact.m, padded.m);
    EXPECT_EQ(exact.l, padded.l);
    EXPECT_EQ(exact.acc, padded.acc);

    // Nothing at all: zeros, not NaN.
    for (float o : combine({empty, empty}, head_dim)) EXPECT_EQ(o, 0.f);
    for (float o : combine({}, head_dim)) EXPECT_EQ(o, 0.f);
}

TEST(CudaAttentionMath, HugeScoresNeitherOverflowNorUnderflow) {
    // Integer keys and queries with head_dim 64 (scale 1/8, exact) make every score a
    // multiple of 1/8 below 2^16: exact in float, so the emulation and the double
    // reference see the same scores, of magnitude ~1e4.
    std::mt19937 rng(99);
    const int head_dim = 64;
    const int32_t n = 300;
    const float scale = 0.125f;
    std::uniform_int_distribution<int> key_dist(-1, 1), q_dist(-8000, 8000);
    std::vector<float> k(size_t(n) * head_dim), v = uniform(rng, size_t(n) * head_dim, -1.f, 1.f);
    for (float& x : k) x = float(key_dist(rng));
    std::vector<float> q(head_dim);
    for (float& x : q) x = float(q_dist(rng));
    const KVRows kv{k.data(), v.data(), head_dim};

    double max_abs_score = 0;
    for (int32_t p = 0; p < n; ++p) {
        double s = 0;
        for (int i = 0; i < head_dim; ++i) s += double(q[i]) * k[p * head_dim + i];
        max_abs_score = std::max(max_abs_score, std::abs(s * scale));
    }
    EXPECT_GT(max_abs_score, 5e3);  // exp of that overflows float by far

    for (int32_t split_len : {32, 96, 256}) {
        const auto parts = split_all(scaled(q, scale), kv, head_dim, n, split_len);
        EXPECT_LT(relative_error(combine(parts, head_dim), direct_attention(q.data(), kv, head_dim, n, scale)), 1e-5)
            << "split_len " << split_len;
    }

    // All scores equal and hugely negative: exp(s) underflows to 0 everywhere, the
    // online softmax still averages V.
    std::vector<float> ones(size_t(n) * head_dim, 1.f);
    const KVRows flat{ones.data(), v.data(), head_dim};
    const std::vector<float> q_neg(head_dim, -2000.f);  // every score -16000
    for (int32_t split_len : {32, 256}) {
        const auto parts = split_all(scaled(q_neg, scale), flat, head_dim, n, split_len);
        EXPECT_LT(relative_error(combine(parts, head_dim), direct_attention(q_neg.data(), flat, head_dim, n, scale)),
                  1e-5);
    }
}

// ------------------------------------------------------------------ shape and scratch

TEST(CudaAttentionMath, SplitsCoverTheContext) {
    for (int32_t max_context :
         {1, 2, 31, 32, 33, 255, 256, 257, 1000, 4096, 32767, 32768, 32769, 100000, 131072, 1 << 20, kAttnMaxContext}) {
        const int32_t len = attention_split_len(max_context), splits = attention_splits(max_context);
        EXPECT_EQ(len % kAttnTile, 0) << max_context;
        EXPECT_GE(len, kAttnMinSplitLen) << max_context;
        EXPECT_GE(splits, 1) << max_context;
        EXPECT_LE(splits, kAttnMaxSplits) << max_context;
        EXPECT_GE(int64_t(splits) * len, max_context) << max_context;
        EXPECT_LT(int64_t(splits - 1) * len, max_context) << max_context;  // no split that can never be used
        EXPECT_LE(int64_t(splits) * len + kAttnTile, int64_t(std::numeric_limits<int32_t>::max()));
        // Each token's valid splits are those the split kernel writes for it.
        for (int32_t position : {0, max_context / 2, max_context - 1, max_context + 5000, -1}) {
            const int32_t ctx = attention_context(position, splits, len);
            const int32_t valid = attention_valid_splits(ctx, len);
            EXPECT_LE(valid, splits);
            EXPECT_GE(ctx, 0);
            if (position >= 0 && position < max_context) {
                EXPECT_EQ(ctx, position + 1);
            }
            for (int32_t s = 0; s < splits; ++s) EXPECT_EQ(s < valid, int64_t(s) * len < ctx);
        }
    }
}

TEST(CudaAttentionMath, HeadChunksAndRunsFitACta) {
    for (int head_dim : {32, 64, 96, 128, 160, 256}) {
        const int rows = kAttnWarps * attention_rows_per_warp(head_dim);
        for (int32_t group = 1; group <= 256; ++group) {
            const AttentionShape s = attention_shape(group * 2, 2, head_dim, 4096);
            EXPECT_GE(int64_t(s.head_chunks) * s.heads_per_cta, group);
            EXPECT_GE(s.tokens_per_cta, 1);
            EXPECT_LE(s.heads_per_cta * s.tokens_per_cta, rows);
            for (int32_t chunk = 0; chunk < s.head_chunks; ++chunk)
                EXPECT_GT(group - chunk * s.heads_per_cta, 0) << "group " << group << " chunk " << chunk;
        }
    }
}

TEST(CudaAttentionMath, ScratchCoversTheLaunchShape) {
    for (int32_t n_tokens : {1, 7, 64})
        for (auto [n_heads, n_kv_heads] : {std::pair{1, 1}, {9, 3}, {32, 8}, {71, 1}})
            for (int32_t head_dim : {32, 64, 96, 128, 256})
                for (int32_t max_context : {1, 256, 257, 5000, 131072}) {
                    const AttentionShape s = attention_shape(n_heads, n_kv_heads, head_dim, max_context);
                    const int64_t have = attention_scratch_floats(n_tokens, n_heads, head_dim, max_context);
                    EXPECT_EQ(s.n_splits, attention_splits(max_context));
                    if (s.n_splits == 1) {
                        EXPECT_EQ(have, 0);  // the split kernel writes out directly
                        continue;
                    }
                    const int64_t n = int64_t(n_tokens) * n_heads * s.n_splits;
                    const int64_t last =
                        attention_partial_index(n_tokens - 1, n_heads - 1, s.n_splits - 1, n_heads, s.n_splits);
                    EXPECT_EQ(last, n - 1);
                    EXPECT_LE(2 * n + (last + 1) * head_dim, have);  // (m, l) pairs, then accumulators
                }
}

TEST(CudaAttentionMath, RunsCoverEveryTokenOnce) {
    std::mt19937 rng(5);
    for (int trial = 0; trial < 200; ++trial) {
        // A step: sequences contribute a chunk of consecutive positions (prefill) or
        // one token (decode); every third trial has arbitrary positions and offsets.
        std::vector<int32_t> offsets, positions;
        const int n_seqs = 1 + int(rng() % 6);
        for (int s = 0; s < n_seqs; ++s) {
            const int32_t n = rng() % 2 ? 1 : 1 + int32_t(rng() % 40);
            const int32_t start = int32_t(rng() % 100);
            for (int32_t i = 0; i < n; ++i) {
                offsets.push_back(trial % 3 == 2 ? int32_t(rng() % 2) : 10 * s);
                positions.push_back(trial % 3 == 2 ? int32_t(rng() % 8) - 2 : start + i);
            }
        }
        const int32_t n_tokens = int32_t(positions.size());
        for (int32_t per_cta : {1, 2, 3, 5, 16}) {
            std::vector<int> covered(n_tokens, 0);
            for (int32_t t = 0; t < n_tokens; ++t) {
                if (!attention_run_starts(offsets.data(), positions.data(), t, per_cta)) continue;
                const int32_t len = attention_run_length(offsets.data(), positions.data(), t, n_tokens, per_cta);
                ASSERT_GE(len, 1);
                ASSERT_LE(len, per_cta);
                for (int32_t u = 0; u < len; ++u) {
                    ++covered[t + u];
                    EXPECT_EQ(offsets[t + u], offsets[t]);  // one block table per run
                }
            }
            for (int32_t t = 0; t < n_tokens; ++t)
                EXPECT_EQ(covered[t], 1) << "trial " << trial << " token " << t << " per_cta " << per_cta;
            if (per_cta == 1) {
                for (int32_t t = 0; t < n_tokens; ++t)
                    EXPECT_TRUE(attention_run_starts(offsets.data(), positions.data(), t, per_cta));
            }
        }
    }
}

// ------------------------------------------------------------------ a whole step

// A step over a paged cache (block size 7, shuffled blocks), emulating the CTA grid
// of the split kernel: leaders of runs, head chunks, splits clipped to each token's
// context, partials at their scratch index (NaN-filled first, so a partial read but
// never written shows), then the combine over each token's valid splits.
void check_step(int32_t max_context, int32_t n_heads, int32_t n_kv_heads, int head_dim, uint32_t seed) {
    std::mt19937 rng(seed);
    const int32_t block_size = 7;
    const int32_t kv_dim = n_kv_heads * head_dim;
    const int32_t group = n_heads / n_kv_heads;
    const float scale = 1.f / std::sqrt(float(head_dim));

    // Sequences: (tokens this step, context after it).
    struct Seq {
        int32_t n_new, ctx;
    };
    const std::vector<Seq> seqs = {{1, max_context},
                                   {std::min(40, max_context), max_context / 2 + 1},
                                   {1, 1},
                                   {std::min(20, max_context), std::min(20, max_context)}};
    std::vector<int32_t> offsets, positions, tables, seq_of;
    std::vector<std::vector<float>> seq_k, seq_v;  // logical [ctx][kv_dim]
    int32_t n_blocks_total = 0;
    for (const Seq& s : seqs) n_blocks_total += (s.ctx + block_size - 1) / block_size;
    std::vector<int32_t> block_ids(n_blocks_total);
    for (int32_t i = 0; i < n_blocks_total; ++i) block_ids[i] = i;
    std::shuffle(block_ids.begin(), block_ids.end(), rng);
    std::vector<float> k_cache(size_t(n_blocks_total) * block_size * kv_dim, NAN), v_cache(k_cache);
    int32_t next_block = 0;
    for (const Seq& s : seqs) {
        const int32_t offset = int32_t(tables.size());
        for (int32_t b = 0; b < (s.ctx + block_size - 1) / block_size; ++b) tables.push_back(block_ids[next_block++]);
        seq_k.push_back(uniform(rng, size_t(s.ctx) * kv_dim, -1.f, 1.f));
        seq_v.push_back(uniform(rng, size_t(s.ctx) * kv_dim, -1.f, 1.f));
        for (int32_t p = 0; p < s.ctx; ++p) {  // store_kv's addressing
            const int64_t dst = (int64_t(tables[offset + p / block_size]) * block_size + p % block_size) * kv_dim;
            std::copy_n(seq_k.back().data() + int64_t(p) * kv_dim, kv_dim, k_cache.data() + dst);
            std::copy_n(seq_v.back().data() + int64_t(p) * kv_dim, kv_dim, v_cache.data() + dst);
        }
        for (int32_t i = 0; i < s.n_new; ++i) {
            offsets.push_back(offset);
            positions.push_back(s.ctx - s.n_new + i);
            seq_of.push_back(int32_t(seq_k.size()) - 1);
        }
    }
    const int32_t n_tokens = int32_t(positions.size());
    const std::vector<float> q = uniform(rng, size_t(n_tokens) * n_heads * head_dim, -2.f, 2.f);

    const AttentionShape shape = attention_shape(n_heads, n_kv_heads, head_dim, max_context);
    const int64_t n_partials = int64_t(n_tokens) * n_heads * shape.n_splits;
    std::vector<float> scratch(attention_scratch_floats(n_tokens, n_heads, head_dim, max_context), NAN);
    std::vector<float> out(size_t(n_tokens) * n_heads * head_dim, NAN);
    std::vector<int> rows_done(size_t(n_tokens) * n_heads * shape.n_splits, 0);

    for (int32_t t0 = 0; t0 < n_tokens; ++t0)
        for (int32_t split = 0; split < shape.n_splits; ++split)
            for (int32_t z = 0; z < n_kv_heads * shape.head_chunks; ++z) {
                if (!attention_run_starts(offsets.data(), positions.data(), t0, shape.tokens_per_cta)) continue;
                const int32_t n_run =
                    attention_run_length(offsets.data(), positions.data(), t0, n_tokens, shape.tokens_per_cta);
                const int32_t split_start = split * shape.split_len, split_end = split_start + shape.split_len;
                int32_t run_context = 0;
                for (int32_t u = 0; u < n_run; ++u)
                    run_context =
                        std::max(run_context, attention_context(positions[t0 + u], shape.n_splits, shape.split_len));
                const int32_t range_end = std::min(split_end, run_context);
                if (range_end <= split_start) continue;
                const int32_t kv_head = z / shape.head_chunks, h0 = (z % shape.head_chunks) * shape.heads_per_cta;
                const int32_t hc = std::min(shape.heads_per_cta, group - h0);
                ASSERT_GT(hc, 0);
                ASSERT_LE(n_run * hc, kAttnWarps * attention_rows_per_warp(head_dim));
                // The run's K/V rows through the leader's block table, as load_kv_tile reads them.
                std::vector<float> k_rows(size_t(range_end) * head_dim), v_rows(k_rows.size());
                for (int32_t p = split_start; p < range_end; ++p) {
                    const int64_t src =
                        ((int64_t(tables[offsets[t0] + p / block_size]) * block_size + p % block_size) * n_kv_heads +
                         kv_head) *
                        head_dim;
                    std::copy_n(k_cache.data() + src, head_dim, k_rows.data() + int64_t(p) * head_dim);
                    std::copy_n(v_cache.data() + src, head_dim, v_rows.data() + int64_t(p) * head_dim);
                }
                for (int32_t row = 0; row < n_run * hc; ++row) {
                    const int32_t token = t0 + row / hc, head = kv_head * group + h0 + row % hc;
                    const int32_t row_end =
                        std::min(split_end, attention_context(positions[token], shape.n_splits, shape.split_len));
                    const std::vector<float> qs =
                        scaled(std::vector<float>(q.begin() + (int64_t(token) * n_heads + head) * head_dim,
                                                  q.begin() + (int64_t(token) * n_heads + head + 1) * head_dim),
                               scale);
                    const Partial part = split_partial(qs.data(), KVRows{k_rows.data(), v_rows.data(), head_dim},
                                                       head_dim, split_start, range_end, row_end);
                    const int64_t i = attention_partial_index(token, head, split, n_heads, shape.n_splits);
                    ++rows_done[i];
                    if (shape.n_splits == 1) {
                        const float inv = combine_inverse(part.l);
                        for (int d = 0; d < head_dim; ++d)
                            out[(int64_t(token) * n_heads + head) * head_dim + d] = part.acc[d] * inv;
                    } else {
                        scratch.at(2 * i) = part.m;
                        scratch.at(2 * i + 1) = part.l;
                        for (int d = 0; d < head_dim; ++d) scratch.at(2 * n_partials + i * head_dim + d) = part.acc[d];
                    }
                }
            }

    for (int32_t t = 0; t < n_tokens; ++t)
        for (int32_t h = 0; h < n_heads; ++h) {
            const int32_t ctx = attention_context(positions[t], shape.n_splits, shape.split_len);
            const int32_t n_valid = attention_valid_splits(ctx, shape.split_len);
            for (int32_t s = 0; s < shape.n_splits; ++s)
                EXPECT_EQ(rows_done[attention_partial_index(t, h, s, n_heads, shape.n_splits)], s < n_valid ? 1 : 0);
            float* o = out.data() + (int64_t(t) * n_heads + h) * head_dim;
            if (shape.n_splits > 1) {
                std::vector<Partial> parts(n_valid);
                for (int32_t s = 0; s < n_valid; ++s) {
                    const int64_t i = attention_partial_index(t, h, s, n_heads, shape.n_splits);
                    parts[s].m = scratch.at(2 * i);
                    parts[s].l = scratch.at(2 * i + 1);
                    parts[s].acc.assign(scratch.begin() + 2 * n_partials + i * head_dim,
                                        scratch.begin() + 2 * n_partials + (i + 1) * head_dim);
                }
                const std::vector<float> combined = combine(parts, head_dim);
                std::copy(combined.begin(), combined.end(), o);
            }
            // Reference: the token's sequence, logically, GQA head h / group.
            const KVRows kv{seq_k[seq_of[t]].data() + (h / group) * head_dim,
                            seq_v[seq_of[t]].data() + (h / group) * head_dim, kv_dim};
            const std::vector<double> want = direct_attention(q.data() + (int64_t(t) * n_heads + h) * head_dim, kv,
                                                              head_dim, positions[t] + 1, scale);
            EXPECT_LT(relative_error(std::vector<float>(o, o + head_dim), want), 1e-5)
                << "token " << t << " head " << h << " max_context " << max_context;
        }
}

TEST(CudaAttentionMath, WholeStepMatchesDirect) {
    check_step(200, 6, 2, 64, 1);    // one split: the split kernel writes out
    check_step(700, 6, 2, 64, 2);    // three splits, prefill runs across split borders
    check_step(1500, 8, 8, 32, 3);   // MHA: 16 tokens per run
    check_step(600, 32, 2, 128, 4);  // group 16 in one CTA, one token per run
    check_step(600, 20, 1, 256, 5);  // MQA group 20 in 3 head chunks of 7, 7, 6
}

}  // namespace

#else

TEST(CudaAttentionMath, Skipped) {
    GTEST_SKIP() << "built without CUDA";
}

#endif
