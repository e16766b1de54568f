// Byte-level BPE (GGUF tokenizer.ggml.model "gpt2"): pre-tokenize, map every byte
// to GPT-2's printable stand-in character, merge by rank inside each word, look the
// pieces up in the vocab. Decoding inverts the byte mapping.
#include <array>
#include <functional>
#include <mutex>
#include <queue>
#include <unordered_map>

#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"

namespace lumen {

namespace {

// ---------------------------------------------------------------------------
// GPT-2 byte <-> character mapping
// ---------------------------------------------------------------------------

void append_utf8(std::string& out, uint32_t cpt) {
    if (cpt < 0x80) {
        out += char(cpt);
    } else if (cpt < 0x800) {
        out += char(0xC0 | (cpt >> 6));
        out += char(0x80 | (cpt & 0x3F));
    } else {
        out += char(0xE0 | (cpt >> 12));
        out += char(0x80 | ((cpt >> 6) & 0x3F));
        out += char(0x80 | (cpt & 0x3F));
    }
}

// GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves; the rest
// (controls, space, DEL, NBSP, soft hyphen) take code points 256, 257, ... in byte
// order, so that no vocab entry contains whitespace or control characters.
std::array<uint32_t, 256> byte_to_code_point() {
    std::array<uint32_t, 256> table{};
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
        const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
        table[b] = printable ? b : next++;
    }
    return table;
}

// Next code point of valid UTF-8 at s[i]; *len gets its byte length. Ill-formed input
// yields the byte itself with length 1 (only used on vocab text, which is valid).
uint32_t next_code_point(std::string_view s, size_t i, size_t* len) {
    const auto b0 = uint8_t(s[i]);
    size_t n = b0 < 0x80 ? 1 : (b0 & 0xE0) == 0xC0 ? 2 : (b0 & 0xF0) == 0xE0 ? 3 : (b0 & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 0 || i + n > s.size()) {
        *len = 1;
        return b0;
    }
    uint32_t cpt = n == 1 ? b0 : n == 2 ? (b0 & 0x1F) : n == 3 ? (b0 & 0x0F) : (b0 & 0x07);
    for (size_t k = 1; k < n; ++k) {
        const auto b = uint8_t(s[i + k]);
        if ((b & 0xC0) != 0x80) {
            *len = 1;
            return b0;
        }
        cpt = (cpt << 6) | (b & 0x3F);
    }
    *len = n;
    return cpt;
}

// ---------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------

class BpeModel final : public TokenizerModel {
public:
    static Result<std::unique_ptr<TokenizerModel>> create(const Vocab& vocab);

    std::vector<int32_t> encode_fragment(std::string_view text, bool /*at_text_start*/) const override {
        std::vector<int32_t> ids;
        for (std::string_view word : pre_.split(text)) encode_word(word, ids);
        return ids;
    }

    std::string token_bytes(int32_t id) const override {
        if (id < 0 || size_t(id) >= token_bytes_.size()) return {};
        return token_bytes_[size_t(id)];
    }

private:
    explicit BpeModel(PreTokenizer pre) : pre_(pre) {}

    void encode_word(std::string_view word, std::vector<int32_t>& out) const;
    void merge_word(const std::string& mapped, std::vector<int32_t>& out) const;
    void append_piece(std::string_view piece, std::vector<int32_t>& out) const;

    PreTokenizer pre_;
    std::array<std::string, 256> byte_symbol_;              // byte -> its stand-in character (UTF-8)
    std::unordered_map<std::string, int32_t> token_ids_;    // vocab text -> id (last duplicate wins, as llama.cpp)
    std::unordered_map<std::string, int32_t> merge_ranks_;  // "left right" -> rank (lower merges first)
    std::vector<std::string> token_bytes_;                  // id -> the bytes it decodes to
    int32_t unk_id_ = -1;

