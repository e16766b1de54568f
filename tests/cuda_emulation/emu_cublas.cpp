// The emulated cuBLAS (shim/cublas_v2.h): handles bound to an emulated stream, and
// SGEMM/GemmEx on the CPU with cuBLAS's column-major semantics. The reference the
// CUDA backend's prefill path (cuda_forward.cpp's matmul) is checked against, so it is
// written for clarity: op(A) and op(B) are widened to f32 once, then every C element is
// one f32 dot product.
#include <algorithm>
#include <vector>

#include "cublas_v2.h"
#include "cuda_bf16.h"
#include "cuda_fp16.h"

struct cublasContext {
    cudaStream_t stream = nullptr;
    void* workspace = nullptr;
    size_t workspace_bytes = 0;
};

namespace {

size_t element_bytes(cudaDataType_t t) {
    return t == CUDA_R_32F ? 4 : 2;
}

float load(const void* p, cudaDataType_t t, size_t i) {
    switch (t) {
        case CUDA_R_32F: return static_cast<const float*>(p)[i];
        case CUDA_R_16F: return emu::f16_bits_to_f32(static_cast<const uint16_t*>(p)[i]);
        case CUDA_R_16BF: return __uint_as_float(uint32_t(static_cast<const uint16_t*>(p)[i]) << 16);
    }
    return 0;
}

void store(void* p, cudaDataType_t t, size_t i, float v) {
    switch (t) {
        case CUDA_R_32F: static_cast<float*>(p)[i] = v; break;
        case CUDA_R_16F: static_cast<uint16_t*>(p)[i] = emu::f32_to_f16_bits(v); break;
        case CUDA_R_16BF: static_cast<uint16_t*>(p)[i] = emu::f32_to_bf16_bits(v); break;
    }
}

// A column-major matrix of `rows` x `cols` with leading dimension ld lies in device memory.
bool operand_ok(const void* p, cudaDataType_t t, int rows, int cols, int ld) {
    if (rows == 0 || cols == 0) return true;
    const size_t elems = size_t(ld) * size_t(cols - 1) + size_t(rows);
    return emu::is_device_range(p, elems * element_bytes(t));
}

// op(M)[r][c] of a stored column-major matrix, as a row-major f32 copy [rows][cols].
std::vector<float> widen(const void* p, cudaDataType_t t, cublasOperation_t op, int rows, int cols, int ld) {
    std::vector<float> out(size_t(rows) * size_t(cols));
    for (int r = 0; r < rows; ++r)
        for (int c = 0; c < cols; ++c) {
            const size_t at =
                op == CUBLAS_OP_N ? size_t(r) + size_t(c) * size_t(ld) : size_t(c) + size_t(r) * size_t(ld);
            out[size_t(r) * size_t(cols) + size_t(c)] = load(p, t, at);
        }
    return out;
}

// C = alpha op(A) op(B) + beta C, all types checked by the caller.
cublasStatus_t gemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, float alpha,
                    const void* A, cudaDataType_t at, int lda, const void* B, cudaDataType_t bt, int ldb, float beta,
                    void* C, cudaDataType_t ct, int ldc) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    if ((ta != CUBLAS_OP_N && ta != CUBLAS_OP_T) || (tb != CUBLAS_OP_N && tb != CUBLAS_OP_T))
        return CUBLAS_STATUS_INVALID_VALUE;  // CUBLAS_OP_C of real matrices is OP_T; not used, not emulated
    if (m < 0 || n < 0 || k < 0) return CUBLAS_STATUS_INVALID_VALUE;
    // Stored shapes: A is (ta == N ? m x k : k x m), B is (tb == N ? k x n : n x k), C is m x n.
    const int a_rows = ta == CUBLAS_OP_N ? m : k, a_cols = ta == CUBLAS_OP_N ? k : m;
    const int b_rows = tb == CUBLAS_OP_N ? k : n, b_cols = tb == CUBLAS_OP_N ? n : k;
    if (lda < std::max(1, a_rows) || ldb < std::max(1, b_rows) || ldc < std::max(1, m))
        return CUBLAS_STATUS_INVALID_VALUE;
    if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
    if (!operand_ok(C, ct, m, n, ldc) ||
        (k > 0 && (!operand_ok(A, at, a_rows, a_cols, lda) || !operand_ok(B, bt, b_rows, b_cols, ldb)))) {
        std::fprintf(stderr, "emu: a cuBLAS operand is not inside one device allocation (m %d n %d k %d)\n", m, n, k);
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    const cudaError_t err = emu::stream_op(h->stream, [=] {
        ++emu::mutable_host_stats().gemms;
        const std::vector<float> a = widen(A, at, ta, m, k, lda);  // [m][k]
        std::vector<float> b(size_t(n) * size_t(k));               // [n][k]: op(B) transposed
        for (int j = 0; j < n; ++j)
            for (int p = 0; p < k; ++p) {
                const size_t src =
                    tb == CUBLAS_OP_N ? size_t(p) + size_t(j) * size_t(ldb) : size_t(j) + size_t(p) * size_t(ldb);
                b[size_t(j) * size_t(k) + size_t(p)] = load(B, bt, src);
            }
        for (int j = 0; j < n; ++j)
            for (int i = 0; i < m; ++i) {
                float acc = 0;
                const float* ar = a.data() + size_t(i) * size_t(k);
                const float* br = b.data() + size_t(j) * size_t(k);
                for (int p = 0; p < k; ++p) acc += ar[p] * br[p];
                const size_t at_c = size_t(i) + size_t(j) * size_t(ldc);
                const float old = beta == 0.f ? 0.f : load(C, ct, at_c);  // beta 0: C is not read
                store(C, ct, at_c, beta == 0.f ? alpha * acc : alpha * acc + beta * old);
            }
    });
    return err == cudaSuccess ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_EXECUTION_FAILED;
}

}  // namespace

