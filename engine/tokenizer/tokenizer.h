// Text <-> token ids. One Tokenizer fronts both vocabulary kinds: it splits
// special tokens out of the text, hands plain-text fragments to the model
// (SentencePiece or byte-level BPE), and adds BOS/EOS as the vocab says.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "tokenizer/vocab.h"

namespace lumen {

// The algorithm behind one vocabulary kind. Fragments never contain special tokens.
class TokenizerModel {
public:
    virtual ~TokenizerModel() = default;
    // Encode plain text. `at_text_start` is true for the first fragment and for
    // a fragment right after a special token (SPM adds its space prefix there).
    virtual std::vector<int32_t> encode_fragment(std::string_view text, bool at_text_start) const = 0;
    // The bytes token `id` stands for in text (SPM "▁the" -> " the", BPE "Ġthe" -> " the",
    // byte tokens -> that byte). Control tokens give their own text.
    virtual std::string token_bytes(int32_t id) const = 0;
};

Result<std::unique_ptr<TokenizerModel>> make_spm_model(const Vocab& vocab);
Result<std::unique_ptr<TokenizerModel>> make_bpe_model(const Vocab& vocab);

class Tokenizer {
public:
    static Result<std::unique_ptr<Tokenizer>> create(Vocab vocab);

    // parse_special: when false, control tokens in the text stay text, as llama.cpp's
    // tokenize with parse_special=false (user-defined tokens are always matched).
    std::vector<int32_t> encode(std::string_view text, bool add_bos, bool parse_special) const;
    // Text of one token as it appears in output; control tokens render as "" unless render_special.
    std::string decode_token(int32_t id, bool render_special = false) const;
    std::string decode(const std::vector<int32_t>& ids, bool render_special = false) const;

    const Vocab& vocab() const { return vocab_; }
    int32_t bos() const { return vocab_.bos_id; }
    int32_t eos() const { return vocab_.eos_id; }
    bool is_end_of_generation(int32_t id) const { return id >= 0 && (id == vocab_.eos_id || id == vocab_.eot_id); }
    int32_t find_token(std::string_view text) const;  // exact token text lookup, -1 if absent

private:
    Tokenizer() = default;
    Vocab vocab_;
    std::unique_ptr<TokenizerModel> model_;
    std::vector<int32_t> special_by_length_;  // special token ids, longest text first
};

}  // namespace lumen
