// The CUDA emulator's host runtime (declared in shim/cuda_runtime.h): device memory as
// tracked host blocks, pinned memory, streams whose work runs at once in order, stream
// capture into graphs and their replay, device properties and error names. It lets
// test_cuda_backend_emulated run the real CudaBackend host code without a GPU.
//
// What it checks, as a GPU would fail (or silently misbehave) there:
//  - copies name a direction (cudaMemcpyKind) that matches where the pointers are, and
//    the device side of a copy lies inside one cudaMalloc block (no overrun);
//  - cudaFree of a pointer cudaMalloc did not return, use of a destroyed stream or graph;
//  - during a capture the calls CUDA prohibits on the capturing thread fail and
//    invalidate it (cudaStreamEndCapture then returns cudaErrorStreamCaptureInvalidated).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "cuda_runtime.h"

struct CUstream_st {
    unsigned flags = 0;
    CUgraph_st* capture = nullptr;  // the graph being recorded, while capturing
    cudaStreamCaptureMode mode = cudaStreamCaptureModeGlobal;
    bool invalidated = false;
};
struct CUgraph_st {
    std::vector<std::function<void()>> ops;
};
struct CUgraphExec_st {
    std::vector<std::function<void()>> ops;
};

namespace emu {

namespace {

struct Host {
    std::map<uintptr_t, size_t> device;  // cudaMalloc blocks: start -> bytes
    std::set<const void*> pinned;
    std::set<const CUstream_st*> streams;
    std::set<const CUgraph_st*> graphs;
    std::set<const CUgraphExec_st*> execs;
    HostStats stats;
};
Host& host() {
    static Host h;
    return h;
}

// The stream this thread is capturing in global or thread-local mode (relaxed
// captures prohibit nothing).
thread_local CUstream_st* g_strict_capture = nullptr;

// A call CUDA prohibits during the capture: it fails, and the capture is invalidated.
bool prohibited_by_capture() {
    if (!g_strict_capture) return false;
    g_strict_capture->invalidated = true;
    return true;
}

bool live_stream(cudaStream_t s) {
    return s == nullptr || host().streams.count(s) != 0;
}

void* aligned_block(size_t bytes) {
    const size_t rounded = (std::max<size_t>(bytes, 1) + 255) / 256 * 256;
    void* p = std::aligned_alloc(256, rounded);
    if (p) std::memset(p, 0xFF, rounded);  // f32 NaNs: memory nobody wrote
    return p;
}

// 1: inside one device block, 0: not device memory at all, -1: overlaps a device block
// without fitting inside it (an overrun).
int classify(const void* p, size_t bytes) {
    const auto& blocks = host().device;
    const uintptr_t a = reinterpret_cast<uintptr_t>(p);
    auto it = blocks.upper_bound(a);
    if (it != blocks.begin()) {
        auto prev = std::prev(it);
        if (a < prev->first + prev->second) return a + bytes <= prev->first + prev->second ? 1 : -1;
    }
    if (it != blocks.end() && bytes > 0 && a + bytes > it->first) return -1;
    return 0;
}

// The direction of a copy against where its pointers are.
cudaError_t check_copy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
    if (bytes == 0) return cudaSuccess;
    if (!dst || !src) return cudaErrorInvalidValue;
    const int d = classify(dst, bytes), s = classify(src, bytes);
    if (d < 0 || s < 0) {
        std::fprintf(stderr, "emu: a copy of %zu bytes runs past the end of a device allocation\n", bytes);
        return cudaErrorInvalidValue;
    }
    bool ok = true;
    switch (kind) {
        case cudaMemcpyHostToHost: ok = d == 0 && s == 0; break;
        case cudaMemcpyHostToDevice: ok = d == 1 && s == 0; break;
        case cudaMemcpyDeviceToHost: ok = d == 0 && s == 1; break;
        case cudaMemcpyDeviceToDevice: ok = d == 1 && s == 1; break;
        case cudaMemcpyDefault: break;
        default: return cudaErrorInvalidMemcpyDirection;
    }
    if (!ok) {
        std::fprintf(stderr, "emu: cudaMemcpy kind %d does not match the pointers (dst %s, src %s)\n", int(kind),
                     d ? "device" : "host", s ? "device" : "host");
        return cudaErrorInvalidMemcpyDirection;
    }
    return cudaSuccess;
}

}  // namespace

const HostStats& host_stats() {
    return host().stats;
}
HostStats& mutable_host_stats() {
    return host().stats;
}

bool is_device_range(const void* p, size_t bytes) {
    return p && classify(p, bytes) == 1;
}

bool capturing(cudaStream_t stream) {
    return stream && host().streams.count(stream) && stream->capture;
}

