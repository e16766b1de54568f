// Random-weight GGUF writer. The vocabulary (tokens, merges, special ids,
// chat template) is copied verbatim so the model tokenizes like the real one.
#include "model/synth.h"

#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <vector>

#include "gguf/gguf_writer.h"
#include "model/model_writer.h"

namespace lumen {

namespace {

// Encodes `n` floats drawn by `draw` in the element type.
std::vector<uint8_t> encode(DType type, int64_t n, const std::function<float()>& draw) {
    std::vector<uint8_t> out(row_bytes(type, n));
    for (int64_t i = 0; i < n; ++i) {
        const float v = draw();
        if (type == DType::F32) {
            std::memcpy(out.data() + 4 * i, &v, 4);
        } else {
            const uint16_t h = type == DType::F16 ? fp32_to_fp16(v) : fp32_to_bf16(v);
            std::memcpy(out.data() + 2 * i, &h, 2);
        }
    }
    return out;
}

}  // namespace

Status write_synthetic_model(const SynthSpec& s, const std::string& vocab_gguf_path, const std::string& output_path) {
    if (s.type != DType::F32 && s.type != DType::F16 && s.type != DType::BF16)
        return Status::error(std::string("synth: type ") + dtype_name(s.type) + " is not supported here, expected f32, f16 or bf16");
    if (s.architecture != "llama" && s.architecture != "qwen2")
        return Status::error("synth: architecture '" + s.architecture + "' is not supported, expected llama or qwen2");
    if (s.dim <= 0 || s.n_layers <= 0 || s.n_heads <= 0 || s.n_kv_heads <= 0 || s.ffn_dim <= 0 ||
        s.dim % s.n_heads != 0 || s.n_heads % s.n_kv_heads != 0 || (s.dim / s.n_heads) % 2 != 0)
        return Status::error("synth: inconsistent shape (dim must divide into an even head size, kv heads must divide heads)");
    auto vocab_file = GgufFile::open(vocab_gguf_path);
    if (!vocab_file) return vocab_file.status();
    const GgufValue* tokens = vocab_file->find("tokenizer.ggml.tokens");
    if (!tokens || tokens->array_size() == 0)
        return Status::error(vocab_gguf_path + ": has no tokenizer.ggml.tokens to copy");
    const int64_t vocab = int64_t(tokens->array_size());
    const int64_t head_dim = s.dim / s.n_heads, kv_dim = head_dim * s.n_kv_heads;

    GgufWriter w;
    ModelConfig c;
    c.architecture = s.architecture;
    c.name = "synthetic " + s.architecture;
    c.dim = s.dim;
    c.n_layers = s.n_layers;
    c.n_heads = s.n_heads;
    c.n_kv_heads = s.n_kv_heads;
    c.head_dim = int32_t(head_dim);
    c.ffn_dim = s.ffn_dim;
    c.context_length = s.context_length;
    c.rope_theta = s.rope_theta;
    c.rope_dim = int32_t(head_dim);
    set_architecture_metadata(w, c);
    for (const auto& key : vocab_file->metadata_order())
        if (key.rfind("tokenizer.", 0) == 0) w.set_value(key, *vocab_file->find(key));

    std::mt19937_64 rng(s.seed);
    std::normal_distribution<float> normal(0.f, s.init_std);
    auto random = [&] { return normal(rng); };
    auto ones = [] { return 1.0f; };
    std::vector<std::unique_ptr<std::vector<uint8_t>>> storage;  // bytes must outlive the writer
    auto add = [&](const std::string& name, std::vector<int64_t> dims, DType type, const std::function<float()>& draw) {
        int64_t n = 1;
        for (auto d : dims) n *= d;
        storage.push_back(std::make_unique<std::vector<uint8_t>>(encode(type, n, draw)));
        return w.add_tensor(name, dims, type, storage.back()->data(), storage.back()->size());
    };
    LUMEN_TRY(add("token_embd.weight", {s.dim, vocab}, s.type, random));
    for (int32_t l = 0; l < s.n_layers; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        LUMEN_TRY(add(p + "attn_norm.weight", {s.dim}, DType::F32, ones));
        LUMEN_TRY(add(p + "attn_q.weight", {s.dim, s.dim}, s.type, random));
        LUMEN_TRY(add(p + "attn_k.weight", {s.dim, kv_dim}, s.type, random));
        LUMEN_TRY(add(p + "attn_v.weight", {s.dim, kv_dim}, s.type, random));
        LUMEN_TRY(add(p + "attn_output.weight", {s.dim, s.dim}, s.type, random));
        if (s.architecture == "qwen2") {
            LUMEN_TRY(add(p + "attn_q.bias", {s.dim}, DType::F32, random));
            LUMEN_TRY(add(p + "attn_k.bias", {kv_dim}, DType::F32, random));
            LUMEN_TRY(add(p + "attn_v.bias", {kv_dim}, DType::F32, random));
        }
        LUMEN_TRY(add(p + "ffn_norm.weight", {s.dim}, DType::F32, ones));
        LUMEN_TRY(add(p + "ffn_gate.weight", {s.dim, s.ffn_dim}, s.type, random));
        LUMEN_TRY(add(p + "ffn_up.weight", {s.dim, s.ffn_dim}, s.type, random));
        LUMEN_TRY(add(p + "ffn_down.weight", {s.ffn_dim, s.dim}, s.type, random));
    }
    LUMEN_TRY(add("output_norm.weight", {s.dim}, DType::F32, ones));
    if (!s.tied_output) LUMEN_TRY(add("output.weight", {s.dim, vocab}, s.type, random));
    return w.write(output_path);
}

}  // namespace lumen
