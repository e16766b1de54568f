// Decode-time matrix products over GpuMatrix weights (gemv.cuh): gemv for 1..8 tokens,
// the fp16 expansion that feeds cuBLAS at prefill, and the embedding gather. Weights are
// decoded in registers by quant_decode.cuh, bit-identical to the CPU reference.
//
// gemv is memory-bound: each weight byte is read once, so the design keeps DRAM busy.
// - One warp per output row (two for 3+ tokens, so each x value read from shared memory
//   serves two rows); lane l takes chunks l, l + 32, ..., so a warp's qs loads are one
//   contiguous run, and each lane issues the loads of several chunks before decoding any.
// - x is staged in shared memory with one float of padding per 32 (element k of a token
//   at k + k / 32): lanes reading the same offset of chunks lane + 32j hit 32 banks.
// - Blocks loop over row groups, so a block stages x once for many rows (x for 8 tokens
//   is as large as a few rows of 4-bit weights, and L2 would otherwise carry it per warp).
// - When x for all tokens does not fit the shared-memory budget, the row is cut into
//   column slices, one launch each, the later ones adding to y: the weights are still
//   read exactly once, unlike splitting the tokens into groups.
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdint>

#include "gemv.cuh"
#include "quant_decode.cuh"

namespace lumen::cuda {

namespace {

constexpr int kThreads = 256;  // 8 warps per block
constexpr int kWarps = kThreads / 32;
constexpr int kPaddedChunk = kChunk + 1;  // floats one staged chunk of x takes
constexpr int kDefaultSmem = 48 * 1024;   // dynamic shared memory any kernel may use unasked
constexpr int kMaxCachedDevices = 16;

// ------------------------------------------------------------------ device facts

struct DeviceFacts {
    int sms = 0, smem_per_sm = 0, smem_optin = 0;
};

// The current device and its facts, read once per device (the launchers run per layer).
cudaError_t current_device(int* device, DeviceFacts* facts) {
    static std::atomic<int> cache[kMaxCachedDevices][3];  // 0: not read yet
    cudaError_t err = cudaGetDevice(device);
    if (err != cudaSuccess) return err;
    const bool cached = *device >= 0 && *device < kMaxCachedDevices;
    if (cached && cache[*device][0].load(std::memory_order_relaxed) > 0) {
        facts->sms = cache[*device][0].load(std::memory_order_relaxed);
        facts->smem_per_sm = cache[*device][1].load(std::memory_order_relaxed);
        facts->smem_optin = cache[*device][2].load(std::memory_order_relaxed);
        return cudaSuccess;
    }
    if ((err = cudaDeviceGetAttribute(&facts->sms, cudaDevAttrMultiProcessorCount, *device)) != cudaSuccess ||
        (err = cudaDeviceGetAttribute(&facts->smem_per_sm, cudaDevAttrMaxSharedMemoryPerMultiprocessor, *device)) !=
            cudaSuccess ||
        (err = cudaDeviceGetAttribute(&facts->smem_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, *device)) !=
            cudaSuccess)
        return err;
    if (cached) {
        cache[*device][1].store(facts->smem_per_sm, std::memory_order_relaxed);
        cache[*device][2].store(facts->smem_optin, std::memory_order_relaxed);
        cache[*device][0].store(std::max(1, facts->sms), std::memory_order_relaxed);
    }
    return cudaSuccess;
}

// Shared memory one gemv block may stage x in: what leaves room for two blocks per SM
// (16 warps keep enough loads in flight to cover DRAM latency), between 48 and 96 KiB.
int gemv_smem_budget(const DeviceFacts& f) {
    const int two_per_sm = f.smem_per_sm / 2 - 1024;  // the runtime reserves 1 KiB per block
    return std::min(std::clamp(two_per_sm, kDefaultSmem, 96 * 1024), std::max(f.smem_optin, kDefaultSmem));
}

// ------------------------------------------------------------------ argument checks

bool misaligned(const void* p, uintptr_t alignment) {
    return reinterpret_cast<uintptr_t>(p) % alignment != 0;
}

// The shape, the arrays the format needs, and the alignment the vector loads rely on.
cudaError_t check_matrix(const GpuMatrix& w) {
    const int64_t multiple = format_row_multiple(w.format);
    if (multiple == 0 || w.rows < 0 || w.cols < 0 || w.cols % multiple != 0) return cudaErrorInvalidValue;
    if (w.rows == 0 || w.cols == 0) return cudaSuccess;  // nothing is read
    const ChunkLayout L = chunk_layout(w.format);
    if (!w.qs || (L.qh && !w.qh) || (L.meta && !w.meta) || (L.super && !w.super) || (L.row_scale && !w.row_scale))
        return cudaErrorInvalidValue;
    if (misaligned(w.qs, 16) || (L.qh && misaligned(w.qh, 8)) || (L.meta && misaligned(w.meta, L.meta)) ||
        (L.super && misaligned(w.super, L.super)) || (L.row_scale && misaligned(w.row_scale, 4)))
        return cudaErrorMisalignedAddress;
    return cudaSuccess;
}

template <WeightFormat F>
struct FormatTag {
    static constexpr WeightFormat value = F;
};

// Calls fn(FormatTag<F>{}) for the runtime format: the one table of dtype variants.
template <typename Fn>
cudaError_t with_format(WeightFormat format, Fn&& fn) {
    switch (format) {
        case WeightFormat::f32: return fn(FormatTag<WeightFormat::f32>{});
        case WeightFormat::f16: return fn(FormatTag<WeightFormat::f16>{});
        case WeightFormat::bf16: return fn(FormatTag<WeightFormat::bf16>{});
        case WeightFormat::q8_0: return fn(FormatTag<WeightFormat::q8_0>{});
        case WeightFormat::q4_0: return fn(FormatTag<WeightFormat::q4_0>{});
        case WeightFormat::q4_1: return fn(FormatTag<WeightFormat::q4_1>{});
        case WeightFormat::q4_k: return fn(FormatTag<WeightFormat::q4_k>{});
        case WeightFormat::q6_k: return fn(FormatTag<WeightFormat::q6_k>{});
        case WeightFormat::fp8_e4m3: return fn(FormatTag<WeightFormat::fp8_e4m3>{});
    }
    return cudaErrorInvalidValue;
}

// A 1-D grid of `blocks` (at least 1), within gridDim.x's limit; kernels loop past it.
unsigned grid_for(int64_t blocks) {
    return unsigned(std::clamp<int64_t>(blocks, 1, INT_MAX));
}

// ------------------------------------------------------------------ gemv

template <WeightFormat F, int T>
struct GemvShape {
    static constexpr int kRows = T >= 3 ? 2 : 1;  // rows per warp
    // Chunks per lane per step: about 64 bytes of weights (qs and qh) per lane in flight.
    static constexpr int kBytes = (chunk_layout(F).qs + chunk_layout(F).qh) * kRows;
    static constexpr int kUnroll = kBytes < 64 ? 64 / kBytes : 1;
};

// y[t][r] (+)= sum over the chunks [c0, c0 + nc) of row r of W[r][.] * x[t][.], t < T.
template <WeightFormat F, int T>
__global__ void __launch_bounds__(kThreads) gemv_kernel(const GpuMatrix w, const float* __restrict__ x,
                                                        float* __restrict__ y, int64_t c0, int nc, int accumulate) {
    constexpr int R = GemvShape<F, T>::kRows, U = GemvShape<F, T>::kUnroll;
    extern __shared__ float xs[];  // [T][nc * 33]
    const int x_stride = nc * kPaddedChunk;
    const int64_t chunks = w.cols / kChunk;
    LUMEN_UNROLL
    for (int t = 0; t < T; ++t) {
        const float* xt = x + t * w.cols + c0 * kChunk;
        for (int k = threadIdx.x; k < nc * kChunk; k += kThreads) xs[t * x_stride + k + k / kChunk] = xt[k];
    }
    __syncthreads();

    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int64_t groups = (w.rows + kWarps * R - 1) / (kWarps * R);
    for (int64_t g = blockIdx.x; g < groups; g += gridDim.x) {
        const int64_t row0 = (g * kWarps + warp) * R;
        if (row0 >= w.rows) continue;  // the same for the whole warp; no barrier follows
        int64_t row[R];                // a row past the end re-reads the last one; its sum is dropped
        LUMEN_UNROLL
        for (int r = 0; r < R; ++r) row[r] = row0 + r < w.rows ? row0 + r : w.rows - 1;
        float acc[R][T];
        LUMEN_UNROLL
        for (int r = 0; r < R; ++r) {
            LUMEN_UNROLL
            for (int t = 0; t < T; ++t) acc[r][t] = 0.f;
        }

        for (int c = lane; c < nc; c += 32 * U) {
            RawChunk<F> raw[R][U];  // every load of the step is issued before any decoding
            LUMEN_UNROLL
            for (int u = 0; u < U; ++u) {
                if (c + 32 * u >= nc) continue;
                LUMEN_UNROLL
                for (int r = 0; r < R; ++r) load_chunk<F>(w, row[r] * chunks + c0 + c + 32 * u, row[r], raw[r][u]);
            }
            LUMEN_UNROLL
            for (int u = 0; u < U; ++u) {
                if (c + 32 * u >= nc) continue;
                float wv[R][kChunk];
                LUMEN_UNROLL
                for (int r = 0; r < R; ++r) decode_raw<F>(raw[r][u], wv[r]);
                const float* xc = xs + (c + 32 * u) * kPaddedChunk;
                LUMEN_UNROLL
                for (int e = 0; e < kChunk; ++e) {
                    LUMEN_UNROLL
                    for (int t = 0; t < T; ++t) {
                        const float xv = xc[t * x_stride + e];
                        LUMEN_UNROLL
                        for (int r = 0; r < R; ++r) acc[r][t] = fmaf(wv[r][e], xv, acc[r][t]);
                    }
                }
            }
        }

        // Butterfly sums leave every total in every lane; lane r * T + t writes (row r, token t).
        float mine = 0.f;
        LUMEN_UNROLL
        for (int r = 0; r < R; ++r) {
            LUMEN_UNROLL
            for (int t = 0; t < T; ++t) {
                float v = acc[r][t];
                LUMEN_UNROLL
                for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xFFFFFFFFu, v, offset);
                if (lane == r * T + t) mine = v;
            }
        }
        if (lane < R * T && row0 + lane / T < w.rows) {
            float* out = y + (lane % T) * w.rows + row0 + lane / T;
            *out = accumulate ? *out + mine : mine;
        }
    }
}

template <WeightFormat F, int T>
cudaError_t launch_gemv(const GpuMatrix& w, const float* x, float* y, cudaStream_t stream) {
    static std::atomic<int> smem_allowed[kMaxCachedDevices];  // opt-in already set, per device
    int device = 0;
    DeviceFacts facts;
    cudaError_t err = current_device(&device, &facts);
    if (err != cudaSuccess) return err;
    const int budget = gemv_smem_budget(facts);
    const int64_t chunks = w.cols / kChunk;
    int64_t per_pass = budget / (T * kPaddedChunk * int(sizeof(float)));  // >= 46 chunks: budget >= 48 KiB
    if (per_pass >= chunks)
        per_pass = chunks;
    else
        per_pass -= per_pass % 32;  // whole steps of the warp's 32 lanes
    const int smem_max = int(T * per_pass * kPaddedChunk * sizeof(float));
    auto kernel = gemv_kernel<F, T>;
    if (smem_max > kDefaultSmem) {
        const bool cached = device < kMaxCachedDevices;
        if (!cached || smem_allowed[device].load(std::memory_order_relaxed) < budget) {
            err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, budget);
            if (err != cudaSuccess) return err;
            if (cached) smem_allowed[device].store(budget, std::memory_order_relaxed);
        }
    }
    int blocks_per_sm = 0;
    err = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks_per_sm, kernel, kThreads, size_t(smem_max));
    if (err != cudaSuccess) return err;
    constexpr int rows_per_group = kWarps * GemvShape<F, T>::kRows;
    const int64_t groups = (w.rows + rows_per_group - 1) / rows_per_group;
    const unsigned grid = grid_for(std::min<int64_t>(groups, int64_t(std::max(1, blocks_per_sm)) * facts.sms));
    for (int64_t c0 = 0; c0 < chunks; c0 += per_pass) {
        const int nc = int(std::min(per_pass, chunks - c0));
        const size_t smem = size_t(T) * nc * kPaddedChunk * sizeof(float);
        kernel<<<grid, kThreads, smem, stream>>>(w, x, y, c0, nc, c0 > 0 ? 1 : 0);
        if ((err = cudaGetLastError()) != cudaSuccess) return err;
    }
    return cudaSuccess;
}

