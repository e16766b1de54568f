// Pre-tokenizers for byte-level BPE: split text into the words that BPE then
// merges independently, exactly as llama.cpp splits them for each GGUF
// tokenizer.ggml.pre name. The regexes of the original tokenizers are
// hand-written matchers over UTF-8 code points; letter/number/whitespace
// classes come from ICU with llama.cpp's definitions (\p{L}, \p{N}, and the
// Unicode White_Space property for \s).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace lumen {

// One kind per distinct splitting rule; several GGUF names share a kind.
enum class PreTokenizerKind {
    // GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
    gpt2,
    // Llama 3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
    //          ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
    llama3,
    // Qwen2: the Llama 3 pattern with \p{N} (one digit per word) instead of \p{N}{1,3}.
    qwen2,
    // StarCoder / SmolLM: every \p{N} alone first, then the GPT-2 pattern on what is left.
    starcoder,
};

class PreTokenizer {
public:
    // `name` is tokenizer.ggml.pre. Unknown names are an error that lists the supported ones.
    static Result<PreTokenizer> from_name(std::string_view name);

    PreTokenizerKind kind() const { return kind_; }
    // Llama 3 tokenizers emit a word that is already a vocab entry as that one token
    // without running the merges (HF "ignore_merges"; llama.cpp does the same).
    bool ignore_merges() const { return ignore_merges_; }

    // The words of `text`, in order; they are views into `text` and concatenate back to it.
    // Bytes that are not valid UTF-8 are kept (each ill-formed byte is a non-letter,
    // non-number, non-space character) so that encoding stays lossless.
    std::vector<std::string_view> split(std::string_view text) const;

    // The names from_name accepts, comma separated (for error messages and docs).
    static std::string supported_names();

private:
    PreTokenizer(PreTokenizerKind kind, bool ignore_merges) : kind_(kind), ignore_merges_(ignore_merges) {}
    PreTokenizerKind kind_;
    bool ignore_merges_;
};

}  // namespace lumen
