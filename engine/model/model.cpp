// Model-level helpers and format detection for load_model().
#include "model/model.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "gguf/gguf_file.h"

namespace lumen {

namespace {

template <typename Fn>
void for_each_weight(const ModelWeights& w, Fn&& fn) {
    fn(w.token_embedding);
    for (const auto& l : w.layers)
        for (const TensorView* t : {&l.attn_norm, &l.wq, &l.wk, &l.wv, &l.wo, &l.bq, &l.bk, &l.bv, &l.ffn_norm,
                                    &l.w_gate, &l.w_up, &l.w_down})
            fn(*t);
    fn(w.output_norm);
    if (w.output.data != w.token_embedding.data) fn(w.output);
}

}  // namespace

int64_t Model::n_parameters() const {
    int64_t n = 0;
    for_each_weight(weights, [&](const TensorView& t) {
        if (t.present()) n += t.rows * t.cols;
    });
    return n;
}

int64_t Model::weight_bytes() const {
    int64_t n = 0;
    for_each_weight(weights, [&](const TensorView& t) {
        if (t.present()) n += t.n_bytes();
    });
    return n;
}

int64_t Model::weight_bytes_read_per_token() const {
    int64_t n = weight_bytes() - weights.token_embedding.n_bytes() + int64_t(weights.token_embedding.row_stride());
    if (weights.output.data == weights.token_embedding.data) n += weights.output.n_bytes();
    return n;
}

std::map<std::string, int> Model::tensor_type_counts() const {
    std::map<std::string, int> counts;
    for_each_weight(weights, [&](const TensorView& t) {
        if (t.present()) counts[dtype_name(t.type)]++;
    });
    return counts;
}

namespace {

Result<bool> is_gguf_file(const std::string& path) {
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return Status::error(path + ": cannot open: " + std::strerror(errno));
    char magic[4] = {};
    const size_t n = std::fread(magic, 1, 4, f);
    std::fclose(f);
    return n == 4 && std::memcmp(magic, "GGUF", 4) == 0;
}

}  // namespace

Result<std::unique_ptr<Model>> load_model(const std::string& path, const LoadOptions& options) {
    auto gguf = is_gguf_file(path);
    if (!gguf) return gguf.status();
    if (gguf.value()) return load_gguf_model(path, options);
    return load_llama2c_model(path, options);
}

Result<std::unique_ptr<Tokenizer>> load_tokenizer(const std::string& path, const LoadOptions& options) {
    auto gguf = is_gguf_file(path);
    if (!gguf) return gguf.status();
    if (!gguf.value() || !options.tokenizer_path.empty()) {
        // A llama2.c tokenizer.bin is checked against the model's vocabulary size, which
        // only the model file knows.
        auto model = load_model(path, options);
        if (!model) return model.status();
        return std::move(model.value()->tokenizer);
    }
    auto file = GgufFile::open(path);
    if (!file) return file.status();
    auto vocab = vocab_from_gguf(file.value());
    if (!vocab) return vocab.status();
    auto tok = Tokenizer::create(std::move(vocab.value()));
    if (!tok) return tok.status().with_context(path);
    return std::move(tok.value());
}

}  // namespace lumen
