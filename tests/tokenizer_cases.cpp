// Reading llama.cpp's tokenizer test cases and vocab-only GGUFs.
#include "tokenizer_cases.h"

#include <gtest/gtest.h>

#include <sstream>

#include "gguf/gguf_file.h"
#include "test_support.h"

namespace lumen::test {

std::vector<TokenizerCase> load_tokenizer_cases(const std::string& gguf_path) {
    const std::string inp = read_text_file(gguf_path + ".inp");
    const std::string separator = "\n__ggml_vocab_test__\n";
    std::vector<TokenizerCase> cases;
    size_t start = 0;
    for (size_t sep; (sep = inp.find(separator, start)) != std::string::npos; start = sep + separator.size())
        cases.push_back({inp.substr(start, sep - start), {}});
    EXPECT_EQ(start, inp.size()) << gguf_path << ".inp does not end with the separator";
    const auto lines = split_lines(read_text_file(gguf_path + ".out"));
    EXPECT_EQ(lines.size(), cases.size()) << gguf_path << ": .inp and .out disagree on the number of cases";
    for (size_t i = 0; i < cases.size() && i < lines.size(); ++i) {
        std::istringstream line(lines[i]);
        for (int32_t id; line >> id;) cases[i].ids.push_back(id);
    }
    return cases;
}

std::unique_ptr<Tokenizer> load_vocab_tokenizer(const std::string& gguf_path) {
    auto gguf = GgufFile::open(gguf_path);
    EXPECT_TRUE(gguf.is_ok()) << gguf.status().message();
    if (!gguf) return nullptr;
    auto vocab = vocab_from_gguf(gguf.value());
    EXPECT_TRUE(vocab.is_ok()) << vocab.status().message();
    if (!vocab) return nullptr;
    auto tok = Tokenizer::create(std::move(vocab.value()));
    EXPECT_TRUE(tok.is_ok()) << tok.status().message();
    if (!tok) return nullptr;
    return std::move(tok.value());
}

std::string show_ids(const std::vector<int32_t>& ids) {
    std::string s = "[";
    for (size_t i = 0; i < ids.size(); ++i) s += (i ? " " : "") + std::to_string(ids[i]);
    return s + "]";
}

std::string show_text(const std::string& text) {
    std::string s = "\"";
    for (char c : text) {
        if (c == '\n')
            s += "\\n";
        else if (c == '\t')
            s += "\\t";
        else if (c == '\r')
            s += "\\r";
        else
            s += c;
    }
    return s + "\"";
}

}  // namespace lumen::test
