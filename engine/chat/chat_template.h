// Chat templates: the common built-in formats, chosen from the Jinja source in
// a GGUF's tokenizer.chat_template by its distinctive markers (as llama.cpp
// does), and applied to a list of messages.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace lumen {

enum class ChatTemplateKind { chatml, llama2, llama3, phi3, zephyr };

struct ChatMessage {
    std::string role;  // "system", "user" or "assistant"
    std::string content;
};

const char* chat_template_name(ChatTemplateKind kind);
std::optional<ChatTemplateKind> chat_template_from_name(const std::string& name);
// Recognizes the template family from Jinja source; nullopt when unknown or empty.
std::optional<ChatTemplateKind> detect_chat_template(const std::string& jinja_source);

// Renders the conversation; with add_assistant_prefix the text ends where the
// assistant's reply begins. The result contains special-token text: tokenize
// it with parse_special = true.
std::string apply_chat_template(ChatTemplateKind kind, const std::vector<ChatMessage>& messages,
                                bool add_assistant_prefix, const std::string& bos_text = "<s>");

}  // namespace lumen
