// SentencePiece tokenizer model. The Vocab (from a GGUF "llama" vocab or a
// llama2.c tokenizer.bin) is turned into a sentencepiece ModelProto, written in
// protobuf wire format by hand, and loaded into libsentencepiece, which then does
// the score-driven BPE with byte fallback. Decoding stays on our side.
//
// Why hand-written protobuf: Debian's libsentencepiece-dev ships no
// sentencepiece_model.pb.h, and the handful of fields we set do not justify a
// protobuf dependency. Field numbers follow sentencepiece_model.proto.
#include <cstring>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sentencepiece_processor.h>

#include "tokenizer/tokenizer.h"

namespace lumen {

namespace {

// ---------------------------------------------------------------------------
// Protobuf wire format (proto2), just what a ModelProto needs.
// ---------------------------------------------------------------------------

enum class WireType : uint32_t { varint = 0, fixed64 = 1, length_delimited = 2, fixed32 = 5 };

class ProtoWriter {
public:
    void write_uint(uint32_t field, uint64_t value) {
        write_tag(field, WireType::varint);
        write_varint(value);
    }
    // int32 fields are sign-extended to 64 bits on the wire, so -1 takes ten bytes.
    void write_int32(uint32_t field, int32_t value) { write_uint(field, uint64_t(int64_t(value))); }
    void write_bool(uint32_t field, bool value) { write_uint(field, value ? 1 : 0); }
    void write_float(uint32_t field, float value) {
        write_tag(field, WireType::fixed32);
        uint32_t bits;
        std::memcpy(&bits, &value, sizeof bits);
        for (int i = 0; i < 4; ++i) buf_.push_back(char((bits >> (8 * i)) & 0xFF));  // little-endian
    }
    void write_bytes(uint32_t field, std::string_view bytes) {
        write_tag(field, WireType::length_delimited);
        write_varint(bytes.size());
        buf_.append(bytes);
    }
    void write_message(uint32_t field, const ProtoWriter& message) { write_bytes(field, message.buf_); }

