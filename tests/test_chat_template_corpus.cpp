// Every chat template in tests/data/chat_templates/templates (llama.cpp's
// corpus plus the default model's) rendered on every conversation in
// conversations/ must match, byte for byte, what Python's jinja2 produced in
// transformers' configuration (expected/, written by render_references.py),
// and must fail exactly where Python raised.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "chat/jinja_template.h"

namespace fs = std::filesystem;
using lumen::JinjaOptions;
using lumen::JinjaTemplate;
using Json = nlohmann::ordered_json;

namespace {

const fs::path corpus_dir = fs::path(LUMEN_TEST_DATA_DIR) / "chat_templates";

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

std::map<std::string, Json> load_conversations() {
    std::map<std::string, Json> conversations;
    for (const auto& entry : fs::directory_iterator(corpus_dir / "conversations")) {
        if (entry.path().extension() == ".json") {
            conversations[entry.path().stem().string()] = Json::parse(read_file(entry.path()));
        }
    }
    return conversations;
}

// The variables transformers' apply_chat_template passes (render_references.py's template_context).
Json template_context(const Json& conversation, const Json& special_tokens) {
    Json context = Json::object();
    context["messages"] = conversation["messages"];
    context["tools"] = conversation.contains("tools") ? conversation["tools"] : Json(nullptr);
    context["documents"] = nullptr;
    context["add_generation_prompt"] = conversation["add_generation_prompt"];
    for (const auto& [key, value] : special_tokens.items()) context[key] = value;
    if (conversation.contains("kwargs")) {
        for (const auto& [key, value] : conversation["kwargs"].items()) context[key] = value;
    }
    return context;
}

// render_references.py's FIXED_NOW: 2025-07-26 14:30:05, a Saturday.
JinjaOptions reference_options() {
    std::tm now{};
    now.tm_year = 2025 - 1900;
    now.tm_mon = 6;
    now.tm_mday = 26;
    now.tm_hour = 14;
    now.tm_min = 30;
    now.tm_sec = 5;
    now.tm_wday = 6;
    now.tm_yday = 206;
    now.tm_isdst = -1;
    JinjaOptions options;
    options.now = now;
    return options;
}

std::string first_difference(const std::string& expected, const std::string& actual) {
    const auto mismatch = std::mismatch(expected.begin(), expected.end(), actual.begin(), actual.end());
    const size_t at = static_cast<size_t>(mismatch.first - expected.begin());
    const size_t from = at < 40 ? 0 : at - 40;
    return "first difference at byte " + std::to_string(at) + "\n  expected: ..." + expected.substr(from, 120) +
           "\n  actual:   ..." + actual.substr(from, 120);
}

struct CorpusCount {
    int pairs = 0;
    int rendered_matches = 0;
    int raised_matches = 0;
};

void check_template(const fs::path& expected_path, const std::map<std::string, Json>& conversations,
                    CorpusCount& count) {
    const Json expected = Json::parse(read_file(expected_path));
    const std::string name = expected["template"].get<std::string>();
    SCOPED_TRACE(name);
    const std::string source = read_file(corpus_dir / "templates" / name);
    const auto tmpl = JinjaTemplate::parse(source, reference_options());
    for (const auto& [conversation_name, result] : expected["results"].items()) {
        SCOPED_TRACE(conversation_name);
        ++count.pairs;
        ASSERT_TRUE(conversations.count(conversation_name)) << "no conversation " << conversation_name;
        const bool python_raised = result.contains("error");
        if (!tmpl) {
            EXPECT_TRUE(python_raised) << "Lumen cannot parse it: " << tmpl.status().message();
            if (python_raised) ++count.raised_matches;
            continue;
        }
        const auto rendered =
            tmpl->render(template_context(conversations.at(conversation_name), expected["special_tokens"]));
        if (python_raised) {
            EXPECT_FALSE(rendered) << "Python raised " << result["error"].get<std::string>() << " but Lumen rendered "
                                   << rendered.value().size() << " bytes";
            if (!rendered) ++count.raised_matches;
            continue;
        }
        if (!rendered) {
            ADD_FAILURE() << "Lumen failed: " << rendered.status().message();
            continue;
        }
        const std::string want = result["output"].get<std::string>();
        EXPECT_EQ(rendered.value(), want) << first_difference(want, rendered.value());
        if (rendered.value() == want) ++count.rendered_matches;
    }
}

TEST(ChatTemplateCorpus, EveryTemplateMatchesPythonOnEveryConversation) {
    if (!fs::exists(corpus_dir)) GTEST_SKIP() << "no corpus at " << corpus_dir;
    const auto conversations = load_conversations();
    ASSERT_GE(conversations.size(), 12u);
    std::vector<fs::path> expected_files;
    for (const auto& entry : fs::directory_iterator(corpus_dir / "expected")) expected_files.push_back(entry.path());
    std::sort(expected_files.begin(), expected_files.end());
    CorpusCount count;
    for (const fs::path& path : expected_files) check_template(path, conversations, count);
    std::printf(
        "chat template corpus: %d template x conversation pairs; %d rendered byte-identical, "
        "%d raised as in Python\n",
        count.pairs, count.rendered_matches, count.raised_matches);
    EXPECT_EQ(count.rendered_matches + count.raised_matches, count.pairs);
}

TEST(ChatTemplateCorpus, EveryTemplateHasReferences) {
    if (!fs::exists(corpus_dir)) GTEST_SKIP() << "no corpus at " << corpus_dir;
    int templates = 0;
    for (const auto& entry : fs::directory_iterator(corpus_dir / "templates")) {
        if (entry.path().extension() != ".jinja") continue;
        ++templates;
        const fs::path expected = corpus_dir / "expected" / (entry.path().stem().string() + ".json");
        EXPECT_TRUE(fs::exists(expected)) << entry.path().filename() << " has no references; run render_references.py";
    }
    EXPECT_GE(templates, 71);  // llama.cpp's 70 and the default model's
}

}  // namespace
