// Loads llama2.c checkpoints (.bin, fp32) and their tokenizer.bin directly.
// Weights are views into the memory-mapped checkpoint: no copies.
//
// Checkpoint: 7 int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size,
// seq_len; negative vocab_size = unshared classifier), then fp32 arrays
// token_embedding, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final,
// freq_cis (legacy, skipped) and wcls when unshared.
#include <cstring>
#include <filesystem>

#include "gguf/gguf_file.h"
#include "model/model.h"

namespace lumen {

namespace {

struct Llama2cHeader {
    int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
};

}  // namespace

Result<Vocab> load_llama2c_vocab(const std::string& path, int32_t expected_vocab_size) {
    auto file = MappedFile::open(path);
    if (!file) return file.status();
    const uint8_t* p = file.value()->data();
    const uint64_t size = file.value()->size();
    uint64_t pos = 0;
    auto read = [&](void* dst, uint64_t n) {
        if (size - pos < n) return false;
        std::memcpy(dst, p + pos, n);
        pos += n;
        return true;
    };
    int32_t max_len;
    if (!read(&max_len, 4)) return Status::error(path + ": tokenizer file truncated in its header");
    if (max_len <= 0 || max_len > 4096)
        return Status::error(path + ": max_token_length is " + std::to_string(max_len) + ", expected 1..4096");

    Vocab v;
    v.kind = VocabKind::spm;
    v.add_bos = true;
    v.add_space_prefix = true;
    v.unk_id = 0;
    v.bos_id = 1;
    v.eos_id = 2;
    for (int32_t i = 0; i < expected_vocab_size; ++i) {
        float score;
        int32_t len;
        if (!read(&score, 4) || !read(&len, 4))
            return Status::error(path + ": tokenizer file truncated at token " + std::to_string(i) + " of " +
                                 std::to_string(expected_vocab_size));
        if (len < 0 || len > max_len)
            return Status::error(path + ": token " + std::to_string(i) + " has length " + std::to_string(len) +
                                 ", expected 0.." + std::to_string(max_len));
        std::string text(size_t(len), '\0');
        if (!read(text.data(), uint64_t(len)))
            return Status::error(path + ": tokenizer file truncated in the text of token " + std::to_string(i));
        v.tokens.push_back(std::move(text));
        v.scores.push_back(score);
    }
    if (pos != size)
        return Status::error(path + ": tokenizer has " + std::to_string(size - pos) + " bytes after " +
                             std::to_string(expected_vocab_size) + " tokens; is it the model's tokenizer?");
    v.types.assign(v.tokens.size(), TokenType::normal);
    // llama2.c stores <s> and </s> as "\n<s>\n" and "\n</s>\n"; byte-fallback tokens 3..258
    // as "<0xNN>" or, in some copies, as the raw byte, or (bytes 0x80..0xFF) as that byte
    // read as Latin-1 and written in UTF-8. Normalize to the SentencePiece forms, so that
    // no two tokens share a text (llama.cpp refuses such a vocabulary).
    if (expected_vocab_size > 2) {
        v.tokens[0] = "<unk>";
        v.types[0] = TokenType::unknown;
        v.tokens[1] = "<s>";
        v.types[1] = TokenType::control;
        v.tokens[2] = "</s>";
        v.types[2] = TokenType::control;
    }
    for (int32_t i = 3; i < std::min(expected_vocab_size, 259); ++i) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", i - 3);
        const std::string& t = v.tokens[size_t(i)];
        const int byte = i - 3;
        const std::string latin1_in_utf8 = {char(0xC0 | (byte >> 6)), char(0x80 | (byte & 0x3F))};
        if (t == name || (t.size() == 1 && uint8_t(t[0]) == uint8_t(byte)) || (byte >= 0x80 && t == latin1_in_utf8)) {
            v.tokens[size_t(i)] = name;
            v.types[size_t(i)] = TokenType::byte;
        }
    }
    // llama2.c's exporter wrote SentencePiece's U+2581 word marker as a plain space; restore it.
    for (size_t i = 3; i < v.tokens.size(); ++i) {
        std::string& t = v.tokens[i];
        if (v.types[i] == TokenType::byte || t.find(' ') == std::string::npos) continue;
        std::string fixed;
        for (char ch : t) fixed += ch == ' ' ? std::string("\xE2\x96\x81") : std::string(1, ch);
        t = std::move(fixed);
    }
    return v;
}

