// Tokenizer front: special-token partitioning, BOS/EOS and decoding, shared by
// both vocabulary kinds. The per-kind algorithms live in spm_model.cpp and bpe_model.cpp.
#include "tokenizer/tokenizer.h"

#include <algorithm>

namespace lumen {

Result<std::unique_ptr<Tokenizer>> Tokenizer::create(Vocab vocab) {
    if (vocab.types.size() != vocab.tokens.size())
        return Status::error("tokenizer: " + std::to_string(vocab.types.size()) + " token types for " +
                             std::to_string(vocab.tokens.size()) + " tokens, expected one per token");
    auto model = vocab.kind == VocabKind::spm ? make_spm_model(vocab) : make_bpe_model(vocab);
    if (!model) return model.status();
    auto tok = std::unique_ptr<Tokenizer>(new Tokenizer());
    tok->model_ = std::move(model.value());
    for (int32_t i = 0; i < vocab.size(); ++i)
        if (vocab.is_special(i) && !vocab.tokens[size_t(i)].empty()) tok->special_by_length_.push_back(i);
    std::stable_sort(tok->special_by_length_.begin(), tok->special_by_length_.end(), [&](int32_t a, int32_t b) {
        return vocab.tokens[size_t(a)].size() > vocab.tokens[size_t(b)].size();
    });
    tok->vocab_ = std::move(vocab);
    return tok;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos, bool parse_special) const {
    // Partition the text into special tokens and plain fragments, leftmost match
    // first and the longest special token winning at a position.
    struct Piece {
        std::string_view text;
        int32_t special_id;  // -1 for plain text
    };
    std::vector<Piece> pieces;
    size_t start = 0, pos = 0;
    while (pos < text.size()) {
        int32_t matched = -1;
        for (int32_t id : special_by_length_) {
            const auto type = vocab_.types[size_t(id)];
            if (!parse_special && type != TokenType::user_defined) continue;
            const std::string& s = vocab_.tokens[size_t(id)];
            if (text.compare(pos, s.size(), s) == 0) {
                matched = id;
                break;
            }
        }
        if (matched < 0) {
            ++pos;
            continue;
        }
        if (pos > start) pieces.push_back({text.substr(start, pos - start), -1});
        pieces.push_back({{}, matched});
        pos += vocab_.tokens[size_t(matched)].size();
        start = pos;
    }
    if (start < text.size()) pieces.push_back({text.substr(start), -1});

    std::vector<int32_t> ids;
    if (add_bos && vocab_.bos_id >= 0) ids.push_back(vocab_.bos_id);
    bool at_text_start = true;
    for (const auto& p : pieces) {
        if (p.special_id >= 0) {
            ids.push_back(p.special_id);
            at_text_start = true;
            continue;
        }
        auto frag = model_->encode_fragment(p.text, at_text_start);
        ids.insert(ids.end(), frag.begin(), frag.end());
        at_text_start = false;
    }
    return ids;
}

std::string Tokenizer::decode_token(int32_t id, bool render_special) const {
    if (id < 0 || id >= vocab_.size()) return {};
    const auto type = vocab_.types[size_t(id)];
    if (!render_special && (type == TokenType::control || type == TokenType::unknown || type == TokenType::unused))
        return {};
    return model_->token_bytes(id);
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool render_special) const {
    std::string out;
    for (int32_t id : ids) out += decode_token(id, render_special);
    return out;
}

int32_t Tokenizer::find_token(std::string_view text) const {
    for (int32_t i = 0; i < vocab_.size(); ++i)
        if (vocab_.tokens[size_t(i)] == text) return i;
    return -1;
}

}  // namespace lumen
