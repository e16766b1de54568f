// Row encoders for every type Lumen reads: plain floats and ggml's reference
// quantizers, reimplemented step by step in the same float arithmetic, so the
// bytes agree with llama.cpp's and dequantize_row (core/dtype.cpp) reads them back.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <thread>

#include "quant/lumen_formats.h"
#include "quant/quantize.h"

namespace lumen {

namespace {

constexpr int QK = 32;     // elements per block of the legacy formats
constexpr int QK_K = 256;  // elements per super-block of the k-quants
// Below this a group's largest magnitude counts as zero (ggml's GROUP_MAX_EPS).
constexpr float kGroupMaxEps = 1e-15f;

void store_half(uint8_t* p, float v) {
    const uint16_t h = fp32_to_fp16(v);
    std::memcpy(p, &h, 2);
}
float round_trip_half(float v) {
    return fp16_to_fp32(fp32_to_fp16(v));
}

// Round half to even, as the FPU does by default (ggml's nearest_int does the same with a magic add).
int nearest_int(float v) {
    return int(std::lrintf(v));
}

// The signed value of largest magnitude; the first one wins ties, as in ggml.
float signed_absmax(const float* x, int n) {
    float amax = 0.f, max = 0.f;
    for (int i = 0; i < n; ++i)
        if (amax < std::fabs(x[i])) {
            amax = std::fabs(x[i]);
            max = x[i];
        }
    return max;
}

void min_max(const float* x, int n, float* lo, float* hi) {
    float min = x[0], max = x[0];
    for (int i = 1; i < n; ++i) {
        min = std::min(min, x[i]);
        max = std::max(max, x[i]);
    }
    *lo = min;
    *hi = max;
}

// ------------------------------------------------------------------ legacy 32-element blocks

// Symmetric blocks (q4_0, q5_0): d = (signed absmax) / -half_levels, so the extreme
// value lands exactly on the lowest level. Stores d; returns 1/d (0 for a zero block).
float store_symmetric_scale(const float* x, int half_levels, uint8_t* b) {
    const float d = signed_absmax(x, QK) / float(-half_levels);
    store_half(b, d);
    return d != 0.f ? 1.0f / d : 0.0f;
}

// Affine blocks (q4_1, q5_1): value = q·d + min over the block's range. Stores d and
// min; returns 1/d (0 for a constant block).
float store_affine_scale(const float* x, int steps, uint8_t* b, float* min) {
    float max;
    min_max(x, QK, min, &max);
    const float d = (max - *min) / float(steps);
    store_half(b, d);
    store_half(b + 2, *min);
    return d != 0.f ? 1.0f / d : 0.0f;
}

void quantize_q4_0(const float* x, uint8_t* b) {
    const float id = store_symmetric_scale(x, 8, b);
    for (int j = 0; j < QK / 2; ++j) {
        const int lo = std::min(15, int(int8_t(x[j] * id + 8.5f)));
        const int hi = std::min(15, int(int8_t(x[j + QK / 2] * id + 8.5f)));
        b[2 + j] = uint8_t(lo | (hi << 4));
    }
}

void quantize_q4_1(const float* x, uint8_t* b) {
    float min;
    const float id = store_affine_scale(x, 15, b, &min);
    for (int j = 0; j < QK / 2; ++j) {
        const int lo = std::min(15, int(int8_t((x[j] - min) * id + 0.5f)));
        const int hi = std::min(15, int(int8_t((x[j + QK / 2] - min) * id + 0.5f)));
        b[4 + j] = uint8_t(lo | (hi << 4));
    }
}

// Q5: low nibbles as Q4, the fifth bit of element j in bit j of a 32-bit word.
void pack_q5(const int* q, uint8_t* qh_out, uint8_t* qs) {
    uint32_t qh = 0;
    for (int j = 0; j < QK / 2; ++j) {
        qs[j] = uint8_t((q[j] & 0x0F) | ((q[j + QK / 2] & 0x0F) << 4));
        qh |= uint32_t((q[j] >> 4) & 1) << j;
        qh |= uint32_t((q[j + QK / 2] >> 4) & 1) << (j + QK / 2);
    }
    std::memcpy(qh_out, &qh, 4);
}

void quantize_q5_0(const float* x, uint8_t* b) {
    const float id = store_symmetric_scale(x, 16, b);
    int q[QK];
    for (int j = 0; j < QK; ++j) q[j] = std::min(31, int(int8_t(x[j] * id + 16.5f)));
    pack_q5(q, b + 2, b + 6);
}

void quantize_q5_1(const float* x, uint8_t* b) {
    float min;
    const float id = store_affine_scale(x, 31, b, &min);
    int q[QK];
    for (int j = 0; j < QK; ++j) q[j] = int(uint8_t((x[j] - min) * id + 0.5f));
    pack_q5(q, b + 4, b + 8);
}

void quantize_q8_0(const float* x, uint8_t* b) {
    float amax = 0.f;
    for (int j = 0; j < QK; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127;
    const float id = d != 0.f ? 1.0f / d : 0.0f;
    store_half(b, d);
    for (int j = 0; j < QK; ++j) b[2 + j] = uint8_t(int8_t(std::round(x[j] * id)));
}

// ------------------------------------------------------------------ k-quant helpers

// Affine fit of n values to levels 0..nmax (ggml's make_qkx2_quants): start from the
// full range, then try nstep+1 slightly different level spacings and keep the
// weighted least-squares scale and offset with the smallest weighted squared error.
// Returns the scale; *neg_min receives -offset (>= 0, the offset is never positive).
float fit_scale_and_min(int n, int nmax, const float* x, const float* w, uint8_t* L, float* neg_min, float rmin,
                        float rdelta, int nstep) {
    float min = x[0], max = x[0];
    float sum_w = w[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        min = std::min(min, x[i]);
        max = std::max(max, x[i]);
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        std::fill(L, L + n, uint8_t(0));
        *neg_min = -min;
        return 0.f;
    }
    float iscale = float(nmax) / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; ++i) {
        L[i] = uint8_t(std::clamp(nearest_int(iscale * (x[i] - min)), 0, nmax));
        const float diff = scale * float(L[i]) + min - x[i];
        best_error += w[i] * (diff * diff);
    }
    uint8_t trial[QK];
    for (int is = 0; is <= nstep; ++is) {
        iscale = (rmin + rdelta * float(is) + float(nmax)) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            const int l = std::clamp(nearest_int(iscale * (x[i] - min)), 0, nmax);
            trial[i] = uint8_t(l);
            sum_l += w[i] * float(l);
            sum_l2 += w[i] * float(l) * float(l);
            sum_xl += w[i] * float(l) * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D <= 0) continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
        float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        if (this_min > 0) {
            this_min = 0;
            this_scale = sum_xl / sum_l2;
        }
        float error = 0;
        for (int i = 0; i < n; ++i) {
            const float diff = this_scale * float(trial[i]) + this_min - x[i];
            error += w[i] * (diff * diff);
        }
        if (error < best_error) {
            std::copy(trial, trial + n, L);
            best_error = error;
            scale = this_scale;
            min = this_min;
        }
    }
    *neg_min = -min;
    return scale;
}

// Symmetric fit of n values to levels -nmax..nmax-1 (ggml's make_qx_quants with
// weights x², no importance matrix): try 19 scales around nmax/absmax and keep the
// one that maximizes (Σw·x·l)² / Σw·l², i.e. minimizes the weighted squared error.
// Returns the scale; L receives level + nmax.
float fit_symmetric_scale(int n, int nmax, const float* x, int8_t* L) {
    const float max = signed_absmax(x, n);
    if (std::fabs(max) < kGroupMaxEps) {
        std::fill(L, L + n, int8_t(0));
        return 0.f;
    }
    auto levels_for = [&](float iscale, float* sumlx, float* suml2, bool store) {
        *sumlx = *suml2 = 0;
        for (int i = 0; i < n; ++i) {
            const int l = std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1);
            if (store) L[i] = int8_t(l + nmax);
            const float w = x[i] * x[i];
            *sumlx += w * x[i] * float(l);
            *suml2 += w * float(l) * float(l);
        }
    };
    float sumlx, suml2;
    levels_for(-float(nmax) / max, &sumlx, &suml2, true);
    float scale = suml2 != 0.f ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) continue;
        const float iscale = -(float(nmax) + 0.1f * float(is)) / max;
        levels_for(iscale, &sumlx, &suml2, false);
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            levels_for(iscale, &sumlx, &suml2, true);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

