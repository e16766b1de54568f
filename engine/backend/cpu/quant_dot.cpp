// Integer block dot products: sum over blocks of d_w * d_x * sum_j(q_w[j] * q_x[j])
// (+ m_w * s_x for the formats with a minimum). Weight nibbles are unpacked per
// the GGUF block layouts in core/dtype.cpp.
#include "backend/cpu/quant_dot.h"

#include <cmath>
#include <cstring>

namespace lumen::cpu {

namespace {

float half_at(const uint8_t* p) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return fp16_to_fp32(h);
}

float round_fp16(float x) { return fp16_to_fp32(fp32_to_fp16(x)); }

// Unpacks one block's 32 weight quants (without offset/scale) into q.
// Returns the block's scale d and minimum m (0 for symmetric formats).
void unpack_block(DType type, const uint8_t* b, int32_t* q, float* d, float* m) {
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
        default:
            *d = 0.f;
            return;
    }
}

}  // namespace

bool uses_q8_activations(DType t) {
    return t == DType::Q4_0 || t == DType::Q4_1 || t == DType::Q5_0 || t == DType::Q5_1 || t == DType::Q8_0;
}

void quantize_activations_q8(const float* x, int64_t n, ActivationBlockQ8* out) {
    for (int64_t b = 0; b < n / 32; ++b) {
        const float* xb = x + b * 32;
        float amax = 0.f;
        for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(xb[j]));
        const float d = amax / 127.f;
        const float id = amax != 0.f ? 127.f / amax : 0.f;
        int32_t sum = 0;
        ActivationBlockQ8& a = out[b];
        for (int j = 0; j < 32; ++j) {
            const int v = int(std::nearbyint(xb[j] * id));  // round half to even, as the SIMD path
            a.qs[j] = int8_t(v);
            sum += v;
        }
        a.d = round_fp16(d);
        a.s = round_fp16(d * float(sum));
    }
}

float dot_q8(DType type, const void* weight_row, const ActivationBlockQ8* x, int64_t n) {
    const auto* w = static_cast<const uint8_t*>(weight_row);
    const int block_bytes = traits(type).block_bytes;
    float acc = 0.f, acc_min = 0.f;
    int32_t q[32];
    for (int64_t b = 0; b < n / 32; ++b) {
        float d, m;
        unpack_block(type, w + b * block_bytes, q, &d, &m);
        int32_t sumi = 0;
        for (int j = 0; j < 32; ++j) sumi += q[j] * x[b].qs[j];
        acc += d * x[b].d * float(sumi);
        acc_min += m * x[b].s;
    }
    return acc + acc_min;
}

}  // namespace lumen::cpu
