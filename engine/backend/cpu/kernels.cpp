// Picks the kernel table once, from what the CPU reports (cpuid via the
// compiler's builtins) and the LUMEN_CPU_LEVEL override.
#include "backend/cpu/kernels.h"
#include "core/log.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

namespace lumen::cpu {

ActivationFormat activation_format(DType weight_type) {
    switch (weight_type) {
        case DType::Q4_0:
        case DType::Q4_1:
        case DType::Q5_0:
        case DType::Q5_1:
        case DType::Q8_0: return ActivationFormat::q8;
        case DType::Q4_K:
        case DType::Q5_K:
        case DType::Q6_K: return ActivationFormat::q8k;
        case DType::I8_W8A8: return ActivationFormat::i8_outlier;
        case DType::I8_CH:
        case DType::I4_G32:
        case DType::I4_G64:
        case DType::I4_G128:
        case DType::I4Z_G32:
        case DType::I4Z_G64:
        case DType::I4Z_G128: return ActivationFormat::i16;
        default: return ActivationFormat::f32;
    }
}

size_t activation_row_bytes(ActivationFormat format, int64_t n) {
    switch (format) {
        case ActivationFormat::q8: return size_t(n / 32) * sizeof(ActivationBlockQ8);
        case ActivationFormat::q8k: return size_t(n / 256) * sizeof(ActivationBlockQ8K);
        case ActivationFormat::i8_outlier:
            return sizeof(ActivationRowI8) + size_t((n + 31) / 32 * 32) + size_t(n) * sizeof(ActivationOutlier);
        case ActivationFormat::i16:
            return sizeof(ActivationRowI16) + size_t((n + 31) / 32) * (32 * sizeof(int16_t) + sizeof(int32_t));
        default: return size_t(n) * sizeof(float);
    }
}

void quantize_i8_outlier(const float* x, int64_t n, float threshold, uint8_t* out) {
    ActivationRowI8 header{0.f, 0};
    auto* pairs = reinterpret_cast<ActivationOutlier*>(out + sizeof(ActivationRowI8) + size_t((n + 31) / 32 * 32));
    float amax = 0.f;
    for (int64_t i = 0; i < n; ++i) {
        const float a = std::fabs(x[i]);
        if (a > threshold)
            pairs[header.n_outliers++] = {int32_t(i), x[i]};
        else
            amax = std::max(amax, a);
    }
    header.scale = amax / 127.f;
    const float inv = amax > 0.f ? 127.f / amax : 0.f;
    auto* q = reinterpret_cast<int8_t*>(out + sizeof(ActivationRowI8));
    for (int64_t i = 0; i < n; ++i)
        q[i] = std::fabs(x[i]) > threshold ? 0 : int8_t(std::clamp(int(std::lrintf(x[i] * inv)), -127, 127));
    std::fill(q + n, q + (n + 31) / 32 * 32, int8_t(0));
    std::memcpy(out, &header, sizeof header);
}

void quantize_i16(const float* x, int64_t n, uint8_t* out) {
    float amax = 0.f;
    for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
    const ActivationRowI16 header{amax / 32767.f, 0.f};
    const float inv = amax > 0.f ? 32767.f / amax : 0.f;
    auto* q = reinterpret_cast<int16_t*>(out + sizeof(ActivationRowI16));
    const int64_t padded = (n + 31) / 32 * 32;
    for (int64_t i = 0; i < n; ++i) q[i] = int16_t(std::clamp(int(std::lrintf(x[i] * inv)), -32767, 32767));
    std::fill(q + n, q + padded, int16_t(0));
    auto* sums = reinterpret_cast<int32_t*>(out + sizeof(ActivationRowI16) + 2 * size_t(padded));
    for (int64_t b = 0; b < padded / 32; ++b) {
        int32_t s = 0;
        for (int j = 0; j < 32; ++j) s += q[b * 32 + j];
        sums[b] = s;
    }
    std::memcpy(out, &header, sizeof header);
}

void dot_rows_by_row(DotRowFn dot_row, DType type, const uint8_t* rows, size_t row_stride, int n_rows, const uint8_t* x,
                     size_t x_stride, int n_tokens, int64_t n, float* y, int64_t y_stride) {
    for (int t0 = 0; t0 < n_tokens; t0 += kMaxTokensPerRowPass) {
        const int nt = std::min(kMaxTokensPerRowPass, n_tokens - t0);
        for (int r = 0; r < n_rows; ++r) {
            float out[kMaxTokensPerRowPass];
            dot_row(type, rows + size_t(r) * row_stride, x + size_t(t0) * x_stride, x_stride, nt, n, out);
            for (int t = 0; t < nt; ++t) y[(t0 + t) * y_stride + r] = out[t];
        }
    }
}

const char* cpu_level_name(CpuLevel level) {
    switch (level) {
        case CpuLevel::avx2: return "avx2";
        case CpuLevel::avx512: return "avx512";
        case CpuLevel::avx512_vnni: return "avx512_vnni";
        default: return "scalar";
    }
}

std::vector<CpuLevel> supported_cpu_levels() {
    std::vector<CpuLevel> levels{CpuLevel::scalar};
#if defined(__x86_64__)
    __builtin_cpu_init();
    // libgcc's checks include the OS's support (XCR0) for the register state.
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    if (avx2) levels.push_back(CpuLevel::avx2);
    const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    if (avx512) levels.push_back(CpuLevel::avx512);
    if (avx512 && __builtin_cpu_supports("avx512vnni")) levels.push_back(CpuLevel::avx512_vnni);
#endif
    return levels;
}

const KernelTable& kernel_table(CpuLevel level) {
#if defined(__x86_64__)
    if (level == CpuLevel::avx2) return avx2_kernels();
    if (level == CpuLevel::avx512) return avx512::kernels();
    if (level == CpuLevel::avx512_vnni) return avx512_vnni::kernels();
#endif
    return scalar_kernels();
}

namespace {
const KernelTable& choose_kernels() {
    const auto levels = supported_cpu_levels();
    CpuLevel chosen = levels.back();
    if (const char* want = std::getenv("LUMEN_CPU_LEVEL"); want && *want) {
        bool found = false;
        for (CpuLevel l : levels)
            if (!std::strcmp(want, cpu_level_name(l))) chosen = l, found = true;
        if (!found)
            log_warning(std::string("LUMEN_CPU_LEVEL=") + want + " is not available on this CPU; using " +
                        cpu_level_name(chosen));
    }
    return kernel_table(chosen);
}
}  // namespace

const KernelTable& active_kernels() {
    static const KernelTable& table = choose_kernels();
    return table;
}

}  // namespace lumen::cpu
