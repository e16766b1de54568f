// Builds a Model from a GGUF file: reads the hyperparameters of the `llama`
// and `qwen2` architectures and checks every tensor's presence, type and exact
// shape before use. Small vectors (norms, biases) are converted to f32 once.
#include <cstring>

#include "gguf/gguf_file.h"
#include "model/model.h"

namespace lumen {

namespace {

struct TensorBinder {
    const GgufFile& g;
    ModelWeights& w;

    // A matrix with `rows` outputs of `cols` inputs: GGUF dims [cols, rows].
    Status matrix(const std::string& name, int64_t rows, int64_t cols, TensorView* out, bool optional = false) {
        const GgufTensorInfo* t = g.find_tensor(name);
        if (!t) {
            if (optional) return Status::ok();
            return Status::error(g.path() + ": tensor '" + name + "' is missing, expected shape [" +
                                 std::to_string(cols) + ", " + std::to_string(rows) + "]");
        }
        if (t->dims.size() != 2 || t->dims[0] != cols || t->dims[1] != rows)
            return Status::error(g.path() + ": tensor '" + name + "' has shape " + t->shape_string() + ", expected [" +
                                 std::to_string(cols) + ", " + std::to_string(rows) + "]");
        *out = TensorView{t->type, t->data, rows, cols, name};
        return Status::ok();
    }

