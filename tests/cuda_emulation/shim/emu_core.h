// The execution model of the CUDA emulator: built-in variables, the launch, barriers and
// warp operations. Used through the shim's cuda_runtime.h by the launch-rewritten copies
// of kernels/*.cu (rewrite_launches.cmake turns `k<<<g, b, s, st>>>(a...)` into
// `::emu::launch("k", ::emu::make_cfg(g, b, s, st), k, a...)`).
//
// Model: CTAs run one after another on the calling thread; the CUDA threads of a CTA
// are fibers (own stacks, emu_runtime.cpp) that run one at a time, each until it blocks
// at a barrier (__syncthreads), a warp operation (__syncwarp, shuffles, votes) or exits.
// A barrier completes when every thread of the CTA (of the warp) has arrived at it; a
// CTA whose fibers all block with some never arriving is a divergence fault, reported
// through emu::take_failures() (a real GPU would hang or compute garbage). Warp
// operations require all lanes of the warp with one common full mask: partial-mask warp
// code is reported as unsupported rather than guessed at.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

#include "emu_control.h"

// ------------------------------------------------------------------ basic types

typedef struct CUstream_st* cudaStream_t;

enum cudaError_t {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInvalidMemcpyDirection = 21,
    cudaErrorInvalidDevice = 101,
    cudaErrorInvalidResourceHandle = 400,
    cudaErrorIllegalState = 401,
    cudaErrorIllegalAddress = 700,
    cudaErrorLaunchOutOfResources = 701,
    cudaErrorMisalignedAddress = 716,
    cudaErrorLaunchFailure = 719,
    cudaErrorStreamCaptureUnsupported = 900,
    cudaErrorStreamCaptureInvalidated = 901,
    cudaErrorStreamCaptureUnmatched = 903,
    cudaErrorStreamCaptureWrongThread = 908,
};

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
    constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

// CUDA's built-in variables. Thread-local to the OS thread that runs the CTA; the
// scheduler sets threadIdx before it resumes each fiber.
inline thread_local dim3 threadIdx, blockIdx, blockDim, gridDim;
constexpr int warpSize = 32;

namespace emu {

// ------------------------------------------------------------------ launch

struct Cfg {
    dim3 grid, block;
    size_t smem = 0;
    cudaStream_t stream = nullptr;
};
inline Cfg make_cfg(dim3 grid, dim3 block, size_t smem = 0, cudaStream_t stream = nullptr) {
    return Cfg{grid, block, smem, stream};
}

// Checks the configuration, records the launch and runs body() for every thread of
// every CTA; a bad configuration becomes the sticky launch error (cudaGetLastError).
void run_grid(const char* name, const void* kernel, const Cfg& cfg, const std::function<void()>& body);
// The error a launch of `kernel` with `cfg` gets (cudaSuccess: it may run).
cudaError_t launch_config_error(const void* kernel, const Cfg& cfg);
void set_last_error(cudaError_t err);

// Streams (emu_host.cpp). Work on a stream runs at once, in order, on the calling
// thread, except while the stream is being captured (cudaStreamBeginCapture): then it is
// recorded into the capture's graph and runs when cudaGraphLaunch replays it.
bool capturing(cudaStream_t stream);
// Runs `op` now, or records it into the capture of `stream`; an error for a stream
// handle that is not (or no longer) live.
cudaError_t stream_op(cudaStream_t stream, std::function<void()> op);

template <typename... Params, typename... Args>
void launch(const char* name, const Cfg& cfg, void (*kernel)(Params...), Args&&... args) {
    static_assert(sizeof...(Params) == sizeof...(Args), "kernel launched with the wrong number of arguments");
    // The arguments are converted to the parameter types once, as the launch copies them;
    // each thread then receives its own copy, as from the parameter space.
    using Tuple = std::tuple<std::decay_t<Params>...>;
    const void* k = reinterpret_cast<const void*>(kernel);
    if (capturing(cfg.stream)) {
        // A graph bakes the parameter values at capture time (what pointers point to is
        // read when the graph runs): the recording owns a copy of the converted arguments.
        if (const cudaError_t err = launch_config_error(k, cfg); err != cudaSuccess) {
            set_last_error(err);
            return;
        }
        auto params = std::make_shared<const Tuple>(std::forward<Args>(args)...);
        stream_op(cfg.stream, [name, k, cfg, kernel, params] {
            run_grid(name, k, cfg, [&] {
                auto copy = *params;
                std::apply(kernel, std::move(copy));
            });
        });
        return;
    }
    const Tuple params(std::forward<Args>(args)...);
    run_grid(name, k, cfg, [&] {
        auto copy = params;
        std::apply(kernel, std::move(copy));
    });
}

// The launch's dynamic shared memory (extern __shared__ T name[] is rewritten to
// T* name = ::emu::dynamic_shared<T>()): poisoned with 0xFF bytes (f32 NaN) at each
// CTA's start, followed by guard bytes checked at its end.
void* dynamic_shared_bytes();
template <typename T>
T* dynamic_shared() {
    return static_cast<T*>(dynamic_shared_bytes());
}

// Static shared memory (rewrite_launches.cmake adds the call after each declaration):
// the first thread of a CTA to pass the declaration fills it with 0xFF bytes.
void register_shared(void* p, size_t bytes);

// ------------------------------------------------------------------ synchronization

void sync_block();
int sync_block_count(int predicate);  // __syncthreads_count
void sync_warp(unsigned mask);

enum class ShuffleMode { idx, up, down, bfly };
// The warp's exchange: each lane deposits `bits`, then receives the value of the lane
// the mode selects (its own where CUDA says so).
uint64_t shuffle(unsigned mask, uint64_t bits, ShuffleMode mode, int arg, int width);
// Votes: the mask of lanes with a nonzero predicate.
unsigned ballot(unsigned mask, int predicate);

// A fault seen in device code (misaligned load, ...); the kernel goes on running.
void report_fault(const char* what);

template <typename T>
uint64_t to_bits(T v) {
    static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8, "shuffles move 4- and 8-byte values");
    uint64_t b = 0;
    std::memcpy(&b, &v, sizeof(T));
    return b;
}
template <typename T>
T from_bits(uint64_t b) {
    T v;
    std::memcpy(&v, &b, sizeof(T));
    return v;
}

}  // namespace emu

