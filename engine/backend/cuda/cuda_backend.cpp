// The CUDA backend's set-up: device and stream, weights repacked and uploaded, the KV
// pool. The step itself is in cuda_forward.cpp.
#include "backend/cuda/cuda_backend.h"
#include "core/log.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstring>

#include "attention.cuh"
#include "backend/cpu/cpu_ops.h"
#include "model/model.h"

namespace lumen {

namespace {

constexpr size_t kAlign = 256;
size_t aligned(size_t n) {
    return (n + kAlign - 1) / kAlign * kAlign;
}
constexpr size_t kCublasWorkspace = size_t(32) << 20;

}  // namespace

Result<std::unique_ptr<CudaBackend>> CudaBackend::create(const CudaBackendOptions& options) {
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
        (void)cudaGetLastError();
        return cuda::cuda_status(int(err), "looking for GPUs");
    }
    if (count <= options.device)
        return Status::error("CUDA backend: GPU " + std::to_string(options.device) + " requested, " +
                             std::to_string(count) + " found");
    auto backend = std::unique_ptr<CudaBackend>(new CudaBackend(options));
    LUMEN_TRY(cuda::cuda_status(int(cudaSetDevice(options.device)), "selecting the GPU"));
    cudaDeviceProp prop{};
    LUMEN_TRY(cuda::cuda_status(int(cudaGetDeviceProperties(&prop, options.device)), "reading the GPU's properties"));
    if (prop.major * 10 + prop.minor < 75)
        return Status::error(std::string("CUDA backend: ") + prop.name + " is compute capability " +
                             std::to_string(prop.major) + "." + std::to_string(prop.minor) +
                             "; CUDA 13 needs 7.5 or newer");
    backend->device_name_ = prop.name;
    LUMEN_TRY(cuda::cuda_status(int(cudaStreamCreateWithFlags(&backend->stream_, cudaStreamNonBlocking)),
                                "creating a stream"));
    if (cublasCreate(&backend->cublas_) != CUBLAS_STATUS_SUCCESS)
        return Status::error("CUDA backend: cuBLAS could not be initialized on " + backend->device_name_);
    cublasSetStream(backend->cublas_, backend->stream_);
    // A workspace of our own, so that cuBLAS calls can be captured in CUDA graphs.
    LUMEN_TRY(backend->cublas_workspace_.allocate(kCublasWorkspace, "the cuBLAS workspace"));
    cublasSetWorkspace(backend->cublas_, backend->cublas_workspace_.get(), kCublasWorkspace);
    return backend;
}

CudaBackend::~CudaBackend() {
    drop_graphs();
    if (cublas_) cublasDestroy(cublas_);
    if (stream_) cudaStreamDestroy(stream_);
}

Status CudaBackend::upload_vector(const TensorView& t, cuda::DeviceBuffer* out) {
    if (!t.present()) {
        out->reset();
        return Status::ok();
    }
    if (t.type != DType::F32) return Status::error("CUDA backend: vector " + t.name + " is not f32");
    const size_t bytes = size_t(t.n_bytes());
    LUMEN_TRY(out->allocate(bytes, t.name));
    weight_bytes_ += int64_t(bytes);
    return cuda::cuda_status(int(cudaMemcpy(out->get(), t.data, bytes, cudaMemcpyHostToDevice)), "uploading " + t.name);
}

