// One step on the GPU, the same computation as the CPU backend's forward
// (cpu_backend.cpp), as one stream of kernels:
//   x = embed(tokens)
//   per layer: xb = norm(x += residual); q,k,v = W·xb (+bias); rope; store K/V; attention;
//              xb = norm(x += Wo·att); residual = Wdown·(silu(Wgate·xb) * Wup·xb)
//   logits = Wout · norm(x += residual) for the rows asked for.
// The residual add is fused into the next RMSNorm. Steps of up to kMaxGraphTokens
// tokens without early exit replay a CUDA graph of the whole step, captured per bucket
// of 1, 2, 4, ... tokens; padding tokens write to the pool's spare block and are
// never read back.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "attention.cuh"
#include "backend/cuda/cuda_backend.h"
#include "backend/step_checks.h"
#include "core/log.h"
#include "elementwise.cuh"
#include "gemv.cuh"
#include "model/model.h"

namespace lumen {

namespace {

int bucket_index(int32_t n_tokens) {
    int index = 0;
    while ((1 << index) < n_tokens) ++index;
    return index;
}

Status cublas_status(cublasStatus_t status, const char* what) {
    if (status == CUBLAS_STATUS_SUCCESS) return Status::ok();
    return Status::error(std::string("CUDA backend: cuBLAS ") + what + " failed: " + cublasGetStatusString(status));
}

}  // namespace

void CudaBackend::drop_graphs() {
    for (cudaGraphExec_t& g : graphs_) {
        if (g) cudaGraphExecDestroy(g);
        g = nullptr;
    }
    bucket_warm_.fill(false);
}

Status CudaBackend::ensure_capacity(int32_t n_tokens, int32_t n_block_table_entries) {
    const ModelConfig& c = model_->config;
    if (n_tokens > token_capacity_) {
        drop_graphs();  // the graphs hold the old pointers
        const int32_t T = std::max(n_tokens, int32_t(kMaxGraphTokens));
        const size_t f = sizeof(float);
        Status allocated = Status::ok();
        act_.for_each(c, T, [&](cuda::DeviceBuffer& b, int64_t n) {
            if (allocated.is_ok()) allocated = b.allocate(size_t(n) * f, "activations");
        });
        LUMEN_TRY(allocated);
        LUMEN_TRY(logits_.allocate(size_t(2 * T) * c.vocab_size * f, "logits"));  // early-exit rows follow
        const int64_t widest = std::max<int64_t>({c.dim, c.q_dim(), c.ffn_dim});
        LUMEN_TRY(half_x_.allocate(size_t(T) * size_t(widest) * 2, "cuBLAS activations"));
        LUMEN_TRY(logits_host_.ensure(size_t(2 * T) * c.vocab_size * f, "logits"));
        token_capacity_ = T;
        block_table_capacity_ = 0;  // the step data moves too
    }
    // The attention scratch for the largest launch: every token over the pool's whole context.
    const int32_t pool_tokens = kv_layout_.n_blocks * kv_layout_.block_size;
    const size_t scratch_bytes =
        size_t(cuda::attention_scratch_floats(token_capacity_, c.n_heads, c.head_dim, std::max(pool_tokens, 1))) *
        sizeof(float);
    if (scratch_bytes > attention_scratch_.bytes()) {
        drop_graphs();
        LUMEN_TRY(attention_scratch_.allocate(scratch_bytes, "attention scratch"));
    }
    if (n_block_table_entries > block_table_capacity_) {
        drop_graphs();
        const int32_t entries = std::max(n_block_table_entries, 2 * block_table_capacity_);
        const size_t bytes = (size_t(4) * token_capacity_ + size_t(entries)) * sizeof(int32_t);
        LUMEN_TRY(step_device_.allocate(bytes, "step data"));
        LUMEN_TRY(step_host_.ensure(bytes, "step data"));
        int32_t* base = step_device_.get<int32_t>();
        step_ = StepData{base, base + token_capacity_, base + 2 * token_capacity_, base + 3 * token_capacity_,
                         base + 4 * token_capacity_};
        block_table_capacity_ = entries;
    }
    return Status::ok();
}

Status CudaBackend::upload_step(const StepBatch& batch, int32_t n_rows) {
    const int32_t T = batch.n_tokens();
    int32_t* host = step_host_.get<int32_t>();
    const int32_t cap = token_capacity_;
    int32_t* tokens = host;
    int32_t* positions = host + cap;
    int32_t* offsets = host + 2 * cap;
    int32_t* rows = host + 3 * cap;
    int32_t* tables = host + 4 * cap;
    // Each sequence's table once, then a one-entry table holding the spare block.
    std::vector<int32_t>& seq_offset = sequence_table_offset_;
    seq_offset.resize(batch.sequences.size());
    int32_t at = 0;
    for (size_t s = 0; s < batch.sequences.size(); ++s) {
        seq_offset[s] = at;
        const std::vector<int32_t>& table = *batch.sequences[s].block_table;
        std::memcpy(tables + at, table.data(), table.size() * sizeof(int32_t));
        at += int32_t(table.size());
    }
    const int32_t spare_offset = at;
    tables[at++] = kv_layout_.n_blocks;
    logit_row_tokens_.clear();
    for (int32_t t = 0; t < n_rows; ++t) {
        const bool real = t < T;
        tokens[t] = real ? batch.tokens[size_t(t)] : 0;
        positions[t] = real ? batch.positions[size_t(t)] : 0;
        offsets[t] = real ? seq_offset[size_t(batch.sequence_index[size_t(t)])] : spare_offset;
        if (real && batch.want_logits[size_t(t)]) logit_row_tokens_.push_back(t);
    }
    // The rows that want logits first; a graph gathers a whole bucket of rows, so the
    // rest repeat row 0 and are never copied back.
    std::copy(logit_row_tokens_.begin(), logit_row_tokens_.end(), rows);
    std::fill(rows + logit_row_tokens_.size(), rows + n_rows, 0);
    // Tokens, positions, offsets and rows sit at their fixed offsets; copy through the tables.
    const size_t bytes = (size_t(4) * cap + size_t(at)) * sizeof(int32_t);
    return cuda::cuda_status(int(cudaMemcpyAsync(step_.tokens, host, bytes, cudaMemcpyHostToDevice, stream_)),
                             "uploading the step");
}

Status CudaBackend::matmul(const DeviceMatrix& w, const float* x, int32_t n_tokens, float* y) {
    const cuda::GpuMatrix& m = w.view;
    if (n_tokens <= cuda::kGemvMaxTokens) return cuda::cuda_status(cuda::gemv(m, x, n_tokens, y, stream_), "gemv");
    // Prefill: y[T][rows] = x[T][cols] · Wᵀ. Column-major for cuBLAS: C(rows × T) = Aᵀ · B with
    // A = W as a cols × rows matrix (lda = cols) and B = x as cols × T (ldb = cols).
    const float alpha = 1.f, beta = 0.f;
    const int rows = int(m.rows), cols = int(m.cols);
    if (m.format == cuda::WeightFormat::f32)
        return cublas_status(cublasSgemm(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, rows, n_tokens, cols, &alpha,
                                         reinterpret_cast<const float*>(m.qs), cols, x, cols, &beta, y, rows),
                             "SGEMM");
    const bool bf16 = m.format == cuda::WeightFormat::bf16;
    const void* a = m.qs;
    if (m.format != cuda::WeightFormat::f16 && !bf16) {
        LUMEN_TRY(half_w_.ensure(size_t(m.rows) * size_t(m.cols) * 2, "dequantized weights"));
        LUMEN_TRY(cuda::cuda_status(cuda::dequantize_to_f16(m, half_w_.get<uint16_t>(), stream_), "dequantize"));
        a = half_w_.get();
    }
    const int64_t n = int64_t(n_tokens) * cols;
    auto* xh = half_x_.get<uint16_t>();
    LUMEN_TRY(cuda::cuda_status(bf16 ? cuda::to_bf16(x, xh, n, stream_) : cuda::to_f16(x, xh, n, stream_),
                                "converting activations"));
    const cudaDataType_t type = bf16 ? CUDA_R_16BF : CUDA_R_16F;
    return cublas_status(
        cublasGemmEx(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, rows, n_tokens, cols, &alpha, a, type, cols, xh, type, cols,
                     &beta, y, CUDA_R_32F, rows, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
        "GEMM");
}

uint16_t* CudaBackend::layer_cache(const cuda::DeviceBuffer& cache, int32_t layer) const {
    const size_t layer_elems =
        size_t(kv_layout_.n_blocks + 1) * size_t(kv_layout_.block_size) * size_t(kv_layout_.kv_dim());
    return cache.get<uint16_t>() + size_t(layer) * layer_elems;
}

// K and V of layer l from the normalized input act_.xb: matmuls, biases, RoPE on K, stored.
Status CudaBackend::store_layer_kv(int32_t l, int32_t n_tokens) {
    const ModelConfig& c = model_->config;
    const DeviceLayer& dl = layers_[size_t(l)];
    float *xb = act_.xb.get<float>(), *k = act_.k.get<float>(), *v = act_.v.get<float>();
    LUMEN_TRY(matmul(dl.wk, xb, n_tokens, k));
    LUMEN_TRY(matmul(dl.wv, xb, n_tokens, v));
    if (dl.bk.get())
        LUMEN_TRY(cuda::cuda_status(cuda::add_bias(k, dl.bk.get<float>(), n_tokens, c.kv_dim(), stream_), "bias"));
    if (dl.bv.get())
        LUMEN_TRY(cuda::cuda_status(cuda::add_bias(v, dl.bv.get<float>(), n_tokens, c.kv_dim(), stream_), "bias"));
    LUMEN_TRY(cuda::cuda_status(
        cuda::rope(k, n_tokens, c.n_kv_heads, c.head_dim, c.rope_dim, step_.positions, rope_frequencies_.get<float>(),
                   c.rope_scale, c.rope_style == RopeStyle::neox, stream_),
        "rope"));
    return cuda::cuda_status(cuda::store_kv(k, v, layer_cache(k_cache_, l), layer_cache(v_cache_, l),
                                            kv_layout_.block_size, int32_t(kv_layout_.kv_dim()), n_tokens,
                                            step_.positions, step_.block_table_offset, step_.block_tables, stream_),
                             "store_kv");
}

Status CudaBackend::propagate_kv(int32_t from, int32_t n_tokens) {
    const ModelConfig& c = model_->config;
    for (int32_t l = from; l < c.n_layers; ++l) {
        LUMEN_TRY(
            cuda::cuda_status(cuda::rms_norm(act_.x.get<float>(), nullptr, layers_[size_t(l)].attn_norm.get<float>(),
                                             act_.xb.get<float>(), n_tokens, c.dim, c.rms_eps, stream_),
                              "rms_norm"));
        LUMEN_TRY(store_layer_kv(l, n_tokens));
    }
    return Status::ok();
}

Status CudaBackend::enqueue_layers(int32_t T, int32_t max_context, const StepBatch& batch, bool* exited) {
    const ModelConfig& c = model_->config;
    *exited = false;
    float *x = act_.x.get<float>(), *xb = act_.xb.get<float>(), *q = act_.q.get<float>(), *att = act_.att.get<float>(),
          *proj = act_.proj.get<float>(), *gate = act_.gate.get<float>(), *up = act_.up.get<float>();
    auto ok = [](int err, const char* what) { return cuda::cuda_status(err, what); };
    LUMEN_TRY(ok(cuda::embedding_rows(embedding_.view, step_.tokens, T, x, stream_), "embedding"));
    const float* residual = nullptr;  // added into x by the next norm
    const int32_t n_rows = int32_t(logit_row_tokens_.size());
    for (int32_t l = 0; l < c.n_layers; ++l) {
        const DeviceLayer& dl = layers_[size_t(l)];
        LUMEN_TRY(
            ok(cuda::rms_norm(x, residual, dl.attn_norm.get<float>(), xb, T, c.dim, c.rms_eps, stream_), "rms_norm"));
        LUMEN_TRY(matmul(dl.wq, xb, T, q));
        if (dl.bq.get()) LUMEN_TRY(ok(cuda::add_bias(q, dl.bq.get<float>(), T, c.q_dim(), stream_), "bias"));
        LUMEN_TRY(ok(cuda::rope(q, T, c.n_heads, c.head_dim, c.rope_dim, step_.positions,
                                rope_frequencies_.get<float>(), c.rope_scale, c.rope_style == RopeStyle::neox, stream_),
                     "rope"));
        LUMEN_TRY(store_layer_kv(l, T));
        cuda::PagedAttentionParams p;
        p.k_cache = layer_cache(k_cache_, l);
        p.v_cache = layer_cache(v_cache_, l);
        p.block_size = kv_layout_.block_size;
        p.n_heads = c.n_heads;
        p.n_kv_heads = c.n_kv_heads;
        p.head_dim = c.head_dim;
        p.scale = 1.0f / std::sqrt(float(c.head_dim));
        p.n_tokens = T;
        p.q = q;
        p.out = att;
        p.positions = step_.positions;
        p.block_table_offset = step_.block_table_offset;
        p.block_tables = step_.block_tables;
        p.max_context = max_context;
        p.scratch = attention_scratch_.get<float>();
        LUMEN_TRY(ok(cuda::paged_attention(p, stream_), "attention"));
        LUMEN_TRY(matmul(dl.wo, att, T, proj));
        LUMEN_TRY(ok(cuda::rms_norm(x, proj, dl.ffn_norm.get<float>(), xb, T, c.dim, c.rms_eps, stream_), "rms_norm"));
        LUMEN_TRY(matmul(dl.w_gate, xb, T, gate));
        LUMEN_TRY(matmul(dl.w_up, xb, T, up));
        LUMEN_TRY(ok(cuda::swiglu(gate, up, int64_t(T) * c.ffn_dim, stream_), "swiglu"));
        LUMEN_TRY(matmul(dl.w_down, gate, T, proj));
        residual = proj;

        const int32_t done = l + 1;
        const EarlyExitRule& early = batch.early_exit;
        const bool check_exit = early.checks_after(done, c.n_layers);
        if (done == batch.exit_layer || check_exit) {
            LUMEN_TRY(ok(cuda::add(x, proj, int64_t(T) * c.dim, stream_), "residual add"));
            residual = nullptr;
            // The rows that want logits, normalized, after the final rows' place in final_x.
            float* exit_rows = act_.final_x.get<float>() + size_t(n_rows) * c.dim;
            LUMEN_TRY(ok(cuda::gather_rows(x, step_.logit_rows, n_rows, c.dim, xb, stream_), "gather"));
            LUMEN_TRY(
                ok(cuda::rms_norm(xb, nullptr, output_norm_.get<float>(), exit_rows, n_rows, c.dim, c.rms_eps, stream_),
                   "rms_norm"));
        }
        if (check_exit) {
            // One row: its intermediate logits decide on the host whether to stop here.
            const float* exit_row = act_.final_x.get<float>() + size_t(n_rows) * c.dim;
            LUMEN_TRY(matmul(*output_matrix_, exit_row, 1, logits_.get<float>()));
            LUMEN_TRY(ok(int(cudaMemcpyAsync(logits_host_.get(), logits_.get(), size_t(c.vocab_size) * sizeof(float),
                                             cudaMemcpyDeviceToHost, stream_)),
                         "copying logits"));
            LUMEN_TRY(ok(int(cudaStreamSynchronize(stream_)), "early-exit check"));
            if (early.exits(logits_host_.get<float>(), c.vocab_size)) {
                LUMEN_TRY(propagate_kv(done, T));
                last_exit_layer_ = done;
                *exited = true;
                return Status::ok();
            }
        }
    }
    if (residual) LUMEN_TRY(ok(cuda::add(x, residual, int64_t(T) * c.dim, stream_), "residual add"));
    return Status::ok();
}

// Final norm and output head over n_rows rows gathered through step_.logit_rows,
// followed by exit_rows early-exit rows already normalized in final_x.
Status CudaBackend::enqueue_logits(int32_t n_rows, int32_t exit_rows) {
    const ModelConfig& c = model_->config;
    float* final_x = act_.final_x.get<float>();
    LUMEN_TRY(cuda::cuda_status(
        cuda::gather_rows(act_.x.get<float>(), step_.logit_rows, n_rows, c.dim, act_.xb.get<float>(), stream_),
        "gather"));
    LUMEN_TRY(cuda::cuda_status(cuda::rms_norm(act_.xb.get<float>(), nullptr, output_norm_.get<float>(), final_x,
                                               n_rows, c.dim, c.rms_eps, stream_),
                                "rms_norm"));
    const int32_t out_rows = n_rows + exit_rows;
    if (out_rows == 0) return Status::ok();
    return matmul(*output_matrix_, final_x, out_rows, logits_.get<float>());
}

Status CudaBackend::run_graph(int32_t bucket, const StepBatch& batch) {
    const int index = bucket_index(bucket);
    const int32_t pool_tokens = kv_layout_.n_blocks * kv_layout_.block_size;
    bool exited = false;
    auto enqueue = [&]() -> Status {
        LUMEN_TRY(enqueue_layers(bucket, pool_tokens, batch, &exited));
        return enqueue_logits(bucket, 0);
    };
    if (!bucket_warm_[size_t(index)]) {  // first time: run eagerly, so lazy loading happens outside a capture
        LUMEN_TRY(enqueue());
        bucket_warm_[size_t(index)] = true;
        return Status::ok();
    }
    if (!graphs_[size_t(index)]) {
        LUMEN_TRY(cuda::cuda_status(int(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal)),
                                    "beginning graph capture"));
        const Status captured = enqueue();
        cudaGraph_t graph = nullptr;
        const cudaError_t end = cudaStreamEndCapture(stream_, &graph);
        if (!captured.is_ok() || end != cudaSuccess) {
            if (graph) cudaGraphDestroy(graph);
            (void)cudaGetLastError();
            options_.graphs = false;  // run eagerly from now on; this step too
            log_warning(std::string("CUDA graph capture failed (") +
                        (captured.is_ok() ? cudaGetErrorString(end) : captured.message()) +
                        "); decoding without graphs");
            return enqueue();
        }
        cudaGraphExec_t exec = nullptr;
        const cudaError_t inst = cudaGraphInstantiate(&exec, graph, 0);
        cudaGraphDestroy(graph);
        LUMEN_TRY(cuda::cuda_status(int(inst), "instantiating a CUDA graph"));
        graphs_[size_t(index)] = exec;
    }
    return cuda::cuda_status(int(cudaGraphLaunch(graphs_[size_t(index)], stream_)), "launching a CUDA graph");
}

Status CudaBackend::forward(const StepBatch& batch, std::vector<float>* logits) {
    if (!model_) return Status::error("CUDA backend: no model uploaded");
    if (!k_cache_.get()) return Status::error("CUDA backend: KV cache not allocated");
    const ModelConfig& c = model_->config;
    const int32_t T = batch.n_tokens();
    if (T == 0) return Status::ok();
    int32_t max_pos = 0;
    LUMEN_TRY(check_step(batch, c, kv_layout_.block_size, &max_pos));
    const EarlyExitRule& early = batch.early_exit;
    last_exit_layer_ = early.enabled() ? c.n_layers : 0;

    // Graphs pay off on launch-bound steps: decode and verification, where every token
    // wants its logits. A prefill chunk wants few rows, and a graph would project the
    // whole bucket through the output matrix.
    const bool use_graph = options_.graphs && T <= kMaxGraphTokens && !early.enabled() && batch.exit_layer == 0 &&
                           batch.n_logit_rows() == T;
    const int32_t rows = use_graph ? (1 << bucket_index(T)) : T;
    int32_t table_entries = 1;
    for (const auto& s : batch.sequences) table_entries += int32_t(s.block_table->size());
    LUMEN_TRY(ensure_capacity(rows, table_entries));
    LUMEN_TRY(upload_step(batch, rows));
    const int32_t n_rows = int32_t(logit_row_tokens_.size());
    int32_t out_rows = n_rows;
    if (use_graph) {
        // The graph projects a whole bucket of gathered rows; the wanted ones come first.
        LUMEN_TRY(run_graph(rows, batch));
    } else {
        bool exited = false;
        LUMEN_TRY(enqueue_layers(T, max_pos + 1, batch, &exited));
        if (exited) {
            out_rows = 1;  // logits_ holds the exit layer's row
        } else {
            const int32_t exit_rows = batch.exit_layer > 0 ? n_rows : 0;
            LUMEN_TRY(enqueue_logits(n_rows, exit_rows));
            out_rows = n_rows + exit_rows;
        }
    }
    const size_t bytes = size_t(out_rows) * size_t(c.vocab_size) * sizeof(float);
    if (bytes > 0)
        LUMEN_TRY(cuda::cuda_status(
            int(cudaMemcpyAsync(logits_host_.get(), logits_.get(), bytes, cudaMemcpyDeviceToHost, stream_)),
            "copying logits"));
    LUMEN_TRY(cuda::cuda_status(int(cudaStreamSynchronize(stream_)), "running the step"));
    logits->resize(size_t(out_rows) * size_t(c.vocab_size));
    if (bytes > 0) std::memcpy(logits->data(), logits_host_.get(), bytes);
    return Status::ok();
}

}  // namespace lumen