    // A vector of n elements, converted to f32 (owned) so backends can read it directly.
    Status vector(const std::string& name, int64_t n, TensorView* out, bool optional = false) {
        const GgufTensorInfo* t = g.find_tensor(name);
        if (!t) {
            if (optional) return Status::ok();
            return Status::error(g.path() + ": tensor '" + name + "' is missing, expected shape [" + std::to_string(n) +
                                 "]");
        }
        if (t->dims.size() != 1 || t->dims[0] != n)
            return Status::error(g.path() + ": tensor '" + name + "' has shape " + t->shape_string() + ", expected [" +
                                 std::to_string(n) + "]");
        auto buf = std::shared_ptr<float[]>(new float[size_t(n)]);
        dequantize_row(t->type, t->data, buf.get(), n);
        w.owned.push_back(std::shared_ptr<void>(buf, buf.get()));
        *out = TensorView{DType::F32, buf.get(), 1, n, name};
        return Status::ok();
    }
};

Result<int64_t> required_int(const GgufFile& g, const std::string& key, int64_t lo, int64_t hi) {
    auto v = g.get_int(key);
    if (!v) return v.status();
    if (v.value() < lo || v.value() > hi)
        return Status::error(g.path() + ": metadata '" + key + "' is " + std::to_string(v.value()) + ", expected " +
                             std::to_string(lo) + ".." + std::to_string(hi));
    return v;
}

}  // namespace

Result<std::unique_ptr<Model>> load_gguf_model(const std::string& path, const LoadOptions& options) {
    auto parsed = GgufFile::open(path);
    if (!parsed) return parsed.status();
    auto model = std::make_unique<Model>();
    model->path = path;
    model->format = "gguf";
    model->gguf = std::make_shared<GgufFile>(std::move(parsed.value()));
    const GgufFile& g = *model->gguf;
    ModelConfig& c = model->config;

    auto arch = g.get_string("general.architecture");
    if (!arch) return arch.status();
    c.architecture = arch.value();
    if (c.architecture != "llama" && c.architecture != "qwen2")
        return Status::error(path + ": architecture '" + c.architecture +
                             "' is not supported, expected 'llama' or 'qwen2'");
    const std::string a = c.architecture + ".";
    c.name = g.get_string_or("general.name", "");

    auto dim = required_int(g, a + "embedding_length", 1, 1 << 16);
    if (!dim) return dim.status();
    auto layers = required_int(g, a + "block_count", 1, 1024);
    if (!layers) return layers.status();
    auto heads = required_int(g, a + "attention.head_count", 1, 1024);
    if (!heads) return heads.status();
    auto ffn = required_int(g, a + "feed_forward_length", 1, 1 << 20);
    if (!ffn) return ffn.status();
    c.dim = int32_t(dim.value());
    c.n_layers = int32_t(layers.value());
    c.n_heads = int32_t(heads.value());
    c.ffn_dim = int32_t(ffn.value());
    c.n_kv_heads = int32_t(g.get_int_or(a + "attention.head_count_kv", c.n_heads));
    if (c.n_kv_heads < 1 || c.n_kv_heads > c.n_heads || c.n_heads % c.n_kv_heads != 0)
        return Status::error(path + ": attention.head_count_kv is " + std::to_string(c.n_kv_heads) +
                             ", expected a divisor of head_count " + std::to_string(c.n_heads));
    c.head_dim = int32_t(g.get_int_or(a + "attention.key_length", c.dim / c.n_heads));
    if (c.head_dim < 2 || c.head_dim % 2 != 0 || c.head_dim > 1024)
        return Status::error(path + ": head dimension is " + std::to_string(c.head_dim) +
                             ", expected an even number in 2..1024");
    c.context_length = int32_t(g.get_int_or(a + "context_length", 2048));
    if (c.context_length < 1) return Status::error(path + ": context_length must be positive");
    c.rms_eps = float(g.get_float_or(a + "attention.layer_norm_rms_epsilon", 1e-5));
    c.rope_theta = float(g.get_float_or(a + "rope.freq_base", 10000.0));
    c.rope_dim = int32_t(g.get_int_or(a + "rope.dimension_count", c.head_dim));
    if (c.rope_dim < 2 || c.rope_dim > c.head_dim || c.rope_dim % 2 != 0)
        return Status::error(path + ": rope.dimension_count is " + std::to_string(c.rope_dim) +
                             ", expected an even number up to head dimension " + std::to_string(c.head_dim));
    c.rope_style = c.architecture == "qwen2" ? RopeStyle::neox : RopeStyle::normal;
    c.has_qkv_bias = c.architecture == "qwen2";
    const std::string scaling = g.get_string_or(a + "rope.scaling.type", "none");
    if (scaling == "linear") {
        c.rope_scale = float(g.get_float_or(a + "rope.scaling.factor", 1.0));
    } else if (scaling != "none") {
        return Status::error(path + ": rope.scaling.type '" + scaling +
                             "' is not supported, expected 'none' or 'linear'");
    }
    if (const GgufValue* old = g.find(a + "rope.scale_linear")) c.rope_scale = float(old->as_double());
    if (!(c.rope_scale > 0.f)) return Status::error(path + ": RoPE scaling factor must be positive");

    // Tokenizer: the GGUF's own vocabulary, or a llama2.c tokenizer.bin given explicitly.
    const GgufTensorInfo* embd = g.find_tensor("token_embd.weight");
    if (!embd || embd->dims.size() != 2 || embd->dims[0] != c.dim)
        return Status::error(path + ": tensor 'token_embd.weight' " +
                             (embd ? "has shape " + embd->shape_string() : std::string("is missing")) + ", expected [" +
                             std::to_string(c.dim) + ", vocab]");
    c.vocab_size = int32_t(embd->dims[1]);
    Result<Vocab> vocab =
        options.tokenizer_path.empty() ? vocab_from_gguf(g) : load_llama2c_vocab(options.tokenizer_path, c.vocab_size);
    if (!vocab) return vocab.status();
    if (vocab->size() != c.vocab_size)
        return Status::error(path + ": the tokenizer has " + std::to_string(vocab->size()) +
                             " tokens but token_embd.weight has " + std::to_string(c.vocab_size) + " rows");
    auto tok = Tokenizer::create(std::move(vocab.value()));
    if (!tok) return tok.status().with_context(path);
    model->tokenizer = std::move(tok.value());

    ModelWeights& w = model->weights;
    TensorBinder bind{g, w};
    LUMEN_TRY(bind.matrix("token_embd.weight", c.vocab_size, c.dim, &w.token_embedding));
    w.layers.resize(size_t(c.n_layers));
    for (int32_t i = 0; i < c.n_layers; ++i) {
        const std::string p = "blk." + std::to_string(i) + ".";
        LayerWeights& l = w.layers[size_t(i)];
        LUMEN_TRY(bind.vector(p + "attn_norm.weight", c.dim, &l.attn_norm));
        LUMEN_TRY(bind.matrix(p + "attn_q.weight", c.q_dim(), c.dim, &l.wq));
        LUMEN_TRY(bind.matrix(p + "attn_k.weight", c.kv_dim(), c.dim, &l.wk));
        LUMEN_TRY(bind.matrix(p + "attn_v.weight", c.kv_dim(), c.dim, &l.wv));
        LUMEN_TRY(bind.matrix(p + "attn_output.weight", c.dim, c.q_dim(), &l.wo));
        if (c.has_qkv_bias) {
            LUMEN_TRY(bind.vector(p + "attn_q.bias", c.q_dim(), &l.bq));
            LUMEN_TRY(bind.vector(p + "attn_k.bias", c.kv_dim(), &l.bk));
            LUMEN_TRY(bind.vector(p + "attn_v.bias", c.kv_dim(), &l.bv));
        }
        LUMEN_TRY(bind.vector(p + "ffn_norm.weight", c.dim, &l.ffn_norm));
        LUMEN_TRY(bind.matrix(p + "ffn_gate.weight", c.ffn_dim, c.dim, &l.w_gate));
        LUMEN_TRY(bind.matrix(p + "ffn_up.weight", c.ffn_dim, c.dim, &l.w_up));
        LUMEN_TRY(bind.matrix(p + "ffn_down.weight", c.dim, c.ffn_dim, &l.w_down));
    }
    LUMEN_TRY(bind.vector("output_norm.weight", c.dim, &w.output_norm));
    LUMEN_TRY(bind.matrix("output.weight", c.vocab_size, c.dim, &w.output, /*optional=*/true));
    if (!w.output.present()) {
        w.output = w.token_embedding;
        c.tied_output = true;
    }
    LUMEN_TRY(bind.vector("rope_freqs.weight", c.rope_dim / 2, &w.rope_freq_factors, /*optional=*/true));
    return model;
}

}  // namespace lumen