Status CudaBackend::upload_matrix(const TensorView& t, DeviceMatrix* out) {
    cuda::WeightFormat format{};
    bool native = cuda::weight_format_for(uint32_t(t.type), &format) && t.cols % cuda::format_row_multiple(format) == 0;
    if (!native) format = cuda::WeightFormat::f16;
    if (t.cols % cuda::kChunk != 0)
        return Status::error("CUDA backend: tensor " + t.name + " has " + std::to_string(t.cols) +
                             " columns; the GPU kernels need a multiple of 32");
    // Rows in the engine's row format for repack_rows: the tensor's own, or f16 rows.
    std::vector<uint16_t> converted;
    const uint8_t* src = static_cast<const uint8_t*>(t.data);
    size_t src_row_bytes = t.row_stride();
    if (!native) {
        ++converted_matrices_;
        converted_types_.insert(dtype_name(t.type));
        converted.resize(size_t(t.rows * t.cols));
        std::vector<float> row(size_t(t.cols));
        for (int64_t r = 0; r < t.rows; ++r) {
            dequantize_row(t.type, t.row(r), row.data(), t.cols);
            for (int64_t c = 0; c < t.cols; ++c) converted[size_t(r * t.cols + c)] = fp32_to_fp16(row[size_t(c)]);
        }
        src = reinterpret_cast<const uint8_t*>(converted.data());
        src_row_bytes = size_t(t.cols) * 2;
    }
    const cuda::GpuMatrixBytes sizes = cuda::gpu_matrix_bytes(format, t.rows, t.cols);
    const size_t offsets[5] = {0, aligned(sizes.qs), aligned(sizes.qs) + aligned(sizes.qh),
                               aligned(sizes.qs) + aligned(sizes.qh) + aligned(sizes.meta),
                               aligned(sizes.qs) + aligned(sizes.qh) + aligned(sizes.meta) + aligned(sizes.super)};
    const size_t total = offsets[4] + aligned(sizes.row_scale);
    std::vector<uint8_t> host(total);
    cuda::GpuMatrixHost dst{host.data() + offsets[0], sizes.qh ? host.data() + offsets[1] : nullptr,
                            sizes.meta ? host.data() + offsets[2] : nullptr,
                            sizes.super ? host.data() + offsets[3] : nullptr,
                            sizes.row_scale ? reinterpret_cast<float*>(host.data() + offsets[4]) : nullptr};
    if (!cuda::repack_rows(format, src, src_row_bytes, 0, t.rows, t.rows, t.cols, dst))
        return Status::error("CUDA backend: tensor " + t.name + " could not be repacked for the GPU");
    LUMEN_TRY(out->storage.allocate(total, t.name));
    LUMEN_TRY(cuda::cuda_status(int(cudaMemcpy(out->storage.get(), host.data(), total, cudaMemcpyHostToDevice)),
                                "uploading " + t.name));
    auto* base = out->storage.get<uint8_t>();
    out->view = cuda::GpuMatrix{format,
                                t.rows,
                                t.cols,
                                base + offsets[0],
                                sizes.qh ? base + offsets[1] : nullptr,
                                sizes.meta ? base + offsets[2] : nullptr,
                                sizes.super ? base + offsets[3] : nullptr,
                                sizes.row_scale ? reinterpret_cast<const float*>(base + offsets[4]) : nullptr};
    weight_bytes_ += int64_t(total);
    return Status::ok();
}

Status CudaBackend::upload(const Model& model) {
    drop_graphs();
    model_ = &model;
    token_capacity_ = 0;  // the next step sizes the activations for this model
    weight_bytes_ = 0;
    converted_matrices_ = 0;
    converted_types_.clear();
    const ModelWeights& w = model.weights;
    layers_.clear();
    layers_.resize(w.layers.size());
    for (size_t l = 0; l < w.layers.size(); ++l) {
        const LayerWeights& lw = w.layers[l];
        DeviceLayer& dl = layers_[l];
        const std::pair<const TensorView*, DeviceMatrix*> matrices[] = {
            {&lw.wq, &dl.wq},         {&lw.wk, &dl.wk},     {&lw.wv, &dl.wv},        {&lw.wo, &dl.wo},
            {&lw.w_gate, &dl.w_gate}, {&lw.w_up, &dl.w_up}, {&lw.w_down, &dl.w_down}};
        for (const auto& [t, d] : matrices) LUMEN_TRY(upload_matrix(*t, d));
        LUMEN_TRY(upload_vector(lw.attn_norm, &dl.attn_norm));
        LUMEN_TRY(upload_vector(lw.ffn_norm, &dl.ffn_norm));
        LUMEN_TRY(upload_vector(lw.bq, &dl.bq));
        LUMEN_TRY(upload_vector(lw.bk, &dl.bk));
        LUMEN_TRY(upload_vector(lw.bv, &dl.bv));
    }
    LUMEN_TRY(upload_matrix(w.token_embedding, &embedding_));
    if (w.output.data == w.token_embedding.data && w.output.type == w.token_embedding.type) {
        output_.storage.reset();
        output_matrix_ = &embedding_;
    } else {
        LUMEN_TRY(upload_matrix(w.output, &output_));
        output_matrix_ = &output_;
    }
    LUMEN_TRY(upload_vector(w.output_norm, &output_norm_));
    const ModelConfig& c = model.config;
    const cpu::RopeParams rope{
        c.head_dim,   c.rope_dim,
        c.rope_theta, c.rope_scale,
        c.rope_style, w.rope_freq_factors.present() ? static_cast<const float*>(w.rope_freq_factors.data) : nullptr};
    const std::vector<float> frequencies = cpu::rope_frequencies(rope);
    LUMEN_TRY(rope_frequencies_.allocate(frequencies.size() * sizeof(float), "RoPE frequencies"));
    LUMEN_TRY(cuda::cuda_status(int(cudaMemcpy(rope_frequencies_.get(), frequencies.data(),
                                               frequencies.size() * sizeof(float), cudaMemcpyHostToDevice)),
                                "uploading RoPE frequencies"));
    if (!converted_types_.empty()) {
        std::string names;
        for (const std::string& n : converted_types_) names += (names.empty() ? "" : ", ") + n;
        log_info("CUDA has no kernel for " + names + "; " + std::to_string(converted_matrices_) +
                 " matrices were converted to f16 at upload");
    }
    return Status::ok();
}