    const std::string& bytes() const { return buf_; }

private:
    void write_tag(uint32_t field, WireType type) { write_varint((uint64_t(field) << 3) | uint32_t(type)); }
    void write_varint(uint64_t v) {
        while (v >= 0x80) {
            buf_.push_back(char((v & 0x7F) | 0x80));
            v >>= 7;
        }
        buf_.push_back(char(v));
    }
    std::string buf_;
};

// sentencepiece_model.proto field numbers and enum values.
namespace pb {
// ModelProto
constexpr uint32_t model_pieces = 1, model_trainer_spec = 2, model_normalizer_spec = 3;
// ModelProto.SentencePiece
constexpr uint32_t piece_text = 1, piece_score = 2, piece_type = 3;
enum PieceType : uint32_t { NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5, BYTE = 6 };
// TrainerSpec
constexpr uint32_t trainer_model_type = 3, trainer_vocab_size = 4, trainer_byte_fallback = 35, trainer_unk_id = 40,
                   trainer_bos_id = 41, trainer_eos_id = 42, trainer_pad_id = 43;
constexpr uint32_t model_type_bpe = 2;  // TrainerSpec.ModelType.BPE
// NormalizerSpec
constexpr uint32_t norm_name = 1, norm_add_dummy_prefix = 3, norm_remove_extra_whitespaces = 4,
                   norm_escape_whitespaces = 5;
}  // namespace pb

// ---------------------------------------------------------------------------
// Vocab -> sentencepiece pieces
// ---------------------------------------------------------------------------

constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";  // U+2581, SentencePiece's visible space

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// The byte a byte token stands for, or -1. sentencepiece spells them "<0xNN>";
// llama2.c's tokenizer.bin stores some as the raw byte itself, so accept both.
int byte_token_value(std::string_view text) {
    if (text.size() == 1) return uint8_t(text[0]);
    if (text.size() == 6 && text.substr(0, 3) == "<0x" && text[5] == '>') {
        const int hi = hex_digit(text[3]), lo = hex_digit(text[4]);
        if (hi >= 0 && lo >= 0) return hi * 16 + lo;
    }
    return -1;
}

std::string byte_piece_text(int byte) {
    static const char* hex = "0123456789ABCDEF";  // sentencepiece matches the upper-case form exactly
    return std::string("<0x") + hex[byte >> 4] + hex[byte & 15] + ">";
}

struct Piece {
    std::string text;
    float score = 0.0f;
    pb::PieceType type = pb::NORMAL;
};

// sentencepiece keeps NORMAL/USER_DEFINED/UNUSED pieces in one map and
// UNKNOWN/CONTROL/BYTE in another, and refuses a model with a text twice in either.
bool in_normal_map(pb::PieceType t) {
    return t == pb::NORMAL || t == pb::USER_DEFINED || t == pb::UNUSED;
}

struct PieceTable {
    std::vector<Piece> pieces;  // one per vocab token, plus a synthetic <unk> if the vocab has none
    bool byte_fallback = false;
    int32_t unk_index = -1;
};

// Maps the vocab onto pieces sentencepiece will accept. Anything it would reject
// (empty or repeated text, byte tokens without the full set of 256, a missing
// <unk>) is neutralised rather than fatal: such tokens are never produced by the
// encoder anyway, and decoding uses the vocab text, not these pieces.
PieceTable build_pieces(const Vocab& vocab) {
    const int32_t n = vocab.size();
    PieceTable table;
    table.pieces.resize(size_t(n));

    // The unknown piece: sentencepiece requires exactly one.
    int32_t unk = vocab.unk_id;
    if (unk < 0 || unk >= n) {
        unk = -1;
        for (int32_t i = 0; i < n && unk < 0; ++i)
            if (vocab.types[size_t(i)] == TokenType::unknown) unk = i;
    }

    std::vector<int32_t> byte_owner(256, -1);
    for (int32_t i = 0; i < n; ++i) {
        Piece& p = table.pieces[size_t(i)];
        p.text = vocab.tokens[size_t(i)];
        p.score = vocab.scores[size_t(i)];
        if (i == unk) {
            p.type = pb::UNKNOWN;
            continue;
        }
        switch (vocab.types[size_t(i)]) {
            case TokenType::undefined:
            case TokenType::normal: p.type = pb::NORMAL; break;
            case TokenType::unknown: p.type = pb::CONTROL; break;  // only `unk` itself is UNKNOWN
            case TokenType::control: p.type = pb::CONTROL; break;
            // USER_DEFINED, not CONTROL: sentencepiece then matches them in normalised
            // text as the real model would (e.g. Gemma's "▁▁"), and the Tokenizer
            // front has already split their raw text out.
            case TokenType::user_defined: p.type = pb::USER_DEFINED; break;
            case TokenType::unused: p.type = pb::UNUSED; break;
            case TokenType::byte: {
                const int b = byte_token_value(p.text);
                if (b >= 0 && byte_owner[size_t(b)] < 0) {
                    byte_owner[size_t(b)] = i;
                    p.text = byte_piece_text(b);
                    p.type = pb::BYTE;
                } else {
                    p.type = pb::UNUSED;  // malformed or repeated byte token
                }
                break;
            }
        }
    }

    // Byte fallback needs all 256 byte pieces; without them, byte pieces are refused.
    table.byte_fallback = true;
    for (int32_t owner : byte_owner)
        if (owner < 0) table.byte_fallback = false;
    if (!table.byte_fallback)
        for (int32_t owner : byte_owner)
            if (owner >= 0) table.pieces[size_t(owner)].type = pb::UNUSED;

    // A vocab without an unknown token gets one past its end; encode drops it if
    // it ever comes out (with byte fallback it cannot).
    if (unk < 0) {
        table.pieces.push_back({"<unk>", 0.0f, pb::UNKNOWN});
        unk = n;
    }
    table.unk_index = unk;

    // Empty or repeated texts become unique placeholders. The placeholder cannot be
    // built by BPE merges (its prefixes are not pieces), so it is never emitted.
    std::set<std::string> normal_texts, reserved_texts;
    for (size_t i = 0; i < table.pieces.size(); ++i) {
        Piece& p = table.pieces[i];
        auto& seen = in_normal_map(p.type) ? normal_texts : reserved_texts;
        if (!p.text.empty() && seen.insert(p.text).second) continue;
        if (p.type == pb::UNKNOWN) {
            // <unk> must survive: rename it instead of demoting it.
            p.text = "\x01lumen-unk-" + std::to_string(i);
            reserved_texts.insert(p.text);
            continue;
        }
        p.text = "\x01lumen-placeholder-" + std::to_string(i);
        p.type = pb::UNUSED;
        normal_texts.insert(p.text);
    }
    return table;
}

std::string serialize_model_proto(const Vocab& vocab, const PieceTable& table) {
    ProtoWriter model;
    for (const Piece& p : table.pieces) {
        ProtoWriter piece;
        piece.write_bytes(pb::piece_text, p.text);
        piece.write_float(pb::piece_score, p.score);
        piece.write_uint(pb::piece_type, p.type);
        model.write_message(pb::model_pieces, piece);
    }

    ProtoWriter trainer;
    trainer.write_uint(pb::trainer_model_type, pb::model_type_bpe);
    trainer.write_int32(pb::trainer_vocab_size, int32_t(table.pieces.size()));
    trainer.write_bool(pb::trainer_byte_fallback, table.byte_fallback);
    trainer.write_int32(pb::trainer_unk_id, table.unk_index);
    trainer.write_int32(pb::trainer_bos_id, vocab.bos_id);
    trainer.write_int32(pb::trainer_eos_id, vocab.eos_id);
    trainer.write_int32(pb::trainer_pad_id, vocab.pad_id);
    model.write_message(pb::model_trainer_spec, trainer);

    // Identity normalisation (no precompiled charsmap, so no NFKC) and no dummy
    // prefix: llama.cpp adds the space prefix only at the start of the text and
    // after a special token, which encode_fragment does from `at_text_start`.
    ProtoWriter normalizer;
    normalizer.write_bytes(pb::norm_name, "identity");
    normalizer.write_bool(pb::norm_add_dummy_prefix, false);
    normalizer.write_bool(pb::norm_remove_extra_whitespaces, false);
    normalizer.write_bool(pb::norm_escape_whitespaces, true);
    model.write_message(pb::model_normalizer_spec, normalizer);
    return model.bytes();
}

// What each token decodes to: "▁" is a space, byte tokens are their byte, and
// control/unknown tokens keep their text verbatim.
std::string token_text_bytes(const Vocab& vocab, int32_t id) {
    const std::string& text = vocab.tokens[size_t(id)];
    const TokenType type = vocab.types[size_t(id)];
    if (type == TokenType::byte) {
        const int b = byte_token_value(text);
        if (b >= 0) return std::string(1, char(b));
    }
    if (type == TokenType::control || type == TokenType::unknown) return text;
    std::string out;
    out.reserve(text.size());
    for (size_t pos = 0; pos < text.size();) {
        if (text.compare(pos, kSpaceMarker.size(), kSpaceMarker) == 0) {
            out.push_back(' ');
            pos += kSpaceMarker.size();
        } else {
            out.push_back(text[pos++]);
        }
    }
    return out;
}

// ---------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------

class SpmModel final : public TokenizerModel {
public:
    SpmModel(const Vocab& vocab, std::unique_ptr<sentencepiece::SentencePieceProcessor> processor)
        : processor_(std::move(processor)), n_tokens_(vocab.size()), add_space_prefix_(vocab.add_space_prefix) {
        token_bytes_.reserve(size_t(n_tokens_));
        for (int32_t i = 0; i < n_tokens_; ++i) token_bytes_.push_back(token_text_bytes(vocab, i));
    }