template <WeightFormat F>
cudaError_t gemv_tokens(const GpuMatrix& w, const float* x, int n_tokens, float* y, cudaStream_t stream) {
    switch (n_tokens) {
        case 1: return launch_gemv<F, 1>(w, x, y, stream);
        case 2: return launch_gemv<F, 2>(w, x, y, stream);
        case 3: return launch_gemv<F, 3>(w, x, y, stream);
        case 4: return launch_gemv<F, 4>(w, x, y, stream);
        case 5: return launch_gemv<F, 5>(w, x, y, stream);
        case 6: return launch_gemv<F, 6>(w, x, y, stream);
        case 7: return launch_gemv<F, 7>(w, x, y, stream);
        case 8: return launch_gemv<F, 8>(w, x, y, stream);
        default: return cudaErrorInvalidValue;
    }
}

// ------------------------------------------------------------------ fp16 expansion, embeddings

// One thread per chunk: its 32 weights land at out + i * 32, since chunk i of the flat
// numbering is elements 32i .. 32i + 31 of the row-major matrix.
template <WeightFormat F>
__global__ void __launch_bounds__(kThreads)
    dequantize_f16_kernel(const GpuMatrix w, uint16_t* __restrict__ out, int vector_stores) {
    const int64_t per_row = w.cols / kChunk, total = w.rows * per_row;
    for (int64_t i = blockIdx.x * int64_t(kThreads) + threadIdx.x; i < total; i += int64_t(gridDim.x) * kThreads) {
        RawChunk<F> raw;
        load_chunk<F>(w, i, i / per_row, raw);
        float v[kChunk];
        decode_raw<F>(raw, v);
        uint32_t h[kChunk / 2];
        LUMEN_UNROLL
        for (int k = 0; k < kChunk / 2; ++k)
            h[k] = uint32_t(__half_as_ushort(__float2half_rn(v[2 * k]))) |
                   uint32_t(__half_as_ushort(__float2half_rn(v[2 * k + 1]))) << 16;
        uint16_t* dst = out + i * kChunk;
        if (vector_stores) {
            LUMEN_UNROLL
            for (int k = 0; k < kChunk / 8; ++k)
                reinterpret_cast<uint4*>(dst)[k] = make_uint4(h[4 * k], h[4 * k + 1], h[4 * k + 2], h[4 * k + 3]);
        } else {
            LUMEN_UNROLL
            for (int k = 0; k < kChunk; ++k) dst[k] = uint16_t(h[k / 2] >> (16 * (k % 2)));
        }
    }
}