Result<std::unique_ptr<Model>> load_llama2c_model(const std::string& path, const LoadOptions& options) {
    auto mapped = MappedFile::open(path);
    if (!mapped) return mapped.status();
    auto file = mapped.value();
    Llama2cHeader h{};
    if (file->size() < sizeof h)
        return Status::error(path + ": not a GGUF file and too short for a llama2.c checkpoint (" +
                             std::to_string(file->size()) + " bytes, header needs 28)");
    std::memcpy(&h, file->data(), sizeof h);
    const bool shared_classifier = h.vocab_size > 0;
    const int64_t vocab = shared_classifier ? h.vocab_size : -int64_t(h.vocab_size);
    auto bad = [&](const char* field, int64_t value, const char* expected) {
        return Status::error(path + ": not a GGUF file, and as a llama2.c checkpoint its " + field + " is " +
                             std::to_string(value) + ", expected " + expected);
    };
    if (h.dim <= 0 || h.dim > 65536) return bad("dim", h.dim, "1..65536");
    if (h.hidden_dim <= 0 || h.hidden_dim > 1 << 20) return bad("hidden_dim", h.hidden_dim, "1..2^20");
    if (h.n_layers <= 0 || h.n_layers > 1024) return bad("n_layers", h.n_layers, "1..1024");
    if (h.n_heads <= 0 || h.dim % h.n_heads != 0) return bad("n_heads", h.n_heads, "a divisor of dim");
    if (h.n_kv_heads <= 0 || h.n_heads % h.n_kv_heads != 0)
        return bad("n_kv_heads", h.n_kv_heads, "a divisor of n_heads");
    if (vocab <= 0 || vocab > 1 << 22) return bad("vocab_size", vocab, "1..2^22");
    if (h.seq_len <= 0 || h.seq_len > 1 << 22) return bad("seq_len", h.seq_len, "1..2^22");
    const int64_t head_dim = h.dim / h.n_heads;
    if (head_dim % 2 != 0) return bad("head size", head_dim, "an even number");

    const int64_t dim = h.dim, kv_dim = h.n_kv_heads * head_dim, L = h.n_layers, ffn = h.hidden_dim;
    const int64_t n_floats = vocab * dim + L * dim + L * dim * dim + 2 * L * dim * kv_dim + L * dim * dim + L * dim +
                             3 * L * dim * ffn + dim + int64_t(h.seq_len) * head_dim +
                             (shared_classifier ? 0 : vocab * dim);
    const uint64_t expected = sizeof h + uint64_t(n_floats) * 4;
    if (file->size() != expected)
        return Status::error(path + ": llama2.c checkpoint with dim " + std::to_string(dim) + ", " + std::to_string(L) +
                             " layers, vocab " + std::to_string(vocab) + " should be " + std::to_string(expected) +
                             " bytes, found " + std::to_string(file->size()));

    auto model = std::make_unique<Model>();
    model->path = path;
    model->format = "llama2c";
    ModelConfig& c = model->config;
    c.architecture = "llama";
    c.name = std::filesystem::path(path).stem().string();
    c.dim = h.dim;
    c.n_layers = h.n_layers;
    c.n_heads = h.n_heads;
    c.n_kv_heads = h.n_kv_heads;
    c.head_dim = int32_t(head_dim);
    c.ffn_dim = h.hidden_dim;
    c.vocab_size = int32_t(vocab);
    c.context_length = h.seq_len;
    c.rms_eps = 1e-5f;
    c.rope_theta = 10000.f;
    c.rope_dim = c.head_dim;
    c.rope_style = RopeStyle::normal;
    c.tied_output = shared_classifier;

    const float* base = reinterpret_cast<const float*>(file->data() + sizeof h);
    const float* cur = base;
    auto take = [&](int64_t n) {
        const float* p = cur;
        cur += n;
        return p;
    };
    auto view = [](const float* data, int64_t rows, int64_t cols, std::string name) {
        return TensorView{DType::F32, data, rows, cols, std::move(name)};
    };
    ModelWeights& w = model->weights;
    w.owned.push_back(std::shared_ptr<void>(file, file.get()));
    w.token_embedding = view(take(vocab * dim), vocab, dim, "token_embedding");
    w.layers.resize(size_t(L));
    const float* rms_att = take(L * dim);
    const float* wq = take(L * dim * dim);
    const float* wk = take(L * kv_dim * dim);
    const float* wv = take(L * kv_dim * dim);
    const float* wo = take(L * dim * dim);
    const float* rms_ffn = take(L * dim);
    const float* w1 = take(L * ffn * dim);
    const float* w2 = take(L * dim * ffn);
    const float* w3 = take(L * ffn * dim);
    for (int64_t i = 0; i < L; ++i) {
        LayerWeights& l = w.layers[size_t(i)];
        const std::string p = "layer" + std::to_string(i) + ".";
        l.attn_norm = view(rms_att + i * dim, 1, dim, p + "rms_att");
        l.wq = view(wq + i * dim * dim, dim, dim, p + "wq");
        l.wk = view(wk + i * kv_dim * dim, kv_dim, dim, p + "wk");
        l.wv = view(wv + i * kv_dim * dim, kv_dim, dim, p + "wv");
        l.wo = view(wo + i * dim * dim, dim, dim, p + "wo");
        l.ffn_norm = view(rms_ffn + i * dim, 1, dim, p + "rms_ffn");
        l.w_gate = view(w1 + i * ffn * dim, ffn, dim, p + "w1");
        l.w_down = view(w2 + i * dim * ffn, dim, ffn, p + "w2");
        l.w_up = view(w3 + i * ffn * dim, ffn, dim, p + "w3");
    }
    w.output_norm = view(take(dim), 1, dim, "rms_final");
    take(int64_t(h.seq_len) * head_dim);  // freq_cis_real and freq_cis_imag (legacy)
    w.output = shared_classifier ? w.token_embedding : view(take(vocab * dim), vocab, dim, "wcls");

    std::string tok_path = options.tokenizer_path;
    if (tok_path.empty()) tok_path = (std::filesystem::path(path).parent_path() / "tokenizer.bin").string();
    auto v = load_llama2c_vocab(tok_path, c.vocab_size);
    if (!v)
        return Status::error(
            v.status().message() +
            " (a llama2.c checkpoint needs its tokenizer.bin: pass --tokenizer PATH or put it beside the model)");
    auto tok = Tokenizer::create(std::move(v.value()));
    if (!tok) return tok.status().with_context(tok_path);
    model->tokenizer = std::move(tok.value());
    return model;
}

}  // namespace lumen
