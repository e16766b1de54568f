// The CPU backend's ops: plain loops for the cheap ones (norms, softmax, RoPE),
// and the matmul and attention drivers over the active kernel table (kernels.h).
#include "backend/cpu/cpu_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "backend/cpu/kernels.h"
#include "backend/cpu/packed_weights.h"
#include "backend/thread_pool.h"
#include "core/check.h"

namespace lumen::cpu {

float dot(const float* a, const float* b, int64_t n) {
    return active_kernels().dot_f32(a, b, n);
}

void rms_norm(const float* x, const float* weight, float* out, int64_t n, float eps) {
    const float ss = dot(x, x, n) / float(n);
    const float inv = 1.0f / std::sqrt(ss + eps);
    for (int64_t i = 0; i < n; ++i) out[i] = weight[i] * (x[i] * inv);
}

void softmax(float* x, int64_t n) {
    active_kernels().softmax(x, n);
}

double softmax_entropy(const float* logits, int64_t n) {
    // H = log Z - sum p * (z - m), with z - m <= 0 and Z = sum exp(z - m).
    const double m = *std::max_element(logits, logits + n);
    double z_sum = 0, weighted = 0;
    for (int64_t i = 0; i < n; ++i) {
        const double d = double(logits[i]) - m, e = std::exp(d);
        z_sum += e;
        weighted += e * d;
    }
    return std::log(z_sum) - weighted / z_sum;
}

void silu_mul(const float* gate, const float* up, float* out, int64_t n) {
    active_kernels().silu_mul(gate, up, out, n);
}

void add_inplace(float* x, const float* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

namespace {
// freq_i = theta^(-2i/rope_dim), computed as llama2.c does, divided by the optional factor.
float rope_frequency(const RopeParams& p, int32_t i) {
    float freq = 1.0f / std::pow(p.theta, float(2 * i) / float(p.rope_dim));
    if (p.freq_factors) freq /= p.freq_factors[i];
    return freq;
}
}  // namespace

std::vector<float> rope_frequencies(const RopeParams& p) {
    std::vector<float> out(size_t(p.rope_dim / 2));
    for (int32_t i = 0; i < p.rope_dim / 2; ++i) out[size_t(i)] = rope_frequency(p, i);
    return out;
}

void rope(float* x, int32_t n_heads, int32_t position, const RopeParams& p) {
    const float pos = float(position) / p.scale;
    const int32_t half = p.rope_dim / 2;
    for (int32_t i = 0; i < half; ++i) {
        const float freq = p.frequencies ? p.frequencies[i] : rope_frequency(p, i);
        const float angle = pos * freq;
        const float c = std::cos(angle), s = std::sin(angle);
        for (int32_t h = 0; h < n_heads; ++h) {
            float* head = x + int64_t(h) * p.head_dim;
            const int32_t a = p.style == RopeStyle::normal ? 2 * i : i;
            const int32_t b = p.style == RopeStyle::normal ? 2 * i + 1 : i + half;
            const float x0 = head[a], x1 = head[b];
            head[a] = x0 * c - x1 * s;
            head[b] = x0 * s + x1 * c;
        }
    }
}

void matmul(const TensorView& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool, const uint8_t* packed) {
    matmul_with_kernels(active_kernels(), w, x, n_tokens, y, pool, packed);
}

void matmul_with_kernels(const KernelTable& k, const TensorView& w, const float* x, int64_t n_tokens, float* y,
                         ThreadPool& pool, const uint8_t* packed) {
    const MatmulTarget target{&w, y, packed};
    matmul_targets(k, &target, 1, x, n_tokens, pool);
}

// The work is split in units of 16 rows over all targets (never a row's sum, so results
// do not depend on the thread count), a contiguous range of units per thread. Within a
// thread: blocks of 60 tokens, whose 8-bit activations stay in L2, times units, whose
// weights stay in L1 while each pass of 12 tokens (dot_rows) or 4 (packed groups of 8
// rows; 8 for Q4_0) goes over them.
void matmul_targets(const KernelTable& k, const MatmulTarget* targets, int n_targets, const float* x, int64_t n_tokens,
                    ThreadPool& pool) {
    // 60 tokens: whole passes of 12 (dot_rows) and of 4 (the packed kernels).
    constexpr int64_t kTokenBlock = 60, kRowChunk = 16;
    constexpr int kMaxTargets = 4;
    const int64_t cols = targets[0].w->cols;
    const ActivationFormat format = activation_format(targets[0].w->type);
    bool shared = n_targets <= kMaxTargets;
    for (int i = 1; i < n_targets; ++i)
        shared = shared && targets[i].w->cols == cols && activation_format(targets[i].w->type) == format &&
                 (format != ActivationFormat::i8_outlier ||
                  std::memcmp(targets[i].w->row(0) + 4, targets[0].w->row(0) + 4, 4) == 0);  // same threshold
    if (!shared) {  // different inputs after all: one pass each
        for (int i = 0; i < n_targets; ++i) matmul_targets(k, targets + i, 1, x, n_tokens, pool);
        return;
    }
    const size_t stride = activation_row_bytes(format, cols);
    const uint8_t* xa = reinterpret_cast<const uint8_t*>(x);
    if (format != ActivationFormat::f32) {
        thread_local std::vector<uint8_t> quantized;
        if (quantized.size() < size_t(n_tokens) * stride) quantized.resize(size_t(n_tokens) * stride);
        uint8_t* q = quantized.data();
        float threshold = 0.f;  // int8-w8a8: the weights' outlier threshold, in each row header
        if (format == ActivationFormat::i8_outlier) std::memcpy(&threshold, targets[0].w->row(0) + 4, 4);
        auto quantize = [&](int64_t t0, int64_t t1, int) {
            for (int64_t t = t0; t < t1; ++t) {
                if (format == ActivationFormat::i8_outlier)
                    quantize_i8_outlier(x + t * cols, cols, threshold, q + size_t(t) * stride);
                else if (format == ActivationFormat::i16)
                    quantize_i16(x + t * cols, cols, q + size_t(t) * stride);
                else if (format == ActivationFormat::q8)
                    k.quantize_q8(x + t * cols, cols, reinterpret_cast<ActivationBlockQ8*>(q + size_t(t) * stride));
                else
                    k.quantize_q8k(x + t * cols, cols, reinterpret_cast<ActivationBlockQ8K*>(q + size_t(t) * stride));
            }
        };
        if (n_tokens > 1)
            pool.parallel_for(n_tokens, quantize);
        else
            quantize(0, n_tokens, 0);
        xa = q;
    }
    int64_t first_unit[kMaxTargets + 1] = {0};
    for (int i = 0; i < n_targets; ++i)
        first_unit[i + 1] = first_unit[i] + (targets[i].w->rows + kRowChunk - 1) / kRowChunk;

    // One unit (16 rows of one target) times the tokens [t_begin, t_end).
    auto run_unit = [&](const MatmulTarget& target, int64_t r0, int64_t t_begin, int64_t t_end) {
        const TensorView& w = *target.w;
        const int64_t rows = w.rows;
        const int n_rows = int(std::min(rows, r0 + kRowChunk) - r0);
        if (target.packed && k.dot_packed8 && can_pack(w)) {
            const size_t group_stride = size_t(kPackedRows) * w.row_stride();
            const int64_t pass = w.type == DType::Q4_0 ? kMaxTokensPerPackedQ4_0Pass : kMaxTokensPerRowPass;
            float out[kMaxTokensPerPackedQ4_0Pass * kPackedRows];
            for (int64_t t0 = t_begin; t0 < t_end; t0 += pass) {
                const int nt = int(std::min<int64_t>(pass, t_end - t0));
                for (int64_t g = r0 / kPackedRows; g < (r0 + n_rows) / kPackedRows; ++g) {
                    k.dot_packed8(w.type, target.packed + size_t(g) * group_stride, xa + size_t(t0) * stride, stride,
                                  nt, cols, out);
                    for (int i = 0; i < nt; ++i)
                        std::copy_n(out + i * kPackedRows, kPackedRows, target.y + (t0 + i) * rows + g * kPackedRows);
                }
            }
            return;
        }
        for (int64_t t0 = t_begin; t0 < t_end; t0 += kMaxTokensPerRowsPass) {
            const int nt = int(std::min<int64_t>(kMaxTokensPerRowsPass, t_end - t0));
            k.dot_rows(w.type, w.row(r0), w.row_stride(), n_rows, xa + size_t(t0) * stride, stride, nt, cols,
                       target.y + t0 * rows + r0, rows);
        }
    };
    pool.parallel_for(first_unit[n_targets], [&](int64_t u0, int64_t u1, int) {
        for (int64_t tb = 0; tb < n_tokens; tb += kTokenBlock) {
            const int64_t tb_end = std::min(n_tokens, tb + kTokenBlock);
            int i = 0;
            for (int64_t u = u0; u < u1; ++u) {
                while (u >= first_unit[i + 1]) ++i;
                run_unit(targets[i], (u - first_unit[i]) * kRowChunk, tb, tb_end);
            }
        }
    });
}

namespace {
template <typename T>
constexpr DType kv_dtype() {
    return std::is_same_v<T, uint16_t> ? DType::F16 : DType::F32;
}

// Row r's output += sum over p <= first_position + r / group of probs_r[p] * value(p):
// rows are (token, head) pairs, token-major, and a token's heads see the same positions.
// Every output adds its positions in order, one rounding each, so sharing a pass changes
// no bit. fp16: the positions all rows see go four at a time into all outputs (each value
// vector widened once); each row's own last positions follow.
void accumulate_values(const KernelTable& k, const PagedKV<uint16_t>& kv, int64_t head_offset, int32_t head_dim,
                       const float* probs, int64_t probs_stride, int n_rows, int group, int32_t first_position,
                       float* out, int64_t out_stride) {
    auto four_values = [&](int32_t p, const uint16_t* values[4]) {
        for (int j = 0; j < 4; ++j) values[j] = kv.value(p + j) + head_offset;
    };
    const int32_t shared = (first_position + 1) / 4 * 4;
    for (int32_t p = 0; p < shared; p += 4) {
        const uint16_t* values[4];
        four_values(p, values);
        k.axpy4_f16(probs + p, probs_stride, n_rows, values, out, out_stride, head_dim);
    }
    for (int r = 0; r < n_rows; ++r) {
        const float* pr = probs + r * probs_stride;
        float* o = out + r * out_stride;
        const int32_t n_ctx = first_position + r / group + 1;
        int32_t p = shared;
        for (; p + 4 <= n_ctx; p += 4) {
            const uint16_t* values[4];
            four_values(p, values);
            k.axpy4_f16(pr + p, 0, 1, values, o, 0, head_dim);
        }
        for (; p < n_ctx; ++p) k.axpy_f16(pr[p], kv.value(p) + head_offset, o, head_dim);
    }
}

void accumulate_values(const KernelTable& k, const PagedKV<float>& kv, int64_t head_offset, int32_t head_dim,
                       const float* probs, int64_t probs_stride, int n_rows, int group, int32_t first_position,
                       float* out, int64_t out_stride) {
    for (int r = 0; r < n_rows; ++r)
        for (int32_t p = 0; p <= first_position + r / group; ++p)
            k.axpy_f32(probs[r * probs_stride + p], kv.value(p) + head_offset, out + r * out_stride, head_dim);
}

// Attention for n_rows query rows at q + r * q_stride (row r belongs to the token at
// first_position + r / group), outputs at out + r * out_stride; scores: n_rows rows of
// first_position + n_rows / group positions.
template <typename T>
void attend_rows(const float* q, int64_t q_stride, int n_rows, int group, int32_t first_position, const PagedKV<T>& kv,
                 int32_t kv_head, int32_t head_dim, float* scores, float* out, int64_t out_stride) {
    const KernelTable& k = active_kernels();
    const float scale = 1.0f / std::sqrt(float(head_dim));
    const int64_t head_offset = int64_t(kv_head) * head_dim;
    const int32_t n_ctx_all = first_position + n_rows / group;  // the last token sees this many positions
    // Scores block by block from the transposed keys; row r's score for position p lands
    // at scores[r * n_ctx_all + p].
    for (int32_t p0 = 0; p0 < n_ctx_all; p0 += kv.block_size) {
        const int n_keys = int(std::min<int32_t>(kv.block_size, n_ctx_all - p0));
        k.key_scores(kv_dtype<T>(), kv.key_block(p0, head_offset), kv.block_size, n_keys, q, q_stride, n_rows, head_dim,
                     scores + p0, n_ctx_all);
    }
    for (int r = 0; r < n_rows; ++r) {
        float* probs = scores + int64_t(r) * n_ctx_all;
        const int32_t n_ctx = first_position + r / group + 1;  // causal: later positions are ignored
        for (int32_t p = 0; p < n_ctx; ++p) probs[p] *= scale;
        k.softmax(probs, n_ctx);
        std::fill(out + r * out_stride, out + r * out_stride + head_dim, 0.f);
    }
    accumulate_values(k, kv, head_offset, head_dim, scores, n_ctx_all, n_rows, group, first_position, out, out_stride);
}
}  // namespace

template <typename T>
void attention_queries(const float* q, int64_t q_stride, int n_queries, int32_t first_position, const PagedKV<T>& kv,
                       int32_t kv_head, int32_t head_dim, float* scores, float* out, int64_t out_stride) {
    attend_rows(q, q_stride, n_queries, 1, first_position, kv, kv_head, head_dim, scores, out, out_stride);
}

template <typename T>
void attention_group(const float* q, int64_t q_stride, int n_queries, int group, int32_t first_position,
                     const PagedKV<T>& kv, int32_t kv_head, int32_t head_dim, float* scratch, float* out,
                     int64_t out_stride) {
    const int n_rows = n_queries * group;
    LUMEN_CHECK(n_rows <= kMaxAttentionRows);
    float* scores = scratch;
    float* q_rows = scratch + int64_t(n_rows) * (first_position + n_queries);
    float* out_rows = q_rows + int64_t(n_rows) * head_dim;
    // Gather the (token, head) query rows contiguously: one stride for the kernels.
    for (int t = 0; t < n_queries; ++t)
        for (int g = 0; g < group; ++g)
            std::copy_n(q + t * q_stride + int64_t(g) * head_dim, head_dim, q_rows + int64_t(t * group + g) * head_dim);
    attend_rows(q_rows, head_dim, n_rows, group, first_position, kv, kv_head, head_dim, scores, out_rows, head_dim);
    for (int t = 0; t < n_queries; ++t)
        for (int g = 0; g < group; ++g)
            std::copy_n(out_rows + int64_t(t * group + g) * head_dim, head_dim,
                        out + t * out_stride + int64_t(g) * head_dim);
}

void attention_encoded(const float* q, int64_t q_stride, int n_queries, int group, int32_t first_position,
                       const EncodedPagedKV& kv, int32_t kv_head, int32_t head_dim, float* scratch, float* out,
                       int64_t out_stride) {
    const KernelTable& k = active_kernels();
    const int n_rows = n_queries * group;
    LUMEN_CHECK(n_rows <= kMaxAttentionRows);
    const int32_t n_ctx_all = first_position + n_queries;
    const int32_t bs = kv.block_size;
    float* scores = scratch;
    float* q_rows = scores + int64_t(n_rows) * n_ctx_all;
    float* out_rows = q_rows + int64_t(n_rows) * head_dim;
    float* keys_t = out_rows + int64_t(n_rows) * head_dim;  // [head_dim][block_size]
    float* values = keys_t + int64_t(bs) * head_dim;        // [block_size][head_dim]
    for (int t = 0; t < n_queries; ++t)
        for (int g = 0; g < group; ++g)
            std::copy_n(q + t * q_stride + int64_t(g) * head_dim, head_dim, q_rows + int64_t(t * group + g) * head_dim);
    // Scores a block at a time from its keys, decoded and transposed for key_scores.
    for (int32_t p0 = 0; p0 < n_ctx_all; p0 += bs) {
        const int n_keys = int(std::min<int32_t>(bs, n_ctx_all - p0));
        for (int s = 0; s < n_keys; ++s) {
            dequantize_row(kv.type, kv.k + kv.offset(p0 + s, kv_head), values + int64_t(s) * head_dim, head_dim);
            for (int32_t d = 0; d < head_dim; ++d) keys_t[int64_t(d) * bs + s] = values[int64_t(s) * head_dim + d];
        }
        k.key_scores(DType::F32, keys_t, bs, n_keys, q_rows, head_dim, n_rows, head_dim, scores + p0, n_ctx_all);
    }
    const float scale = 1.0f / std::sqrt(float(head_dim));
    for (int r = 0; r < n_rows; ++r) {
        float* probs = scores + int64_t(r) * n_ctx_all;
        const int32_t n_ctx = first_position + r / group + 1;  // causal
        for (int32_t p = 0; p < n_ctx; ++p) probs[p] *= scale;
        k.softmax(probs, n_ctx);
        std::fill(out_rows + int64_t(r) * head_dim, out_rows + int64_t(r + 1) * head_dim, 0.f);
    }
    for (int32_t p0 = 0; p0 < n_ctx_all; p0 += bs) {
        const int n_values = int(std::min<int32_t>(bs, n_ctx_all - p0));
        for (int s = 0; s < n_values; ++s)
            dequantize_row(kv.type, kv.v + kv.offset(p0 + s, kv_head), values + int64_t(s) * head_dim, head_dim);
        for (int r = 0; r < n_rows; ++r) {
            const int32_t n_ctx = first_position + r / group + 1;
            for (int s = 0; s < n_values && p0 + s < n_ctx; ++s)
                k.axpy_f32(scores[int64_t(r) * n_ctx_all + p0 + s], values + int64_t(s) * head_dim,
                           out_rows + int64_t(r) * head_dim, head_dim);
        }
    }
    for (int t = 0; t < n_queries; ++t)
        for (int g = 0; g < group; ++g)
            std::copy_n(out_rows + int64_t(t * group + g) * head_dim, head_dim,
                        out + t * out_stride + int64_t(g) * head_dim);
}

template void attention_group<float>(const float*, int64_t, int, int, int32_t, const PagedKV<float>&, int32_t, int32_t,
                                     float*, float*, int64_t);
template void attention_group<uint16_t>(const float*, int64_t, int, int, int32_t, const PagedKV<uint16_t>&, int32_t,
                                        int32_t, float*, float*, int64_t);
template void attention_queries<float>(const float*, int64_t, int, int32_t, const PagedKV<float>&, int32_t, int32_t,
                                       float*, float*, int64_t);
template void attention_queries<uint16_t>(const float*, int64_t, int, int32_t, const PagedKV<uint16_t>&, int32_t,
                                          int32_t, float*, float*, int64_t);

}  // namespace lumen::cpu