// One thread per (token, chunk): out + i * 32 again, as out is [n_tokens][cols].
template <WeightFormat F>
__global__ void __launch_bounds__(kThreads)
    embedding_kernel(const GpuMatrix w, const int32_t* __restrict__ tokens, int64_t n_tokens, float* __restrict__ out,
                     int vector_stores) {
    const int64_t per_row = w.cols / kChunk, total = n_tokens * per_row;
    for (int64_t i = blockIdx.x * int64_t(kThreads) + threadIdx.x; i < total; i += int64_t(gridDim.x) * kThreads) {
        const int64_t t = i / per_row, c = i - t * per_row;
        const int64_t id = __ldg(tokens + t);
        float v[kChunk];
        if (id >= 0 && id < w.rows) {
            RawChunk<F> raw;
            load_chunk<F>(w, id * per_row + c, id, raw);
            decode_raw<F>(raw, v);
        } else {
            LUMEN_UNROLL
            for (int e = 0; e < kChunk; ++e) v[e] = 0.f;
        }
        float* dst = out + i * kChunk;
        if (vector_stores) {
            LUMEN_UNROLL
            for (int k = 0; k < kChunk / 4; ++k)
                reinterpret_cast<float4*>(dst)[k] = make_float4(v[4 * k], v[4 * k + 1], v[4 * k + 2], v[4 * k + 3]);
        } else {
            LUMEN_UNROLL
            for (int e = 0; e < kChunk; ++e) dst[e] = v[e];
        }
    }
}

}  // namespace

