// Random-weight GGUF writer. The vocabulary (tokens, merges, special ids,
// chat template) is copied verbatim so the model tokenizes like the real one.
// Each tensor is generated and encoded a chunk of rows at a time while the file
// is being written (GgufWriter::add_tensor_streamed).
#include "model/synth.h"

#include <cmath>

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "model/model_writer.h"

namespace lumen {

namespace {

// splitmix64: a fast, well-mixed 64-bit generator.
struct SplitMix64 {
    uint64_t state;
    uint64_t next() {
        uint64_t z = (state += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
};

// Approximately N(0, std): the sum of four 16-bit uniforms of one draw (Irwin–Hall),
// centred and scaled. Bounded at ±3.46 std, and cheap enough to fill 8B weights.
float approx_normal(SplitMix64& rng, float std) {
    const uint64_t r = rng.next();
    const double sum = double(r & 0xFFFF) + double((r >> 16) & 0xFFFF) + double((r >> 32) & 0xFFFF) + double(r >> 48);
    constexpr double kMean = 2.0 * 65535.0;
    const double kStd = std::sqrt(4.0 * (65536.0 * 65536.0 - 1.0) / 12.0);
    return float((sum - kMean) / kStd) * std;
}

enum class Fill { random, ones };

Status check_spec(const SynthSpec& s) {
    if (s.architecture != "llama" && s.architecture != "qwen2")
        return Status::error("synth: architecture '" + s.architecture + "' is not supported, expected llama or qwen2");
    if (s.dim <= 0 || s.n_layers <= 0 || s.n_heads <= 0 || s.n_kv_heads <= 0 || s.ffn_dim <= 0 || s.head_dim < 0 ||
        s.context_length <= 0)
        return Status::error("synth: dim, layers, heads, kv heads, ffn and context must be positive");
    if (s.head_dim == 0 && s.dim % s.n_heads != 0)
        return Status::error("synth: dim " + std::to_string(s.dim) + " does not divide into " +
                             std::to_string(s.n_heads) + " heads; give the head size explicitly");
    const int32_t head_dim = s.head_dim ? s.head_dim : s.dim / s.n_heads;
    if (head_dim % 2 != 0) return Status::error("synth: head size " + std::to_string(head_dim) + " must be even");
    if (s.n_heads % s.n_kv_heads != 0)
        return Status::error("synth: kv heads " + std::to_string(s.n_kv_heads) + " must divide heads " +
                             std::to_string(s.n_heads));
    return Status::ok();
}

}  // namespace

Status write_synthetic_model(const SynthSpec& s, const std::string& vocab_gguf_path, const std::string& output_path) {
    LUMEN_TRY(check_spec(s));
    auto vocab_file = GgufFile::open(vocab_gguf_path);
    if (!vocab_file) return vocab_file.status();
    const GgufValue* tokens = vocab_file->find("tokenizer.ggml.tokens");
    if (!tokens || tokens->array_size() == 0)
        return Status::error(vocab_gguf_path + ": has no tokenizer.ggml.tokens to copy");
    const int64_t vocab = int64_t(tokens->array_size());
    const int32_t head_dim = s.head_dim ? s.head_dim : s.dim / s.n_heads;
    const int64_t q_dim = int64_t(head_dim) * s.n_heads, kv_dim = int64_t(head_dim) * s.n_kv_heads;
    const QuantScheme scheme = s.scheme ? *s.scheme : quant_scheme_for_type(s.type);

    GgufWriter w;
    ModelConfig c;
    c.architecture = s.architecture;
    c.name = "synthetic " + s.architecture;
    c.dim = s.dim;
    c.n_layers = s.n_layers;
    c.n_heads = s.n_heads;
    c.n_kv_heads = s.n_kv_heads;
    c.head_dim = head_dim;
    c.ffn_dim = s.ffn_dim;
    c.context_length = s.context_length;
    c.rope_theta = s.rope_theta;
    c.rope_dim = head_dim;
    set_architecture_metadata(w, c);
    w.set_u32("general.file_type", quant_scheme_file_type(scheme));
    for (const auto& key : vocab_file->metadata_order())
        if (key.rfind("tokenizer.", 0) == 0) w.set_value(key, *vocab_file->find(key));

    QuantModelShape shape;
    shape.n_layers = s.n_layers;
    shape.has_output_tensor = !s.tied_output;
    uint64_t tensor_index = 0;
    auto add = [&](const std::string& name, std::vector<int64_t> dims, Fill fill) {
        const DType type = tensor_type_for_scheme(scheme, name, dims, DType::F32, shape);
        const uint64_t seed = s.seed * 0x100000001B3ull + ++tensor_index;  // each tensor its own stream
        const float std = s.init_std;
        return w.add_tensor_streamed(name, dims, type, [=](const ByteSink& sink) {
            SplitMix64 rng{seed};
            auto generate = [&](int64_t, int64_t n_rows, float* dst) {
                for (int64_t i = 0; i < n_rows * dims[0]; ++i)
                    dst[i] = fill == Fill::ones ? 1.0f : approx_normal(rng, std);
                return Status::ok();
            };
            int64_t rows = 1;
            for (size_t i = 1; i < dims.size(); ++i) rows *= dims[i];
            return stream_encoded_rows(type, rows, dims[0], generate, sink);
        });
    };
    LUMEN_TRY(add("token_embd.weight", {s.dim, vocab}, Fill::random));
    for (int32_t l = 0; l < s.n_layers; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        LUMEN_TRY(add(p + "attn_norm.weight", {s.dim}, Fill::ones));
        LUMEN_TRY(add(p + "attn_q.weight", {s.dim, q_dim}, Fill::random));
        LUMEN_TRY(add(p + "attn_k.weight", {s.dim, kv_dim}, Fill::random));
        LUMEN_TRY(add(p + "attn_v.weight", {s.dim, kv_dim}, Fill::random));
        LUMEN_TRY(add(p + "attn_output.weight", {q_dim, s.dim}, Fill::random));
        if (s.architecture == "qwen2") {
            LUMEN_TRY(add(p + "attn_q.bias", {q_dim}, Fill::random));
            LUMEN_TRY(add(p + "attn_k.bias", {kv_dim}, Fill::random));
            LUMEN_TRY(add(p + "attn_v.bias", {kv_dim}, Fill::random));
        }
        LUMEN_TRY(add(p + "ffn_norm.weight", {s.dim}, Fill::ones));
        LUMEN_TRY(add(p + "ffn_gate.weight", {s.dim, s.ffn_dim}, Fill::random));
        LUMEN_TRY(add(p + "ffn_up.weight", {s.dim, s.ffn_dim}, Fill::random));
        LUMEN_TRY(add(p + "ffn_down.weight", {s.ffn_dim, s.dim}, Fill::random));
    }
    LUMEN_TRY(add("output_norm.weight", {s.dim}, Fill::ones));
    if (!s.tied_output) LUMEN_TRY(add("output.weight", {s.dim, vocab}, Fill::random));
    return w.write(output_path);
}

// ------------------------------------------------------------------ presets

namespace {

SynthPreset make_preset(const char* name, const char* arch, int32_t dim, int32_t layers, int32_t heads,
                        int32_t kv_heads, int32_t ffn, int32_t context, float theta, bool tied,
                        const char* vocab_file) {
    SynthPreset p;
    p.name = name;
    p.spec.architecture = arch;
    p.spec.dim = dim;
    p.spec.n_layers = layers;
    p.spec.n_heads = heads;
    p.spec.n_kv_heads = kv_heads;
    p.spec.ffn_dim = ffn;
    p.spec.context_length = context;
    p.spec.rope_theta = theta;
    p.spec.tied_output = tied;
    p.vocab_file = vocab_file;
    return p;
}

std::vector<SynthPreset> all_presets() {
    constexpr const char* spm = "ggml-vocab-llama-spm.gguf";
    return {
        //           name             arch     dim   layers heads kv  ffn    context theta    tied   vocab
        make_preset("tinyllama-1.1b", "llama", 2048, 22, 32, 4, 5632, 2048, 10000.f, false, spm),
        make_preset("llama2-7b", "llama", 4096, 32, 32, 32, 11008, 4096, 10000.f, false, spm),
        make_preset("llama3-8b", "llama", 4096, 32, 32, 8, 14336, 8192, 500000.f, false, "ggml-vocab-llama-bpe.gguf"),
        make_preset("qwen2-0.5b", "qwen2", 896, 24, 14, 2, 4864, 32768, 1000000.f, true, "ggml-vocab-qwen2.gguf"),
        make_preset("smollm2-135m", "llama", 576, 30, 9, 3, 1536, 8192, 10000.f, true, "ggml-vocab-starcoder.gguf"),
        make_preset("stories15m", "llama", 288, 6, 6, 6, 768, 256, 10000.f, true, spm),
    };
}

}  // namespace

std::optional<SynthPreset> synth_preset(std::string_view name) {
    for (auto& p : all_presets())
        if (p.name == name) return p;
    return std::nullopt;
}

std::vector<std::string> synth_preset_names() {
    std::vector<std::string> names;
    for (const auto& p : all_presets()) names.push_back(p.name);
    return names;
}

}  // namespace lumen