// ------------------------------------------------------------------ Q4_K and Q5_K

// Eight 6-bit scales and mins packed into 12 bytes: the low six bits of the first
// four of each in bytes 0..7, the rest split into nibbles (bytes 8..11) and the top
// two bits of bytes 0..7. dtype.cpp's scale_min_k4 unpacks it.
void pack_scales_mins_k4(const uint8_t* ls, const uint8_t* lm, uint8_t* q) {
    for (int j = 0; j < 4; ++j) {
        q[j] = ls[j];
        q[j + 4] = lm[j];
    }
    for (int j = 4; j < 8; ++j) {
        q[j + 4] = uint8_t((ls[j] & 0x0F) | ((lm[j] & 0x0F) << 4));
        q[j - 4] |= uint8_t((ls[j] >> 4) << 6);
        q[j] |= uint8_t((lm[j] >> 4) << 6);
    }
}

void unpack_scale_min_k4(int j, const uint8_t* q, int* scale, int* min) {
    if (j < 4) {
        *scale = q[j] & 63;
        *min = q[j + 4] & 63;
    } else {
        *scale = (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4);
        *min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

// The shared part of Q4_K and Q5_K: per 32-element group an affine fit weighted by
// (rms + |x|), then the eight scales and mins quantized to 6 bits against the
// super-block's largest, then every element re-quantized with the scales as stored.
// Writes d, dmin and the 12 scale bytes to b; leaves the levels (0..nmax) in L.
void quantize_k_super_block(const float* x, int nmax, float rmin, float rdelta, int nstep, uint8_t* b, uint8_t* L) {
    float scales[QK_K / 32], mins[QK_K / 32], weights[32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < QK_K / 32; ++j) {
        const float* xj = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; ++l) sum_x2 += xj[l] * xj[l];
        const float av_x = std::sqrt(sum_x2 / 32);
        for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xj[l]);
        scales[j] = fit_scale_and_min(32, nmax, xj, weights, L + 32 * j, &mins[j], rmin, rdelta, nstep);
        max_scale = std::max(max_scale, scales[j]);
        max_min = std::max(max_min, mins[j]);
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    uint8_t ls[QK_K / 32], lm[QK_K / 32];
    for (int j = 0; j < QK_K / 32; ++j) {
        ls[j] = std::min<uint8_t>(63, uint8_t(nearest_int(inv_scale * scales[j])));
        lm[j] = std::min<uint8_t>(63, uint8_t(nearest_int(inv_min * mins[j])));
    }
    store_half(b, max_scale / 63.f);
    store_half(b + 2, max_min / 63.f);
    pack_scales_mins_k4(ls, lm, b + 4);
    const float d_all = fp16_to_fp32(fp32_to_fp16(max_scale / 63.f));
    const float dmin_all = fp16_to_fp32(fp32_to_fp16(max_min / 63.f));
    for (int j = 0; j < QK_K / 32; ++j) {
        int sc, m;
        unpack_scale_min_k4(j, b + 4, &sc, &m);
        const float d = d_all * float(sc);
        if (d == 0.f) continue;
        const float dm = dmin_all * float(m);
        for (int i = 0; i < 32; ++i)
            L[32 * j + i] = uint8_t(std::clamp(nearest_int((x[32 * j + i] + dm) / d), 0, nmax));
    }
}

void quantize_q4_k(const float* x, uint8_t* b) {
    uint8_t L[QK_K];
    quantize_k_super_block(x, 15, -1.f, 0.1f, 20, b, L);
    uint8_t* q = b + 16;
    for (int j = 0; j < QK_K; j += 64, q += 32)
        for (int l = 0; l < 32; ++l) q[l] = uint8_t(L[j + l] | (L[j + l + 32] << 4));
}

void quantize_q5_k(const float* x, uint8_t* b) {
    uint8_t L[QK_K];
    quantize_k_super_block(x, 31, -0.5f, 0.1f, 15, b, L);
    uint8_t* qh = b + 16;
    uint8_t* ql = b + 16 + QK_K / 8;
    std::memset(qh, 0, QK_K / 8);
    uint8_t m1 = 1, m2 = 2;
    for (int n = 0; n < QK_K; n += 64, ql += 32) {
        for (int j = 0; j < 32; ++j) {
            int l1 = L[n + j], l2 = L[n + j + 32];
            if (l1 > 15) {
                l1 -= 16;
                qh[j] |= m1;
            }
            if (l2 > 15) {
                l2 -= 16;
                qh[j] |= m2;
            }
            ql[j] = uint8_t(l1 | (l2 << 4));
        }
        m1 = uint8_t(m1 << 2);
        m2 = uint8_t(m2 << 2);
    }
}

// ------------------------------------------------------------------ Q6_K

// Sixteen groups of 16 with a symmetric 6-bit fit each; the group scales are stored
// as int8 against one fp16 super-block scale d = max_scale / -128.
void quantize_q6_k(const float* x, uint8_t* b) {
    uint8_t* ql = b;
    uint8_t* qh = b + QK_K / 2;
    int8_t* group_scales = reinterpret_cast<int8_t*>(b + QK_K / 2 + QK_K / 4);
    uint8_t* d_out = b + QK_K / 2 + QK_K / 4 + QK_K / 16;
    int8_t L[QK_K];
    float scales[QK_K / 16];
    float max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < QK_K / 16; ++ib) {
        scales[ib] = fit_symmetric_scale(16, 32, x + 16 * ib, L + 16 * ib);
        if (std::fabs(scales[ib]) > max_abs_scale) {
            max_abs_scale = std::fabs(scales[ib]);
            max_scale = scales[ib];
        }
    }
    if (max_abs_scale < kGroupMaxEps) {
        std::memset(b, 0, size_t(traits(DType::Q6_K).block_bytes));
        return;
    }
    const float iscale = -128.f / max_scale;
    store_half(d_out, 1 / iscale);
    for (int ib = 0; ib < QK_K / 16; ++ib) group_scales[ib] = int8_t(std::min(127, nearest_int(iscale * scales[ib])));
    const float d_all = round_trip_half(1 / iscale);
    for (int j = 0; j < QK_K / 16; ++j) {
        const float d = d_all * float(group_scales[j]);
        if (d == 0.f) continue;
        for (int i = 0; i < 16; ++i) L[16 * j + i] = int8_t(std::clamp(nearest_int(x[16 * j + i] / d), -32, 31) + 32);
    }
    for (int j = 0; j < QK_K; j += 128, ql += 64, qh += 32) {
        for (int l = 0; l < 32; ++l) {
            const int q1 = L[j + l], q2 = L[j + l + 32], q3 = L[j + l + 64], q4 = L[j + l + 96];
            ql[l] = uint8_t((q1 & 0x0F) | ((q3 & 0x0F) << 4));
            ql[l + 32] = uint8_t((q2 & 0x0F) | ((q4 & 0x0F) << 4));
            qh[l] = uint8_t((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
        }
    }
}

using BlockQuantizer = void (*)(const float*, uint8_t*);

BlockQuantizer block_quantizer(DType type) {
    switch (type) {
        case DType::Q4_0: return quantize_q4_0;
        case DType::Q4_1: return quantize_q4_1;
        case DType::Q5_0: return quantize_q5_0;
        case DType::Q5_1: return quantize_q5_1;
        case DType::Q8_0: return quantize_q8_0;
        case DType::Q4_K: return quantize_q4_k;
        case DType::Q5_K: return quantize_q5_k;
        case DType::Q6_K: return quantize_q6_k;
        default: return nullptr;
    }
}

Status check_row_length(DType type, int64_t n) {
    const auto& t = traits(type);
    if (n < 0 || n % t.block_elements != 0)
        return Status::error(std::string("quantize: a ") + t.name + " row must hold a multiple of " +
                             std::to_string(t.block_elements) + " elements, got " + std::to_string(n));
    return Status::ok();
}

void encode_row(DType type, const float* src, uint8_t* dst, int64_t n, float tensor_absmax) {
    if (is_lumen_format(type)) return encode_lumen_row(type, src, dst, n, tensor_absmax);
    switch (type) {
        case DType::F32: std::memcpy(dst, src, size_t(n) * 4); return;
        case DType::F16:
        case DType::BF16:
            for (int64_t i = 0; i < n; ++i) {
                const uint16_t h = type == DType::F16 ? fp32_to_fp16(src[i]) : fp32_to_bf16(src[i]);
                std::memcpy(dst + 2 * i, &h, 2);
            }
            return;
        default: break;
    }
    const auto& t = traits(type);
    const BlockQuantizer quantize_block = block_quantizer(type);
    for (int64_t i = 0; i < n / t.block_elements; ++i)
        quantize_block(src + i * t.block_elements, dst + i * t.block_bytes);
}

}  // namespace

Status quantize_row(DType type, const float* src, void* dst, int64_t n) {
    LUMEN_TRY(check_row_length(type, n));
    float amax = 0.f;
    if (has_tensor_scale(type))
        for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(src[i]));
    encode_row(type, src, static_cast<uint8_t*>(dst), n, amax);
    return Status::ok();
}

