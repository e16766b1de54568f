// Byte-level BPE tokenizer: llama.cpp's golden cases for the gpt-2, llama-bpe,
// qwen2 and starcoder vocabs (every case must match exactly), decode round trips,
// and unit tests of the pre-tokenizer splitters themselves.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <sstream>

#include "gguf/gguf_file.h"
#include "test_support.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer_cases.h"

namespace lumen {
namespace {

// ---------------------------------------------------------------------------
// Golden case files
// ---------------------------------------------------------------------------

std::string vocab_path(const std::string& name) {
    return test::data_dir() + "/tokenizer/ggml-vocab-" + name + ".gguf";
}

class BpeGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(BpeGolden, EveryCaseMatchesLlamaCpp) {
    const std::string path = vocab_path(GetParam());
    auto tok = test::load_vocab_tokenizer(path);
    ASSERT_NE(tok, nullptr);
    const auto cases = test::load_tokenizer_cases(path);
    ASSERT_FALSE(cases.empty());
    size_t passed = 0;
    for (const auto& c : cases) {
        const auto ids = tok->encode(c.text, /*add_bos=*/false, /*parse_special=*/false);
        EXPECT_EQ(ids, c.ids) << GetParam() << " case " << test::show_text(c.text) << "\n  expected "
                              << test::show_ids(c.ids) << "\n  got      " << test::show_ids(ids);
        passed += ids == c.ids;
    }
    std::printf("%s: %zu/%zu golden cases match\n", GetParam().c_str(), passed, cases.size());
}

TEST_P(BpeGolden, DecodeRoundTrips) {
    const std::string path = vocab_path(GetParam());
    auto tok = test::load_vocab_tokenizer(path);
    ASSERT_NE(tok, nullptr);
    for (const auto& c : test::load_tokenizer_cases(path)) {
        const auto ids = tok->encode(c.text, false, false);
        EXPECT_EQ(tok->decode(ids), c.text) << GetParam() << " case " << test::show_text(c.text);
    }
}

TEST_P(BpeGolden, LongWordsStayFastAndLossless) {
    auto tok = test::load_vocab_tokenizer(vocab_path(GetParam()));
    ASSERT_NE(tok, nullptr);
    // One 20k-byte word (no pre-tokenizer cut inside it) and a long mixed text:
    // a quadratic merge loop would take seconds here.
    std::string word(20000, 'a');
    std::string mixed;
    for (int i = 0; i < 500; ++i) mixed += "Héllo, wörld 12345 ¿qué? 🦙\n\t  ";
    const auto t0 = std::chrono::steady_clock::now();
    for (const std::string& text : {word, mixed}) {
        const auto ids = tok->encode(text, false, false);
        EXPECT_EQ(tok->decode(ids), text);
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_LT(seconds, 2.0);
}

TEST_P(BpeGolden, InvalidUtf8IsKeptByteForByte) {
    auto tok = test::load_vocab_tokenizer(vocab_path(GetParam()));
    ASSERT_NE(tok, nullptr);
    // Stray continuation bytes, a truncated sequence, a lead byte at the end. (Bytes that
    // never occur in UTF-8, like 0xFF, are missing from some vocabs and cannot round-trip.)
    const std::string text = "ok \x80\xbf bad \xe2\x82 cut\xc3";
    EXPECT_EQ(tok->decode(tok->encode(text, false, false)), text);
}

INSTANTIATE_TEST_SUITE_P(Vocabs, BpeGolden, ::testing::Values("gpt-2", "llama-bpe", "qwen2", "starcoder"),
                         [](const auto& info) {
                             std::string name = info.param;
                             for (char& c : name)
                                 if (c == '-') c = '_';
                             return name;
                         });

TEST(BpeTokenizer, ControlTokensStayTextUnlessParsed) {
    auto tok = test::load_vocab_tokenizer(vocab_path("qwen2"));
    ASSERT_NE(tok, nullptr);
    const int32_t im_end = tok->find_token("<|im_end|>");
    ASSERT_GE(im_end, 0);
    const auto parsed = tok->encode("hi<|im_end|>", false, /*parse_special=*/true);
    ASSERT_EQ(parsed.size(), 2u);
    EXPECT_EQ(parsed[1], im_end);
    const auto plain = tok->encode("hi<|im_end|>", false, /*parse_special=*/false);
    EXPECT_EQ(std::count(plain.begin(), plain.end(), im_end), 0);
    EXPECT_EQ(tok->decode(plain), "hi<|im_end|>");
    EXPECT_EQ(tok->decode_token(im_end, /*render_special=*/true), "<|im_end|>");
    EXPECT_EQ(tok->decode_token(im_end), "");
}

TEST(BpeTokenizer, UnknownPreTokenizerNamesItAndTheSupportedOnes) {
    auto gguf = GgufFile::open(vocab_path("gpt-2"));
    ASSERT_TRUE(gguf.is_ok()) << gguf.status().message();
    auto vocab = vocab_from_gguf(gguf.value());
    ASSERT_TRUE(vocab.is_ok()) << vocab.status().message();
    vocab->pre = "no-such-pre";
    auto tok = Tokenizer::create(std::move(vocab.value()));
    ASSERT_FALSE(tok.is_ok());
    EXPECT_NE(tok.status().message().find("'no-such-pre'"), std::string::npos) << tok.status().message();
    EXPECT_NE(tok.status().message().find("smollm"), std::string::npos) << tok.status().message();
    EXPECT_NE(tok.status().message().find("llama-bpe"), std::string::npos) << tok.status().message();
}

// Without tokenizer.ggml.add_bos_token (as in llama.cpp's ggml-vocab-*.gguf files), BOS
// follows llama.cpp's per-pre-tokenizer default: Llama 3's llama-bpe adds it, gpt-2 and
// qwen2 do not. A file that states the key wins.
TEST(BpeTokenizer, AddBosDefaultFollowsThePreTokenizer) {
    const std::vector<std::pair<std::string, bool>> expected = {
        {"llama-bpe", true}, {"gpt-2", false}, {"qwen2", false}, {"starcoder", false}};
    for (const auto& [name, adds_bos] : expected) {
        auto gguf = GgufFile::open(vocab_path(name));
        ASSERT_TRUE(gguf.is_ok()) << gguf.status().message();
        ASSERT_EQ(gguf->find("tokenizer.ggml.add_bos_token"), nullptr) << name << " states add_bos_token";
        auto vocab = vocab_from_gguf(gguf.value());
        ASSERT_TRUE(vocab.is_ok()) << vocab.status().message();
        EXPECT_EQ(vocab->add_bos, adds_bos) << name;
    }
    EXPECT_TRUE(bpe_adds_bos_by_default("llama3"));
    EXPECT_TRUE(bpe_adds_bos_by_default("tekken"));
    EXPECT_FALSE(bpe_adds_bos_by_default("smollm"));
    EXPECT_FALSE(bpe_adds_bos_by_default("default"));
}

// ---------------------------------------------------------------------------
// Pre-tokenizer splitters
// ---------------------------------------------------------------------------

std::vector<std::string> split(const char* pre_name, std::string_view text) {
    auto pre = PreTokenizer::from_name(pre_name);
    EXPECT_TRUE(pre.is_ok()) << pre.status().message();
    if (!pre) return {};
    std::vector<std::string> words;
    for (auto w : pre->split(text)) words.emplace_back(w);
    return words;
}

using Words = std::vector<std::string>;

TEST(PreTokenizer, StarcoderSplitsEveryDigitThenGpt2) {
    EXPECT_EQ(split("starcoder", "1314151"), (Words{"1", "3", "1", "4", "1", "5", "1"}));
    // The digit cut comes first, so " 42" cannot keep its space with the number.
    EXPECT_EQ(split("starcoder", "abc 42x"), (Words{"abc", " ", "4", "2", "x"}));
    // \s+(?!\S) sees the end of its segment: the spaces before a digit stay together.
    EXPECT_EQ(split("starcoder", "a   7"), (Words{"a", "   ", "7"}));
    EXPECT_EQ(split("smollm", "½ 3"), split("starcoder", "½ 3"));
}

TEST(PreTokenizer, Llama3GroupsDigitsInThrees) {
    EXPECT_EQ(split("llama-bpe", "1314151"), (Words{"131", "415", "1"}));
    EXPECT_EQ(split("llama-bpe", "x 12"), (Words{"x", " ", "12"}));
}

TEST(PreTokenizer, Qwen2SplitsEveryDigit) {
    EXPECT_EQ(split("qwen2", "2024"), (Words{"2", "0", "2", "4"}));
    EXPECT_EQ(split("qwen2", "apple工作1314"), (Words{"apple工作", "1", "3", "1", "4"}));
}

TEST(PreTokenizer, Gpt2KeepsNumberRunsAndLeadingSpace) {
    EXPECT_EQ(split("gpt-2", "1314151"), (Words{"1314151"}));
    EXPECT_EQ(split("gpt-2", "a 123 b"), (Words{"a", " 123", " b"}));
    EXPECT_EQ(split("gpt-2", "Hello, world!"), (Words{"Hello", ",", " world", "!"}));
}

TEST(PreTokenizer, Contractions) {
    // GPT-2 matches lowercase contractions only; Llama 3 and Qwen2 ignore case.
    EXPECT_EQ(split("gpt-2", "I've y'all"), (Words{"I", "'ve", " y", "'", "all"}));
    EXPECT_EQ(split("gpt-2", "WE'VE"), (Words{"WE", "'", "VE"}));
    EXPECT_EQ(split("llama-bpe", "WE'VE"), (Words{"WE", "'VE"}));
    EXPECT_EQ(split("qwen2", "I'lL"), (Words{"I", "'lL"}));
    // Not a contraction: the quote leads the letters after it (Llama 3's [^\r\n\p{L}\p{N}]?\p{L}+).
    EXPECT_EQ(split("llama-bpe", "'era"), (Words{"'era"}));
    EXPECT_EQ(split("llama-bpe", "' era"), (Words{"'", " era"}));
}

TEST(PreTokenizer, WhitespaceRuns) {
    // The last space of a run joins the next word; a trailing run stays whole.
    EXPECT_EQ(split("gpt-2", "a   b  "), (Words{"a", "  ", " b", "  "}));
    // Llama 3: a run ending in newlines ends after its last newline.
    EXPECT_EQ(split("llama-bpe", "a\n\n  b"), (Words{"a", "\n\n", " ", " b"}));
    EXPECT_EQ(split("llama-bpe", "x!!\n\ny"), (Words{"x", "!!\n\n", "y"}));
    // Tab before a letter is an allowed prefix in Llama 3, not in GPT-2.
    EXPECT_EQ(split("llama-bpe", "\tfoo"), (Words{"\tfoo"}));
    EXPECT_EQ(split("gpt-2", "\tfoo"), (Words{"\t", "foo"}));
    // U+3000 IDEOGRAPHIC SPACE is whitespace but, unlike U+0020, never joins the word after it;
    // U+001F is not whitespace at all (Unicode White_Space, as llama.cpp).
    EXPECT_EQ(split("gpt-2",
                    "a\xe3\x80\x80\xe3\x80\x80"
                    "b"),
              (Words{"a", "\xe3\x80\x80", "\xe3\x80\x80", "b"}));
    EXPECT_EQ(split("gpt-2", "a \x1f"), (Words{"a", " \x1f"}));
}

TEST(PreTokenizer, WordsConcatenateBackToTheInput) {
    const std::string text = "ok \xff\xfe x\xe2\x82 123 \n\n \t'S ½ 😶‍🌫️";
    for (const char* name : {"gpt-2", "llama-bpe", "qwen2", "starcoder"}) {
        std::string joined;
        for (const auto& w : split(name, text)) {
            EXPECT_FALSE(w.empty()) << name;
            joined += w;
        }
        EXPECT_EQ(joined, text) << name;
    }
    EXPECT_TRUE(split("gpt-2", "").empty());
}

TEST(PreTokenizer, UnknownNameIsAnError) {
    auto pre = PreTokenizer::from_name("klingon");
    ASSERT_FALSE(pre.is_ok());
    EXPECT_NE(pre.status().message().find("'klingon'"), std::string::npos);
    EXPECT_NE(pre.status().message().find("qwen2"), std::string::npos);
}

}  // namespace
}  // namespace lumen
