#include "backend/cuda/device_memory.h"

#include <cuda_runtime.h>

namespace lumen::cuda {

Status cuda_status(int error, const std::string& what) {
    if (error == 0) return Status::ok();
    const auto err = static_cast<cudaError_t>(error);
    return Status::error("CUDA backend: " + what + " failed: " + cudaGetErrorName(err) + " (" +
                         cudaGetErrorString(err) + ")");
}

Status DeviceBuffer::allocate(size_t bytes, const std::string& what) {
    reset();
    if (bytes == 0) return Status::ok();
    const cudaError_t err = cudaMalloc(&ptr_, bytes);
    if (err != cudaSuccess) {
        ptr_ = nullptr;
        (void)cudaGetLastError();  // clear the sticky-free error so later calls are not blamed
        return Status::error("CUDA backend: cannot allocate " + std::to_string(bytes >> 20) +
                             " MiB of GPU memory for " + what + " (" + cudaGetErrorString(err) +
                             "); use a smaller model or context");
    }
    bytes_ = bytes;
    return Status::ok();
}

void DeviceBuffer::reset() {
    if (ptr_) cudaFree(ptr_);
    ptr_ = nullptr;
    bytes_ = 0;
}

Status PinnedBuffer::ensure(size_t bytes, const std::string& what) {
    if (bytes <= bytes_) return Status::ok();
    reset();
    const cudaError_t err = cudaMallocHost(&ptr_, bytes);
    if (err != cudaSuccess) {
        ptr_ = nullptr;
        (void)cudaGetLastError();
        return cuda_status(int(err), "pinned host memory for " + what);
    }
    bytes_ = bytes;
    return Status::ok();
}

void PinnedBuffer::reset() {
    if (ptr_) cudaFreeHost(ptr_);
    ptr_ = nullptr;
    bytes_ = 0;
}

}  // namespace lumen::cuda