cudaError_t stream_op(cudaStream_t stream, std::function<void()> op) {
    if (!live_stream(stream)) return cudaErrorInvalidResourceHandle;
    if (stream && stream->capture) {
        stream->capture->ops.push_back(std::move(op));
        return cudaSuccess;
    }
    if (g_strict_capture && stream == nullptr) {
        // The legacy stream synchronizes with blocking streams, which cannot be captured.
        if (!(g_strict_capture->flags & cudaStreamNonBlocking)) {
            g_strict_capture->invalidated = true;
            return cudaErrorStreamCaptureUnsupported;
        }
    }
    op();
    return cudaSuccess;
}

}  // namespace emu

using emu::host;

// ------------------------------------------------------------------ errors and devices

const char* cudaGetErrorName(cudaError_t e) {
    switch (e) {
        case cudaSuccess: return "cudaSuccess";
        case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
        case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
        case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
        case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
        case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
        case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
        case cudaErrorIllegalState: return "cudaErrorIllegalState";
        case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
        case cudaErrorLaunchOutOfResources: return "cudaErrorLaunchOutOfResources";
        case cudaErrorMisalignedAddress: return "cudaErrorMisalignedAddress";
        case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
        case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
        case cudaErrorStreamCaptureInvalidated: return "cudaErrorStreamCaptureInvalidated";
        case cudaErrorStreamCaptureUnmatched: return "cudaErrorStreamCaptureUnmatched";
        case cudaErrorStreamCaptureWrongThread: return "cudaErrorStreamCaptureWrongThread";
    }
    return "cudaErrorUnknown";
}

const char* cudaGetErrorString(cudaError_t e) {
    switch (e) {
        case cudaSuccess: return "no error";
        case cudaErrorInvalidValue: return "invalid argument";
        case cudaErrorMemoryAllocation: return "out of memory";
        case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
        case cudaErrorInvalidResourceHandle: return "invalid resource handle";
        case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
        case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
        default: return "emulated CUDA error";
    }
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
    if (!prop) return cudaErrorInvalidValue;
    if (device < 0 || device >= emu::device_count()) return cudaErrorInvalidDevice;
    const emu::Device& d = emu::device(device);
    *prop = cudaDeviceProp{};
    std::snprintf(prop->name, sizeof(prop->name), "%s", d.name);
    prop->totalGlobalMem = size_t(80) << 30;
    prop->sharedMemPerBlock = size_t(emu::kDefaultDynamicSmem);
    prop->warpSize = 32;
    prop->maxThreadsPerBlock = 1024;
    prop->major = d.cc_major;
    prop->minor = d.cc_minor;
    prop->multiProcessorCount = d.sms;
    prop->sharedMemPerMultiprocessor = size_t(d.smem_per_sm);
    prop->sharedMemPerBlockOptin = size_t(d.smem_per_block_optin);
    prop->maxThreadsPerMultiProcessor = d.max_threads_per_sm;
    return cudaSuccess;
}

// ------------------------------------------------------------------ memory

cudaError_t cudaMalloc(void** p, size_t bytes) {
    if (!p) return cudaErrorInvalidValue;
    if (emu::prohibited_by_capture()) return cudaErrorStreamCaptureUnsupported;
    *p = emu::aligned_block(bytes);
    if (!*p) return cudaErrorMemoryAllocation;
    host().device[reinterpret_cast<uintptr_t>(*p)] = bytes;
    ++host().stats.device_blocks;
    return cudaSuccess;
}

cudaError_t cudaFree(void* p) {
    if (!p) return cudaSuccess;
    if (emu::prohibited_by_capture()) return cudaErrorStreamCaptureUnsupported;
    auto it = host().device.find(reinterpret_cast<uintptr_t>(p));
    if (it == host().device.end()) return cudaErrorInvalidValue;
    host().device.erase(it);
    --host().stats.device_blocks;
    std::free(p);
    return cudaSuccess;
}

cudaError_t cudaMallocHost(void** p, size_t bytes) {
    if (!p) return cudaErrorInvalidValue;
    if (emu::prohibited_by_capture()) return cudaErrorStreamCaptureUnsupported;
    *p = emu::aligned_block(bytes);
    if (!*p) return cudaErrorMemoryAllocation;
    host().pinned.insert(*p);
    ++host().stats.pinned_blocks;
    return cudaSuccess;
}

cudaError_t cudaFreeHost(void* p) {
    if (!p) return cudaSuccess;
    if (emu::prohibited_by_capture()) return cudaErrorStreamCaptureUnsupported;
    if (!host().pinned.erase(p)) return cudaErrorInvalidValue;
    --host().stats.pinned_blocks;
    std::free(p);
    return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
    if (emu::prohibited_by_capture()) return cudaErrorStreamCaptureUnsupported;
    if (const cudaError_t err = emu::check_copy(dst, src, bytes, kind); err != cudaSuccess) return err;
    if (bytes) std::memmove(dst, src, bytes);
    return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream) {
    if (const cudaError_t err = emu::check_copy(dst, src, bytes, kind); err != cudaSuccess) return err;
    if (bytes == 0) return cudaSuccess;
    return emu::stream_op(stream, [dst, src, bytes] { std::memmove(dst, src, bytes); });
}

