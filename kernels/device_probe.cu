// Asks the CUDA runtime for devices; any error (no driver, no GPU) is reported, not fatal.
#include <cuda_runtime.h>

#include "device_probe.cuh"

namespace lumen::cuda {

DeviceProbe probe_devices() {
    DeviceProbe p;
    cudaError_t err = cudaGetDeviceCount(&p.device_count);
    if (err != cudaSuccess) {
        p.error = std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
        p.device_count = 0;
        return p;
    }
    if (p.device_count == 0) {
        p.error = "no CUDA devices";
        return p;
    }
    cudaDeviceProp prop{};
    err = cudaGetDeviceProperties(&prop, 0);
    if (err != cudaSuccess) {
        p.error = std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
        return p;
    }
    p.name = prop.name;
    p.compute_major = prop.major;
    p.compute_minor = prop.minor;
    p.total_memory = prop.totalGlobalMem;
    p.usable = true;
    return p;
}

}  // namespace lumen::cuda
