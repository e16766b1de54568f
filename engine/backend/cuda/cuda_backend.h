// The CUDA backend: the Backend interface on one NVIDIA GPU. Weights are repacked
// once at upload into the chunked layout the kernels decode in registers
// (kernels/gpu_weights.h); types without a kernel are converted to f16 then. A step
// runs as one stream of kernels: gemv for up to kGemvMaxTokens tokens, cuBLAS for
// more; paged attention reads the fp16 KV blocks in place. Steps of up to
// kMaxGraphTokens tokens that want every token's logits (decode, verification) replay
// a CUDA graph captured per batch-size bucket, so a decode step costs one launch
// instead of a few hundred.
#pragma once

#include <array>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "backend/activations.h"
#include "backend/backend.h"
#include "backend/cuda/device_memory.h"
#include "gpu_weights.h"
#include "model/weights.h"

typedef struct CUstream_st* cudaStream_t;
typedef struct cublasContext* cublasHandle_t;
typedef struct CUgraphExec_st* cudaGraphExec_t;

namespace lumen {

struct CudaBackendOptions {
    int device = 0;
    bool graphs = true;  // capture and replay decode steps (LUMEN_CUDA_GRAPHS=0 turns them off)
};

class CudaBackend final : public Backend {
public:
    // Fails (never aborts) when no usable GPU is there, with the CUDA error.
    static Result<std::unique_ptr<CudaBackend>> create(const CudaBackendOptions& options);
    ~CudaBackend() override;

    std::string name() const override { return "cuda"; }
    Status upload(const Model& model) override;
    Status allocate_kv(const KVCacheLayout& layout) override;
    Status copy_kv_blocks(const std::vector<std::pair<int32_t, int32_t>>& src_dst) override;
    Status forward(const StepBatch& batch, std::vector<float>* logits) override;
    int32_t last_exit_layer() const override { return last_exit_layer_; }
    void synchronize() override;
    MemoryInfo memory_info() const override;

    const std::string& device_name() const { return device_name_; }
    // Matrices converted to f16 at upload because no kernel reads their type.
    int converted_matrices() const { return converted_matrices_; }
    static constexpr int kMaxGraphTokens = 64;

private:
    explicit CudaBackend(const CudaBackendOptions& options) : options_(options) {}

    struct DeviceMatrix {
        cuda::GpuMatrix view;
        cuda::DeviceBuffer storage;
    };
    struct DeviceLayer {
        DeviceMatrix wq, wk, wv, wo, w_gate, w_up, w_down;
        cuda::DeviceBuffer attn_norm, ffn_norm, bq, bk, bv;
    };
    Status upload_matrix(const TensorView& t, DeviceMatrix* out);
    Status upload_vector(const TensorView& t, cuda::DeviceBuffer* out);

    // The step's token data on the device, at fixed offsets (graphs bake the pointers):
    // tokens, positions, block-table offsets and logit rows, token_capacity_ each, then
    // the concatenated block tables.
    struct StepData {
        int32_t* tokens = nullptr;
        int32_t* positions = nullptr;
        int32_t* block_table_offset = nullptr;
        int32_t* logit_rows = nullptr;
        int32_t* block_tables = nullptr;
    };
    Status ensure_capacity(int32_t n_tokens, int32_t n_block_table_entries);
    // Fills the pinned mirror for `batch`, padded to n_rows tokens (graph buckets) with
    // tokens that write to the spare block, and copies it to the device.
    Status upload_step(const StepBatch& batch, int32_t n_rows);

    // Enqueues the layers; `max_context` sizes attention's launch. Returns early (after
    // propagating K/V) when an early-exit rule fires; *exited says whether it did.
    Status enqueue_layers(int32_t n_tokens, int32_t max_context, const StepBatch& batch, bool* exited);
    Status enqueue_logits(int32_t n_rows, int32_t exit_rows);
    Status propagate_kv(int32_t from, int32_t n_tokens);
    Status store_layer_kv(int32_t layer, int32_t n_tokens);
    uint16_t* layer_cache(const cuda::DeviceBuffer& cache, int32_t layer) const;
    Status matmul(const DeviceMatrix& w, const float* x, int32_t n_tokens, float* y);
    Status run_graph(int32_t bucket, const StepBatch& batch);
    void drop_graphs();

    CudaBackendOptions options_;
    std::string device_name_;
    cudaStream_t stream_ = nullptr;
    cublasHandle_t cublas_ = nullptr;
    cuda::DeviceBuffer cublas_workspace_;

    const Model* model_ = nullptr;
    std::vector<DeviceLayer> layers_;
    DeviceMatrix embedding_, output_;
    const DeviceMatrix* output_matrix_ = nullptr;  // output_, or embedding_ when tied
    cuda::DeviceBuffer output_norm_, rope_frequencies_;
    int64_t weight_bytes_ = 0;
    int converted_matrices_ = 0;
    std::set<std::string> converted_types_;  // the types of those matrices, for the upload's one line

    KVCacheLayout kv_layout_;
    cuda::DeviceBuffer k_cache_, v_cache_;  // n_blocks + 1 blocks: the last takes graph padding

    // Activations (the shared table) and the device logits, sized for token_capacity_ tokens.
    ActivationBuffers<cuda::DeviceBuffer> act_;
    cuda::DeviceBuffer logits_, attention_scratch_;
    cuda::DeviceBuffer half_x_, half_w_;  // cuBLAS operands in f16/bf16
    cuda::DeviceBuffer step_device_;
    cuda::PinnedBuffer step_host_, logits_host_;
    StepData step_;
    int32_t token_capacity_ = 0, block_table_capacity_ = 0;
    std::vector<int32_t> logit_row_tokens_;       // batch rows that want logits
    std::vector<int32_t> sequence_table_offset_;  // per sequence of the step: its table's offset

    std::array<cudaGraphExec_t, 8> graphs_{};  // per bucket 1, 2, 4, ..., kMaxGraphTokens
    std::array<bool, 8> bucket_warm_{};        // ran eagerly once (lazy loading done) before capture
    int32_t last_exit_layer_ = 0;
};

}  // namespace lumen
