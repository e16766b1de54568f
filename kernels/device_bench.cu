// Ceilings for the benches (device_bench.cuh): timed with CUDA events, best of several
// runs after one warm-up, every buffer freed on every path.
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <string>

#include "device_bench.cuh"

namespace lumen::cuda {

namespace {

std::string describe(cudaError_t err) {
    return std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
}

// Times `body` (enqueued on the default stream) with events: best milliseconds of `repeats`.
template <typename Body>
cudaError_t best_ms(int repeats, Body body, float* best) {
    cudaEvent_t start = nullptr, stop = nullptr;
    cudaError_t err = cudaEventCreate(&start);
    if (err == cudaSuccess) err = cudaEventCreate(&stop);
    *best = 0;
    for (int r = 0; err == cudaSuccess && r <= repeats; ++r) {  // r == 0 is the warm-up
        err = cudaEventRecord(start);
        if (err == cudaSuccess) err = body();
        if (err == cudaSuccess) err = cudaEventRecord(stop);
        if (err == cudaSuccess) err = cudaEventSynchronize(stop);
        float ms = 0;
        if (err == cudaSuccess) err = cudaEventElapsedTime(&ms, start, stop);
        if (err == cudaSuccess && r > 0 && (*best == 0 || ms < *best)) *best = ms;
    }
    if (start) cudaEventDestroy(start);
    if (stop) cudaEventDestroy(stop);
    return err;
}

}  // namespace

CeilingMeasurement measure_copy_bandwidth(size_t bytes, int repeats) {
    CeilingMeasurement m;
    void *src = nullptr, *dst = nullptr;
    cudaError_t err = cudaMalloc(&src, bytes);
    if (err == cudaSuccess) err = cudaMalloc(&dst, bytes);
    if (err == cudaSuccess) err = cudaMemset(src, 1, bytes);
    float ms = 0;
    if (err == cudaSuccess)
        err = best_ms(
            repeats, [&] { return cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice); }, &ms);
    if (err != cudaSuccess)
        m.error = "copy bandwidth: " + describe(err);
    else if (ms > 0)
        m.value = 2.0 * double(bytes) / (double(ms) * 1e-3) / 1e9;
    if (src) cudaFree(src);
    if (dst) cudaFree(dst);
    return m;
}

CeilingMeasurement measure_cublas_f16_tflops(int n, int repeats) {
    CeilingMeasurement m;
    const size_t elems = size_t(n) * size_t(n);
    __half *a = nullptr, *b = nullptr;
    float* c = nullptr;
    cublasHandle_t handle = nullptr;
    cudaError_t err = cudaMalloc(&a, elems * sizeof(__half));
    if (err == cudaSuccess) err = cudaMalloc(&b, elems * sizeof(__half));
    if (err == cudaSuccess) err = cudaMalloc(&c, elems * sizeof(float));
    if (err == cudaSuccess) err = cudaMemset(a, 0, elems * sizeof(__half));
    if (err == cudaSuccess) err = cudaMemset(b, 0, elems * sizeof(__half));
    cublasStatus_t status = CUBLAS_STATUS_SUCCESS;
    if (err == cudaSuccess) status = cublasCreate(&handle);
    float ms = 0;
    if (err == cudaSuccess && status == CUBLAS_STATUS_SUCCESS) {
        const float alpha = 1.f, beta = 0.f;
        err = best_ms(
            repeats,
            [&] {
                status = cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, n, n, n, &alpha, a, CUDA_R_16F, n, b,
                                      CUDA_R_16F, n, &beta, c, CUDA_R_32F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
                return status == CUBLAS_STATUS_SUCCESS ? cudaSuccess : cudaErrorUnknown;
            },
            &ms);
    }
    if (status != CUBLAS_STATUS_SUCCESS)
        m.error = std::string("cuBLAS GEMM: ") + cublasGetStatusString(status);
    else if (err != cudaSuccess)
        m.error = "cuBLAS GEMM: " + describe(err);
    else if (ms > 0)
        m.value = 2.0 * double(n) * n * n / (double(ms) * 1e-3) / 1e12;
    if (handle) cublasDestroy(handle);
    if (a) cudaFree(a);
    if (b) cudaFree(b);
    if (c) cudaFree(c);
    return m;
}

}  // namespace lumen::cuda
