// llama.cpp's tokenizer test files, shared by the SPM and BPE tokenizer tests:
// `<vocab>.gguf.inp` is "case\n__ggml_vocab_test__\n" repeated (cases may be
// empty or whitespace only); `.out` has one line of space-separated ids per case.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace lumen::test {

struct TokenizerCase {
    std::string text;
    std::vector<int32_t> ids;
};

// Parses `gguf_path`.inp/.out, with gtest expectations on the file structure.
std::vector<TokenizerCase> load_tokenizer_cases(const std::string& gguf_path);
// The Tokenizer of a vocab-only GGUF, or nullptr after a failed expectation.
std::unique_ptr<Tokenizer> load_vocab_tokenizer(const std::string& gguf_path);
std::string show_ids(const std::vector<int32_t>& ids);  // "[1 2 3]"
std::string show_text(const std::string& text);         // quoted, with \n \t \r visible

}  // namespace lumen::test
