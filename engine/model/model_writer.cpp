// Model -> GGUF, with llama.cpp's tensor names and metadata keys so that the
// file also loads in llama.cpp.
#include "model/model_writer.h"

#include "gguf/gguf_writer.h"

namespace lumen {

std::vector<int64_t> gguf_dims(const TensorView& t) {
    return t.rows == 1 ? std::vector<int64_t>{t.cols} : std::vector<int64_t>{t.cols, t.rows};
}

void set_architecture_metadata(GgufWriter& w, const ModelConfig& c) {
    const std::string a = c.architecture + ".";
    w.set_string("general.architecture", c.architecture);
    w.set_string("general.name", c.name);
    w.set_u32("general.alignment", 32);
    w.set_u32(a + "context_length", uint32_t(c.context_length));
    w.set_u32(a + "embedding_length", uint32_t(c.dim));
    w.set_u32(a + "block_count", uint32_t(c.n_layers));
    w.set_u32(a + "feed_forward_length", uint32_t(c.ffn_dim));
    w.set_u32(a + "attention.head_count", uint32_t(c.n_heads));
    w.set_u32(a + "attention.head_count_kv", uint32_t(c.n_kv_heads));
    w.set_u32(a + "attention.key_length", uint32_t(c.head_dim));
    w.set_u32(a + "attention.value_length", uint32_t(c.head_dim));
    w.set_f32(a + "attention.layer_norm_rms_epsilon", c.rms_eps);
    w.set_f32(a + "rope.freq_base", c.rope_theta);
    w.set_u32(a + "rope.dimension_count", uint32_t(c.rope_dim));
    if (c.rope_scale != 1.f) {
        w.set_string(a + "rope.scaling.type", "linear");
        w.set_f32(a + "rope.scaling.factor", c.rope_scale);
    }
}

void set_vocab_metadata(GgufWriter& w, const Vocab& v) {
    w.set_string("tokenizer.ggml.model", v.kind == VocabKind::spm ? "llama" : "gpt2");
    if (v.kind == VocabKind::bpe) {
        w.set_string("tokenizer.ggml.pre", v.pre);
        w.set_string_array("tokenizer.ggml.merges", v.merges);
    }
    w.set_string_array("tokenizer.ggml.tokens", v.tokens);
    if (!v.scores.empty()) w.set_f32_array("tokenizer.ggml.scores", v.scores);
    std::vector<int32_t> types;
    for (auto t : v.types) types.push_back(int32_t(t));
    w.set_i32_array("tokenizer.ggml.token_type", types);
    auto set_id = [&](const char* key, int32_t id) {
        if (id >= 0) w.set_u32(key, uint32_t(id));
    };
    set_id("tokenizer.ggml.bos_token_id", v.bos_id);
    set_id("tokenizer.ggml.eos_token_id", v.eos_id);
    set_id("tokenizer.ggml.eot_token_id", v.eot_id);
    set_id("tokenizer.ggml.unknown_token_id", v.unk_id);
    set_id("tokenizer.ggml.padding_token_id", v.pad_id);
    w.set_bool("tokenizer.ggml.add_bos_token", v.add_bos);
    w.set_bool("tokenizer.ggml.add_eos_token", v.add_eos);
    w.set_bool("tokenizer.ggml.add_space_prefix", v.add_space_prefix);
    if (!v.chat_template.empty()) w.set_string("tokenizer.chat_template", v.chat_template);
}

std::vector<std::pair<std::string, const TensorView*>> gguf_named_tensors(const Model& model) {
    std::vector<std::pair<std::string, const TensorView*>> out;
    auto add = [&](const std::string& name, const TensorView& t) {
        if (t.present()) out.emplace_back(name, &t);
    };
    const ModelWeights& m = model.weights;
    add("token_embd.weight", m.token_embedding);
    for (size_t i = 0; i < m.layers.size(); ++i) {
        const LayerWeights& l = m.layers[i];
        const std::string p = "blk." + std::to_string(i) + ".";
        add(p + "attn_norm.weight", l.attn_norm);
        add(p + "attn_q.weight", l.wq);
        add(p + "attn_k.weight", l.wk);
        add(p + "attn_v.weight", l.wv);
        add(p + "attn_output.weight", l.wo);
        add(p + "attn_q.bias", l.bq);
        add(p + "attn_k.bias", l.bk);
        add(p + "attn_v.bias", l.bv);
        add(p + "ffn_norm.weight", l.ffn_norm);
        add(p + "ffn_gate.weight", l.w_gate);
        add(p + "ffn_up.weight", l.w_up);
        add(p + "ffn_down.weight", l.w_down);
    }
    add("output_norm.weight", m.output_norm);
    if (!model.config.tied_output) add("output.weight", m.output);
    add("rope_freqs.weight", m.rope_freq_factors);
    return out;
}

Status write_model_gguf(const Model& model, const std::string& path) {
    GgufWriter w;
    set_architecture_metadata(w, model.config);
    set_vocab_metadata(w, model.tokenizer->vocab());
    for (const auto& [name, t] : gguf_named_tensors(model))
        LUMEN_TRY(w.add_tensor(name, gguf_dims(*t), t->type, t->data, size_t(t->n_bytes())));
    return w.write(path);
}

}  // namespace lumen
