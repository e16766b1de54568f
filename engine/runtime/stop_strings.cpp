// StopStringMatcher: stop-string search over the growing text, and the hold-back
// of a possible stop-string prefix and of an incomplete UTF-8 character.
#include "runtime/stop_strings.h"

#include <algorithm>

namespace lumen {

namespace {

// Bytes a UTF-8 sequence has when it starts with `lead`; 0 for a byte that does not start one.
size_t utf8_sequence_length(unsigned char lead) {
    if (lead < 0x80) return 1;
    if ((lead & 0xE0) == 0xC0) return 2;
    if ((lead & 0xF0) == 0xE0) return 3;
    if ((lead & 0xF8) == 0xF0) return 4;
    return 0;  // a continuation byte or an invalid one
}

// Length of the unfinished UTF-8 sequence at the end of text[0, end): the bytes of a
// lead byte that still waits for continuation bytes. Invalid bytes are not held.
size_t incomplete_utf8_tail(const std::string& text, size_t end) {
    for (size_t back = 1; back <= 3 && back <= end; ++back) {
        const auto byte = static_cast<unsigned char>(text[end - back]);
        if ((byte & 0xC0) == 0x80) continue;  // a continuation byte: look further back
        const size_t need = utf8_sequence_length(byte);
        return need > back ? back : 0;
    }
    return 0;
}

}  // namespace

StopStringMatcher::StopStringMatcher(const std::vector<std::string>& stop_strings) {
    for (const auto& s : stop_strings)
        if (!s.empty()) stops_.push_back(s);
}

bool StopStringMatcher::append(std::string_view piece) {
    if (stopped_) return true;
    const size_t size_before = text_.size();
    text_.append(piece);
    const size_t at = first_match(size_before);
    if (at == std::string::npos) return false;
    text_.resize(at);
    released_ = std::min(released_, at);
    stopped_ = true;
    return true;
}

// The earliest start of a stop string in the text. A match must end in the new piece
// (one ending earlier would have stopped the generation then), so each search starts
// at most one stop string's length before it.
size_t StopStringMatcher::first_match(size_t size_before) const {
    size_t first = std::string::npos;
    for (const auto& s : stops_) {
        const size_t from = size_before >= s.size() ? size_before - s.size() + 1 : 0;
        first = std::min(first, text_.find(s, from));
    }
    return first;
}

// Bytes at the end of the text that must wait: the longest end that is a proper prefix
// of some stop string, then any incomplete UTF-8 character before that.
size_t StopStringMatcher::held_back() const {
    size_t hold = 0;
    for (const auto& s : stops_)
        for (size_t len = std::min(s.size() - 1, text_.size()); len > hold; --len)
            if (text_.compare(text_.size() - len, len, s, 0, len) == 0) {
                hold = len;
                break;
            }
    return hold + incomplete_utf8_tail(text_, text_.size() - hold);
}

std::string StopStringMatcher::release(bool final) {
    const size_t safe = final || stopped_ ? text_.size() : text_.size() - held_back();
    if (safe <= released_) return {};
    std::string out = text_.substr(released_, safe - released_);
    released_ = safe;
    return out;
}

}  // namespace lumen
