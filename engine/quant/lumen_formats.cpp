// Lumen's formats: round-to-nearest on each format's grid, and the byte layouts
// that dequantize_row (core/dtype.cpp) reads back.
#include "quant/lumen_formats.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace lumen {

namespace {

void store_half(uint8_t* p, float v) {
    const uint16_t h = fp32_to_fp16(v);
    std::memcpy(p, &h, 2);
}
float through_half(float v) {
    return fp16_to_fp32(fp32_to_fp16(v));
}

float absmax(const float* x, int64_t n) {
    float a = 0.f;
    for (int64_t i = 0; i < n; ++i) a = std::max(a, std::fabs(x[i]));
    return a;
}

int int4_group(DType type) {
    return traits(type).block_elements;
}

// Codes of one group on the grid (d, m): q = clamp(round((w - m) / d), 0, qmax).
void codes_for(const float* x, int n, float d, float m, int qmax, uint8_t* q) {
    const float inv = d != 0.f ? 1.f / d : 0.f;
    for (int i = 0; i < n; ++i) q[i] = uint8_t(std::clamp(int(std::lrintf((x[i] - m) * inv)), 0, qmax));
}

// int4 groups: byte j packs codes j (low nibble) and j + G/2 (high nibble).
void pack_nibbles(const uint8_t* q, int group, uint8_t* out) {
    for (int j = 0; j < group / 2; ++j) out[j] = uint8_t(q[j] | q[j + group / 2] << 4);
}

void encode_int4_row(DType type, const float* x, uint8_t* dst, int64_t n) {
    const int g = int4_group(type);
    const bool asym = is_int4_asymmetric(type);
    const int block_bytes = traits(type).block_bytes;
    uint8_t q[128];
    for (int64_t b = 0; b < n / g; ++b) {
        const float* xb = x + b * g;
        uint8_t* out = dst + b * block_bytes;
        float d, m;
        if (asym) {
            const float lo = *std::min_element(xb, xb + g), hi = *std::max_element(xb, xb + g);
            d = through_half((hi - lo) / 15.f);
            m = through_half(lo);
            store_half(out, d);
            store_half(out + 2, m);
        } else {
            d = through_half(absmax(xb, g) / 7.f);
            m = -8.f * d;
            store_half(out, d);
        }
        codes_for(xb, g, d, m, 15, q);
        pack_nibbles(q, g, out + (asym ? 4 : 2));
    }
}

}  // namespace

bool is_lumen_format(DType type) {
    return !traits(type).in_gguf;
}
bool has_tensor_scale(DType type) {
    return type == DType::F8_E4M3_T;
}

void encode_lumen_row(DType type, const float* src, uint8_t* dst, int64_t n, float tensor_absmax) {
    switch (type) {
        case DType::I8_CH:
        case DType::I8_W8A8: {
            const float s = absmax(src, n) / 127.f;
            std::memcpy(dst, &s, 4);
            const int header = traits(type).row_header_bytes;
            if (type == DType::I8_W8A8) std::memcpy(dst + 4, &kDefaultOutlierThreshold, 4);
            const float inv = s != 0.f ? 1.f / s : 0.f;
            for (int64_t i = 0; i < n; ++i)
                dst[header + i] = uint8_t(int8_t(std::clamp(int(std::lrintf(src[i] * inv)), -127, 127)));
            return;
        }
        case DType::F8_E4M3_CH:
        case DType::F8_E4M3_T: {
            const float amax = type == DType::F8_E4M3_T ? tensor_absmax : absmax(src, n);
            const float s = amax / kFp8E4M3Max;
            std::memcpy(dst, &s, 4);
            const float inv = s != 0.f ? 1.f / s : 0.f;
            for (int64_t i = 0; i < n; ++i) dst[4 + i] = fp32_to_fp8_e4m3(src[i] * inv);
            return;
        }
        case DType::F8_E4M3:
            for (int64_t i = 0; i < n; ++i) dst[i] = fp32_to_fp8_e4m3(src[i]);
            return;
        case DType::F8_E5M2:
            for (int64_t i = 0; i < n; ++i) dst[i] = fp32_to_fp8_e5m2(src[i]);
            return;
        default: return encode_int4_row(type, src, dst, n);
    }
}

void set_outlier_threshold(TensorView& t, float threshold) {
    if (t.type != DType::I8_W8A8) return;
    auto* rows = static_cast<uint8_t*>(const_cast<void*>(t.data));
    for (int64_t r = 0; r < t.rows; ++r) std::memcpy(rows + size_t(r) * t.row_stride() + 4, &threshold, 4);
}

bool quant_grid_for_type(DType type, QuantGrid* grid) {
    switch (type) {
        case DType::I8_CH:
        case DType::I8_W8A8: *grid = {254, true, 0, false}; return true;
        case DType::Q8_0: *grid = {255, true, 32, true}; return true;
        case DType::Q4_0: *grid = {15, true, 32, true}; return true;
        case DType::Q4_1: *grid = {15, false, 32, true}; return true;
        case DType::I4_G32:
        case DType::I4_G64:
        case DType::I4_G128: *grid = {15, true, int4_group(type), true}; return true;
        case DType::I4Z_G32:
        case DType::I4Z_G64:
        case DType::I4Z_G128: *grid = {15, false, int4_group(type), true}; return true;
        default: return false;
    }
}

void encode_row_from_codes(DType type, const float* d, const float* m, const uint8_t* codes, uint8_t* dst, int64_t n) {
    switch (type) {
        case DType::I8_CH:
        case DType::I8_W8A8: {
            std::memcpy(dst, d, 4);
            const int header = traits(type).row_header_bytes;
            if (type == DType::I8_W8A8) std::memcpy(dst + 4, &kDefaultOutlierThreshold, 4);
            for (int64_t i = 0; i < n; ++i) dst[header + i] = uint8_t(int8_t(int(codes[i]) - 127));
            return;
        }
        case DType::Q8_0:
            for (int64_t b = 0; b < n / 32; ++b) {
                store_half(dst + b * 34, d[b]);
                for (int i = 0; i < 32; ++i) dst[b * 34 + 2 + i] = uint8_t(int8_t(int(codes[b * 32 + i]) - 128));
            }
            return;
        default: break;
    }
    const int g = traits(type).block_elements;
    const bool with_min = type == DType::Q4_1 || is_int4_asymmetric(type);
    const int block_bytes = traits(type).block_bytes;
    for (int64_t b = 0; b < n / g; ++b) {
        uint8_t* out = dst + b * block_bytes;
        store_half(out, d[b]);
        if (with_min) store_half(out + 2, m[b]);
        pack_nibbles(codes + b * g, g, out + (with_min ? 4 : 2));
    }
}

}  // namespace lumen
