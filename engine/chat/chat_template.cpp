// Built-in chat formats. Each is the published prompt format of its model family.
#include "chat/chat_template.h"

namespace lumen {

const char* chat_template_name(ChatTemplateKind kind) {
    switch (kind) {
        case ChatTemplateKind::chatml: return "chatml";
        case ChatTemplateKind::llama2: return "llama2";
        case ChatTemplateKind::llama3: return "llama3";
        case ChatTemplateKind::phi3: return "phi3";
        case ChatTemplateKind::zephyr: return "zephyr";
    }
    return "chatml";
}

std::optional<ChatTemplateKind> chat_template_from_name(const std::string& name) {
    for (auto k : {ChatTemplateKind::chatml, ChatTemplateKind::llama2, ChatTemplateKind::llama3, ChatTemplateKind::phi3,
                   ChatTemplateKind::zephyr})
        if (name == chat_template_name(k)) return k;
    return std::nullopt;
}

std::optional<ChatTemplateKind> detect_chat_template(const std::string& src) {
    auto has = [&](const char* s) { return src.find(s) != std::string::npos; };
    if (src.empty()) return std::nullopt;
    if (has("<|im_start|>")) return ChatTemplateKind::chatml;
    if (has("<|start_header_id|>")) return ChatTemplateKind::llama3;
    if (has("<|user|>") && has("<|end|>")) return ChatTemplateKind::phi3;
    if (has("<|user|>")) return ChatTemplateKind::zephyr;
    if (has("[INST]")) return ChatTemplateKind::llama2;
    return std::nullopt;
}

std::string apply_chat_template(ChatTemplateKind kind, const std::vector<ChatMessage>& messages,
                                bool add_assistant_prefix, const std::string& bos_text) {
    std::string out;
    switch (kind) {
        case ChatTemplateKind::chatml:
            for (const auto& m : messages) out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
            if (add_assistant_prefix) out += "<|im_start|>assistant\n";
            break;
        case ChatTemplateKind::llama3:
            for (const auto& m : messages)
                out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + m.content + "<|eot_id|>";
            if (add_assistant_prefix) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
            break;
        case ChatTemplateKind::phi3:
            for (const auto& m : messages) out += "<|" + m.role + "|>\n" + m.content + "<|end|>\n";
            if (add_assistant_prefix) out += "<|assistant|>\n";
            break;
        case ChatTemplateKind::zephyr:
            for (const auto& m : messages) out += "<|" + m.role + "|>\n" + m.content + "</s>\n";
            if (add_assistant_prefix) out += "<|assistant|>\n";
            break;
        case ChatTemplateKind::llama2: {
            // [INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {assistant} </s><s>[INST] ...
            std::string system;
            bool first_user = true;
            for (const auto& m : messages) {
                if (m.role == "system") {
                    system = m.content;
                } else if (m.role == "user") {
                    out += first_user ? "" : bos_text;
                    out += "[INST] ";
                    if (first_user && !system.empty()) out += "<<SYS>>\n" + system + "\n<</SYS>>\n\n";
                    out += m.content + " [/INST]";
                    first_user = false;
                } else {
                    out += " " + m.content + " </s>";
                }
            }
            break;
        }
    }
    return out;
}

}  // namespace lumen
