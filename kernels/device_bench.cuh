// The device's own ceilings, measured the way the benches compare against them:
// device-to-device copy bandwidth (the decode ceiling) and cuBLAS's dense fp16 GEMM
// rate (the prefill ceiling). Host-side declarations; errors come back as text.
#pragma once

#include <string>

namespace lumen::cuda {

struct CeilingMeasurement {
    double value = 0;   // GB/s (bytes read + written) or TFLOP/s
    std::string error;  // empty on success
};

// cudaMemcpy of a `bytes`-sized buffer device to device, best of `repeats`; counts
// 2 × bytes per copy (each byte is read and written), as bandwidth tests report it.
CeilingMeasurement measure_copy_bandwidth(size_t bytes = size_t(1) << 30, int repeats = 10);

// cublasGemmEx with fp16 inputs and f32 accumulation on n × n × n, best of `repeats`.
CeilingMeasurement measure_cublas_f16_tflops(int n = 8192, int repeats = 10);

}  // namespace lumen::cuda
