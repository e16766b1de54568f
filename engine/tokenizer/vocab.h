// The vocabulary as a model file describes it: tokens, scores, types, merges,
// special ids and flags. Plain data; the tokenizers are built from it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace lumen {

class GgufFile;

// GGUF tokenizer.ggml.token_type values (llama.cpp's llama_token_type).
enum class TokenType : int32_t {
    undefined = 0,
    normal = 1,
    unknown = 2,
    control = 3,
    user_defined = 4,
    unused = 5,
    byte = 6,
};

enum class VocabKind {
    spm,  // SentencePiece BPE over scores ("llama" in GGUF, llama2.c tokenizer.bin)
    bpe,  // GPT-2 style byte-level BPE over merges ("gpt2" in GGUF)
};

struct Vocab {
    VocabKind kind = VocabKind::spm;
    std::string pre = "default";      // tokenizer.ggml.pre: pre-tokenizer name (byte-level BPE)
    std::vector<std::string> tokens;  // token text as stored (SPM: "▁the", BPE: "Ġthe")
    std::vector<float> scores;        // SPM merge priorities; may be empty for BPE
    std::vector<TokenType> types;     // one per token
    std::vector<std::string> merges;  // BPE merges "left right", highest priority first
    int32_t bos_id = -1;
    int32_t eos_id = -1;
    int32_t eot_id = -1;  // end of turn (e.g. <|im_end|>), -1 if none
    int32_t unk_id = -1;
    int32_t pad_id = -1;
    bool add_bos = false;
    bool add_eos = false;
    bool add_space_prefix = true;  // SPM: prepend a space to the first text fragment
    std::string chat_template;     // Jinja source from tokenizer.chat_template, may be empty

    int32_t size() const { return int32_t(tokens.size()); }
    bool is_special(int32_t id) const {
        return id >= 0 && id < size() &&
               (types[id] == TokenType::control || types[id] == TokenType::user_defined ||
                types[id] == TokenType::unknown);
    }
};

// Reads tokenizer.ggml.* from a GGUF, validating counts, types and ids.
Result<Vocab> vocab_from_gguf(const GgufFile& gguf);

// Whether a byte-level BPE vocabulary with this tokenizer.ggml.pre adds BOS when the
// file has no tokenizer.ggml.add_bos_token (llama.cpp's per-pre-tokenizer default).
bool bpe_adds_bos_by_default(const std::string& pre);

}  // namespace lumen
