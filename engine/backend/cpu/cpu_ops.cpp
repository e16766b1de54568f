// Reference CPU kernels. Sums use several independent accumulators so the
// compiler can vectorize them without -ffast-math reordering everything else.
#include "backend/cpu/cpu_ops.h"

#include <cmath>
#include <vector>

#include "backend/cpu/quant_dot.h"
#include "backend/thread_pool.h"

namespace lumen::cpu {

float dot(const float* a, const float* b, int64_t n) {
    constexpr int kLanes = 16;
    float acc[kLanes] = {};
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes)
        for (int j = 0; j < kLanes; ++j) acc[j] += a[i + j] * b[i + j];
    float tail = 0.f;
    for (; i < n; ++i) tail += a[i] * b[i];
    float sum = 0.f;
    for (int j = 0; j < kLanes; ++j) sum += acc[j];
    return sum + tail;
}

void rms_norm(const float* x, const float* weight, float* out, int64_t n, float eps) {
    const float ss = dot(x, x, n) / float(n);
    const float inv = 1.0f / std::sqrt(ss + eps);
    for (int64_t i = 0; i < n; ++i) out[i] = weight[i] * (x[i] * inv);
}

void softmax(float* x, int64_t n) {
    float max = x[0];
    for (int64_t i = 1; i < n; ++i) max = std::max(max, x[i]);
    float sum = 0.f;
    for (int64_t i = 0; i < n; ++i) {
        x[i] = std::exp(x[i] - max);
        sum += x[i];
    }
    const float inv = 1.0f / sum;
    for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void silu_mul(const float* gate, const float* up, float* out, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        const float g = gate[i];
        out[i] = g / (1.0f + std::exp(-g)) * up[i];
    }
}

void add_inplace(float* x, const float* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

void rope(float* x, int32_t n_heads, int32_t position, const RopeParams& p) {
    const float pos = float(position) / p.scale;
    const int32_t half = p.rope_dim / 2;
    for (int32_t i = 0; i < half; ++i) {
        // freq_i = theta^(-2i/rope_dim), computed as llama2.c does.
        float freq = 1.0f / std::pow(p.theta, float(2 * i) / float(p.rope_dim));
        if (p.freq_factors) freq /= p.freq_factors[i];
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

void matmul(const TensorView& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
    const int64_t rows = w.rows, cols = w.cols;
    if (w.type == DType::F32) {
        pool.parallel_for(rows, [&](int64_t r0, int64_t r1, int) {
            for (int64_t r = r0; r < r1; ++r) {
                const float* wr = reinterpret_cast<const float*>(w.row(r));
                for (int64_t t = 0; t < n_tokens; ++t) y[t * rows + r] = dot(wr, x + t * cols, cols);
            }
        });
        return;
    }
    if (uses_q8_activations(w.type)) {
        thread_local std::vector<ActivationBlockQ8> xq;
        const int64_t blocks = cols / 32;
        xq.resize(size_t(n_tokens * blocks));
        for (int64_t t = 0; t < n_tokens; ++t) quantize_activations_q8(x + t * cols, cols, xq.data() + t * blocks);
        const ActivationBlockQ8* xq_data = xq.data();
        pool.parallel_for(rows, [&](int64_t r0, int64_t r1, int) {
            for (int64_t r = r0; r < r1; ++r)
                for (int64_t t = 0; t < n_tokens; ++t)
                    y[t * rows + r] = dot_q8(w.type, w.row(r), xq_data + t * blocks, cols);
        });
        return;
    }
    pool.parallel_for(rows, [&](int64_t r0, int64_t r1, int) {
        thread_local std::vector<float> row;
        if (int64_t(row.size()) < cols) row.resize(size_t(cols));
        for (int64_t r = r0; r < r1; ++r) {
            dequantize_row(w.type, w.row(r), row.data(), cols);
            for (int64_t t = 0; t < n_tokens; ++t) y[t * rows + r] = dot(row.data(), x + t * cols, cols);
        }
    });
}

void attention_head(const float* q, const PagedKV<float>& kv, int32_t kv_head, int32_t head_dim, int32_t n_ctx,
                    float* scores, float* out) {
    const float scale = 1.0f / std::sqrt(float(head_dim));
    const int64_t head_offset = int64_t(kv_head) * head_dim;
    for (int32_t p = 0; p < n_ctx; ++p) scores[p] = dot(q, kv.key(p) + head_offset, head_dim) * scale;
    softmax(scores, n_ctx);
    for (int32_t d = 0; d < head_dim; ++d) out[d] = 0.f;
    for (int32_t p = 0; p < n_ctx; ++p) {
        const float* v = kv.value(p) + head_offset;
        const float a = scores[p];
        for (int32_t d = 0; d < head_dim; ++d) out[d] += a * v[d];
    }
}

void attention_head_f16(const float* q, const PagedKV<uint16_t>& kv, int32_t kv_head, int32_t head_dim,
                        int32_t n_ctx, float* scores, float* out) {
    constexpr int kMaxHeadDim = 1024;
    float row[kMaxHeadDim];
    const float scale = 1.0f / std::sqrt(float(head_dim));
    const int64_t head_offset = int64_t(kv_head) * head_dim;
    for (int32_t p = 0; p < n_ctx; ++p) {
        const uint16_t* k = kv.key(p) + head_offset;
        for (int32_t d = 0; d < head_dim; ++d) row[d] = fp16_to_fp32(k[d]);
        scores[p] = dot(q, row, head_dim) * scale;
    }
    softmax(scores, n_ctx);
    for (int32_t d = 0; d < head_dim; ++d) out[d] = 0.f;
    for (int32_t p = 0; p < n_ctx; ++p) {
        const uint16_t* v = kv.value(p) + head_offset;
        const float a = scores[p];
        for (int32_t d = 0; d < head_dim; ++d) out[d] += a * fp16_to_fp32(v[d]);
    }
}

}  // namespace lumen::cpu
