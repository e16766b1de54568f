// Helpers of test_cuda_emulated's kernel tests (see emu_test_support.h).
#include "emu_test_support.h"

#include "op_test_support.h"

namespace lumen::emu_test {

::testing::AssertionResult no_faults() {
    const std::vector<std::string> faults = emu::take_failures();
    if (faults.empty()) return ::testing::AssertionSuccess();
    auto result = ::testing::AssertionFailure() << faults.size() << " emulator fault(s):";
    for (const std::string& f : faults) result << "\n  " << f;
    return result;
}

std::vector<DType> gpu_weight_dtypes() {
    return {DType::F32,  DType::F16,  DType::BF16, DType::Q8_0,      DType::Q4_0,
            DType::Q4_1, DType::Q4_K, DType::Q6_K, DType::F8_E4M3_CH};
}

std::string dtype_label(DType dtype) {
    return dtype_name(dtype);
}

Matrix make_matrix(DType dtype, int64_t rows, int64_t cols, std::mt19937& rng) {
    Matrix m;
    m.dtype = dtype;
    m.rows = rows;
    m.cols = cols;
    if (!kc::weight_format_for(uint32_t(dtype), &m.format)) {
        ADD_FAILURE() << "no GPU format for " << dtype_name(dtype);
        return m;
    }
    const size_t row_bytes = lumen::row_bytes(dtype, cols);
    m.source = test::random_weight_bytes(dtype, rows, cols, rng);
    EXPECT_EQ(m.source.size(), size_t(rows) * row_bytes);
    m.dequantized.resize(size_t(rows * cols));
    for (int64_t r = 0; r < rows; ++r)
        dequantize_row(dtype, m.source.data() + size_t(r) * row_bytes, m.dequantized.data() + r * cols, cols);

    // Each array 256-byte aligned (as from cudaMalloc), guarded; absent ones stay null.
    const kc::GpuMatrixBytes bytes = kc::gpu_matrix_bytes(m.format, rows, cols);
    auto array = [&](size_t n) -> uint8_t* {
        if (n == 0) return nullptr;
        m.arrays.push_back(std::make_unique<Buffer<uint8_t>>(n, uint8_t(0xA5)));
        return m.arrays.back()->data();
    };
    kc::GpuMatrixHost host;
    host.qs = array(bytes.qs);
    host.qh = array(bytes.qh);
    host.meta = array(bytes.meta);
    host.super = array(bytes.super);
    host.row_scale = reinterpret_cast<float*>(array(bytes.row_scale));
    EXPECT_TRUE(kc::repack_rows(m.format, m.source.data(), row_bytes, 0, rows, rows, cols, host));
    m.view = kc::GpuMatrix{m.format, rows, cols, host.qs, host.qh, host.meta, host.super, host.row_scale};
    return m;
}

}  // namespace lumen::emu_test
