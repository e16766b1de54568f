// kernels/gpu_weights.cpp (the host repack into the GPU weight layout) built into the
// emulated world of test_cuda_emulated: with the shim's __CUDACC__ its quant_decode.cuh
// inline functions are the same device variants the emulated kernels use (one definition
// each in the link), and it lands in lumen::cuda_emu next to them.
#include "cuda_runtime.h"
#define cuda cuda_emu
#include "gpu_weights.cpp"
