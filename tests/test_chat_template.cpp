// Chat templates: detection from real GGUF template strings (qwen2 and phi-3
// test vocabularies from llama.cpp) and the rendered formats.
#include <gtest/gtest.h>

#include "chat/chat_template.h"
#include "gguf/gguf_file.h"
#include "test_support.h"

using namespace lumen;

namespace {
std::string template_of(const std::string& vocab) {
    auto g = GgufFile::open(test::data_dir() + "/tokenizer/ggml-vocab-" + vocab + ".gguf");
    EXPECT_TRUE(g.is_ok()) << g.status().message();
    return g.is_ok() ? g->get_string_or("tokenizer.chat_template", "") : "";
}
}  // namespace

TEST(ChatTemplate, DetectsRealTemplates) {
    EXPECT_EQ(detect_chat_template(template_of("qwen2")), ChatTemplateKind::chatml);
    EXPECT_EQ(detect_chat_template(template_of("phi-3")), ChatTemplateKind::phi3);
    EXPECT_FALSE(detect_chat_template("").has_value());
    EXPECT_FALSE(detect_chat_template("{{ messages }}").has_value());
    EXPECT_EQ(detect_chat_template("{% ... %}<|start_header_id|>{{ role }}<|end_header_id|>"),
              ChatTemplateKind::llama3);
    EXPECT_EQ(detect_chat_template("{{ bos_token + '[INST] ' + content + ' [/INST]' }}"), ChatTemplateKind::llama2);
    EXPECT_EQ(detect_chat_template("{{ '<|user|>\\n' + content + eos_token }}"), ChatTemplateKind::zephyr);
}

TEST(ChatTemplate, RendersEachFormat) {
    const std::vector<ChatMessage> conv = {
        {"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello"}, {"user", "Bye"}};
    EXPECT_EQ(apply_chat_template(ChatTemplateKind::chatml, conv, true),
              "<|im_start|>system\nBe "
              "brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n"
              "<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n");
    EXPECT_EQ(
        apply_chat_template(ChatTemplateKind::llama3, {{"user", "Hi"}}, true),
        "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
    EXPECT_EQ(apply_chat_template(ChatTemplateKind::phi3, {{"user", "Hi"}}, true),
              "<|user|>\nHi<|end|>\n<|assistant|>\n");
    EXPECT_EQ(apply_chat_template(ChatTemplateKind::zephyr, {{"user", "Hi"}}, true),
              "<|user|>\nHi</s>\n<|assistant|>\n");
    EXPECT_EQ(apply_chat_template(ChatTemplateKind::llama2, conv, true),
              "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello </s><s>[INST] Bye [/INST]");
}

TEST(ChatTemplate, NamesRoundTrip) {
    for (auto k : {ChatTemplateKind::chatml, ChatTemplateKind::llama2, ChatTemplateKind::llama3, ChatTemplateKind::phi3,
                   ChatTemplateKind::zephyr})
        EXPECT_EQ(chat_template_from_name(chat_template_name(k)), k);
    EXPECT_FALSE(chat_template_from_name("vicuna").has_value());
}
