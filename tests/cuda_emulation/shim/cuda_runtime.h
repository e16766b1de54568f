// Emulation shim of <cuda_runtime.h>: lets g++ compile the real kernels/*.cu sources
// (launch-rewritten by rewrite_launches.cmake) so that a machine without a GPU, CI
// included, executes their device code. The execution model is in emu_core.h, the
// implementation in ../emu_runtime.cpp.
//
// This header defines __CUDACC__ and __CUDA_ARCH__ (after the standard headers, so only
// the kernel sources see them): the kernels' device-only paths (quant_decode.cuh's __ldg
// vector loads, __fmul_rn, the hardware half conversions) are what must be tested, not
// their host fallbacks. Everything that CUDA computes exactly is emulated bit for bit
// (conversions with round-to-nearest-even, __f*_rn, fmaf, integer ops); the libm-backed
// functions (expf, sincosf, ...) may differ from the device's by its documented ulps.
#pragma once

#include <math.h>
#include <algorithm>
#include <atomic>
#include <cfloat>
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <type_traits>

#include "emu_core.h"

// ------------------------------------------------------------------ compilation mode

#ifndef __CUDACC__
#define __CUDACC__ 1
#endif
#ifndef __CUDA_ARCH__
#define __CUDA_ARCH__ 900
#endif

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __align__(n) alignas(n)
#define __shared__ static  // one CTA runs at a time, so a static is its shared memory
#define __constant__ static

// ------------------------------------------------------------------ vector types

struct alignas(8) uint2 {
    unsigned x, y;
};
struct alignas(16) uint4 {
    unsigned x, y, z, w;
};
struct alignas(8) int2 {
    int x, y;
};
struct alignas(16) int4 {
    int x, y, z, w;
};
struct alignas(8) float2 {
    float x, y;
};
struct alignas(16) float4 {
    float x, y, z, w;
};
struct alignas(4) ushort2 {
    unsigned short x, y;
};
inline uint2 make_uint2(unsigned x, unsigned y) {
    return {x, y};
}
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) {
    return {x, y, z, w};
}
inline int2 make_int2(int x, int y) {
    return {x, y};
}
inline int4 make_int4(int x, int y, int z, int w) {
    return {x, y, z, w};
}
inline float2 make_float2(float x, float y) {
    return {x, y};
}
inline float4 make_float4(float x, float y, float z, float w) {
    return {x, y, z, w};
}

// ------------------------------------------------------------------ runtime API

enum cudaDeviceAttr {
    cudaDevAttrMaxThreadsPerBlock = 1,
    cudaDevAttrMaxSharedMemoryPerBlock = 8,
    cudaDevAttrWarpSize = 10,
    cudaDevAttrMultiProcessorCount = 16,
    cudaDevAttrMaxThreadsPerMultiProcessor = 39,
    cudaDevAttrComputeCapabilityMajor = 75,
    cudaDevAttrComputeCapabilityMinor = 76,
    cudaDevAttrMaxSharedMemoryPerMultiprocessor = 81,
    cudaDevAttrMaxSharedMemoryPerBlockOptin = 97,
};
enum cudaFuncAttribute {
    cudaFuncAttributeMaxDynamicSharedMemorySize = 8,
    cudaFuncAttributePreferredSharedMemoryCarveout = 9,
};

namespace emu {
cudaError_t get_last_error(bool clear);
cudaError_t device_attribute(int* value, cudaDeviceAttr attr, int device);
cudaError_t func_set_attribute(const void* kernel, cudaFuncAttribute attr, int value);
cudaError_t occupancy(int* blocks, const void* kernel, int block_size, size_t dynamic_smem);
constexpr int kDefaultDynamicSmem = 48 * 1024;  // what a launch may use without cudaFuncSetAttribute
}  // namespace emu

inline cudaError_t cudaGetLastError() {
    return emu::get_last_error(true);
}
inline cudaError_t cudaPeekAtLastError() {
    return emu::get_last_error(false);
}
inline cudaError_t cudaGetDeviceCount(int* n) {
    if (!n) return cudaErrorInvalidValue;
    *n = emu::device_count();
    return cudaSuccess;
}
inline cudaError_t cudaGetDevice(int* device) {
    if (!device) return cudaErrorInvalidValue;
    *device = emu::current_device();
    return cudaSuccess;
}
inline cudaError_t cudaSetDevice(int device) {
    return emu::set_current_device(device) ? cudaSuccess : cudaErrorInvalidDevice;
}
inline cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
    return emu::device_attribute(value, attr, device);
}
template <typename T>
cudaError_t cudaFuncSetAttribute(T* kernel, cudaFuncAttribute attr, int value) {
    return emu::func_set_attribute(reinterpret_cast<const void*>(kernel), attr, value);
}
template <typename T>
cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int* blocks, T kernel, int block_size, size_t dynamic_smem) {
    return emu::occupancy(blocks, reinterpret_cast<const void*>(kernel), block_size, dynamic_smem);
}

// ------------------------------------------------------------------ host runtime API
// (emu_host.cpp) for the backend's host code. Host memory stands in for device memory:
// cudaMalloc returns 256-byte aligned blocks filled with 0xFF bytes (f32 NaNs, so a read
// of memory never written shows), and the emulator knows which blocks are "device"
// memory: copies check their direction and bounds against it. Work on a stream runs at
// once in order (emu::stream_op), or is recorded while the stream is captured; cudaGraphLaunch
// replays a recording. During a capture (global or thread-local mode) the calls CUDA
// prohibits on the capturing thread (cudaMalloc, cudaFree, cudaMallocHost, cudaFreeHost,
// synchronous cudaMemcpy/cudaMemset, synchronizing) fail with
// cudaErrorStreamCaptureUnsupported and invalidate the capture, as on a GPU.

enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4,
};
enum cudaStreamCaptureMode {
    cudaStreamCaptureModeGlobal = 0,
    cudaStreamCaptureModeThreadLocal = 1,
    cudaStreamCaptureModeRelaxed = 2,
};
constexpr unsigned cudaStreamDefault = 0x00;
constexpr unsigned cudaStreamNonBlocking = 0x01;
typedef struct CUgraph_st* cudaGraph_t;
typedef struct CUgraphExec_st* cudaGraphExec_t;

struct cudaDeviceProp {
    char name[256];
    size_t totalGlobalMem;
    size_t sharedMemPerBlock;
    int warpSize;
    int maxThreadsPerBlock;
    int major, minor;
    int multiProcessorCount;
    size_t sharedMemPerMultiprocessor;
    size_t sharedMemPerBlockOptin;
    int maxThreadsPerMultiProcessor;
};

const char* cudaGetErrorName(cudaError_t e);
const char* cudaGetErrorString(cudaError_t e);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);

cudaError_t cudaMalloc(void** p, size_t bytes);
template <typename T>
cudaError_t cudaMalloc(T** p, size_t bytes) {
    return cudaMalloc(reinterpret_cast<void**>(p), bytes);
}
cudaError_t cudaFree(void* p);
cudaError_t cudaMallocHost(void** p, size_t bytes);
cudaError_t cudaFreeHost(void* p);

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream = nullptr);
cudaError_t cudaMemcpy2DAsync(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width, size_t height,
                              cudaMemcpyKind kind, cudaStream_t stream = nullptr);
cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t stream = nullptr);
cudaError_t cudaMemset(void* p, int value, size_t bytes);

cudaError_t cudaStreamCreate(cudaStream_t* stream);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaDeviceSynchronize();

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode);
cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph);
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long flags = 0);
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream);
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec);
cudaError_t cudaGraphDestroy(cudaGraph_t graph);

namespace emu {
// Whether [p, p + bytes) lies inside one live cudaMalloc block.
bool is_device_range(const void* p, size_t bytes);
}  // namespace emu

// ------------------------------------------------------------------ device functions

// __ldg: a read-only load, which faults on the device unless naturally aligned.
template <typename T>
T __ldg(const T* p) {
    if (reinterpret_cast<uintptr_t>(p) % alignof(T) != 0) emu::report_fault("misaligned __ldg");
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
}

inline float __uint_as_float(unsigned u) {
    return emu::from_bits<float>(u);
}
inline unsigned __float_as_uint(float f) {
    return unsigned(emu::to_bits(f));
}
inline float __int_as_float(int i) {
    return emu::from_bits<float>(uint32_t(i));
}
inline int __float_as_int(float f) {
    return int(uint32_t(emu::to_bits(f)));
}

// Separately rounded f32 arithmetic; the emulated sources are built with
// -ffp-contract=off so that the compiler cannot fuse these either.
inline float __fmul_rn(float a, float b) {
    return a * b;
}
inline float __fadd_rn(float a, float b) {
    return a + b;
}
inline float __fsub_rn(float a, float b) {
    return a - b;
}
inline float __fdiv_rn(float a, float b) {
    return a / b;
}
inline float __frcp_rn(float a) {
    return 1.f / a;
}
inline float __fsqrt_rn(float a) {
    return std::sqrt(a);
}
inline float __fmaf_rn(float a, float b, float c) {
    return std::fma(a, b, c);
}
inline float __fdividef(float a, float b) {
    return a / b;
}
inline float __saturatef(float x) {
    return x > 0.f ? (x < 1.f ? x : 1.f) : 0.f;
}
inline float rsqrtf(float x) {
    return 1.f / std::sqrt(x);
}

// CUDA's min/max overloads, for any pair of integer types (the common type) and floats
// (fminf/fmaxf semantics: a NaN operand loses).
template <typename A, typename B, std::enable_if_t<std::is_integral_v<A> && std::is_integral_v<B>, int> = 0>
constexpr std::common_type_t<A, B> min(A a, B b) {
    using C = std::common_type_t<A, B>;
    return C(a) < C(b) ? C(a) : C(b);
}
template <typename A, typename B, std::enable_if_t<std::is_integral_v<A> && std::is_integral_v<B>, int> = 0>
constexpr std::common_type_t<A, B> max(A a, B b) {
    using C = std::common_type_t<A, B>;
    return C(a) < C(b) ? C(b) : C(a);
}
inline float min(float a, float b) {
    return std::fmin(a, b);
}
inline float max(float a, float b) {
    return std::fmax(a, b);
}
inline double min(double a, double b) {
    return std::fmin(a, b);
}
inline double max(double a, double b) {
    return std::fmax(a, b);
}

inline int __popc(unsigned v) {
    return __builtin_popcount(v);
}
inline int __clz(int v) {
    return v == 0 ? 32 : __builtin_clz(unsigned(v));
}
inline int __ffs(int v) {
    return __builtin_ffs(v);
}