cudaError_t cudaMemcpy2DAsync(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width, size_t height,
                              cudaMemcpyKind kind, cudaStream_t stream) {
    if (width > dpitch || width > spitch) return cudaErrorInvalidValue;
    for (size_t r = 0; r < height; ++r)
        if (const cudaError_t err = emu::check_copy(static_cast<char*>(dst) + r * dpitch,
                                                    static_cast<const char*>(src) + r * spitch, width, kind);
            err != cudaSuccess)
            return err;
    if (width == 0 || height == 0) return cudaSuccess;
    return emu::stream_op(stream, [=] {
        for (size_t r = 0; r < height; ++r)
            std::memmove(static_cast<char*>(dst) + r * dpitch, static_cast<const char*>(src) + r * spitch, width);
    });
}

cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t stream) {
    if (bytes && !p) return cudaErrorInvalidValue;
    if (bytes == 0) return cudaSuccess;
    // The kernel tests pass host buffers for "device" memory: only an overrun of a
    // cudaMalloc block is an error here.
    if (emu::classify(p, bytes) < 0) return cudaErrorInvalidValue;
    return emu::stream_op(stream, [=] { std::memset(p, value, bytes); });
}

cudaError_t cudaMemset(void* p, int value, size_t bytes) {
    if (emu::prohibited_by_capture()) return cudaErrorStreamCaptureUnsupported;
    return cudaMemsetAsync(p, value, bytes, nullptr);
}

// ------------------------------------------------------------------ streams

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags) {
    if (!stream) return cudaErrorInvalidValue;
    *stream = new CUstream_st{flags};
    host().streams.insert(*stream);
    ++host().stats.streams;
    return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t* stream) {
    return cudaStreamCreateWithFlags(stream, cudaStreamDefault);
}

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
    if (!stream || !host().streams.erase(stream)) return cudaErrorInvalidResourceHandle;
    if (stream->capture) {  // destroying a capturing stream ends the capture
        if (emu::g_strict_capture == stream) emu::g_strict_capture = nullptr;
        delete stream->capture;
    }
    delete stream;
    --host().stats.streams;
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
    if (!emu::live_stream(stream)) return cudaErrorInvalidResourceHandle;
    if (stream && stream->capture) {
        stream->invalidated = true;
        return cudaErrorStreamCaptureUnsupported;
    }
    if (emu::prohibited_by_capture()) return cudaErrorStreamCaptureUnsupported;
    return cudaSuccess;  // the work already ran
}

cudaError_t cudaDeviceSynchronize() {
    if (emu::prohibited_by_capture()) return cudaErrorStreamCaptureUnsupported;
    return cudaSuccess;
}

// ------------------------------------------------------------------ capture and graphs

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode) {
    if (!stream) return cudaErrorStreamCaptureUnsupported;  // the legacy stream cannot be captured
    if (!host().streams.count(stream)) return cudaErrorInvalidResourceHandle;
    if (stream->capture) return cudaErrorIllegalState;
    if (mode != cudaStreamCaptureModeRelaxed && emu::g_strict_capture) return cudaErrorIllegalState;
    stream->capture = new CUgraph_st;
    stream->mode = mode;
    stream->invalidated = false;
    if (mode != cudaStreamCaptureModeRelaxed) emu::g_strict_capture = stream;
    return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph) {
    if (!graph) return cudaErrorInvalidValue;
    *graph = nullptr;
    if (!stream || !host().streams.count(stream)) return cudaErrorInvalidResourceHandle;
    if (!stream->capture) return cudaErrorIllegalState;
    if (stream->mode != cudaStreamCaptureModeRelaxed) {
        if (emu::g_strict_capture != stream) return cudaErrorStreamCaptureWrongThread;
        emu::g_strict_capture = nullptr;
    }
    CUgraph_st* g = stream->capture;
    stream->capture = nullptr;
    if (stream->invalidated) {
        delete g;
        return cudaErrorStreamCaptureInvalidated;
    }
    host().graphs.insert(g);
    ++host().stats.graphs;
    ++host().stats.captures;
    *graph = g;
    return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long) {
    if (!exec || !graph || !host().graphs.count(graph)) return cudaErrorInvalidValue;
    *exec = new CUgraphExec_st{graph->ops};  // an executable graph is independent of its graph
    host().execs.insert(*exec);
    ++host().stats.graph_execs;
    return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
    if (!exec || !host().execs.count(exec)) return cudaErrorInvalidResourceHandle;
    ++host().stats.graph_launches;
    const CUgraphExec_st* e = exec;
    return emu::stream_op(stream, [e] {
        for (const auto& op : e->ops) op();
    });
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
    if (!exec || !host().execs.erase(exec)) return cudaErrorInvalidResourceHandle;
    delete exec;
    --host().stats.graph_execs;
    return cudaSuccess;
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
    if (!graph || !host().graphs.erase(graph)) return cudaErrorInvalidResourceHandle;
    delete graph;
    --host().stats.graphs;
    return cudaSuccess;
}
