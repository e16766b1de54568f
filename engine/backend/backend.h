// The backend interface every compute device implements: the CPU backend (the
// readable reference) and the CUDA backend. One forward call executes a whole step's
// ops for a ragged batch over the paged KV cache.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "kv/block_pool.h"

namespace lumen {

struct Model;

// Early exit (lossy, for study): a one-token step stops after the first layer count
// in first_layer, first_layer + every, ... whose intermediate logits (through the final
// norm and output head) have an entropy below max_entropy. The skipped layers' K/V at
// that position come from the exited hidden state (CALM's state propagation), so later
// tokens still find every layer's KV.
struct EarlyExitRule {
    float max_entropy = 0;  // nats; 0: off
    int32_t first_layer = 1;
    int32_t every = 1;
    bool enabled() const { return max_entropy > 0; }
    // An error unless first_layer is in 1..n_layers-1 and every >= 1.
    Status validate(int32_t n_layers) const;
    // Whether the intermediate logits after `layers_done` of n_layers layers are checked.
    bool checks_after(int32_t layers_done, int32_t n_layers) const;
    // Whether the step stops at a checked layer with these logits (vocab values).
    bool exits(const float* logits, int64_t vocab) const;
};

// One step of work: tokens from several sequences, each with its position.
// A token at position p of sequence s attends to positions 0..p of s.
struct StepBatch {
    struct Sequence {
        int32_t seq_id = 0;
        const std::vector<int32_t>* block_table = nullptr;  // KV blocks, in position order
    };
    std::vector<int32_t> tokens;
    std::vector<int32_t> positions;
    std::vector<int32_t> sequence_index;  // per token: index into `sequences`
    std::vector<uint8_t> want_logits;     // per token: 1 to return its logits row
    std::vector<Sequence> sequences;
    // Early-exit logits: with exit_layer = k (1 .. n_layers - 1), the logits rows are
    // followed by the same tokens' rows computed from the hidden state after the first
    // k layers, through the final norm and the output head (a truncated "amateur" model
    // that shares the full model's KV, and the intermediate logits of early exit).
    int32_t exit_layer = 0;
    EarlyExitRule early_exit;  // one-token steps only

    int32_t n_tokens() const { return int32_t(tokens.size()); }
    int32_t n_logit_rows() const;
    void clear();
};

// The inputs of a layer's matrices, for calibration (GPTQ's Hessians, the
// quantization error report): attn_in feeds wq/wk/wv, attn_out wo, ffn_in
// w_gate/w_up, ffn_down w_down. x is [n_tokens][cols], row-major. After an early exit
// at layer l, the skipped layers' K/V inputs (attn_in of layers l..) are observed too.
enum class MatmulInput { attn_in, attn_out, ffn_in, ffn_down };
class ActivationObserver {
public:
    virtual ~ActivationObserver() = default;
    virtual void observe(int32_t layer, MatmulInput input, const float* x, int64_t n_tokens, int64_t cols) = 0;
};

struct MemoryInfo {
    int64_t weight_bytes = 0;      // weights resident for this backend (mapped or uploaded)
    int64_t kv_bytes = 0;          // KV pool reserved
    int64_t scratch_bytes = 0;     // activations and work buffers
    int64_t activation_bytes = 0;  // of scratch_bytes, the step's activations (activations.h)
};

class Backend {
public:
    virtual ~Backend() = default;
    virtual std::string name() const = 0;
    // Make the model's weights usable on the device (CPU: keep the mapped views).
    virtual Status upload(const Model& model) = 0;
    // Reserve the KV pool described by `layout`.
    virtual Status allocate_kv(const KVCacheLayout& layout) = 0;
    // Run the whole model over `batch`; writes vocab-sized rows to *logits for
    // tokens with want_logits, in batch order (then their early-exit rows, if the
    // batch asks for them). K/V of every token are stored.
    virtual Status forward(const StepBatch& batch, std::vector<float>* logits) = 0;
    // Layers the last forward ran for its token when it had an early-exit rule (the
    // model's layer count when it did not exit early); 0 without a rule.
    virtual int32_t last_exit_layer() const { return 0; }
    // Calls `observer` (nullptr: none) with every matrix input of the following forward
    // passes; false when the backend cannot (then nothing is observed).
    virtual bool set_activation_observer(ActivationObserver* observer) { return observer == nullptr; }
    // Copy whole KV blocks (all layers, K and V), src -> dst: copy-on-write of shared blocks.
    virtual Status copy_kv_blocks(const std::vector<std::pair<int32_t, int32_t>>& src_dst) = 0;
    virtual void synchronize() = 0;
    virtual MemoryInfo memory_info() const = 0;
};

struct BackendOptions {
    std::string device = "cpu";  // "cpu", "cuda", or "auto" (CUDA when a GPU is usable)
    int n_threads = 0;           // 0: all hardware threads
};

Result<std::unique_ptr<Backend>> create_backend(const BackendOptions& options);

}  // namespace lumen
