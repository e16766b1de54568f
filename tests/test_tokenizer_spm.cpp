// SentencePiece tokenizer tests: llama.cpp's golden tokenizer cases for two SPM
// vocabularies, decode(encode(x)) round trips, our generated ModelProto against
// the original Llama 2 tokenizer.model, and vocabularies sentencepiece would
// refuse as-is (llama2.c raw byte tokens, duplicates, no byte fallback).
#include <gtest/gtest.h>
#include <sentencepiece_processor.h>

#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "model/model.h"
#include "test_support.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer_cases.h"

namespace {

using namespace lumen;

std::string tokenizer_data(const std::string& name) {
    return test::data_dir() + "/tokenizer/" + name;
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

void check_golden(const std::string& name) {
    const std::string path = tokenizer_data(name);
    test::skip_unless_exists(path, name);
    auto tok = test::load_vocab_tokenizer(path);
    ASSERT_TRUE(tok);
    const auto cases = test::load_tokenizer_cases(path);
    ASSERT_EQ(cases.size(), 46u) << name << ": llama.cpp ships 46 cases";
    int matched = 0;
    for (const auto& c : cases) {
        // llama.cpp's test-tokenizer-0: no BOS, special tokens stay text.
        const auto ids = tok->encode(c.text, /*add_bos=*/false, /*parse_special=*/false);
        EXPECT_EQ(ids, c.ids) << name << " case " << test::show_text(c.text) << "\n  ours:     " << test::show_ids(ids)
                              << "\n  expected: " << test::show_ids(c.ids);
        matched += ids == c.ids;
    }
    std::printf("%s: %d/%zu golden cases match\n", name.c_str(), matched, cases.size());
}

void check_round_trip(const std::string& name) {
    const std::string path = tokenizer_data(name);
    test::skip_unless_exists(path, name);
    auto tok = test::load_vocab_tokenizer(path);
    ASSERT_TRUE(tok);
    for (const auto& c : test::load_tokenizer_cases(path)) {
        const auto ids = tok->encode(c.text, false, false);
        // Exactly one space comes back in front: the SPM space prefix, added to any
        // non-empty text. Every case is valid UTF-8 and byte fallback covers what
        // the vocab lacks, so nothing is lost to <unk>.
        const std::string expected = (tok->vocab().add_space_prefix && !c.text.empty() ? " " : "") + c.text;
        EXPECT_EQ(tok->decode(ids), expected)
            << name << " case " << test::show_text(c.text) << " ids " << test::show_ids(ids);
    }
}

// ---------------------------------------------------------------------------
// Golden cases and round trips
// ---------------------------------------------------------------------------

TEST(SpmTokenizer, LlamaSpmGoldenCases) {
    check_golden("ggml-vocab-llama-spm.gguf");
}
TEST(SpmTokenizer, Phi3GoldenCases) {
    check_golden("ggml-vocab-phi-3.gguf");
}
TEST(SpmTokenizer, LlamaSpmRoundTrip) {
    check_round_trip("ggml-vocab-llama-spm.gguf");
}
TEST(SpmTokenizer, Phi3RoundTrip) {
    check_round_trip("ggml-vocab-phi-3.gguf");
}

// The space prefix goes at the start and again right after a special token, as
// llama.cpp does: "world" after <s> is "▁world" (3186), not "world".
TEST(SpmTokenizer, SpacePrefixAfterSpecialToken) {
    const std::string path = tokenizer_data("ggml-vocab-llama-spm.gguf");
    test::skip_unless_exists(path, "llama-spm vocab");
    auto tok = test::load_vocab_tokenizer(path);
    ASSERT_TRUE(tok);
    EXPECT_EQ(tok->encode("Hello<s>world", false, true), (std::vector<int32_t>{15043, 1, 3186}));
    EXPECT_EQ(tok->encode("Hello world", true, false), (std::vector<int32_t>{1, 15043, 3186}));
    EXPECT_EQ(tok->decode({1, 15043, 3186}), " Hello world");
    EXPECT_EQ(tok->decode({1, 15043, 3186}, /*render_special=*/true), "<s> Hello world");
}

// ---------------------------------------------------------------------------
// Our ModelProto against the real Llama 2 tokenizer.model
// ---------------------------------------------------------------------------

TEST(SpmTokenizer, MatchesOriginalLlama2Model) {
    const std::string gguf_path = tokenizer_data("ggml-vocab-llama-spm.gguf");
    const std::string model_path = tokenizer_data("llama2-tokenizer.model");
    test::skip_unless_exists(gguf_path, "llama-spm vocab");
    test::skip_unless_exists(model_path, "Llama 2 tokenizer.model");
    auto tok = test::load_vocab_tokenizer(gguf_path);
    ASSERT_TRUE(tok);
    sentencepiece::SentencePieceProcessor real;
    const auto st = real.Load(model_path);
    ASSERT_TRUE(st.ok()) << st.ToString();

    // The GGUF vocab is the model's vocab: same pieces, scores and kinds.
    const Vocab& v = tok->vocab();
    ASSERT_EQ(real.GetPieceSize(), v.size());
    for (int32_t i = 0; i < v.size(); ++i) {
        ASSERT_EQ(real.IdToPiece(i), v.tokens[size_t(i)]) << "id " << i;
        ASSERT_EQ(real.GetScore(i), v.scores[size_t(i)]) << "id " << i;
        const TokenType t = v.types[size_t(i)];
        ASSERT_EQ(real.IsUnknown(i), t == TokenType::unknown) << "id " << i;
        ASSERT_EQ(real.IsControl(i), t == TokenType::control) << "id " << i;
        ASSERT_EQ(real.IsByte(i), t == TokenType::byte) << "id " << i;
    }

    // The real model adds its dummy prefix to any non-empty text, as we do at the
    // start of the text, so plain encodes must agree id for id.
    std::vector<std::string> texts;
    for (const auto& c : test::load_tokenizer_cases(gguf_path)) texts.push_back(c.text);
    for (const char* extra :
         {"  two leading", "trailing  ", "a\u2581b", "tab\tand\nnewline", "\u00e9\u0301 NFKC? \uff21",
          "<s> stays text </s>", "\xf0\x9f\xa6\x99 llama", "ZZZ\u3042\u3044\u3046 \u4e2d\u6587"})
        texts.push_back(extra);
    for (const auto& text : texts) {
        const auto ours = tok->encode(text, false, false);
        const auto ref = real.EncodeAsIds(text);
        const std::vector<int32_t> expected(ref.begin(), ref.end());
        EXPECT_EQ(ours, expected) << "text " << test::show_text(text) << "\n  ours:      " << test::show_ids(ours)
                                  << "\n  sentencepiece on tokenizer.model: " << test::show_ids(expected);
    }
}

// ---------------------------------------------------------------------------
// Vocabularies sentencepiece would refuse as they stand
// ---------------------------------------------------------------------------

void add_token(Vocab& v, std::string text, float score, TokenType type) {
    v.tokens.push_back(std::move(text));
    v.scores.push_back(score);
    v.types.push_back(type);
}

Vocab base_vocab() {
    Vocab v;
    v.kind = VocabKind::spm;
    add_token(v, "<unk>", 0, TokenType::unknown);
    add_token(v, "<s>", 0, TokenType::control);
    add_token(v, "</s>", 0, TokenType::control);
    v.unk_id = 0;
    v.bos_id = 1;
    v.eos_id = 2;
    return v;
}

// llama2.c's tokenizer.bin writes printable byte tokens as the raw byte; some
// converters write lower-case hex. Both must still give byte fallback.
TEST(SpmTokenizer, RawAndLowerCaseByteTokens) {
    Vocab v = base_vocab();
    for (int b = 0; b < 256; ++b) {
        char hex[8];
        std::snprintf(hex, sizeof hex, b % 2 ? "<0x%02x>" : "<0x%02X>", b);
        add_token(v, b >= 0x21 && b < 0x7f ? std::string(1, char(b)) : std::string(hex), 0, TokenType::byte);
    }
    add_token(v, "\u2581h", -1, TokenType::normal);
    const int32_t space_h = v.size() - 1;
    auto tok = Tokenizer::create(v);
    ASSERT_TRUE(tok.is_ok()) << tok.status().message();
    const auto ids = tok.value()->encode("hi\n", false, false);
    // "▁h" is a piece; 'i' and '\n' are not, so they fall back to byte tokens 3 + byte.
    EXPECT_EQ(ids, (std::vector<int32_t>{space_h, 3 + 'i', 3 + '\n'}));
    EXPECT_EQ(tok.value()->decode(ids), " hi\n");
    EXPECT_EQ(tok.value()->decode_token(3 + 0xE2), "\xE2");
}

// Empty and repeated token texts, an incomplete byte set and no <unk> at all.
TEST(SpmTokenizer, DegenerateVocabStillLoads) {
    Vocab v = base_vocab();
    v.unk_id = -1;
    v.types[0] = TokenType::control;
    add_token(v, "\u2581", -3, TokenType::normal);
    add_token(v, "a", -4, TokenType::normal);
    add_token(v, "b", -5, TokenType::normal);
    add_token(v, "\u2581a", -1, TokenType::normal);
    add_token(v, "", 0, TokenType::normal);
    add_token(v, "a", -9, TokenType::normal);    // repeated text
    add_token(v, "<0x41>", 0, TokenType::byte);  // one byte token, not 256
    auto tok = Tokenizer::create(v);
    ASSERT_TRUE(tok.is_ok()) << tok.status().message();
    EXPECT_EQ(tok.value()->encode("ab a", false, false), (std::vector<int32_t>{6, 5, 6}));
    // 'c' has no piece and there is no byte fallback: its <unk> (synthetic, past the
    // vocab's end) is dropped rather than returned as an out-of-range id.
    EXPECT_EQ(tok.value()->encode("c", false, false), (std::vector<int32_t>{3}));
}

TEST(SpmTokenizer, ScoreCountMismatchIsAnError) {
    Vocab v = base_vocab();
    v.scores.pop_back();
    auto tok = Tokenizer::create(v);
    ASSERT_FALSE(tok.is_ok());
    EXPECT_NE(tok.status().message().find("scores"), std::string::npos) << tok.status().message();
}

}  // namespace

// llama2.c's tokenizer.bin (../shared) holds the Llama 2 vocabulary in its own spelling:
// specials wrapped in newlines, the word marker as a space, byte tokens as raw bytes or,
// for 0x80..0xFF, as Latin-1 in UTF-8. Normalized, every piece must be the original
// model's, so that a converted GGUF has no duplicate token (llama.cpp refuses those).
TEST(SpmTokenizer, Llama2cTokenizerBinNormalizesToTheOriginalPieces) {
    const std::string bin_path = test::shared_dir() + "/testdata/stories15M/tokenizer.bin";
    const std::string model_path = tokenizer_data("llama2-tokenizer.model");
    test::skip_unless_exists(bin_path, "llama2.c tokenizer.bin (../shared/testdata)");
    sentencepiece::SentencePieceProcessor real;
    ASSERT_TRUE(real.Load(model_path).ok());
    auto v = load_llama2c_vocab(bin_path, 32000);
    ASSERT_TRUE(v.is_ok()) << v.status().message();
    ASSERT_EQ(v->size(), real.GetPieceSize());
    for (int32_t i = 0; i < v->size(); ++i) {
        ASSERT_EQ(v->tokens[size_t(i)], real.IdToPiece(i)) << "id " << i;
        ASSERT_EQ(v->types[size_t(i)] == TokenType::byte, real.IsByte(i)) << "id " << i;
    }
}
