// Stop strings for generation: the matcher that ends a generation when its text
// contains one of the request's stop strings, and decides how much of the text is
// safe to show while tokens stream in. Engine::generate and the serving core
// (ServingEngine, per request) both use it, so a stop string behaves the same
// on every path.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace lumen {

// Feeds on the text of each generated token. A generation stops at the earliest
// position where any stop string occurs, also when the match spans several tokens;
// the text is cut where that stop string begins, so neither it nor anything after it
// is ever shown. While streaming, the matcher holds back the end of the text that
// could still be the start of a stop string (released as soon as the next token
// rules that out) and a trailing UTF-8 character whose remaining bytes are still to
// come, so what it releases never shows part of a stop string or half a character.
class StopStringMatcher {
public:
    StopStringMatcher() = default;
    // Empty stop strings are ignored.
    explicit StopStringMatcher(const std::vector<std::string>& stop_strings);

    // Appends one token's text. True when a stop string is now complete: the text is
    // cut where it begins and later appends are ignored.
    bool append(std::string_view piece);
    bool stopped() const { return stopped_; }
    // The text not released before that is now safe to show, marked released. With
    // `final` (the generation has ended, or stopped), everything not released yet.
    std::string release(bool final = false);
    // The whole text so far (after a stop: up to where the stop string begins).
    const std::string& text() const { return text_; }

private:
    size_t first_match(size_t size_before) const;
    size_t held_back() const;

    std::vector<std::string> stops_;
    std::string text_;
    size_t released_ = 0;
    bool stopped_ = false;
};

}  // namespace lumen
