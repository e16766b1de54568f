// Device memory and the CUDA error text, for the CUDA backend's host code: an owning
// buffer (cudaMalloc/cudaFree) and a Status for a failed CUDA call. Never aborts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "core/status.h"

namespace lumen::cuda {

// The Status of a CUDA runtime error code (0: ok), naming the operation.
Status cuda_status(int error, const std::string& what);

class DeviceBuffer {
public:
    DeviceBuffer() = default;
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    DeviceBuffer(DeviceBuffer&& other) noexcept { *this = std::move(other); }
    DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
        std::swap(ptr_, other.ptr_);
        std::swap(bytes_, other.bytes_);
        return *this;
    }
    ~DeviceBuffer() { reset(); }

    // Frees what is held, then allocates `bytes` (nothing for 0).
    Status allocate(size_t bytes, const std::string& what);
    // Grows to at least `bytes` (contents are not kept).
    Status ensure(size_t bytes, const std::string& what) {
        return bytes <= bytes_ ? Status::ok() : allocate(bytes, what);
    }
    void reset();

    template <typename T = void>
    T* get() const {
        return static_cast<T*>(ptr_);
    }
    size_t bytes() const { return bytes_; }

private:
    void* ptr_ = nullptr;
    size_t bytes_ = 0;
};

// Page-locked host memory for the step's uploads and the logits' download.
class PinnedBuffer {
public:
    PinnedBuffer() = default;
    PinnedBuffer(const PinnedBuffer&) = delete;
    PinnedBuffer& operator=(const PinnedBuffer&) = delete;
    ~PinnedBuffer() { reset(); }
    Status ensure(size_t bytes, const std::string& what);
    void reset();
    template <typename T = void>
    T* get() const {
        return static_cast<T*>(ptr_);
    }
    size_t bytes() const { return bytes_; }

private:
    void* ptr_ = nullptr;
    size_t bytes_ = 0;
};

}  // namespace lumen::cuda
