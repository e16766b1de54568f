// Causal GQA attention over the fp16 paged KV cache (attention.cuh), and the store of
// a step's K/V into it.
//
// One kernel serves decode and prefill. FlashDecoding: each token's KV range is cut
// into splits of split_len positions, processed by separate CTAs that each leave an
// online-softmax partial (m, l, acc); a second kernel combines them. A CTA serves one
// KV head and the query heads of its group (GQA: K/V are read once for all of them),
// and, FlashAttention-2 style, a run of up to tokens_per_cta consecutive tokens of one
// sequence (attention_run_starts): in prefill a K/V tile in shared memory then serves
// tokens × heads query rows, each with its own causal limit. The launch shape comes
// from host values only (attention_shape in attention_math.cuh), so decode steps can
// be captured into CUDA graphs; CTAs with nothing to do exit at once.
//
// Inside a CTA (kAttnWarps warps), per tile of kAttnTile = 32 positions:
//   - all threads copy K and V (16 bytes per load) through the block table into shared
//     memory, K transposed (pairs of dims × position) so that in the score phase lane j
//     reads position j's key without bank conflicts;
//   - each warp owns up to rows_per_warp query rows: lane j computes the score of
//     position j for each row, the warp updates the row's online softmax
//     (attention_math.cuh) and adds the tile's weighted V rows into an accumulator of
//     which each lane holds a slice of half2 pairs of dims.
// Queries are scaled by 1/sqrt(head_dim) once, when loaded. exp is expf throughout.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "attention.cuh"
#include "attention_math.cuh"

