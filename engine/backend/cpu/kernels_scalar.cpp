// The scalar kernel table: plain loops that define what each kernel computes.
// Integer block sums are exact, so the faster tables differ from these only in
// the order of float accumulation. Block layouts as in core/dtype.cpp (GGUF).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backend/cpu/kernels.h"

namespace lumen::cpu {

namespace {

float half_at(const uint8_t* p) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return fp16_to_fp32(h);
}

float round_fp16(float x) {
    return fp16_to_fp32(fp32_to_fp16(x));
}

float dot_f32(const float* a, const float* b, int64_t n) {
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

void axpy_f32(float alpha, const float* x, float* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
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

void f32_to_f16(const float* x, uint16_t* out, int64_t n) {
    for (int64_t i = 0; i < n; ++i) out[i] = fp32_to_fp16(x[i]);
}

void axpy_f16(float alpha, const uint16_t* x, float* y, int64_t n);

void axpy4_f16(const float* alpha, int64_t alpha_stride, int n_out, const uint16_t* const values[4], float* y,
               int64_t y_stride, int64_t n) {
    for (int o = 0; o < n_out; ++o)
        for (int j = 0; j < 4; ++j) axpy_f16(alpha[o * alpha_stride + j], values[j], y + o * y_stride, n);
}

void axpy_f16(float alpha, const uint16_t* x, float* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] += alpha * fp16_to_fp32(x[i]);
}

void quantize_q8(const float* x, int64_t n, ActivationBlockQ8* out) {
    for (int64_t b = 0; b < n / 32; ++b) {
        const float* xb = x + b * 32;
        float amax = 0.f;
        for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(xb[j]));
        const float d = amax / 127.f;
        const float id = amax != 0.f ? 127.f / amax : 0.f;
        int32_t half[2] = {0, 0};  // over elements j % 4 < 2 and j % 4 >= 2
        ActivationBlockQ8& a = out[b];
        for (int j = 0; j < 32; ++j) {
            const int v = int(std::nearbyint(xb[j] * id));  // round half to even, as the SIMD path
            a.qs[j] = int8_t(v);
            half[(j % 4) / 2] += v;
        }
        const int32_t sum = half[0] + half[1];
        a.d = round_fp16(d);
        a.s = round_fp16(d * float(sum));
        a.sum8[0] = int16_t(8 * half[0]);
        a.sum8[1] = int16_t(8 * half[1]);
    }
}

// llama.cpp's Q8_K: the scale maps the value of largest magnitude (with its sign)
// to -127, so the other extreme may reach +128 and is clamped to 127.
void quantize_q8k(const float* x, int64_t n, ActivationBlockQ8K* out) {
    for (int64_t b = 0; b < n / 256; ++b) {
        const float* xb = x + b * 256;
        ActivationBlockQ8K& a = out[b];
        float amax = 0.f, max = 0.f;
        for (int j = 0; j < 256; ++j) {
            const float ax = std::fabs(xb[j]);
            if (ax > amax) {
                amax = ax;
                max = xb[j];
            }
        }
        if (amax == 0.f) {
            a.d = 0.f;
            std::memset(a.qs, 0, sizeof(a.qs));
            std::memset(a.bsums, 0, sizeof(a.bsums));
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < 256; ++j) a.qs[j] = int8_t(std::min(127, int(std::nearbyint(iscale * xb[j]))));
        for (int g = 0; g < 16; ++g) {
            int sum = 0;
            for (int j = 0; j < 16; ++j) sum += a.qs[g * 16 + j];
            a.bsums[g] = int16_t(sum);
        }
        a.d = 1.f / iscale;
    }
}

// ---------------------------------------------------------------- 32-block formats

// One block's 32 weight quants (offset removed) with its scale d and minimum m.
void unpack_block32(DType type, const uint8_t* b, int32_t* q, float* d, float* m) {
    *m = 0.f;
    switch (type) {
        case DType::Q4_0:
            *d = half_at(b);
            for (int j = 0; j < 16; ++j) {
                q[j] = (b[2 + j] & 0x0F) - 8;
                q[j + 16] = (b[2 + j] >> 4) - 8;
            }
            return;
        case DType::Q4_1:
            *d = half_at(b);
            *m = half_at(b + 2);
            for (int j = 0; j < 16; ++j) {
                q[j] = b[4 + j] & 0x0F;
                q[j + 16] = b[4 + j] >> 4;
            }
            return;
        case DType::Q5_0:
        case DType::Q5_1: {
            const bool has_min = type == DType::Q5_1;
            *d = half_at(b);
            if (has_min) *m = half_at(b + 2);
            uint32_t qh;
            std::memcpy(&qh, b + (has_min ? 4 : 2), 4);
            const uint8_t* qs = b + (has_min ? 8 : 6);
            const int offset = has_min ? 0 : 16;
            for (int j = 0; j < 16; ++j) {
                q[j] = ((qs[j] & 0x0F) | int(((qh >> j) << 4) & 0x10)) - offset;
                q[j + 16] = ((qs[j] >> 4) | int((qh >> (j + 12)) & 0x10)) - offset;
            }
            return;
        }
        case DType::Q8_0:
            *d = half_at(b);
            for (int j = 0; j < 32; ++j) q[j] = int8_t(b[2 + j]);
            return;
        default: *d = 0.f; return;
    }
}

float dot_block32(DType type, const uint8_t* row, const ActivationBlockQ8* x, int64_t n) {
    const int block_bytes = traits(type).block_bytes;
    float acc = 0.f, acc_min = 0.f;
    int32_t q[32];
    for (int64_t b = 0; b < n / 32; ++b) {
        float d, m;
        unpack_block32(type, row + b * block_bytes, q, &d, &m);
        int32_t sumi = 0;
        for (int j = 0; j < 32; ++j) sumi += q[j] * x[b].qs[j];
        acc += d * x[b].d * float(sumi);
        acc_min += m * x[b].s;
    }
    return acc + acc_min;
}

// ---------------------------------------------------------------- k-quants (256-element super-blocks)

void scale_min_k4(int j, const uint8_t* q, int* scale, int* min) {
    if (j < 4) {
        *scale = q[j] & 63;
        *min = q[j + 4] & 63;
    } else {
        *scale = (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4);
        *min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

// A super-block as unsigned quants u[256] with integer scales per sub-block:
// w = d * scale[s] * (u - offset) - dmin * min[s].
struct KBlock {
    float d = 0, dmin = 0;
    int sub_size = 32;  // 32 (q4_k, q5_k) or 16 (q6_k)
    int offset = 0;     // 32 for q6_k
    int scale[16] = {}, min[16] = {};
    uint8_t u[256];
};

void unpack_kblock(DType type, const uint8_t* b, KBlock* k) {
    if (type == DType::Q6_K) {
        const uint8_t* ql = b;
        const uint8_t* qh = b + 128;
        const auto* sc = reinterpret_cast<const int8_t*>(b + 192);
        k->d = half_at(b + 208);
        k->sub_size = 16;
        k->offset = 32;
        for (int s = 0; s < 16; ++s) k->scale[s] = sc[s];
        for (int n = 0; n < 256; n += 128, ql += 64, qh += 32)
            for (int l = 0; l < 32; ++l) {
                k->u[n + l] = uint8_t((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4));
                k->u[n + l + 32] = uint8_t((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4));
                k->u[n + l + 64] = uint8_t((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
                k->u[n + l + 96] = uint8_t((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
            }
        return;
    }
    k->d = half_at(b);
    k->dmin = half_at(b + 2);
    k->sub_size = 32;
    k->offset = 0;
    for (int s = 0; s < 8; ++s) scale_min_k4(s, b + 4, &k->scale[s], &k->min[s]);
    const bool five_bit = type == DType::Q5_K;
    const uint8_t* qh = b + 16;
    const uint8_t* qs = b + (five_bit ? 48 : 16);
    for (int j = 0; j < 4; ++j, qs += 32)
        for (int l = 0; l < 32; ++l) {
            const int hi_lo = five_bit ? ((qh[l] >> (2 * j)) & 1) << 4 : 0;
            const int hi_hi = five_bit ? ((qh[l] >> (2 * j + 1)) & 1) << 4 : 0;
            k->u[64 * j + l] = uint8_t((qs[l] & 0x0F) | hi_lo);
            k->u[64 * j + 32 + l] = uint8_t((qs[l] >> 4) | hi_hi);
        }
}

float dot_kquant(DType type, const uint8_t* row, const ActivationBlockQ8K* x, int64_t n) {
    const int block_bytes = traits(type).block_bytes;
    float acc = 0.f;
    KBlock k;
    for (int64_t b = 0; b < n / 256; ++b) {
        unpack_kblock(type, row + b * block_bytes, &k);
        const int n_sub = 256 / k.sub_size;
        int32_t sum_scaled = 0, sum_min = 0;
        for (int s = 0; s < n_sub; ++s) {
            int32_t sumi = 0, sumx = 0;
            for (int j = s * k.sub_size; j < (s + 1) * k.sub_size; ++j) {
                sumi += (int(k.u[j]) - k.offset) * x[b].qs[j];
                sumx += x[b].qs[j];
            }
            sum_scaled += k.scale[s] * sumi;
            sum_min += k.min[s] * sumx;
        }
        acc += x[b].d * (k.d * float(sum_scaled) - k.dmin * float(sum_min));
    }
    return acc;
}

// ---------------------------------------------------------------- plain float weights

// The fp8 formats (quant/lumen_formats.h): the row decoded by the reference
// dequantizer (its scale heads the row), then a plain dot product.
float dot_decoded_row(DType type, const uint8_t* row, const float* x, int64_t n) {
    thread_local std::vector<float> values;
    values.resize(size_t(n));
    dequantize_row(type, row, values.data(), n);
    return dot_f32(values.data(), x, n);
}

float dot_float_row(DType type, const uint8_t* row, const float* x, int64_t n) {
    if (type == DType::F32) return dot_f32(reinterpret_cast<const float*>(row), x, n);
    if (type != DType::F16 && type != DType::BF16) return dot_decoded_row(type, row, x, n);
    constexpr int kLanes = 16;
    float acc[kLanes] = {};
    const auto* h = reinterpret_cast<const uint16_t*>(row);
    auto value = [&](int64_t i) { return type == DType::F16 ? fp16_to_fp32(h[i]) : bf16_to_fp32(h[i]); };
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes)
        for (int j = 0; j < kLanes; ++j) acc[j] += value(i + j) * x[i + j];
    float tail = 0.f;
    for (; i < n; ++i) tail += value(i) * x[i];
    float sum = 0.f;
    for (int j = 0; j < kLanes; ++j) sum += acc[j];
    return sum + tail;
}

// int8-ch and int4 groups on 16-bit activations: exact integer sums per row (int8-ch)
// or per group (int4: d * (sum q*x) + m' * (sum x), m' the offset in units of d's grid).
float dot_i16(DType type, const uint8_t* row, const uint8_t* x, int64_t n) {
    ActivationRowI16 header;
    std::memcpy(&header, x, sizeof header);
    const int16_t* q = i16_values(x);
    if (type == DType::I8_CH) {
        float s_w;
        std::memcpy(&s_w, row, 4);
        const auto* w = reinterpret_cast<const int8_t*>(row + 4);
        int64_t sum = 0;
        for (int64_t i = 0; i < n; ++i) sum += int64_t(w[i]) * q[i];
        return s_w * header.scale * float(sum);
    }
    const DTypeTraits& t = traits(type);
    const int g = t.block_elements;
    const bool asym = is_int4_asymmetric(type);
    const int32_t* block_sums = i16_block_sums(x, n);
    float acc = 0.f;
    for (int64_t b = 0; b < n / g; ++b) {
        const uint8_t* block = row + b * t.block_bytes;
        const uint8_t* qs = block + (asym ? 4 : 2);
        const int16_t* xb = q + b * g;
        int32_t sum_qx = 0, sum_x = 0;
        for (int j = 0; j < g / 2; ++j) sum_qx += (qs[j] & 0x0F) * xb[j] + (qs[j] >> 4) * xb[j + g / 2];
        for (int k = 0; k < g / 32; ++k) sum_x += block_sums[b * g / 32 + k];
        uint16_t h;
        std::memcpy(&h, block, 2);
        const float d = fp16_to_fp32(h);
        float m = -8.f * d;
        if (asym) {
            std::memcpy(&h, block + 2, 2);
            m = fp16_to_fp32(h);
        }
        acc += d * float(sum_qx) + m * float(sum_x);
    }
    return header.scale * acc;
}

// int8-w8a8: s_w * (s_x * sum w*q + sum over the outliers of w[c] * x[c]).
float dot_w8a8(const uint8_t* row, const uint8_t* x, int64_t n) {
    float s_w;
    std::memcpy(&s_w, row, 4);
    const auto* w = reinterpret_cast<const int8_t*>(row + 8);
    ActivationRowI8 header;
    std::memcpy(&header, x, sizeof header);
    const int8_t* q = i8_values(x);
    int32_t sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += int32_t(w[i]) * int32_t(q[i]);
    float outliers = 0.f;
    const ActivationOutlier* pairs = i8_outliers(x, n);
    for (int32_t k = 0; k < header.n_outliers; ++k) outliers += float(w[pairs[k].column]) * pairs[k].value;
    return s_w * (header.scale * float(sum) + outliers);
}

void dot_row(DType type, const uint8_t* row, const uint8_t* x, size_t x_stride, int n_tokens, int64_t n, float* y) {
    for (int t = 0; t < n_tokens; ++t) {
        const uint8_t* xt = x + size_t(t) * x_stride;
        switch (activation_format(type)) {
            case ActivationFormat::f32: y[t] = dot_float_row(type, row, reinterpret_cast<const float*>(xt), n); break;
            case ActivationFormat::q8:
                y[t] = dot_block32(type, row, reinterpret_cast<const ActivationBlockQ8*>(xt), n);
                break;
            case ActivationFormat::q8k:
                y[t] = dot_kquant(type, row, reinterpret_cast<const ActivationBlockQ8K*>(xt), n);
                break;
            case ActivationFormat::i8_outlier: y[t] = dot_w8a8(row, xt, n); break;
            case ActivationFormat::i16: y[t] = dot_i16(type, row, xt, n); break;
        }
    }
}

void dot_rows(DType type, const uint8_t* rows, size_t row_stride, int n_rows, const uint8_t* x, size_t x_stride,
              int n_tokens, int64_t n, float* y, int64_t y_stride) {
    dot_rows_by_row(dot_row, type, rows, row_stride, n_rows, x, x_stride, n_tokens, n, y, y_stride);
}

void key_scores(DType type, const void* keys, int64_t key_stride, int n_slots, const float* q, int64_t q_stride,
                int n_rows, int64_t head_dim, float* out, int64_t out_stride) {
    for (int r = 0; r < n_rows; ++r)
        for (int s = 0; s < n_slots; ++s) {
            float acc = 0.f;
            for (int64_t d = 0; d < head_dim; ++d) {
                const int64_t at = d * key_stride + s;
                const float key = type == DType::F16 ? fp16_to_fp32(static_cast<const uint16_t*>(keys)[at])
                                                     : static_cast<const float*>(keys)[at];
                acc = std::fma(q[r * q_stride + d], key, acc);
            }
            out[r * out_stride + s] = acc;
        }
}

}  // namespace

const KernelTable& scalar_kernels() {
    static const KernelTable table{.level = CpuLevel::scalar,
                                   .dot_f32 = dot_f32,
                                   .axpy_f32 = axpy_f32,
                                   .axpy_f16 = axpy_f16,
                                   .axpy4_f16 = axpy4_f16,
                                   .softmax = softmax,
                                   .silu_mul = silu_mul,
                                   .f32_to_f16 = f32_to_f16,
                                   .quantize_q8 = quantize_q8,
                                   .quantize_q8k = quantize_q8k,
                                   .dot_row = dot_row,
                                   .dot_rows = dot_rows,
                                   .dot_packed8 = nullptr,  // no packed layouts at this level
                                   .key_scores = key_scores};
    return table;
}

}  // namespace lumen::cpu