Status quantize_rows(DType type, const float* src, void* dst, int64_t n_rows, int64_t n_per_row, int n_threads,
                     float tensor_absmax) {
    LUMEN_TRY(check_row_length(type, n_per_row));
    if (n_rows < 0) return Status::error("quantize: negative row count " + std::to_string(n_rows));
    if (has_tensor_scale(type) && tensor_absmax < 0) {
        tensor_absmax = 0.f;
        for (int64_t i = 0; i < n_rows * n_per_row; ++i) tensor_absmax = std::max(tensor_absmax, std::fabs(src[i]));
    }
    auto* out = static_cast<uint8_t*>(dst);
    const size_t stride = row_bytes(type, n_per_row);
    // Threads pay off only for real work: give each at least ~64K elements.
    const int64_t max_useful = std::max<int64_t>(1, n_rows * n_per_row / (int64_t(1) << 16));
    if (n_threads <= 0) n_threads = int(std::max(1u, std::thread::hardware_concurrency()));
    const int64_t n_workers = std::min<int64_t>({int64_t(n_threads), max_useful, std::max<int64_t>(1, n_rows)});
    auto encode_range = [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r)
            encode_row(type, src + r * n_per_row, out + size_t(r) * stride, n_per_row, tensor_absmax);
    };
    if (n_workers <= 1) {
        encode_range(0, n_rows);
        return Status::ok();
    }
    std::vector<std::thread> workers;
    const int64_t per_worker = (n_rows + n_workers - 1) / n_workers;
    for (int64_t w = 1; w < n_workers; ++w)
        workers.emplace_back(encode_range, std::min(n_rows, w * per_worker), std::min(n_rows, (w + 1) * per_worker));
    encode_range(0, std::min(n_rows, per_worker));
    for (auto& t : workers) t.join();
    return Status::ok();
}

Status stream_encoded_rows(DType type, int64_t n_rows, int64_t n_per_row, const RowFiller& fill, const ByteSink& sink) {
    LUMEN_TRY(check_row_length(type, n_per_row));
    // Chunks of about 4M elements (16 MiB of f32): large enough to keep the threads busy.
    const int64_t chunk_rows = std::max<int64_t>(1, (int64_t(1) << 22) / std::max<int64_t>(1, n_per_row));
    std::vector<float> values(size_t(std::min(chunk_rows, n_rows) * n_per_row));
    std::vector<uint8_t> encoded(size_t(std::min(chunk_rows, n_rows)) * row_bytes(type, n_per_row));
    for (int64_t first = 0; first < n_rows; first += chunk_rows) {
        const int64_t rows = std::min(chunk_rows, n_rows - first);
        LUMEN_TRY(fill(first, rows, values.data()));
        LUMEN_TRY(quantize_rows(type, values.data(), encoded.data(), rows, n_per_row));
        LUMEN_TRY(sink(encoded.data(), size_t(rows) * row_bytes(type, n_per_row)));
    }
    return Status::ok();
}

}  // namespace lumen
