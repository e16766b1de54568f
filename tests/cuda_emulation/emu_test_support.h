// Helpers of test_cuda_emulated's kernel tests (plain C++, no CUDA names): the emulated
// kernels' launchers (kernels/*.cuh, in namespace lumen::cuda_emu, see
// rewrite_launches.cmake), "device" buffers aligned as cudaMalloc's with guard values
// around them, weight matrices repacked into the GPU layout, and the check that the
// emulator saw no fault.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "shim/emu_control.h"

// The launchers, renamed as the emulated sources are (one macro, for these headers only).
#define cuda cuda_emu
#include "attention.cuh"
#include "elementwise.cuh"
#include "gemv.cuh"
#include "gpu_weights.h"
#undef cuda

namespace lumen::emu_test {

namespace kc = lumen::cuda_emu;

// No fault since the last check (misaligned loads, divergent barriers, shared-memory
// overruns, ...); the messages otherwise.
::testing::AssertionResult no_faults();

// Sets the emulated device for a scope (see emu::Device), and back to device 0.
class DeviceScope {
public:
    explicit DeviceScope(int device) { emu::set_current_device(device); }
    ~DeviceScope() { emu::set_current_device(0); }
    DeviceScope(const DeviceScope&) = delete;
    DeviceScope& operator=(const DeviceScope&) = delete;
};

// n elements of T at a 256-byte aligned address plus `offset` elements (to test the
// kernels' unaligned paths), with kGuard sentinel elements on both sides.
template <typename T>
class Buffer {
public:
    static constexpr size_t kGuard = 64;
    Buffer(size_t n, T sentinel, size_t offset = 0) : n_(n), offset_(offset), sentinel_(sentinel) {
        // The data starts at a 256-byte boundary after the front guard, plus the offset.
        front_ = (kGuard * sizeof(T) + 255) / 256 * 256 / sizeof(T);
        mem_.reset(
            static_cast<T*>(std::aligned_alloc(256, ((front_ + offset + n + kGuard) * sizeof(T) + 255) / 256 * 256)));
        for (size_t i = 0; i < front_ + offset + n + kGuard; ++i) mem_.get()[i] = sentinel;
    }
    Buffer(const std::vector<T>& values, T sentinel, size_t offset = 0) : Buffer(values.size(), sentinel, offset) {
        for (size_t i = 0; i < n_; ++i) data()[i] = values[i];
    }
    T* data() { return mem_.get() + front_ + offset_; }
    const T* data() const { return mem_.get() + front_ + offset_; }
    T& operator[](size_t i) { return data()[i]; }
    const T& operator[](size_t i) const { return data()[i]; }
    size_t size() const { return n_; }
    std::vector<T> values() const { return std::vector<T>(data(), data() + n_); }
    // The sentinels in front (the last kGuard before the data) and behind are untouched.
    bool guards_intact() const {
        for (size_t i = 0; i < kGuard; ++i)
            if (!same(data()[-1 - std::ptrdiff_t(i)]) || !same(data()[n_ + i])) return false;
        return true;
    }

private:
    struct Free {
        void operator()(T* p) const { std::free(p); }
    };
    bool same(const T& v) const { return std::memcmp(&v, &sentinel_, sizeof(T)) == 0; }
    size_t n_, offset_, front_ = 0;
    T sentinel_;
    std::unique_ptr<T, Free> mem_;
};

// A weight matrix in the engine's row format and repacked into the GPU layout.
struct Matrix {
    DType dtype;
    kc::WeightFormat format;
    int64_t rows = 0, cols = 0;
    std::vector<uint8_t> source;                           // the engine's rows (GGUF blocks, fp8 rows)
    std::vector<float> dequantized;                        // lumen::dequantize_row of each row: the reference
    std::vector<std::unique_ptr<Buffer<uint8_t>>> arrays;  // qs, qh, meta, super, row_scale
    kc::GpuMatrix view;
};
// Random valid rows of `dtype` (op_test_support's random_weight_bytes), repacked.
Matrix make_matrix(DType dtype, int64_t rows, int64_t cols, std::mt19937& rng);

// The engine types the GPU layout reads, one per WeightFormat (fp8 as its per-channel type).
std::vector<DType> gpu_weight_dtypes();
std::string dtype_label(DType dtype);

}  // namespace lumen::emu_test