namespace lumen::cuda {

namespace {

constexpr int kThreads = kAttnWarps * 32;
constexpr unsigned kFullMask = 0xffffffffu;

// ------------------------------------------------------------------ sizes

// Sizes of the split kernel for a head of HD dims (a multiple of 16, at most 256).
template <int HD>
struct AttnDims {
    static constexpr int D = HD;
    static constexpr int kPairs = D / 2;                   // half2 pairs of dims per row
    static constexpr int kPairSlots = (kPairs + 31) / 32;  // pairs per lane (the last one partial unless 64 divides D)
    static constexpr int kChunks = D / 8;                  // 16-byte chunks of a K/V row
    // 16-byte loads per thread per tile (of K and of V); the last may be partial.
    static constexpr int kLoads = (kAttnTile * kChunks + kThreads - 1) / kThreads;
    // Words per row of the transposed K tile: the padding spreads the stores of one
    // warp (kChunks chunks × 32 / kChunks positions) over all 32 banks.
    static constexpr int kKStride = kAttnTile + (kChunks >= 32 ? 1 : 32 / kChunks);
    static constexpr int kRowsPerWarp = attention_rows_per_warp(D);
    static constexpr int kRows = kAttnWarps * kRowsPerWarp;
    static_assert(D % 16 == 0 && D <= 256, "head sizes are multiples of 16, at most 256");
};

// Shared memory of one CTA; at head_dim 256: 8 + 1 + 16.5 + 16 KiB (under the 48 KiB
// of static shared memory), at 128: 8 + 2 + 8.5 + 8 KiB.
//
// K is stored transposed so that lane j of the score loop reads position j's key from
// its own bank: word (row, j) holds two dims of position j, where dims 8c + 2w, 8c + 2w
// + 1 (chunk c, word w of a 16-byte load) sit in row w * kChunks + c.
template <int HD>
struct AttnShared {
    using Dims = AttnDims<HD>;
    float4 q[Dims::kRows][Dims::D / 4];                       // query rows, already scaled
    float4 w[kAttnWarps][Dims::kRowsPerWarp][kAttnTile / 4];  // a tile's softmax weights per warp row
    uint32_t k[Dims::kPairs][Dims::kKStride];                 // K tile, half2 bits, [word * kChunks + chunk][position]
    alignas(16) uint32_t v[kAttnTile][Dims::kPairs];          // V tile, half2 bits, [position][pair of dims]
};

// A query row's online softmax (this lane's share of l) and this lane's accumulator
// slice: pairs lane, lane + 32, ... of the head's dims.
template <int HD>
struct RowState {
    OnlineSoftmax sm;
    float2 acc[AttnDims<HD>::kPairSlots];
};

// ------------------------------------------------------------------ helpers

__device__ __forceinline__ float2 half2_bits_to_float2(uint32_t bits) {
    __half2_raw raw;
    raw.x = static_cast<unsigned short>(bits & 0xffffu);
    raw.y = static_cast<unsigned short>(bits >> 16);
    return __half22float2(__half2(raw));
}

__device__ __forceinline__ float warp_max(float v) {
    for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(kFullMask, v, offset));
    return v;
}

__device__ __forceinline__ float warp_sum(float v) {
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(kFullMask, v, offset);
    return v;
}

__device__ __forceinline__ float component(const float4& v, int i) {
    return i == 0 ? v.x : (i == 1 ? v.y : (i == 2 ? v.z : v.w));
}

template <int HD>
__device__ __forceinline__ bool pair_in_head(int slot, int lane) {
    return AttnDims<HD>::kPairs % 32 == 0 || lane + 32 * slot < AttnDims<HD>::kPairs;
}

// ------------------------------------------------------------------ split kernel

// Copies positions p0 .. p0 + 31 (those below range_end; the rest are zeros, so that
// masked lanes never multiply a weight 0 by garbage) of KV head kv_head into shared
// memory. All loads are issued before the first store.
template <int HD>
__device__ __forceinline__ void load_kv_tile(AttnShared<HD>& sh, const PagedAttentionParams& p, const int32_t* table,
                                             int kv_head, int p0, int range_end) {
    using Dims = AttnDims<HD>;
    const int n_valid = min(kAttnTile, range_end - p0);
    uint4 kr[Dims::kLoads], vr[Dims::kLoads];
#pragma unroll
    for (int it = 0; it < Dims::kLoads; ++it) {
        const int idx = threadIdx.x + it * kThreads;
        const int j = idx / Dims::kChunks, c = idx % Dims::kChunks;
        kr[it] = vr[it] = make_uint4(0, 0, 0, 0);
        if (j < n_valid && idx < kAttnTile * Dims::kChunks) {
            const int pos = p0 + j;
            const int64_t row =
                (int64_t(table[pos / p.block_size]) * p.block_size + pos % p.block_size) * p.n_kv_heads + kv_head;
            const int64_t offset = row * Dims::D + 8 * c;
            kr[it] = __ldg(reinterpret_cast<const uint4*>(p.k_cache + offset));
            vr[it] = __ldg(reinterpret_cast<const uint4*>(p.v_cache + offset));
        }
    }
#pragma unroll
    for (int it = 0; it < Dims::kLoads; ++it) {
        const int idx = threadIdx.x + it * kThreads;
        if (idx >= kAttnTile * Dims::kChunks) break;
        const int j = idx / Dims::kChunks, c = idx % Dims::kChunks;
        sh.k[0 * Dims::kChunks + c][j] = kr[it].x;
        sh.k[1 * Dims::kChunks + c][j] = kr[it].y;
        sh.k[2 * Dims::kChunks + c][j] = kr[it].z;
        sh.k[3 * Dims::kChunks + c][j] = kr[it].w;
        *reinterpret_cast<uint4*>(&sh.v[j][4 * c]) = vr[it];
    }
}

// One warp's work on a tile in shared memory for its NR rows (row r of the warp is CTA
// row r * kAttnWarps + warp). Lane j holds position p0 + j; row_end[r] is the first
// position row r must not see (its causal limit, or the split's end).
template <int HD, int NR>
__device__ __forceinline__ void attend_tile(AttnShared<HD>& sh, RowState<HD>* st, const int* row_end, int p0, int warp,
                                            int lane) {
    using Dims = AttnDims<HD>;

    // Scores: q · k for position p0 + lane, 8 dims (one chunk) at a time, each key word
    // read once for all rows.
    float s[NR];
#pragma unroll
    for (int r = 0; r < NR; ++r) s[r] = 0.f;
#pragma unroll 2
    for (int c = 0; c < Dims::kChunks; ++c) {
        const float2 k0 = half2_bits_to_float2(sh.k[0 * Dims::kChunks + c][lane]);
        const float2 k1 = half2_bits_to_float2(sh.k[1 * Dims::kChunks + c][lane]);
        const float2 k2 = half2_bits_to_float2(sh.k[2 * Dims::kChunks + c][lane]);
        const float2 k3 = half2_bits_to_float2(sh.k[3 * Dims::kChunks + c][lane]);
#pragma unroll
        for (int r = 0; r < NR; ++r) {
            // The same address on every lane: broadcasts.
            const float4 qa = sh.q[r * kAttnWarps + warp][2 * c];
            const float4 qb = sh.q[r * kAttnWarps + warp][2 * c + 1];
            s[r] = fmaf(qa.x, k0.x, s[r]);
            s[r] = fmaf(qa.y, k0.y, s[r]);
            s[r] = fmaf(qa.z, k1.x, s[r]);
            s[r] = fmaf(qa.w, k1.y, s[r]);
            s[r] = fmaf(qb.x, k2.x, s[r]);
            s[r] = fmaf(qb.y, k2.y, s[r]);
            s[r] = fmaf(qb.z, k3.x, s[r]);
            s[r] = fmaf(qb.w, k3.y, s[r]);
        }
    }

    // Online softmax: the tile's max over the warp, then each lane's weight.
    const int pos = p0 + lane;
#pragma unroll
    for (int r = 0; r < NR; ++r) {
        const float score = pos < row_end[r] ? s[r] : -INFINITY;
        const float alpha = online_softmax_begin_tile(st[r].sm, warp_max(score));
        const float w = online_softmax_add(st[r].sm, score);
#pragma unroll
        for (int e = 0; e < Dims::kPairSlots; ++e) {
            st[r].acc[e].x *= alpha;
            st[r].acc[e].y *= alpha;
        }
        reinterpret_cast<float*>(sh.w[warp][r])[lane] = w;
    }
    __syncwarp();

    // acc += sum_j w_j · v_j: each V pair read once for all rows, weights broadcast.
#pragma unroll 2
    for (int j4 = 0; j4 < kAttnTile / 4; ++j4) {
        float4 w4[NR];
#pragma unroll
        for (int r = 0; r < NR; ++r) w4[r] = sh.w[warp][r][j4];
#pragma unroll
        for (int u = 0; u < 4; ++u) {
#pragma unroll
            for (int e = 0; e < Dims::kPairSlots; ++e) {
                if (!pair_in_head<HD>(e, lane)) continue;
                const float2 v = half2_bits_to_float2(sh.v[4 * j4 + u][lane + 32 * e]);
#pragma unroll
                for (int r = 0; r < NR; ++r) {
                    const float w = component(w4[r], u);
                    st[r].acc[e].x = fmaf(w, v.x, st[r].acc[e].x);
                    st[r].acc[e].y = fmaf(w, v.y, st[r].acc[e].y);
                }
            }
        }
    }
}

// attend_tile with the warp's row count as a template argument, so that the row loops
// unroll and the states stay in registers.
template <int HD, int NR>
__device__ __forceinline__ void attend_tile_rows(int nr, AttnShared<HD>& sh, RowState<HD>* st, const int* row_end,
                                                 int p0, int warp, int lane) {
    if (nr == NR)
        attend_tile<HD, NR>(sh, st, row_end, p0, warp, lane);
    else if constexpr (NR > 1)
        attend_tile_rows<HD, NR - 1>(nr, sh, st, row_end, p0, warp, lane);
}

// Grid (n_tokens, n_splits, n_kv_heads * head_chunks); see AttentionShape.
template <int HD>
__global__ void __launch_bounds__(kThreads)
    paged_attention_split_kernel(const PagedAttentionParams p, const AttentionShape shape) {
    using Dims = AttnDims<HD>;
    constexpr int D = Dims::D;
    __shared__ AttnShared<HD> sh;

    // Which tokens, heads and positions: everything here is uniform over the CTA, so
    // the early exits and the tile loop (with its barriers) are taken by all threads.
    const int t0 = blockIdx.x;
    if (!attention_run_starts(p.block_table_offset, p.positions, t0, shape.tokens_per_cta)) return;
    const int n_run = attention_run_length(p.block_table_offset, p.positions, t0, p.n_tokens, shape.tokens_per_cta);
    const int split = blockIdx.y;
    const int n_splits = gridDim.y;
    const int split_start = split * shape.split_len;
    const int split_end = split_start + shape.split_len;
    int run_context = 0;
    for (int u = 0; u < n_run; ++u)
        run_context = max(run_context, attention_context(p.positions[t0 + u], n_splits, shape.split_len));
    const int range_end = min(split_end, run_context);
    if (range_end <= split_start) return;  // the combine reads only splits below each token's context

    const int group = p.n_heads / p.n_kv_heads;
    const int kv_head = blockIdx.z / shape.head_chunks;
    const int h0 = (blockIdx.z % shape.head_chunks) * shape.heads_per_cta;
    const int hc = min(shape.heads_per_cta, group - h0);
    if (hc <= 0) return;            // cannot happen with attention_shape's chunks; keeps rows in range regardless
    const int n_rows = n_run * hc;  // CTA row r: token t0 + r / hc, query head kv_head * group + h0 + r % hc
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int nr = warp < n_rows ? min(Dims::kRowsPerWarp, (n_rows - warp + kAttnWarps - 1) / kAttnWarps) : 0;

    // Queries, scaled, into shared memory (published by the first tile's barrier).
    for (int idx = threadIdx.x; idx < n_rows * (D / 4); idx += kThreads) {
        const int r = idx / (D / 4), i4 = idx % (D / 4);
        const int token = t0 + r / hc, head = kv_head * group + h0 + r % hc;
        const float* src = p.q + (int64_t(token) * p.n_heads + head) * D + 4 * i4;
        sh.q[r][i4] = make_float4(src[0] * p.scale, src[1] * p.scale, src[2] * p.scale, src[3] * p.scale);
    }

    RowState<HD> st[Dims::kRowsPerWarp];
    int row_end[Dims::kRowsPerWarp];
#pragma unroll
    for (int r = 0; r < Dims::kRowsPerWarp; ++r) {
        const int row = r * kAttnWarps + warp;
        row_end[r] = row < n_rows
                         ? min(split_end, attention_context(p.positions[t0 + row / hc], n_splits, shape.split_len))
                         : split_start;
        st[r].sm = online_softmax_init();
#pragma unroll
        for (int e = 0; e < Dims::kPairSlots; ++e) st[r].acc[e] = make_float2(0.f, 0.f);
    }

    const int32_t* table = p.block_tables + p.block_table_offset[t0];
    for (int p0 = split_start; p0 < range_end; p0 += kAttnTile) {
        if (p0 != split_start) __syncthreads();  // every warp is done reading the previous tile
        load_kv_tile<HD>(sh, p, table, kv_head, p0, range_end);
        __syncthreads();  // the tile (and, the first time, the queries) visible to every warp
        attend_tile_rows<HD, Dims::kRowsPerWarp>(nr, sh, st, row_end, p0, warp, lane);
    }

    // Results: straight to out when one split covers the context, else a partial.
    const int64_t n_partials = int64_t(p.n_tokens) * p.n_heads * n_splits;
#pragma unroll
    for (int r = 0; r < Dims::kRowsPerWarp; ++r) {
        if (r >= nr) break;
        const int row = r * kAttnWarps + warp;
        const int token = t0 + row / hc, head = kv_head * group + h0 + row % hc;
        const float l = warp_sum(st[r].sm.l);
        float2* dst;
        float factor = 1.f;
        if (n_splits == 1) {
            dst = reinterpret_cast<float2*>(p.out + (int64_t(token) * p.n_heads + head) * D);
            factor = combine_inverse(l);
        } else {
            const int64_t i = attention_partial_index(token, head, split, p.n_heads, n_splits);
            if (lane == 0) reinterpret_cast<float2*>(p.scratch)[i] = make_float2(st[r].sm.m, l);
            dst = reinterpret_cast<float2*>(p.scratch + 2 * n_partials + i * D);
        }
#pragma unroll
        for (int e = 0; e < Dims::kPairSlots; ++e)
            if (pair_in_head<HD>(e, lane))
                dst[lane + 32 * e] = make_float2(st[r].acc[e].x * factor, st[r].acc[e].y * factor);
    }
}

// ------------------------------------------------------------------ combine kernel

// Grid (n_tokens, n_heads): out = sum_s acc_s w_s / sum_s l_s w_s over the splits
// holding positions of the token (the only ones written this step).
__global__ void __launch_bounds__(kAttnCombineThreads)
    combine_splits_kernel(const PagedAttentionParams p, const AttentionShape shape) {
    __shared__ float weight[kAttnMaxSplits];
    const int token = blockIdx.x, head = blockIdx.y;
    const int n_splits = shape.n_splits;
    const int n_valid =
        attention_valid_splits(attention_context(p.positions[token], n_splits, shape.split_len), shape.split_len);
    const int64_t first = attention_partial_index(token, head, 0, p.n_heads, n_splits);
    const float2* ml = reinterpret_cast<const float2*>(p.scratch) + first;
    const float* acc = p.scratch + 2 * int64_t(p.n_tokens) * p.n_heads * n_splits + first * p.head_dim;

    float M = -INFINITY;
    for (int s = 0; s < n_valid; ++s) M = combine_max(M, ml[s].x);
    for (int s = threadIdx.x; s < n_valid; s += blockDim.x) weight[s] = combine_weight(ml[s].x, M);
    __syncthreads();
    float L = 0.f;
    for (int s = 0; s < n_valid; ++s) L += ml[s].y * weight[s];
    const float inv = combine_inverse(L);
    float* dst = p.out + (int64_t(token) * p.n_heads + head) * p.head_dim;
    for (int i = threadIdx.x; i < p.head_dim; i += blockDim.x) {
        float sum = 0.f;
        for (int s = 0; s < n_valid; ++s) sum += acc[int64_t(s) * p.head_dim + i] * weight[s];
        dst[i] = sum * inv;
    }
}

// ------------------------------------------------------------------ store_kv kernel

__global__ void store_kv_kernel(const float* k, const float* v, uint16_t* k_cache, uint16_t* v_cache,
                                int32_t block_size, int32_t kv_dim, int32_t n_tokens, const int32_t* positions,
                                const int32_t* block_table_offset, const int32_t* block_tables) {
    const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (idx >= int64_t(n_tokens) * kv_dim) return;
    const int64_t t = idx / kv_dim, i = idx % kv_dim;
    const int32_t pos = positions[t];
    if (pos < 0) return;  // not a position: nothing to store
    const int32_t block = block_tables[block_table_offset[t] + pos / block_size];
    const int64_t dst = (int64_t(block) * block_size + pos % block_size) * kv_dim + i;
    k_cache[dst] = __half_as_ushort(__float2half_rn(k[idx]));
    v_cache[dst] = __half_as_ushort(__float2half_rn(v[idx]));
}

// ------------------------------------------------------------------ launch helpers

bool aligned(const void* ptr, uintptr_t bytes) {
    return reinterpret_cast<uintptr_t>(ptr) % bytes == 0;
}

template <int HD>
void launch_split_kernel(const PagedAttentionParams& p, const AttentionShape& shape, cudaStream_t stream) {
    const dim3 grid(unsigned(p.n_tokens), unsigned(shape.n_splits), unsigned(p.n_kv_heads * shape.head_chunks));
    paged_attention_split_kernel<HD><<<grid, kThreads, 0, stream>>>(p, shape);
}

}  // namespace

