// StopStringMatcher, the one stop-string routine of Engine::generate and the serving
// core: matches across token boundaries, the hold-back of a possible stop-string
// prefix and its release, several stop strings, UTF-8 characters never split.
#include <gtest/gtest.h>

#include "runtime/stop_strings.h"

using namespace lumen;

namespace {

// Appends each piece and collects what release() gives after it (release(true) once
// the matcher stops, as the generation loops do).
std::vector<std::string> stream(StopStringMatcher& m, const std::vector<std::string>& pieces) {
    std::vector<std::string> shown;
    for (const auto& p : pieces) {
        const bool stop = m.append(p);
        shown.push_back(m.release(stop));
        if (stop) break;
    }
    return shown;
}

std::string joined(const std::vector<std::string>& parts) {
    std::string s;
    for (const auto& p : parts) s += p;
    return s;
}

}  // namespace

TEST(StopStrings, WithoutStopStringsEverythingIsReleasedAtOnce) {
    StopStringMatcher m;
    EXPECT_EQ(stream(m, {"Once", " upon", " a time"}), (std::vector<std::string>{"Once", " upon", " a time"}));
    EXPECT_FALSE(m.stopped());
    EXPECT_EQ(m.text(), "Once upon a time");
    EXPECT_EQ(m.release(true), "");
}

TEST(StopStrings, EmptyStopStringsAreIgnored) {
    StopStringMatcher m({""});
    EXPECT_FALSE(m.append("abc"));
    EXPECT_EQ(m.release(), "abc");
}

TEST(StopStrings, MatchWithinOneTokenCutsTheText) {
    StopStringMatcher m({"END"});
    EXPECT_EQ(stream(m, {"one ", "two END three"}), (std::vector<std::string>{"one ", "two "}));
    EXPECT_TRUE(m.stopped());
    EXPECT_EQ(m.text(), "one two ");
}

TEST(StopStrings, MatchAcrossTokenBoundaries) {
    StopStringMatcher m({"Lily wanted"});
    // "Lily" could start the stop string: held until " played" rules it out.
    const auto shown = stream(m, {"She saw ", "Lily", " played. ", "Lily", " want", "ed to go"});
    EXPECT_EQ(shown, (std::vector<std::string>{"She saw ", "", "Lily played. ", "", "", ""}));
    EXPECT_TRUE(m.stopped());
    EXPECT_EQ(m.text(), "She saw Lily played. ");
    EXPECT_EQ(joined(shown), m.text());
}

TEST(StopStrings, HeldBackPrefixIsReleasedWhenRuledOut) {
    StopStringMatcher m({"\n\n"});
    EXPECT_FALSE(m.append(" Paris.\n"));
    EXPECT_EQ(m.release(), " Paris.");  // the newline may start "\n\n"
    EXPECT_FALSE(m.append("The"));
    EXPECT_EQ(m.release(), "\nThe");
    EXPECT_FALSE(m.append("\n"));
    EXPECT_EQ(m.release(), "");
    EXPECT_TRUE(m.append("\nmore"));
    EXPECT_EQ(m.release(true), "");
    EXPECT_EQ(m.text(), " Paris.\nThe");
}

TEST(StopStrings, TheEndReleasesWhatWasHeldBack) {
    StopStringMatcher m({"the end"});
    EXPECT_FALSE(m.append("and that was the e"));
    EXPECT_EQ(m.release(), "and that was ");
    // The generation ends here (max_tokens): the held-back tail is shown after all.
    EXPECT_EQ(m.release(true), "the e");
    EXPECT_EQ(m.text(), "and that was the e");
}

TEST(StopStrings, SeveralStopStringsTheEarliestMatchWins) {
    StopStringMatcher m({"world", "lo w"});
    EXPECT_TRUE(m.append("hello world"));
    EXPECT_EQ(m.text(), "hel");  // "lo w" begins before "world"
    StopStringMatcher n({"xyz", "abc"});
    EXPECT_FALSE(n.append("ab"));
    EXPECT_EQ(n.release(), "");  // a prefix of the second stop string
    EXPECT_FALSE(n.append("x"));
    EXPECT_EQ(n.release(), "ab");  // now only "x" may start one ("xyz")
    EXPECT_TRUE(n.append("yz!"));
    EXPECT_EQ(n.text(), "ab");
}

TEST(StopStrings, HoldBackIsTheLongestPossiblePrefix) {
    StopStringMatcher m({"aab"});
    EXPECT_FALSE(m.append("xaa"));
    EXPECT_EQ(m.release(), "x");
    EXPECT_FALSE(m.append("a"));  // "xaaa": only the last "aa" may still start "aab"
    EXPECT_EQ(m.release(), "a");
    EXPECT_TRUE(m.append("b"));
    EXPECT_EQ(m.text(), "xa");
}

TEST(StopStrings, AppendAfterAStopIsIgnored) {
    StopStringMatcher m({"!"});
    EXPECT_TRUE(m.append("hi!"));
    EXPECT_TRUE(m.append("more"));
    EXPECT_EQ(m.text(), "hi");
}

TEST(StopStrings, Utf8CharacterSplitAcrossTokensIsHeldWhole) {
    // Byte-level tokens may end inside a character: "é" is C3 A9, "日" is E6 97 A5.
    StopStringMatcher m;
    EXPECT_FALSE(m.append("caf\xC3"));
    EXPECT_EQ(m.release(), "caf");
    EXPECT_FALSE(m.append("\xA9 \xE6"));
    EXPECT_EQ(m.release(), "\xC3\xA9 ");
    EXPECT_FALSE(m.append("\x97"));
    EXPECT_EQ(m.release(), "");
    EXPECT_FALSE(m.append("\xA5!"));
    EXPECT_EQ(m.release(), "\xE6\x97\xA5!");
    EXPECT_EQ(m.text(), "caf\xC3\xA9 \xE6\x97\xA5!");
}

TEST(StopStrings, InvalidBytesAreNotHeld) {
    StopStringMatcher m;
    EXPECT_FALSE(m.append("a\xA9"));  // a lone continuation byte never completes
    EXPECT_EQ(m.release(), "a\xA9");
    EXPECT_FALSE(m.append("b\xFF"));
    EXPECT_EQ(m.release(), "b\xFF");
}

TEST(StopStrings, MultiByteStopStringsMatchByteSplitTokens) {
    StopStringMatcher m({"\xE6\x97\xA5\xE6\x9C\xAC"});  // "日本"
    EXPECT_FALSE(m.append("\xE4\xBD\xA0 \xE6\x97"));    // "你 " and half of "日"
    EXPECT_EQ(m.release(), "\xE4\xBD\xA0 ");
    EXPECT_FALSE(m.append("\xA5"));  // "日" whole, but it may start the stop string
    EXPECT_EQ(m.release(), "");
    EXPECT_TRUE(m.append("\xE6\x9C\xAC\xE8\xAA\x9E"));
    EXPECT_EQ(m.text(), "\xE4\xBD\xA0 ");
    // A held prefix that is ruled out comes out as whole characters.
    StopStringMatcher n({"\xC3\xA9t\xC3\xA9"});  // "été"
    EXPECT_FALSE(n.append("\xC3\xA9t\xC3"));
    EXPECT_EQ(n.release(), "");
    EXPECT_FALSE(n.append("\xA8"));  // "étè": not the stop string
    EXPECT_EQ(n.release(), "\xC3\xA9t\xC3\xA8");
}