Status CudaBackend::allocate_kv(const KVCacheLayout& layout) {
    if (layout.type != DType::F16)
        return Status::error(std::string("CUDA backend: the KV cache is stored in f16 on the GPU; --kv ") +
                             dtype_name(layout.type) + " runs on the CPU backend (--device cpu)");
    if (!cuda::attention_head_dim_supported(layout.head_dim))
        return Status::error(
            "CUDA backend: head_dim " + std::to_string(layout.head_dim) +
            " has no attention kernel; expected 32, 48, 64, 80, 96, 128 or 256 (--device cpu runs it)");
    drop_graphs();
    // One spare block past the pool: graph-padding tokens store their K/V there.
    const size_t bytes = size_t(layout.n_layers) * size_t(layout.n_blocks + 1) * size_t(layout.block_size) *
                         size_t(layout.kv_dim()) * sizeof(uint16_t);
    LUMEN_TRY(k_cache_.allocate(bytes, "the KV cache (K)"));
    LUMEN_TRY(v_cache_.allocate(bytes, "the KV cache (V)"));
    kv_layout_ = layout;
    return Status::ok();
}

Status CudaBackend::copy_kv_blocks(const std::vector<std::pair<int32_t, int32_t>>& src_dst) {
    if (src_dst.empty()) return Status::ok();
    if (!k_cache_.get()) return Status::error("CUDA backend: KV cache not allocated");
    const size_t block_bytes = size_t(kv_layout_.block_size) * size_t(kv_layout_.kv_dim()) * sizeof(uint16_t);
    const size_t layer_bytes = block_bytes * size_t(kv_layout_.n_blocks + 1);
    for (auto [src, dst] : src_dst) {
        if (src < 0 || dst < 0 || src >= kv_layout_.n_blocks || dst >= kv_layout_.n_blocks)
            return Status::error("CUDA backend: KV block copy " + std::to_string(src) + " -> " + std::to_string(dst) +
                                 " is outside the pool of " + std::to_string(kv_layout_.n_blocks) + " blocks");
        for (const cuda::DeviceBuffer* cache : {&k_cache_, &v_cache_}) {
            auto* base = cache->get<uint8_t>();
            // One strided copy covers the block in every layer.
            LUMEN_TRY(cuda::cuda_status(
                int(cudaMemcpy2DAsync(base + size_t(dst) * block_bytes, layer_bytes, base + size_t(src) * block_bytes,
                                      layer_bytes, block_bytes, size_t(kv_layout_.n_layers), cudaMemcpyDeviceToDevice,
                                      stream_)),
                "copying KV blocks"));
        }
    }
    return Status::ok();
}

void CudaBackend::synchronize() {
    cudaStreamSynchronize(stream_);
}

MemoryInfo CudaBackend::memory_info() const {
    MemoryInfo m;
    m.weight_bytes = weight_bytes_;
    m.kv_bytes = int64_t(k_cache_.bytes() + v_cache_.bytes());
    if (model_)
        act_.for_each(model_->config, token_capacity_,
                      [&](const cuda::DeviceBuffer& b, int64_t) { m.activation_bytes += int64_t(b.bytes()); });
    m.scratch_bytes = m.activation_bytes;
    for (const cuda::DeviceBuffer* b :
         {&logits_, &attention_scratch_, &half_x_, &half_w_, &step_device_, &cublas_workspace_})
        m.scratch_bytes += int64_t(b->bytes());
    return m;
}

}  // namespace lumen
