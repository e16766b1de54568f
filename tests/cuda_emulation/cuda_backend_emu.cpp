// The CUDA backend's host code (engine/backend/cuda/*.cpp) built into the emulated world
// of test_cuda_backend_emulated: against the shim's CUDA runtime and cuBLAS, calling the
// emulated kernels. Renamed so that it never collides with the real backend that
// lumen_engine holds in a CUDA build: namespace lumen::cuda (DeviceBuffer, PinnedBuffer,
// cuda_status, the launchers) becomes lumen::cuda_emu, class CudaBackend becomes
// EmuCudaBackend and CudaBackendOptions EmuCudaBackendOptions. Everything else these
// sources define has internal linkage. The test includes cuda_backend.h the same way.
#include "cublas_v2.h"
#include "cuda_runtime.h"
#define cuda cuda_emu
#define CudaBackend EmuCudaBackend
#define CudaBackendOptions EmuCudaBackendOptions
#include "backend/cuda/cuda_backend.cpp"
#include "backend/cuda/cuda_forward.cpp"
#include "backend/cuda/device_memory.cpp"
