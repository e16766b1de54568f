// Byte-level BPE pre-tokenizers as hand-written matchers. Each matcher walks one
// segment of code points and cuts it where the original regex would end a match;
// the alternatives are tried in the regex's order, so leftmost-alternative
// semantics (and the backtracking of \s+(?!\S)) come out the same as in HF
// tokenizers and llama.cpp, whose golden cases the tests check.
#include "tokenizer/pretokenizer.h"

#include <unicode/uchar.h>

#include <array>
#include <cstdint>

namespace lumen {

namespace {

// ---------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------

struct NamedKind {
    const char* name;
    PreTokenizerKind kind;
    bool ignore_merges;
};

// The GGUF names llama.cpp (llama-vocab.cpp) maps to these four regex sets. Names it
// maps to the same regex but with other special-token behaviour (BERT-style SEP,
// no BOS) are left out rather than half supported. "default" is GPT-2 here: it is what
// a GGUF without tokenizer.ggml.pre means for a GPT-2 style vocab.
constexpr std::array kNames = {
    NamedKind{"gpt-2", PreTokenizerKind::gpt2, false},
    NamedKind{"default", PreTokenizerKind::gpt2, false},
    NamedKind{"phi-2", PreTokenizerKind::gpt2, false},
    NamedKind{"mpt", PreTokenizerKind::gpt2, false},
    NamedKind{"olmo", PreTokenizerKind::gpt2, false},
    NamedKind{"jais", PreTokenizerKind::gpt2, false},
    NamedKind{"trillion", PreTokenizerKind::gpt2, false},
    NamedKind{"gigachat", PreTokenizerKind::gpt2, false},
    NamedKind{"jina-es", PreTokenizerKind::gpt2, false},
    NamedKind{"jina-de", PreTokenizerKind::gpt2, false},
    NamedKind{"jina-v2-es", PreTokenizerKind::gpt2, false},
    NamedKind{"jina-v2-de", PreTokenizerKind::gpt2, false},
    NamedKind{"exaone4", PreTokenizerKind::gpt2, false},
    NamedKind{"granite-docling", PreTokenizerKind::gpt2, false},
    NamedKind{"a.x-4.0", PreTokenizerKind::gpt2, false},
    NamedKind{"mellum", PreTokenizerKind::gpt2, false},
    NamedKind{"llama-bpe", PreTokenizerKind::llama3, true},
    NamedKind{"llama3", PreTokenizerKind::llama3, true},
    NamedKind{"llama-v3", PreTokenizerKind::llama3, true},
    NamedKind{"falcon3", PreTokenizerKind::llama3, true},
    NamedKind{"falcon-h1", PreTokenizerKind::llama3, true},
    NamedKind{"pixtral", PreTokenizerKind::llama3, true},
    NamedKind{"midm-2.0", PreTokenizerKind::llama3, true},
    NamedKind{"lfm2", PreTokenizerKind::llama3, true},
    NamedKind{"dbrx", PreTokenizerKind::llama3, false},
    NamedKind{"smaug-bpe", PreTokenizerKind::llama3, false},
    NamedKind{"qwen2", PreTokenizerKind::qwen2, false},
    NamedKind{"deepseek-r1-qwen", PreTokenizerKind::qwen2, false},
    NamedKind{"kormo", PreTokenizerKind::qwen2, false},
    NamedKind{"megrez", PreTokenizerKind::qwen2, false},
    NamedKind{"stablelm2", PreTokenizerKind::qwen2, false},
    NamedKind{"hunyuan", PreTokenizerKind::qwen2, false},
    NamedKind{"starcoder", PreTokenizerKind::starcoder, false},
    NamedKind{"smollm", PreTokenizerKind::starcoder, false},
    NamedKind{"refact", PreTokenizerKind::starcoder, false},
    NamedKind{"command-r", PreTokenizerKind::starcoder, false},
    NamedKind{"codeshell", PreTokenizerKind::starcoder, false},
    NamedKind{"exaone", PreTokenizerKind::starcoder, false},
    NamedKind{"minerva-7b", PreTokenizerKind::starcoder, false},
};

// ---------------------------------------------------------------------------
// Code points and their classes
// ---------------------------------------------------------------------------

// The only distinctions the patterns make. `none` stands for "outside the segment",
// which every pattern treats as "no character" (end of input for the lookahead).
enum class CharClass : uint8_t { none, other, letter, number, whitespace };

constexpr uint32_t kNoCodePoint = 0xFFFFFFFFu;  // outside the segment
constexpr uint32_t kIllFormed = 0xFFFFFFFEu;    // a byte that is not valid UTF-8

CharClass classify(uint32_t cpt) {
    if (cpt == kIllFormed) return CharClass::other;
    const auto c = UChar32(cpt);
    // \s is Unicode White_Space (llama.cpp's whitespace table is exactly that set; it
    // excludes U+001C..U+001F, which Python's str.isspace would include).
    if (u_isUWhiteSpace(c)) return CharClass::whitespace;
    switch (u_charType(c)) {
        case U_UPPERCASE_LETTER:
        case U_LOWERCASE_LETTER:
        case U_TITLECASE_LETTER:
        case U_MODIFIER_LETTER:
        case U_OTHER_LETTER: return CharClass::letter;
        case U_DECIMAL_DIGIT_NUMBER:
        case U_LETTER_NUMBER:
        case U_OTHER_NUMBER: return CharClass::number;
        default: return CharClass::other;
    }
}

struct CodePoint {
    uint32_t cpt;
    uint32_t byte_offset;  // where it starts in the text
    CharClass cls;
};

// Strict UTF-8 decoding; an ill-formed byte becomes one kIllFormed "character" so
// that its byte still reaches BPE (which works on bytes) and round-trips.
std::vector<CodePoint> decode_utf8(std::string_view text) {
    static const std::array<CharClass, 128> ascii = [] {
        std::array<CharClass, 128> t{};
        for (uint32_t c = 0; c < 128; ++c) t[c] = classify(c);
        return t;
    }();
    std::vector<CodePoint> out;
    out.reserve(text.size());
    const auto* s = reinterpret_cast<const uint8_t*>(text.data());
    const size_t n = text.size();
    size_t i = 0;
    while (i < n) {
        const uint8_t b0 = s[i];
        if (b0 < 0x80) {
            out.push_back({b0, uint32_t(i), ascii[b0]});
            ++i;
            continue;
        }
        size_t len = 0;
        uint32_t cpt = 0, min = 0;
        if ((b0 & 0xE0) == 0xC0) {
            len = 2;
            cpt = b0 & 0x1F;
            min = 0x80;
        } else if ((b0 & 0xF0) == 0xE0) {
            len = 3;
            cpt = b0 & 0x0F;
            min = 0x800;
        } else if ((b0 & 0xF8) == 0xF0) {
            len = 4;
            cpt = b0 & 0x07;
            min = 0x10000;
        }
        bool ok = len > 0 && i + len <= n;
        for (size_t k = 1; ok && k < len; ++k) {
            if ((s[i + k] & 0xC0) != 0x80)
                ok = false;
            else
                cpt = (cpt << 6) | (s[i + k] & 0x3F);
        }
        ok = ok && cpt >= min && cpt <= 0x10FFFF && !(cpt >= 0xD800 && cpt <= 0xDFFF);
        if (!ok) {
            out.push_back({kIllFormed, uint32_t(i), CharClass::other});
            ++i;
            continue;
        }
        out.push_back({cpt, uint32_t(i), classify(cpt)});
        i += len;
    }
    return out;
}

// ---------------------------------------------------------------------------
// Matchers. Each splits the segment [begin, end) of code points and appends the
// end index of every word to `ends`.
// ---------------------------------------------------------------------------

class Segment {
public:
    Segment(const std::vector<CodePoint>& cps, size_t begin, size_t end, std::vector<size_t>& ends)
        : cps_(cps), begin_(begin), end_(end), last_end_(begin), ends_(ends) {}