// ------------------------------------------------------------------ CUDA device API

inline void __syncthreads() {
    emu::sync_block();
}
inline int __syncthreads_count(int p) {
    return emu::sync_block_count(p);
}
inline int __syncthreads_and(int p) {
    return emu::sync_block_count(p != 0) == int(blockDim.x * blockDim.y * blockDim.z);
}
inline int __syncthreads_or(int p) {
    return emu::sync_block_count(p != 0) != 0;
}
inline void __syncwarp(unsigned mask = 0xffffffffu) {
    emu::sync_warp(mask);
}
inline void __threadfence() {}
inline void __threadfence_block() {}

template <typename T>
T __shfl_sync(unsigned mask, T v, int src_lane, int width = warpSize) {
    return emu::from_bits<T>(emu::shuffle(mask, emu::to_bits(v), emu::ShuffleMode::idx, src_lane, width));
}
template <typename T>
T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = warpSize) {
    return emu::from_bits<T>(emu::shuffle(mask, emu::to_bits(v), emu::ShuffleMode::up, int(delta), width));
}
template <typename T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = warpSize) {
    return emu::from_bits<T>(emu::shuffle(mask, emu::to_bits(v), emu::ShuffleMode::down, int(delta), width));
}
template <typename T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = warpSize) {
    return emu::from_bits<T>(emu::shuffle(mask, emu::to_bits(v), emu::ShuffleMode::bfly, lane_mask, width));
}
inline unsigned __ballot_sync(unsigned mask, int p) {
    return emu::ballot(mask, p);
}
inline int __any_sync(unsigned mask, int p) {
    return emu::ballot(mask, p) != 0;
}
inline int __all_sync(unsigned mask, int p) {
    return emu::ballot(mask, p) == emu::ballot(mask, 1);
}

// Atomics: fibers are never preempted between a read and a write, so plain
// read-modify-writes are atomic here.
template <typename T>
T atomicAdd(T* p, T v) {
    const T old = *p;
    *p = old + v;
    return old;
}
template <typename T>
T atomicMax(T* p, T v) {
    const T old = *p;
    *p = old < v ? v : old;
    return old;
}
template <typename T>
T atomicMin(T* p, T v) {
    const T old = *p;
    *p = v < old ? v : old;
    return old;
}
template <typename T>
T atomicExch(T* p, T v) {
    const T old = *p;
    *p = v;
    return old;
}
template <typename T>
T atomicCAS(T* p, T compare, T v) {
    const T old = *p;
    if (old == compare) *p = v;
    return old;
}
