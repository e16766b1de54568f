// One step of the llama-family forward pass on the CPU, over a ragged batch:
//   x = embed(tokens)
//   per layer: x += Wo · attn(rope(Wq·n(x)), rope(Wk·n(x)), Wv·n(x));  x += Wdown · (silu(Wgate·n(x)) * Wup·n(x))
//   logits = Wout · norm(x) for the rows asked for.
// K/V of every token are written into its sequence's blocks before attention,
// so tokens of one sequence in the same step see each other causally.
#include "backend/cpu/cpu_backend.h"

#include <cstring>

#include <algorithm>

#include "backend/cpu/cpu_ops.h"
#include "backend/cpu/kernels.h"
#include "backend/step_checks.h"
#include "core/check.h"
#include "model/model.h"
#include "quant/quantize.h"

namespace lumen {

CpuBackend::CpuBackend(int n_threads) : pool_(n_threads) {}

cpu::RopeParams CpuBackend::rope_params() const {
    const ModelConfig& c = model_->config;
    const TensorView& factors = model_->weights.rope_freq_factors;
    return cpu::RopeParams{c.head_dim,   c.rope_dim,
                           c.rope_theta, c.rope_scale,
                           c.rope_style, factors.present() ? static_cast<const float*>(factors.data) : nullptr};
}

Status CpuBackend::upload(const Model& model) {
    model_ = &model;
    act_.capacity_tokens = 0;  // the next step sizes the activations for this model
    rope_frequencies_ = cpu::rope_frequencies(rope_params());
    packed_.clear();
    if (cpu::active_kernels().dot_packed8) {
        const ModelWeights& w = model.weights;
        for (const LayerWeights& lw : w.layers)
            for (const TensorView* m : {&lw.wq, &lw.wk, &lw.wv, &lw.wo, &lw.w_gate, &lw.w_up, &lw.w_down})
                packed_.add(*m);
        packed_.add(w.output);
    }
    return Status::ok();
}

void CpuBackend::matmul(const TensorView& w, const float* x, int64_t n_tokens, float* y) {
    cpu::matmul(w, x, n_tokens, y, pool_, packed_.find(w));
}

void CpuBackend::matmul_same_input(std::initializer_list<std::pair<const TensorView*, float*>> outputs, const float* x,
                                   int64_t n_tokens) {
    cpu::MatmulTarget targets[4];
    LUMEN_CHECK(outputs.size() <= 4);
    int n = 0;
    for (const auto& [w, y] : outputs) targets[n++] = cpu::MatmulTarget{w, y, packed_.find(*w)};
    cpu::matmul_targets(cpu::active_kernels(), targets, n, x, n_tokens, pool_);
}

Status CpuBackend::allocate_kv(const KVCacheLayout& layout) {
    LUMEN_TRY(check_kv_cache_type(layout.type, layout.head_dim));
    const int64_t bytes = layout.total_bytes() / 2;  // each of K and V
    try {
        // Uninitialized: pages are committed by the OS only when first written.
        k_cache_.reset(new uint8_t[size_t(bytes)]);
        v_cache_.reset(new uint8_t[size_t(bytes)]);
    } catch (const std::bad_alloc&) {
        return Status::error("CPU backend: cannot allocate " + std::to_string(2 * bytes / (1 << 20)) +
                             " MiB for the KV cache; use a smaller context");
    }
    kv_layout_ = layout;
    return Status::ok();
}

Status CpuBackend::copy_kv_blocks(const std::vector<std::pair<int32_t, int32_t>>& src_dst) {
    if (src_dst.empty()) return Status::ok();
    if (!k_cache_) return Status::error("CPU backend: KV cache not allocated");
    const size_t block_bytes = size_t(kv_layout_.bytes_per_block() / 2 / kv_layout_.n_layers);  // one layer's K (or V)
    for (auto [src, dst] : src_dst) {
        if (src < 0 || dst < 0 || src >= kv_layout_.n_blocks || dst >= kv_layout_.n_blocks)
            return Status::error("CPU backend: KV block copy " + std::to_string(src) + " -> " + std::to_string(dst) +
                                 " is outside the pool of " + std::to_string(kv_layout_.n_blocks) + " blocks");
        for (int32_t layer = 0; layer < kv_layout_.n_layers; ++layer) {
            const size_t layer_base = size_t(layer) * size_t(kv_layout_.n_blocks) * block_bytes;
            for (uint8_t* cache : {k_cache_.get(), v_cache_.get()})
                std::memcpy(cache + layer_base + size_t(dst) * block_bytes,
                            cache + layer_base + size_t(src) * block_bytes, block_bytes);
        }
    }
    return Status::ok();
}

MemoryInfo CpuBackend::memory_info() const {
    MemoryInfo m;
    if (model_) m.weight_bytes = model_->weight_bytes();
    m.kv_bytes = kv_layout_.total_bytes();
    const auto bytes = [](const std::vector<float>& v) { return int64_t(v.capacity() * sizeof(float)); };
    if (model_)
        act_.for_each(model_->config, act_.capacity_tokens,
                      [&](const std::vector<float>& v, int64_t) { m.activation_bytes += bytes(v); });
    m.scratch_bytes = m.activation_bytes + bytes(act_.scores);
    return m;
}

void CpuBackend::ensure_activations(int64_t n_tokens, int64_t max_context) {
    const ModelConfig& c = model_->config;
    if (n_tokens > act_.capacity_tokens) {
        // Fresh vectors of the exact size (resize could keep a geometric reserve), so that
        // the table's bytes are the bytes held; the contents need not survive a step.
        act_.for_each(c, n_tokens, [](std::vector<float>& v, int64_t n) { v = std::vector<float>(size_t(n)); });
        act_.capacity_tokens = n_tokens;
    }
    // Each thread scores a tile of up to kMaxAttentionRows query rows over at most
    // max_context positions, with room for the gathered rows and their outputs.
    const size_t scores_needed =
        size_t(pool_.size()) *
        size_t(cpu::attention_group_scratch(cpu::kMaxAttentionRows, max_context, c.head_dim, kv_layout_.block_size));
    if (act_.scores.size() < scores_needed) act_.scores.resize(scores_needed);
}

void CpuBackend::propagate_kv(int32_t from, const StepBatch& batch) {
    const ModelConfig& c = model_->config;
    const int64_t T = batch.n_tokens(), dim = c.dim, kvd = c.kv_dim();
    cpu::RopeParams rope = rope_params();
    rope.frequencies = rope_frequencies_.data();
    for (int32_t l = from; l < c.n_layers; ++l) {
        const LayerWeights& lw = model_->weights.layers[size_t(l)];
        for (int64_t t = 0; t < T; ++t)
            cpu::rms_norm(act_.x.data() + t * dim, static_cast<const float*>(lw.attn_norm.data),
                          act_.xb.data() + t * dim, dim, c.rms_eps);
        observe(l, MatmulInput::attn_in, act_.xb.data(), T, dim);  // the K/V inputs of the skipped layers
        matmul_same_input({{&lw.wk, act_.k.data()}, {&lw.wv, act_.v.data()}}, act_.xb.data(), T);
        for (int64_t t = 0; t < T; ++t) {
            if (lw.bk.present()) cpu::add_inplace(act_.k.data() + t * kvd, static_cast<const float*>(lw.bk.data), kvd);
            if (lw.bv.present()) cpu::add_inplace(act_.v.data() + t * kvd, static_cast<const float*>(lw.bv.data), kvd);
            cpu::rope(act_.k.data() + t * kvd, c.n_kv_heads, batch.positions[size_t(t)], rope);
        }
        store_kv(l, batch);
    }
}

bool CpuBackend::kv_encoded() const {
    return kv_layout_.type != DType::F32 && kv_layout_.type != DType::F16;
}

cpu::EncodedPagedKV CpuBackend::encoded_kv(int32_t layer, const int32_t* block_table) const {
    const int64_t slot_bytes = kv_layout_.n_kv_heads * kv_layout_.bytes_per_head();
    const int64_t layer_offset = int64_t(layer) * kv_layout_.n_blocks * kv_layout_.block_size * slot_bytes;
    return cpu::EncodedPagedKV{k_cache_.get() + layer_offset,
                               v_cache_.get() + layer_offset,
                               kv_layout_.type,
                               kv_layout_.block_size,
                               slot_bytes,
                               kv_layout_.bytes_per_head(),
                               block_table};
}

void CpuBackend::store_kv(int32_t layer, const StepBatch& batch) {
    const int64_t kv_dim = kv_layout_.kv_dim();
    const int32_t bs = kv_layout_.block_size;
    if (kv_encoded()) {
        // Each head's K and V encoded on their own (quantize_row), slot by slot.
        for (int32_t t = 0; t < batch.n_tokens(); ++t) {
            const auto& seq = batch.sequences[size_t(batch.sequence_index[size_t(t)])];
            const cpu::EncodedPagedKV kv = encoded_kv(layer, seq.block_table->data());
            const int64_t layer_offset = kv.k - k_cache_.get();
            for (int32_t h = 0; h < kv_layout_.n_kv_heads; ++h) {
                const int64_t at = layer_offset + kv.offset(batch.positions[size_t(t)], h);
                const int64_t src = int64_t(t) * kv_dim + int64_t(h) * kv_layout_.head_dim;
                (void)quantize_row(kv_layout_.type, act_.k.data() + src, k_cache_.get() + at, kv_layout_.head_dim);
                (void)quantize_row(kv_layout_.type, act_.v.data() + src, v_cache_.get() + at, kv_layout_.head_dim);
            }
        }
        return;
    }
    const int64_t layer_offset = int64_t(layer) * kv_layout_.n_blocks * bs * kv_dim;
    const bool f16 = kv_layout_.type == DType::F16;
    const cpu::KernelTable& kernels = cpu::active_kernels();
    for (int32_t t = 0; t < batch.n_tokens(); ++t) {
        const auto& seq = batch.sequences[size_t(batch.sequence_index[size_t(t)])];
        const int32_t pos = batch.positions[size_t(t)];
        const int32_t block = (*seq.block_table)[size_t(pos / bs)], slot = pos % bs;
        const int64_t block_base = layer_offset + int64_t(block) * bs * kv_dim;
        const float* k = act_.k.data() + t * kv_dim;
        const float* v = act_.v.data() + t * kv_dim;
        // Values row-major per slot; keys transposed within the block (see cpu::PagedKV).
        const int64_t value_at = block_base + int64_t(slot) * kv_dim;
        if (f16) {
            auto* kc = reinterpret_cast<uint16_t*>(k_cache_.get()) + block_base + slot;
            kernels.f32_to_f16(v, reinterpret_cast<uint16_t*>(v_cache_.get()) + value_at, kv_dim);
            key_row_.resize(size_t(kv_dim));
            kernels.f32_to_f16(k, key_row_.data(), kv_dim);
            for (int64_t i = 0; i < kv_dim; ++i) kc[i * bs] = key_row_[size_t(i)];
        } else {
            auto* kc = reinterpret_cast<float*>(k_cache_.get()) + block_base + slot;
            std::copy_n(v, kv_dim, reinterpret_cast<float*>(v_cache_.get()) + value_at);
            for (int64_t i = 0; i < kv_dim; ++i) kc[i * bs] = k[i];
        }
    }
}

// The query heads that share a KV head (GQA) go through attention together when there
// is enough other work to keep the threads busy: the (token, head) rows then share
// each pass over the keys and values. Per head alone is bitwise the same (tested).
int CpuBackend::attention_head_group(int64_t n_tokens) const {
    const ModelConfig& c = model_->config;
    const int group = c.n_heads / c.n_kv_heads;
    int heads = std::min(group, cpu::kMaxAttentionRows);
    while (group % heads != 0) --heads;
    const int queries_per_tile = std::max(1, std::min(kQueriesPerTile, cpu::kMaxAttentionRows / heads));
    const int64_t items = (n_tokens + queries_per_tile - 1) / queries_per_tile * (c.n_heads / heads);
    return heads > 1 && items >= 4 * pool_.size() ? heads : 1;
}

void CpuBackend::attention(int32_t layer, const StepBatch& batch) {
    const ModelConfig& c = model_->config;
    const int64_t kv_dim = kv_layout_.kv_dim();
    const int64_t layer_offset = int64_t(layer) * kv_layout_.n_blocks * kv_layout_.block_size * kv_dim;
    const int32_t group = c.n_heads / c.n_kv_heads;
    const int heads = attention_head_group(batch.n_tokens());  // query heads per item
    const int queries_per_tile =
        heads == 1 ? kQueriesPerTile : std::max(1, std::min(kQueriesPerTile, cpu::kMaxAttentionRows / heads));
    const int head_items = c.n_heads / heads;
    const int64_t scratch_per_thread = int64_t(act_.scores.size()) / pool_.size();
    // Up to queries_per_tile consecutive tokens of one sequence share each pass over the keys.
    query_tiles_.clear();
    for (int32_t t = 0; t < batch.n_tokens(); ++t) {
        const bool extends = !query_tiles_.empty() && query_tiles_.back().count < queries_per_tile &&
                             batch.sequence_index[size_t(t)] == batch.sequence_index[size_t(t - 1)] &&
                             batch.positions[size_t(t)] == batch.positions[size_t(t - 1)] + 1;
        if (extends)
            ++query_tiles_.back().count;
        else
            query_tiles_.push_back({t, 1});
    }
    // Causal work grows with the position, and each thread takes a contiguous range of
    // items: take the tiles from both ends in turn (first, last, second, ...) so that
    // every range holds early and late tokens alike.
    const int64_t n_tiles = int64_t(query_tiles_.size());
    auto tile_at = [n_tiles](int64_t k) { return k % 2 == 0 ? k / 2 : n_tiles - 1 - k / 2; };
    pool_.parallel_for(n_tiles * head_items, [&](int64_t begin, int64_t end, int thread) {
        float* scratch = act_.scores.data() + thread * scratch_per_thread;
        for (int64_t i = begin; i < end; ++i) {
            const QueryTile tile = query_tiles_[size_t(tile_at(i / head_items))];
            const int32_t h = int32_t(i % head_items) * heads, t = tile.first;  // first head of the item
            const auto& seq = batch.sequences[size_t(batch.sequence_index[size_t(t)])];
            const float* q = act_.q.data() + int64_t(t) * c.q_dim() + int64_t(h) * c.head_dim;
            float* out = act_.att.data() + int64_t(t) * c.q_dim() + int64_t(h) * c.head_dim;
            const int32_t first_position = batch.positions[size_t(t)];
            auto run = [&](const auto& kv) {
                if (heads == 1)
                    cpu::attention_queries(q, c.q_dim(), tile.count, first_position, kv, h / group, c.head_dim, scratch,
                                           out, c.q_dim());
                else
                    cpu::attention_group(q, c.q_dim(), tile.count, heads, first_position, kv, h / group, c.head_dim,
                                         scratch, out, c.q_dim());
            };
            if (kv_encoded()) {
                cpu::attention_encoded(q, c.q_dim(), tile.count, heads, first_position,
                                       encoded_kv(layer, seq.block_table->data()), h / group, c.head_dim, scratch, out,
                                       c.q_dim());
            } else if (kv_layout_.type == DType::F16) {
                const auto* k = reinterpret_cast<const uint16_t*>(k_cache_.get()) + layer_offset;
                const auto* v = reinterpret_cast<const uint16_t*>(v_cache_.get()) + layer_offset;
                run(cpu::PagedKV<uint16_t>{k, v, kv_layout_.block_size, kv_dim, seq.block_table->data()});
            } else {
                const auto* k = reinterpret_cast<const float*>(k_cache_.get()) + layer_offset;
                const auto* v = reinterpret_cast<const float*>(v_cache_.get()) + layer_offset;
                run(cpu::PagedKV<float>{k, v, kv_layout_.block_size, kv_dim, seq.block_table->data()});
            }
        }
    });
}

Status CpuBackend::forward(const StepBatch& batch, std::vector<float>* logits) {
    if (!model_) return Status::error("CPU backend: no model uploaded");
    if (!k_cache_) return Status::error("CPU backend: KV cache not allocated");
    const ModelConfig& c = model_->config;
    const ModelWeights& w = model_->weights;
    const int64_t T = batch.n_tokens();
    if (T == 0) return Status::ok();
    int32_t max_pos = 0;
    LUMEN_TRY(check_step(batch, c, kv_layout_.block_size, &max_pos));
    const EarlyExitRule& early = batch.early_exit;
    last_exit_layer_ = early.enabled() ? c.n_layers : 0;
    ensure_activations(T, max_pos + 1);
    const int64_t dim = c.dim, qd = c.q_dim(), kvd = c.kv_dim(), ffn = c.ffn_dim;
    const int64_t n_rows = batch.n_logit_rows();
    // The final norm of the rows that want logits, into out[n_rows, dim].
    auto normalize_logit_rows = [&](float* out) {
        int64_t row = 0;
        for (int64_t t = 0; t < T; ++t)
            if (batch.want_logits[size_t(t)])
                cpu::rms_norm(act_.x.data() + t * dim, static_cast<const float*>(w.output_norm.data), out + row++ * dim,
                              dim, c.rms_eps);
    };

    for (int64_t t = 0; t < T; ++t)
        dequantize_row(w.token_embedding.type, w.token_embedding.row(batch.tokens[size_t(t)]), act_.x.data() + t * dim,
                       dim);

    cpu::RopeParams rope = rope_params();
    rope.frequencies = rope_frequencies_.data();
    auto f32 = [](const TensorView& v) { return static_cast<const float*>(v.data); };

    for (int32_t l = 0; l < c.n_layers; ++l) {
        const LayerWeights& lw = w.layers[size_t(l)];
        for (int64_t t = 0; t < T; ++t)
            cpu::rms_norm(act_.x.data() + t * dim, f32(lw.attn_norm), act_.xb.data() + t * dim, dim, c.rms_eps);
        observe(l, MatmulInput::attn_in, act_.xb.data(), T, dim);
        matmul_same_input({{&lw.wq, act_.q.data()}, {&lw.wk, act_.k.data()}, {&lw.wv, act_.v.data()}}, act_.xb.data(),
                          T);
        for (int64_t t = 0; t < T; ++t) {
            if (lw.bq.present()) cpu::add_inplace(act_.q.data() + t * qd, f32(lw.bq), qd);
            if (lw.bk.present()) cpu::add_inplace(act_.k.data() + t * kvd, f32(lw.bk), kvd);
            if (lw.bv.present()) cpu::add_inplace(act_.v.data() + t * kvd, f32(lw.bv), kvd);
            cpu::rope(act_.q.data() + t * qd, c.n_heads, batch.positions[size_t(t)], rope);
            cpu::rope(act_.k.data() + t * kvd, c.n_kv_heads, batch.positions[size_t(t)], rope);
        }
        store_kv(l, batch);
        attention(l, batch);
        observe(l, MatmulInput::attn_out, act_.att.data(), T, qd);
        matmul(lw.wo, act_.att.data(), T, act_.proj.data());
        cpu::add_inplace(act_.x.data(), act_.proj.data(), T * dim);

        for (int64_t t = 0; t < T; ++t)
            cpu::rms_norm(act_.x.data() + t * dim, f32(lw.ffn_norm), act_.xb.data() + t * dim, dim, c.rms_eps);
        observe(l, MatmulInput::ffn_in, act_.xb.data(), T, dim);
        matmul_same_input({{&lw.w_gate, act_.gate.data()}, {&lw.w_up, act_.up.data()}}, act_.xb.data(), T);
        cpu::silu_mul(act_.gate.data(), act_.up.data(), act_.gate.data(), T * ffn);
        observe(l, MatmulInput::ffn_down, act_.gate.data(), T, ffn);
        matmul(lw.w_down, act_.gate.data(), T, act_.proj.data());
        cpu::add_inplace(act_.x.data(), act_.proj.data(), T * dim);
        const int32_t done = l + 1;
        // The early-exit rows go after the final rows' place in final_x.
        if (done == batch.exit_layer) normalize_logit_rows(act_.final_x.data() + n_rows * dim);
        if (early.checks_after(done, c.n_layers)) {
            normalize_logit_rows(act_.final_x.data());
            logits->resize(size_t(c.vocab_size));
            matmul(w.output, act_.final_x.data(), 1, logits->data());
            if (early.exits(logits->data(), c.vocab_size)) {
                propagate_kv(done, batch);
                last_exit_layer_ = done;
                return Status::ok();
            }
        }
    }

    // Only the rows asked for go through the final norm and the (large) output matrix,
    // the early-exit rows (if any) right after them in the same matmul.
    normalize_logit_rows(act_.final_x.data());
    const int64_t out_rows = batch.exit_layer > 0 ? 2 * n_rows : n_rows;
    logits->resize(size_t(out_rows * c.vocab_size));
    if (out_rows > 0) matmul(w.output, act_.final_x.data(), out_rows, logits->data());
    return Status::ok();
}

}  // namespace lumen
