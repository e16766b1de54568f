// The CPU backend: the reference implementation of the Backend interface.
// Multithreaded over matmul rows and attention heads; weights stay in the
// memory-mapped file and are dequantized in registers by the fused kernels,
// except the matrices the active kernel table multiplies faster repacked in
// groups of 8 rows (packed_weights.h), which are copied once at upload.
#pragma once

#include <initializer_list>
#include <memory>
#include <utility>
#include <vector>

#include "backend/activations.h"
#include "backend/backend.h"
#include "backend/cpu/cpu_ops.h"
#include "backend/cpu/packed_weights.h"
#include "backend/thread_pool.h"

namespace lumen {

class CpuBackend final : public Backend {
public:
    explicit CpuBackend(int n_threads);

    std::string name() const override { return "cpu"; }
    Status upload(const Model& model) override;
    Status allocate_kv(const KVCacheLayout& layout) override;
    Status copy_kv_blocks(const std::vector<std::pair<int32_t, int32_t>>& src_dst) override;
    Status forward(const StepBatch& batch, std::vector<float>* logits) override;
    int32_t last_exit_layer() const override { return last_exit_layer_; }
    bool set_activation_observer(ActivationObserver* observer) override {
        observer_ = observer;
        return true;
    }
    void synchronize() override {}
    MemoryInfo memory_info() const override;

    int n_threads() const { return pool_.size(); }

private:
    // Activations of one step (the shared table), sized for the largest batch seen so far.
    struct Activations : ActivationBuffers<std::vector<float>> {
        std::vector<float> scores;  // [threads, attention_group_scratch] attention scratch
        int64_t capacity_tokens = 0;
    };
    void ensure_activations(int64_t n_tokens, int64_t max_context);
    void store_kv(int32_t layer, const StepBatch& batch);
    void observe(int32_t layer, MatmulInput input, const float* x, int64_t n_tokens, int64_t cols) {
        if (observer_) observer_->observe(layer, input, x, n_tokens, cols);
    }
    ActivationObserver* observer_ = nullptr;
    // K/V in a type other than f32/f16 are stored per head, encoded (cpu::EncodedPagedKV).
    bool kv_encoded() const;
    cpu::EncodedPagedKV encoded_kv(int32_t layer, const int32_t* block_table) const;
    // K/V of layers [from, n_layers) from the current hidden state (early exit).
    void propagate_kv(int32_t from, const StepBatch& batch);
    void attention(int32_t layer, const StepBatch& batch);
    // y = w · x for n_tokens rows, through the packed copy of w when there is one.
    void matmul(const TensorView& w, const float* x, int64_t n_tokens, float* y);
    // The same for up to 4 matrices of one input (q/k/v, gate/up) in a single pass.
    void matmul_same_input(std::initializer_list<std::pair<const TensorView*, float*>> outputs, const float* x,
                           int64_t n_tokens);

    // Consecutive tokens of one sequence whose attention runs together (attention_queries).
    static constexpr int kQueriesPerTile = 4;
    int attention_head_group(int64_t n_tokens) const;
    struct QueryTile {
        int32_t first;
        int32_t count;
    };
    std::vector<QueryTile> query_tiles_;

    ThreadPool pool_;
    int32_t last_exit_layer_ = 0;
    cpu::RopeParams rope_params() const;

    const Model* model_ = nullptr;
    std::vector<float> rope_frequencies_;  // per model, so that no step calls pow
    cpu::PackedWeights packed_;            // matrices repacked for the active kernel table
    KVCacheLayout kv_layout_;
    // [layer][block] of f32 or f16; within a block V is [slot][kv_dim] and K is
    // transposed, [kv_dim][slot] (cpu::PagedKV). Other types: [layer][block][slot][head]
    // encoded heads (cpu::EncodedPagedKV).
    std::unique_ptr<uint8_t[]> k_cache_, v_cache_;
    std::vector<uint16_t> key_row_;  // one token's keys in fp16 before the transposed store
    Activations act_;
};

}  // namespace lumen
