// The activation buffers of one step: one table that both backends allocate from and
// that their memory_info reports, so the bytes reported are the bytes allocated. Every
// buffer holds f32 values, a fixed number per token of the backend's token capacity.
// Work buffers that belong to one backend (the CPU's per-thread attention scores; the
// CUDA backend's device logits, attention splits, f16 cuBLAS operands and step data)
// are not in the table; memory_info counts them in scratch_bytes beside it.
#pragma once

#include <cstdint>

#include "model/config.h"

namespace lumen {

// `Buffer` is the backend's storage: std::vector<float> on the CPU, a device buffer on
// the GPU.
template <typename Buffer>
struct ActivationBuffers {
    Buffer x;        // [T, dim] residual stream
    Buffer xb;       // [T, dim] normalized input
    Buffer q;        // [T, q_dim]
    Buffer k;        // [T, kv_dim]
    Buffer v;        // [T, kv_dim]
    Buffer att;      // [T, q_dim] attention output
    Buffer proj;     // [T, dim] projection back to the residual
    Buffer gate;     // [T, ffn]
    Buffer up;       // [T, ffn]
    Buffer final_x;  // [2T, dim] rows that want logits, normalized, then their early-exit rows

    // Calls visit(buffer, f32 elements at `tokens` tokens) for every buffer above.
    template <typename Visit>
    void for_each(const ModelConfig& c, int64_t tokens, Visit&& visit) {
        visit_all(*this, c, tokens, visit);
    }
    template <typename Visit>
    void for_each(const ModelConfig& c, int64_t tokens, Visit&& visit) const {
        visit_all(*this, c, tokens, visit);
    }

private:
    template <typename Self, typename Visit>
    static void visit_all(Self& b, const ModelConfig& c, int64_t T, Visit& visit) {
        visit(b.x, T * c.dim);
        visit(b.xb, T * c.dim);
        visit(b.q, T * c.q_dim());
        visit(b.k, T * c.kv_dim());
        visit(b.v, T * c.kv_dim());
        visit(b.att, T * c.q_dim());
        visit(b.proj, T * c.dim);
        visit(b.gate, T * c.ffn_dim);
        visit(b.up, T * c.ffn_dim);
        visit(b.final_x, 2 * T * c.dim);
    }
};

// The table's bytes at a capacity of `tokens` tokens: what a backend sized for that
// many tokens holds in activations.
inline int64_t activation_bytes(const ModelConfig& c, int64_t tokens) {
    struct Size {};
    int64_t elements = 0;
    ActivationBuffers<Size>{}.for_each(c, tokens, [&](const Size&, int64_t n) { elements += n; });
    return elements * int64_t(sizeof(float));
}

}  // namespace lumen