// ------------------------------------------------------------------ launchers

bool attention_head_dim_supported(int32_t head_dim) {
    switch (head_dim) {
        case 32:
        case 48:
        case 64:
        case 80:
        case 96:
        case 128:
        case 256: return true;
        default: return false;
    }
}

int64_t attention_scratch_floats(int32_t n_tokens, int32_t n_heads, int32_t head_dim, int32_t max_context) {
    return attention_partials_floats(n_tokens, n_heads, head_dim, attention_splits(max_context));
}

int paged_attention(const PagedAttentionParams& p, cudaStream_t stream) {
    if (p.n_tokens < 0 || p.n_heads <= 0 || p.n_kv_heads <= 0 || p.n_heads % p.n_kv_heads != 0 ||
        !attention_head_dim_supported(p.head_dim) || p.block_size <= 0 || p.max_context <= 0 ||
        p.max_context > kAttnMaxContext)
        return int(cudaErrorInvalidValue);
    if (p.n_tokens == 0) return int(cudaSuccess);
    const AttentionShape shape = attention_shape(p.n_heads, p.n_kv_heads, p.head_dim, p.max_context);
    if (!p.k_cache || !p.v_cache || !p.q || !p.out || !p.positions || !p.block_table_offset || !p.block_tables ||
        (shape.n_splits > 1 && !p.scratch))
        return int(cudaErrorInvalidValue);
    // 16-byte K/V loads; float2 stores of out and of the partials.
    if (!aligned(p.k_cache, 16) || !aligned(p.v_cache, 16) || !aligned(p.out, 8) || !aligned(p.scratch, 8))
        return int(cudaErrorMisalignedAddress);
    if (int64_t(p.n_kv_heads) * shape.head_chunks > 65535 || p.n_heads > 65535) return int(cudaErrorInvalidValue);

    switch (p.head_dim) {
        case 32: launch_split_kernel<32>(p, shape, stream); break;
        case 48: launch_split_kernel<48>(p, shape, stream); break;
        case 64: launch_split_kernel<64>(p, shape, stream); break;
        case 80: launch_split_kernel<80>(p, shape, stream); break;
        case 96: launch_split_kernel<96>(p, shape, stream); break;
        case 128: launch_split_kernel<128>(p, shape, stream); break;
        case 256: launch_split_kernel<256>(p, shape, stream); break;
        default: return int(cudaErrorInvalidValue);  // attention_head_dim_supported says which
    }
    if (shape.n_splits > 1) {
        const dim3 grid(unsigned(p.n_tokens), unsigned(p.n_heads));
        combine_splits_kernel<<<grid, kAttnCombineThreads, 0, stream>>>(p, shape);
    }
    return int(cudaGetLastError());
}

int store_kv(const float* k, const float* v, uint16_t* k_cache, uint16_t* v_cache, int32_t block_size, int32_t kv_dim,
             int32_t n_tokens, const int32_t* positions, const int32_t* block_table_offset, const int32_t* block_tables,
             cudaStream_t stream) {
    if (n_tokens < 0 || kv_dim <= 0 || block_size <= 0) return int(cudaErrorInvalidValue);
    if (n_tokens == 0) return int(cudaSuccess);
    if (!k || !v || !k_cache || !v_cache || !positions || !block_table_offset || !block_tables)
        return int(cudaErrorInvalidValue);
    constexpr int threads = 256;
    const int64_t blocks = (int64_t(n_tokens) * kv_dim + threads - 1) / threads;
    if (blocks > 0x7fffffff) return int(cudaErrorInvalidValue);
    store_kv_kernel<<<unsigned(blocks), threads, 0, stream>>>(k, v, k_cache, v_cache, block_size, kv_dim, n_tokens,
                                                              positions, block_table_offset, block_tables);
    return int(cudaGetLastError());
}

}  // namespace lumen::cuda
