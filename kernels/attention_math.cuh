// The arithmetic and partitioning of the paged attention kernels (attention.cu),
// written once for the device and the host: the online-softmax update, the
// split-K combine, the launch shape and scratch layout, and the rule that groups a
// sequence's consecutive tokens into one CTA. The host tests run these very functions
// (tests/test_cuda_attention_math.cpp), so the numerics (empty splits, huge scores)
// and the bookkeeping (every position counted once, scratch large enough) are checked
// on machines without a GPU.
//
// No CUDA header is needed: under nvcc the functions are __host__ __device__, under a
// plain C++ compiler they are ordinary inline functions.
#pragma once

#include <cmath>
#include <cstdint>

#ifndef LUMEN_HD
#ifdef __CUDACC__
#define LUMEN_HD __host__ __device__ __forceinline__
#else
#define LUMEN_HD inline
#endif
#endif

namespace lumen::cuda {

// ------------------------------------------------------------------ constants

constexpr int kAttnTile = 32;          // KV positions per shared-memory tile: one per lane of a warp
constexpr int kAttnWarps = 4;          // warps per CTA of the split kernel
constexpr int kAttnMinSplitLen = 256;  // KV positions per split, at least (a multiple of kAttnTile)
constexpr int kAttnMaxSplits = 128;    // splits per token, at most (longer contexts get longer splits)
constexpr int kAttnCombineThreads = 128;
constexpr int32_t kAttnMaxContext = 1 << 30;  // so that position arithmetic (split ends, tile steps) fits int32

// Query rows (token × head) one warp keeps an online-softmax state for. Each row costs
// head_dim / 32 accumulator registers per lane and head_dim floats of shared memory
// for its query, so wide heads get fewer rows.
LUMEN_HD constexpr int attention_rows_per_warp(int head_dim) {
    return head_dim <= 128 ? 4 : 2;
}

// ------------------------------------------------------------------ online softmax
//
// A row's state over the scores seen so far: m = their max, l = sum exp(s - m), and an
// accumulator acc = sum exp(s - m) · v kept by the caller. In the kernel each lane of a
// warp holds a copy with the same m and its own share of l (the lanes' shares add up
// to l at the end), so l needs no warp reduction per tile.
struct OnlineSoftmax {
    float m;
    float l;
};

LUMEN_HD OnlineSoftmax online_softmax_init() {
    return OnlineSoftmax{-INFINITY, 0.f};
}

LUMEN_HD float attention_exp(float x) {
#ifdef __CUDACC__
    return expf(x);
#else
    return std::exp(x);
#endif
}

// The factor that rescales sums taken relative to m_old to sums relative to m_new.
// While nothing has been seen both are -inf, and exp(-inf - -inf) would be NaN; the
// sums are 0 then, so any finite factor is right: 0.
LUMEN_HD float online_softmax_rescale(float m_old, float m_new) {
    return m_new == -INFINITY ? 0.f : attention_exp(m_old - m_new);
}

// Starts a tile whose scores have maximum tile_max (-inf if all are masked): raises m,
// rescales l, and returns the factor the caller multiplies its accumulator by.
LUMEN_HD float online_softmax_begin_tile(OnlineSoftmax& st, float tile_max) {
    const float m_new = tile_max > st.m ? tile_max : st.m;
    const float alpha = online_softmax_rescale(st.m, m_new);
    st.m = m_new;
    st.l *= alpha;
    return alpha;
}

// Adds one score of the current tile (after online_softmax_begin_tile saw the tile's
// max) and returns its weight exp(s - m), the factor of its value row. A masked score
// (-inf) weighs 0, also while m is still -inf.
LUMEN_HD float online_softmax_add(OnlineSoftmax& st, float score) {
    const float w = score == -INFINITY ? 0.f : attention_exp(score - st.m);
    st.l += w;
    return w;
}

// ------------------------------------------------------------------ split combine
//
// Splits s = 0..n-1 of a row left partials (m_s, l_s, acc_s). With M = max m_s and
// w_s = exp(m_s - M): L = sum l_s w_s, out = sum acc_s w_s / L. An empty split
// (m_s = -inf, l_s = 0, acc_s = 0) weighs 0 and changes nothing; if all are empty the
// output is 0, not NaN.
LUMEN_HD float combine_max(float M, float m_s) {
    return m_s > M ? m_s : M;
}
LUMEN_HD float combine_weight(float m_s, float M) {
    return m_s == -INFINITY ? 0.f : attention_exp(m_s - M);
}
LUMEN_HD float combine_inverse(float L) {
    return L > 0.f ? 1.f / L : 0.f;
}

// ------------------------------------------------------------------ launch shape
//
// Split kernel grid: (n_tokens, n_splits, n_kv_heads * head_chunks), kAttnWarps warps
// per CTA. CTA (t, s, z) serves KV head z / head_chunks, query heads h0..h0+hc of its
// group (h0 = (z % head_chunks) * heads_per_cta), and the run of tokens starting at t
// (attention_run_length; CTAs of tokens inside a run exit at once), over positions
// [s * split_len, (s + 1) * split_len) clipped to each token's context. Combine grid
// (n_tokens, n_heads), only when n_splits > 1. Everything here comes from host values,
// never from device data, so a captured CUDA graph stays valid for every step with the
// same sizes and max_context.
struct AttentionShape {
    int32_t split_len = 0;       // KV positions per split, a multiple of kAttnTile
    int32_t n_splits = 0;        // <= kAttnMaxSplits; 1 means no combine pass
    int32_t heads_per_cta = 0;   // query heads of one KV group per CTA
    int32_t head_chunks = 0;     // CTAs per KV head: ceil(group / heads_per_cta)
    int32_t tokens_per_cta = 0;  // most tokens of a run: heads_per_cta * tokens_per_cta rows fit a CTA
};

inline int32_t attention_split_len(int32_t max_context) {
    const int64_t ctx = max_context > 1 ? max_context : 1;
    const int64_t per_split = (ctx + kAttnMaxSplits - 1) / kAttnMaxSplits;
    const int64_t rounded = (per_split + kAttnTile - 1) / kAttnTile * kAttnTile;
    return int32_t(rounded > kAttnMinSplitLen ? rounded : kAttnMinSplitLen);
}

inline int32_t attention_splits(int32_t max_context) {
    const int64_t ctx = max_context > 1 ? max_context : 1;
    const int64_t len = attention_split_len(max_context);
    return int32_t((ctx + len - 1) / len);
}

inline AttentionShape attention_shape(int32_t n_heads, int32_t n_kv_heads, int32_t head_dim, int32_t max_context) {
    AttentionShape s;
    s.split_len = attention_split_len(max_context);
    s.n_splits = attention_splits(max_context);
    const int32_t group = n_kv_heads > 0 ? n_heads / n_kv_heads : 1;
    const int32_t rows = kAttnWarps * attention_rows_per_warp(head_dim);
    s.head_chunks = (group + rows - 1) / rows;
    s.heads_per_cta = (group + s.head_chunks - 1) / s.head_chunks;  // balanced chunks, each <= rows
    s.tokens_per_cta = rows / s.heads_per_cta;
    return s;
}

// ------------------------------------------------------------------ scratch layout
//
// Partial of (token t, query head h, split s) has index i = (t * n_heads + h) * n_splits
// + s: its (m, l) at scratch[2 i], its accumulator at scratch[2 n + i * head_dim] with
// n = n_tokens * n_heads * n_splits. No scratch when a single split writes out directly.
LUMEN_HD int64_t attention_partial_index(int32_t token, int32_t head, int32_t split, int32_t n_heads,
                                         int32_t n_splits) {
    return (int64_t(token) * n_heads + head) * n_splits + split;
}

inline int64_t attention_partials_floats(int32_t n_tokens, int32_t n_heads, int32_t head_dim, int32_t n_splits) {
    if (n_splits <= 1) return 0;
    return int64_t(n_tokens) * n_heads * n_splits * (int64_t(head_dim) + 2);
}

// ------------------------------------------------------------------ tokens and runs

// The positions a token attends to, 0..context-1: positions[t] + 1, clamped to what
// the launch covers (n_splits * split_len >= max_context) so that a position past the
// promised max_context cannot index past the scratch.
LUMEN_HD int32_t attention_context(int32_t position, int32_t n_splits, int32_t split_len) {
    const int64_t ctx = int64_t(position) + 1;
    const int64_t cap = int64_t(n_splits) * split_len;
    return int32_t(ctx < 0 ? 0 : (ctx > cap ? cap : ctx));
}

// Splits holding at least one of the token's positions: exactly those that write a
// partial for it, and those the combine reads.
LUMEN_HD int32_t attention_valid_splits(int32_t context, int32_t split_len) {
    return (context + split_len - 1) / split_len;
}

// Consecutive tokens of one sequence share a CTA, so a K/V tile in shared memory
// serves all of them (FlashAttention-2 style prefill). Token t starts a run unless it
// follows the previous token of the same block table at the next position, and its
// position is not a multiple of tokens_per_cta. Between two starts lie fewer than
// tokens_per_cta consecutive positions, so a run never exceeds tokens_per_cta, and
// every token belongs to exactly one run, whatever the positions are. A decode step
// (one token per sequence) makes every token its own run. Two tokens with the same
// block_table_offset read the same K/V, so sharing is right even if they were two
// sequences.
LUMEN_HD bool attention_run_starts(const int32_t* block_table_offset, const int32_t* positions, int32_t t,
                                   int32_t tokens_per_cta) {
    if (t == 0 || tokens_per_cta <= 1) return true;
    if (block_table_offset[t - 1] != block_table_offset[t]) return true;
    if (int64_t(positions[t - 1]) + 1 != int64_t(positions[t])) return true;
    return positions[t] % tokens_per_cta == 0;
}

// Tokens t, t+1, ... of the run that starts at t (1..tokens_per_cta).
LUMEN_HD int32_t attention_run_length(const int32_t* block_table_offset, const int32_t* positions, int32_t t,
                                      int32_t n_tokens, int32_t tokens_per_cta) {
    int32_t n = 1;
    while (n < tokens_per_cta && t + n < n_tokens &&
           !attention_run_starts(block_table_offset, positions, t + n, tokens_per_cta))
        ++n;
    return n;
}

}  // namespace lumen::cuda