    // Words repeat a lot in real text; their ids are cached. Bounded, and cleared
    // wholesale when full, because a pathological input must not grow it forever.
    static constexpr size_t kCacheMaxEntries = 1 << 16;
    static constexpr size_t kCacheMaxWordBytes = 64;
    mutable std::mutex cache_mutex_;
    mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

Result<std::unique_ptr<TokenizerModel>> BpeModel::create(const Vocab& vocab) {
    auto pre = PreTokenizer::from_name(vocab.pre);
    if (!pre) return pre.status().with_context("tokenizer");
    if (vocab.merges.empty())
        return Status::error(
            "byte-level BPE tokenizer: tokenizer.ggml.merges is empty, expected \"left right\" merge rules");

    auto model = std::unique_ptr<BpeModel>(new BpeModel(pre.value()));
    const auto byte_cpt = byte_to_code_point();
    std::unordered_map<uint32_t, uint8_t> cpt_byte;
    for (uint32_t b = 0; b < 256; ++b) {
        append_utf8(model->byte_symbol_[b], byte_cpt[b]);
        cpt_byte[byte_cpt[b]] = uint8_t(b);
    }

    model->token_ids_.reserve(vocab.tokens.size());
    model->token_bytes_.resize(vocab.tokens.size());
    for (size_t id = 0; id < vocab.tokens.size(); ++id) {
        const std::string& text = vocab.tokens[id];
        if (!text.empty()) model->token_ids_[text] = int32_t(id);
        const auto type = vocab.types[id];
        if (type == TokenType::control || type == TokenType::user_defined || type == TokenType::unknown) {
            model->token_bytes_[id] = text;  // special tokens are stored as plain text
            continue;
        }
        std::string& bytes = model->token_bytes_[id];
        for (size_t i = 0; i < text.size();) {
            size_t len = 0;
            const uint32_t cpt = next_code_point(text, i, &len);
            const auto it = cpt_byte.find(cpt);
            // A character outside the mapping (seen in some converted vocabs) stands for itself.
            if (it != cpt_byte.end())
                bytes += char(it->second);
            else
                bytes.append(text, i, len);
            i += len;
        }
    }

    model->merge_ranks_.reserve(vocab.merges.size());
    for (size_t rank = 0; rank < vocab.merges.size(); ++rank) {
        const std::string& m = vocab.merges[rank];
        // Split at the first space after the first character, as llama.cpp does.
        const size_t space = m.find(' ', 1);
        if (space == std::string::npos || space + 1 >= m.size())
            return Status::error("byte-level BPE tokenizer: merge " + std::to_string(rank) + " is '" + m +
                                 "', expected two pieces separated by one space (\"left right\")");
        // Duplicates keep the first (best) rank.
        model->merge_ranks_.emplace(m, int32_t(rank));
    }
    // Some GGUFs name EOS as the unknown token (StarCoder: <|endoftext|>); emitting that for
    // an unrepresentable byte would end the text, so such an "unk" is not used.
    const int32_t unk = vocab.unk_id;
    if (unk >= 0 && unk != vocab.bos_id && unk != vocab.eos_id && unk != vocab.eot_id && unk != vocab.pad_id)
        model->unk_id_ = unk;
    return std::unique_ptr<TokenizerModel>(std::move(model));
}

void BpeModel::encode_word(std::string_view word, std::vector<int32_t>& out) const {
    const bool cacheable = word.size() <= kCacheMaxWordBytes;
    if (cacheable) {
        std::lock_guard<std::mutex> lock(cache_mutex_);
        const auto it = cache_.find(std::string(word));
        if (it != cache_.end()) {
            out.insert(out.end(), it->second.begin(), it->second.end());
            return;
        }
    }

    std::string mapped;
    mapped.reserve(word.size() * 2);
    for (char c : word) mapped += byte_symbol_[uint8_t(c)];

    std::vector<int32_t> ids;
    const auto whole = pre_.ignore_merges() ? token_ids_.find(mapped) : token_ids_.end();
    if (whole != token_ids_.end())
        ids.push_back(whole->second);
    else
        merge_word(mapped, ids);

    out.insert(out.end(), ids.begin(), ids.end());
    if (cacheable) {
        std::lock_guard<std::mutex> lock(cache_mutex_);
        if (cache_.size() >= kCacheMaxEntries) cache_.clear();
        cache_.emplace(std::string(word), std::move(ids));
    }
}

// Classic BPE: start from one symbol per byte, repeatedly merge the adjacent pair
// with the lowest rank (leftmost on ties). A heap of candidate pairs with lazy
// invalidation keeps this O(n log n) in the word length instead of O(n^2).
void BpeModel::merge_word(const std::string& mapped, std::vector<int32_t>& out) const {
    struct Symbol {
        uint32_t start, len;  // bytes of `mapped`; len 0 once merged into its left neighbour
        int32_t prev, next;
    };
    struct Pair {
        int32_t rank, left, right;
        uint32_t left_len, right_len;  // to recognise a pair made stale by another merge
        bool operator>(const Pair& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
    };

    std::vector<Symbol> symbols;
    for (uint32_t i = 0; i < mapped.size();) {
        const auto b0 = uint8_t(mapped[i]);
        const uint32_t len = b0 < 0x80 ? 1 : (b0 & 0xE0) == 0xC0 ? 2 : 3;  // stand-ins are < U+0800
        const auto index = int32_t(symbols.size());
        symbols.push_back({i, len, index - 1, -1});
        if (index > 0) symbols[size_t(index - 1)].next = index;
        i += len;
    }

    std::priority_queue<Pair, std::vector<Pair>, std::greater<Pair>> queue;
    std::string key;
    auto consider = [&](int32_t left, int32_t right) {
        if (left < 0 || right < 0) return;
        const Symbol& l = symbols[size_t(left)];
        const Symbol& r = symbols[size_t(right)];
        key.assign(mapped, l.start, l.len);
        key += ' ';
        key.append(mapped, r.start, r.len);
        const auto it = merge_ranks_.find(key);
        if (it != merge_ranks_.end()) queue.push({it->second, left, right, l.len, r.len});
    };
    for (size_t i = 1; i < symbols.size(); ++i) consider(int32_t(i - 1), int32_t(i));

    while (!queue.empty()) {
        const Pair p = queue.top();
        queue.pop();
        Symbol& l = symbols[size_t(p.left)];
        Symbol& r = symbols[size_t(p.right)];
        if (l.len != p.left_len || r.len != p.right_len || l.next != p.right) continue;
        l.len += r.len;
        r.len = 0;
        l.next = r.next;
        if (r.next >= 0) symbols[size_t(r.next)].prev = p.left;
        consider(l.prev, p.left);
        consider(p.left, l.next);
    }

    for (const Symbol& s : symbols)
        if (s.len > 0) append_piece(std::string_view(mapped).substr(s.start, s.len), out);
}

// A merged piece is normally a vocab entry. If a vocab lacks it, fall back to its
// single-byte pieces, then to a usable <unk>; a byte with neither is dropped (as llama.cpp
// does). This only happens for bytes that valid UTF-8 never contains.
void BpeModel::append_piece(std::string_view piece, std::vector<int32_t>& out) const {
    const auto it = token_ids_.find(std::string(piece));
    if (it != token_ids_.end()) {
        out.push_back(it->second);
        return;
    }
    for (size_t i = 0; i < piece.size();) {
        const auto b0 = uint8_t(piece[i]);
        const size_t len = b0 < 0x80 ? 1 : (b0 & 0xE0) == 0xC0 ? 2 : 3;
        const auto single = token_ids_.find(std::string(piece.substr(i, len)));
        if (single != token_ids_.end())
            out.push_back(single->second);
        else if (unk_id_ >= 0)
            out.push_back(unk_id_);
        i += len;
    }
}

}  // namespace

Result<std::unique_ptr<TokenizerModel>> make_bpe_model(const Vocab& vocab) {
    if (vocab.types.size() != vocab.tokens.size())
        return Status::error("byte-level BPE tokenizer: " + std::to_string(vocab.types.size()) + " token types for " +
                             std::to_string(vocab.tokens.size()) + " tokens, expected one per token");
    return BpeModel::create(vocab);
}

}  // namespace lumen