cublasStatus_t cublasCreate(cublasHandle_t* handle) {
    if (!handle) return CUBLAS_STATUS_INVALID_VALUE;
    *handle = new cublasContext;
    ++emu::mutable_host_stats().cublas_handles;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy(cublasHandle_t handle) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    delete handle;
    --emu::mutable_host_stats().cublas_handles;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    handle->stream = stream;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetWorkspace(cublasHandle_t handle, void* workspace, size_t bytes) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    // cuBLAS wants device memory aligned to 256 bytes (or no workspace at all).
    if (bytes > 0 && (!emu::is_device_range(workspace, bytes) || reinterpret_cast<uintptr_t>(workspace) % 256 != 0))
        return CUBLAS_STATUS_INVALID_VALUE;
    handle->workspace = workspace;
    handle->workspace_bytes = bytes;
    return CUBLAS_STATUS_SUCCESS;
}

const char* cublasGetStatusString(cublasStatus_t status) {
    switch (status) {
        case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
        case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
        case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
        case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
        case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
        case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
        case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
        case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
        case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    }
    return "CUBLAS_STATUS_UNKNOWN";
}

cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                           int k, const float* alpha, const float* A, int lda, const float* B, int ldb,
                           const float* beta, float* C, int ldc) {
    if (!alpha || !beta) return CUBLAS_STATUS_INVALID_VALUE;
    return gemm(handle, transa, transb, m, n, k, *alpha, A, CUDA_R_32F, lda, B, CUDA_R_32F, ldb, *beta, C, CUDA_R_32F,
                ldc);
}

cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                            int k, const void* alpha, const void* A, cudaDataType_t Atype, int lda, const void* B,
                            cudaDataType_t Btype, int ldb, const void* beta, void* C, cudaDataType_t Ctype, int ldc,
                            cublasComputeType_t computeType, cublasGemmAlgo_t algo) {
    if (!alpha || !beta) return CUBLAS_STATUS_INVALID_VALUE;
    // The combinations of cuBLAS's table for f32 compute: A and B of one type, C f32 or that type.
    const bool compute32 = computeType == CUBLAS_COMPUTE_32F || computeType == CUBLAS_COMPUTE_32F_FAST_16F;
    const bool types = Atype == Btype && (Ctype == CUDA_R_32F || Ctype == Atype) &&
                       (Atype == CUDA_R_32F || Atype == CUDA_R_16F || Atype == CUDA_R_16BF);
    if (!compute32 || !types || algo != CUBLAS_GEMM_DEFAULT) return CUBLAS_STATUS_NOT_SUPPORTED;
    // Compute type 32F: alpha and beta are floats.
    return gemm(handle, transa, transb, m, n, k, *static_cast<const float*>(alpha), A, Atype, lda, B, Btype, ldb,
                *static_cast<const float*>(beta), C, Ctype, ldc);
}
