// The small per-token ops (elementwise.cuh). They are a few percent of a step; each
// is written for clarity first: one block per token row where a row reduction is
// needed, a grid-stride loop otherwise.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "elementwise.cuh"

namespace lumen::cuda {

namespace {

constexpr int kThreads = 256;

int grid_for(int64_t n) {
    const int64_t blocks = (n + kThreads - 1) / kThreads;
    return int(blocks < 65535 * 16 ? (blocks > 0 ? blocks : 1) : 65535 * 16);
}

__device__ float block_sum(float v) {
    __shared__ float partial[32];
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    const int n_warps = (blockDim.x + 31) / 32;
    v = lane < n_warps ? partial[lane] : 0.f;
    if (warp == 0)
        for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
    __shared__ float total;
    if (threadIdx.x == 0) total = v;
    __syncthreads();
    return total;
}

__global__ void rms_norm_kernel(float* x, const float* residual, const float* weight, float* out, int n, float eps) {
    float* row = x + int64_t(blockIdx.x) * n;
    const float* res = residual ? residual + int64_t(blockIdx.x) * n : nullptr;
    float ss = 0.f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        float v = row[i];
        if (res) {
            v += res[i];
            row[i] = v;
        }
        ss += v * v;
    }
    const float inv = 1.0f / sqrtf(block_sum(ss) / float(n) + eps);
    float* o = out + int64_t(blockIdx.x) * n;
    for (int i = threadIdx.x; i < n; i += blockDim.x) o[i] = weight[i] * (row[i] * inv);
}

__global__ void rope_kernel(float* x, int n_heads, int head_dim, int rope_dim, const int32_t* positions,
                            const float* frequencies, float scale, bool neox) {
    const int t = blockIdx.x;
    const int half = rope_dim / 2;
    const float pos = float(positions[t]) / scale;
    float* row = x + int64_t(t) * n_heads * head_dim;
    for (int k = threadIdx.x; k < n_heads * half; k += blockDim.x) {
        const int h = k / half, i = k % half;
        float s, c;
        sincosf(pos * frequencies[i], &s, &c);
        float* head = row + int64_t(h) * head_dim;
        const int a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
        const float x0 = head[a], x1 = head[b];
        head[a] = x0 * c - x1 * s;
        head[b] = x0 * s + x1 * c;
    }
}

__global__ void swiglu_kernel(float* gate, const float* up, int64_t n) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
        const float g = gate[i];
        gate[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

__global__ void add_bias_kernel(float* x, const float* bias, int64_t total, int n) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x)
        x[i] += bias[i % n];
}

__global__ void add_kernel(float* x, const float* y, int64_t n) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
        x[i] += y[i];
}

__global__ void to_f16_kernel(const float* x, __half* out, int64_t n) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
        out[i] = __float2half_rn(x[i]);
}

__global__ void to_bf16_kernel(const float* x, __nv_bfloat16* out, int64_t n) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
        out[i] = __float2bfloat16_rn(x[i]);
}

__global__ void gather_rows_kernel(const float* src, const int32_t* rows, int n, float* dst) {
    const float* from = src + int64_t(rows[blockIdx.x]) * n;
    float* to = dst + int64_t(blockIdx.x) * n;
    for (int i = threadIdx.x; i < n; i += blockDim.x) to[i] = from[i];
}

int launched() {
    return int(cudaGetLastError());
}

}  // namespace

int rms_norm(float* x, const float* residual, const float* weight, float* out, int32_t n_tokens, int32_t n, float eps,
             cudaStream_t stream) {
    if (n_tokens <= 0) return 0;
    rms_norm_kernel<<<n_tokens, kThreads, 0, stream>>>(x, residual, weight, out, n, eps);
    return launched();
}

int rope(float* x, int32_t n_tokens, int32_t n_heads, int32_t head_dim, int32_t rope_dim, const int32_t* positions,
         const float* frequencies, float scale, bool neox, cudaStream_t stream) {
    if (n_tokens <= 0 || rope_dim <= 0) return 0;
    rope_kernel<<<n_tokens, 128, 0, stream>>>(x, n_heads, head_dim, rope_dim, positions, frequencies, scale, neox);
    return launched();
}

int swiglu(float* gate, const float* up, int64_t n, cudaStream_t stream) {
    if (n <= 0) return 0;
    swiglu_kernel<<<grid_for(n), kThreads, 0, stream>>>(gate, up, n);
    return launched();
}

int add_bias(float* x, const float* bias, int32_t n_tokens, int32_t n, cudaStream_t stream) {
    const int64_t total = int64_t(n_tokens) * n;
    if (total <= 0) return 0;
    add_bias_kernel<<<grid_for(total), kThreads, 0, stream>>>(x, bias, total, n);
    return launched();
}

int add(float* x, const float* y, int64_t n, cudaStream_t stream) {
    if (n <= 0) return 0;
    add_kernel<<<grid_for(n), kThreads, 0, stream>>>(x, y, n);
    return launched();
}

int to_f16(const float* x, uint16_t* out, int64_t n, cudaStream_t stream) {
    if (n <= 0) return 0;
    to_f16_kernel<<<grid_for(n), kThreads, 0, stream>>>(x, reinterpret_cast<__half*>(out), n);
    return launched();
}

int to_bf16(const float* x, uint16_t* out, int64_t n, cudaStream_t stream) {
    if (n <= 0) return 0;
    to_bf16_kernel<<<grid_for(n), kThreads, 0, stream>>>(x, reinterpret_cast<__nv_bfloat16*>(out), n);
    return launched();
}

int gather_rows(const float* src, const int32_t* rows, int32_t n_rows, int32_t n, float* dst, cudaStream_t stream) {
    if (n_rows <= 0) return 0;
    gather_rows_kernel<<<n_rows, kThreads, 0, stream>>>(src, rows, n, dst);
    return launched();
}

}  // namespace lumen::cuda
