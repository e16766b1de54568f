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
#include <math.h>
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

struct alignas(8) uint2 { unsigned x, y; };
struct alignas(16) uint4 { unsigned x, y, z, w; };
struct alignas(8) int2 { int x, y; };
struct alignas(16) int4 { int x, y, z, w; };
struct alignas(8) float2 { float x, y; };
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(4) ushort2 { unsigned short x, y; };
inline uint2 make_uint2(unsigned x, unsigned y) { return {x, y}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }
inline int2 make_int2(int x, int y) { return {x, y}; }
inline int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }

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

inline cudaError_t cudaGetLastError() { return emu::get_last_error(true); }
inline cudaError_t cudaPeekAtLastError() { return emu::get_last_error(false); }
inline const char* cudaGetErrorString(cudaError_t e) { return e == cudaSuccess ? "no error" : "emulated CUDA error"; }
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
// Streams are in order and launches synchronous, so the async calls complete at once.
inline cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t = nullptr) {
    if (bytes && !p) return cudaErrorInvalidValue;
    if (bytes) std::memset(p, value, bytes);
    return cudaSuccess;
}
inline cudaError_t cudaMemset(void* p, int value, size_t bytes) { return cudaMemsetAsync(p, value, bytes); }
inline cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, int = 0, cudaStream_t = nullptr) {
    if (bytes && (!dst || !src)) return cudaErrorInvalidValue;
    if (bytes) std::memmove(dst, src, bytes);
    return cudaSuccess;
}
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }

// ------------------------------------------------------------------ device functions

// __ldg: a read-only load, which faults on the device unless naturally aligned.
template <typename T>
T __ldg(const T* p) {
    if (reinterpret_cast<uintptr_t>(p) % alignof(T) != 0) emu::report_fault("misaligned __ldg");
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
}

inline float __uint_as_float(unsigned u) { return emu::from_bits<float>(u); }
inline unsigned __float_as_uint(float f) { return unsigned(emu::to_bits(f)); }
inline float __int_as_float(int i) { return emu::from_bits<float>(uint32_t(i)); }
inline int __float_as_int(float f) { return int(uint32_t(emu::to_bits(f))); }

// Separately rounded f32 arithmetic; the emulated sources are built with
// -ffp-contract=off so that the compiler cannot fuse these either.
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __frcp_rn(float a) { return 1.f / a; }
inline float __fsqrt_rn(float a) { return std::sqrt(a); }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __saturatef(float x) { return x > 0.f ? (x < 1.f ? x : 1.f) : 0.f; }
inline float rsqrtf(float x) { return 1.f / std::sqrt(x); }

// CUDA's min/max overloads, for any pair of integer types (the common type) and floats
// (fminf/fmaxf semantics: a NaN operand loses).
template <typename A, typename B,
          std::enable_if_t<std::is_integral_v<A> && std::is_integral_v<B>, int> = 0>
constexpr std::common_type_t<A, B> min(A a, B b) {
    using C = std::common_type_t<A, B>;
    return C(a) < C(b) ? C(a) : C(b);
}
template <typename A, typename B,
          std::enable_if_t<std::is_integral_v<A> && std::is_integral_v<B>, int> = 0>
constexpr std::common_type_t<A, B> max(A a, B b) {
    using C = std::common_type_t<A, B>;
    return C(a) < C(b) ? C(b) : C(a);
}
inline float min(float a, float b) { return std::fmin(a, b); }
inline float max(float a, float b) { return std::fmax(a, b); }
inline double min(double a, double b) { return std::fmin(a, b); }
inline double max(double a, double b) { return std::fmax(a, b); }

inline int __popc(unsigned v) { return __builtin_popcount(v); }
inline int __clz(int v) { return v == 0 ? 32 : __builtin_clz(unsigned(v)); }
inline int __ffs(int v) { return __builtin_ffs(v); }