    std::vector<int32_t> encode_fragment(std::string_view text, bool at_text_start) const override {
        std::string input;
        if (at_text_start && add_space_prefix_) input.push_back(' ');
        input.append(text);
        std::vector<int> ids;
        // Encode fails only on an unloaded model, which create() rules out; an
        // empty result is the safe answer then. Note that sentencepiece turns each
        // byte of malformed UTF-8 into U+FFFD (encoded via byte fallback) where
        // llama.cpp would byte-encode the raw byte.
        if (!processor_->Encode(input, &ids).ok()) return {};
        std::vector<int32_t> out;
        out.reserve(ids.size());
        for (int id : ids)
            if (id >= 0 && id < n_tokens_) out.push_back(int32_t(id));  // drops a synthetic <unk>
        return out;
    }

    std::string token_bytes(int32_t id) const override {
        if (id < 0 || id >= n_tokens_) return {};
        return token_bytes_[size_t(id)];
    }

private:
    std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
    int32_t n_tokens_;
    bool add_space_prefix_;
    std::vector<std::string> token_bytes_;
};

}  // namespace

Result<std::unique_ptr<TokenizerModel>> make_spm_model(const Vocab& vocab) {
    const size_t n = vocab.tokens.size();
    if (n == 0) return Status::error("SentencePiece vocab: no tokens");
    if (vocab.types.size() != n)
        return Status::error("SentencePiece vocab: " + std::to_string(vocab.types.size()) + " token types for " +
                             std::to_string(n) + " tokens, expected one per token");
    if (vocab.scores.size() != n)
        return Status::error("SentencePiece vocab: " + std::to_string(vocab.scores.size()) + " scores for " +
                             std::to_string(n) + " tokens, expected one per token");

    const PieceTable table = build_pieces(vocab);
    const std::string proto = serialize_model_proto(vocab, table);
    auto processor = std::make_unique<sentencepiece::SentencePieceProcessor>();
    const auto st = processor->LoadFromSerializedProto(proto);
    if (!st.ok())
        return Status::error("SentencePiece vocab of " + std::to_string(n) +
                             " tokens: sentencepiece rejected the model built from it: " + st.ToString());
    return std::unique_ptr<TokenizerModel>(std::make_unique<SpmModel>(vocab, std::move(processor)));
}

}  // namespace lumen