// ------------------------------------------------------------------ launchers

int gemv(const GpuMatrix& w, const float* x, int n_tokens, float* y, cudaStream_t stream) {
    cudaError_t err = check_matrix(w);
    if (err != cudaSuccess) return int(err);
    if (n_tokens < 0 || n_tokens > kGemvMaxTokens) return int(cudaErrorInvalidValue);
    if (n_tokens == 0 || w.rows == 0) return int(cudaSuccess);
    if (!y || (w.cols > 0 && !x)) return int(cudaErrorInvalidValue);
    if (w.cols == 0)  // an empty sum
        return int(cudaMemsetAsync(y, 0, size_t(n_tokens) * size_t(w.rows) * sizeof(float), stream));
    return int(
        with_format(w.format, [&](auto tag) { return gemv_tokens<decltype(tag)::value>(w, x, n_tokens, y, stream); }));
}

int dequantize_to_f16(const GpuMatrix& w, uint16_t* out, cudaStream_t stream) {
    cudaError_t err = check_matrix(w);
    if (err != cudaSuccess) return int(err);
    const int64_t total = w.rows * (w.cols / kChunk);
    if (total == 0) return int(cudaSuccess);
    if (!out) return int(cudaErrorInvalidValue);
    if (misaligned(out, 2)) return int(cudaErrorMisalignedAddress);
    const int vector_stores = misaligned(out, 16) ? 0 : 1;
    return int(with_format(w.format, [&](auto tag) {
        dequantize_f16_kernel<decltype(tag)::value>
            <<<grid_for((total + kThreads - 1) / kThreads), kThreads, 0, stream>>>(w, out, vector_stores);
        return cudaGetLastError();
    }));
}

int embedding_rows(const GpuMatrix& w, const int32_t* tokens, int n_tokens, float* out, cudaStream_t stream) {
    cudaError_t err = check_matrix(w);
    if (err != cudaSuccess) return int(err);
    if (n_tokens < 0) return int(cudaErrorInvalidValue);
    const int64_t total = int64_t(n_tokens) * (w.cols / kChunk);
    if (total == 0) return int(cudaSuccess);
    if (!tokens || !out) return int(cudaErrorInvalidValue);
    if (misaligned(out, 4) || misaligned(tokens, 4)) return int(cudaErrorMisalignedAddress);
    const int vector_stores = misaligned(out, 16) ? 0 : 1;
    return int(with_format(w.format, [&](auto tag) {
        embedding_kernel<decltype(tag)::value><<<grid_for((total + kThreads - 1) / kThreads), kThreads, 0, stream>>>(
            w, tokens, n_tokens, out, vector_stores);
        return cudaGetLastError();
    }));
}

}  // namespace lumen::cuda