    size_t begin() const { return begin_; }
    size_t end() const { return end_; }
    uint32_t cpt(size_t pos) const { return inside(pos) ? cps_[pos].cpt : kNoCodePoint; }
    CharClass cls(size_t pos) const { return inside(pos) ? cps_[pos].cls : CharClass::none; }
    // Ends the current word at `end` (an empty word is no word).
    void cut(size_t end) {
        if (end > last_end_) ends_.push_back(end);
        last_end_ = end;
    }

private:
    bool inside(size_t pos) const { return pos >= begin_ && pos < end_; }
    const std::vector<CodePoint>& cps_;
    size_t begin_, end_, last_end_;
    std::vector<size_t>& ends_;
};

uint32_t ascii_lower(uint32_t c) {
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

// Length of a contraction ('s 't 're 've 'm 'll 'd) starting at pos, 0 if none.
// GPT-2 matches lowercase only; Llama 3 and Qwen2 ignore case. No non-ASCII code
// point lowercases to one of these letters, so ASCII folding is exact.
size_t contraction_length(const Segment& seg, size_t pos, bool ignore_case) {
    if (seg.cpt(pos) != '\'') return 0;
    auto fold = [&](uint32_t c) { return ignore_case ? ascii_lower(c) : c; };
    const uint32_t c1 = fold(seg.cpt(pos + 1));
    if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return 2;
    const uint32_t c2 = fold(seg.cpt(pos + 2));
    if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) return 3;
    return 0;
}

// A whitespace run that is followed by a non-space keeps its last character for
// the next word: \s+(?!\S) backtracks by one so " word" stays together.
size_t whitespace_word_end(const Segment& seg, size_t pos) {
    size_t n = 0;
    while (seg.cls(pos + n) == CharClass::whitespace) ++n;
    if (n > 1 && pos + n < seg.end()) return pos + n - 1;  // \s+(?!\S)
    if (n > 0) return pos + n;                             // \s+
    return pos + 1;                                        // unreachable: pos is whitespace
}

// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
void split_gpt2(Segment seg) {
    size_t pos = seg.begin();
    while (pos < seg.end()) {
        if (size_t n = contraction_length(seg, pos, /*ignore_case=*/false)) {
            pos += n;
            seg.cut(pos);
            continue;
        }
        // " ?X+" for X in letter, number, other: the optional space joins the run after it.
        const bool space = seg.cpt(pos) == ' ';
        const CharClass head = seg.cls(pos + (space ? 1 : 0));
        if (head == CharClass::letter || head == CharClass::number || head == CharClass::other) {
            pos += space ? 1 : 0;
            while (seg.cls(pos) == head) ++pos;
            seg.cut(pos);
            continue;
        }
        pos = whitespace_word_end(seg, pos);
        seg.cut(pos);
    }
}

// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max_digits}|
//  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
void split_llama3(Segment seg, size_t max_digits) {
    auto is_newline = [](uint32_t c) { return c == '\r' || c == '\n'; };
    size_t pos = seg.begin();
    while (pos < seg.end()) {
        const uint32_t c = seg.cpt(pos);
        const CharClass cls = seg.cls(pos);
        if (size_t n = contraction_length(seg, pos, /*ignore_case=*/true)) {
            pos += n;
            seg.cut(pos);
            continue;
        }
        // [^\r\n\p{L}\p{N}]?\p{L}+ : one leading non-letter (space, punctuation, tab...) may join.
        if (!is_newline(c) && cls != CharClass::number &&
            (cls == CharClass::letter || seg.cls(pos + 1) == CharClass::letter)) {
            ++pos;
            while (seg.cls(pos) == CharClass::letter) ++pos;
            seg.cut(pos);
            continue;
        }
        // \p{N}{1,max_digits}: a long number becomes consecutive groups, leftmost first.
        if (cls == CharClass::number) {
            size_t group_start = pos;
            while (seg.cls(pos) == CharClass::number) {
                if (++pos - group_start >= max_digits) {
                    seg.cut(pos);
                    group_start = pos;
                }
            }
            seg.cut(pos);
            continue;
        }
        //  ?[^\s\p{L}\p{N}]+[\r\n]* . A lone space at the segment end also lands here
        // (as one " " word, the same word \s+ would give).
        const bool space = c == ' ';
        const CharClass head = space ? seg.cls(pos + 1) : cls;
        if (head == CharClass::other || head == CharClass::none) {
            pos += space ? 1 : 0;
            while (seg.cls(pos) == CharClass::other) ++pos;
            while (is_newline(seg.cpt(pos))) ++pos;
            seg.cut(pos);
            continue;
        }
        // \s*[\r\n]+ : the whitespace run up to and including its last newline.
        size_t n = 0, after_last_newline = 0;
        while (seg.cls(pos + n) == CharClass::whitespace) {
            if (is_newline(seg.cpt(pos + n))) after_last_newline = pos + n + 1;
            ++n;
        }
        pos = after_last_newline > 0 ? after_last_newline : whitespace_word_end(seg, pos);
        seg.cut(pos);
    }
}

// \p{N} : every number character is a word of its own, the text between them one segment.
void split_each_number(Segment seg) {
    for (size_t pos = seg.begin(); pos < seg.end(); ++pos) {
        if (seg.cls(pos) != CharClass::number) continue;
        seg.cut(pos);
        seg.cut(pos + 1);
    }
    seg.cut(seg.end());
}

// Runs `split` over every current segment; the words it cuts become the new segments.
// Later patterns never merge across an earlier cut, as in llama.cpp's chained regexes.
template <typename Split>
std::vector<size_t> refine(const std::vector<CodePoint>& cps, const std::vector<size_t>& ends, Split split) {
    std::vector<size_t> out;
    out.reserve(ends.size() * 2);
    size_t begin = 0;
    for (size_t end : ends) {
        split(Segment(cps, begin, end, out));
        begin = end;
    }
    return out;
}

}  // namespace

// ---------------------------------------------------------------------------
// PreTokenizer
// ---------------------------------------------------------------------------

Result<PreTokenizer> PreTokenizer::from_name(std::string_view name) {
    for (const auto& n : kNames)
        if (name == n.name) return PreTokenizer(n.kind, n.ignore_merges);
    return Status::error("unknown byte-level BPE pre-tokenizer '" + std::string(name) +
                         "' (tokenizer.ggml.pre); supported: " + supported_names());
}

std::string PreTokenizer::supported_names() {
    std::string out;
    for (const auto& n : kNames) {
        if (!out.empty()) out += ", ";
        out += n.name;
    }
    return out;
}

std::vector<std::string_view> PreTokenizer::split(std::string_view text) const {
    const std::vector<CodePoint> cps = decode_utf8(text);
    std::vector<size_t> ends;
    if (!cps.empty()) ends.push_back(cps.size());
    switch (kind_) {
        case PreTokenizerKind::gpt2: ends = refine(cps, ends, split_gpt2); break;
        case PreTokenizerKind::llama3: ends = refine(cps, ends, [](Segment s) { split_llama3(s, 3); }); break;
        case PreTokenizerKind::qwen2: ends = refine(cps, ends, [](Segment s) { split_llama3(s, 1); }); break;
        case PreTokenizerKind::starcoder:
            ends = refine(cps, ends, split_each_number);
            ends = refine(cps, ends, split_gpt2);
            break;
    }
    std::vector<std::string_view> words;
    words.reserve(ends.size());
    size_t begin_byte = 0;
    for (size_t end : ends) {
        const size_t end_byte = end < cps.size() ? cps[end].byte_offset : text.size();
        words.push_back(text.substr(begin_byte, end_byte - begin_byte));
        begin_byte = end_byte;
    }
    return words;
}

}  // namespace lumen
