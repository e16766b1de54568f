// Reads and validates the tokenizer.ggml.* metadata of a GGUF file.
#include "tokenizer/vocab.h"

#include "gguf/gguf_file.h"

namespace lumen {

namespace {

Status read_optional_id(const GgufFile& g, const std::string& key, int32_t n_tokens, int32_t* out) {
    const GgufValue* v = g.find(key);
    if (!v) return Status::ok();
    if (!v->is_integer())
        return Status::error(g.path() + ": metadata '" + key + "' is " + gguf_type_name(v->type) +
                             ", expected an integer token id");
    const int64_t id = v->as_int();
    // llama.cpp writes -1 (as uint32 0xFFFFFFFF) for "none"; treat any out-of-range id as absent
    // only when it is that sentinel, otherwise report it.
    if (id == -1 || id == 0xFFFFFFFFll) {
        *out = -1;
        return Status::ok();
    }
    if (id < 0 || id >= n_tokens)
        return Status::error(g.path() + ": metadata '" + key + "' is " + std::to_string(id) +
                             ", expected a token id in 0.." + std::to_string(n_tokens - 1));
    *out = int32_t(id);
    return Status::ok();
}

int32_t find_control(const Vocab& v, const char* text) {
    for (int32_t i = 0; i < v.size(); ++i)
        if (v.tokens[size_t(i)] == text) return i;
    return -1;
}

}  // namespace

bool bpe_adds_bos_by_default(const std::string& pre) {
    // llama.cpp's llama_vocab::load sets add_bos for these pre-tokenizer names when
    // tokenizer.ggml.add_bos_token is absent (Llama 3, Falcon 3, Pixtral/Tekken, LFM2, ...).
    static const char* const kAddsBos[] = {"llama3",   "llama-v3", "llama-bpe",    "falcon3", "falcon-h1", "pixtral",
                                           "midm-2.0", "lfm2",     "jina-v5-nano", "tekken",  "chameleon"};
    for (const char* name : kAddsBos)
        if (pre == name) return true;
    return false;
}

Result<Vocab> vocab_from_gguf(const GgufFile& g) {
    Vocab v;
    auto model = g.get_string("tokenizer.ggml.model");
    if (!model) return model.status();
    if (model.value() == "llama")
        v.kind = VocabKind::spm;
    else if (model.value() == "gpt2")
        v.kind = VocabKind::bpe;
    else
        return Status::error(g.path() + ": tokenizer.ggml.model is '" + model.value() +
                             "', expected 'llama' (SentencePiece) or 'gpt2' (byte-level BPE)");

    const GgufValue* tokens = g.find("tokenizer.ggml.tokens");
    if (!tokens || tokens->type != GgufValueType::ARRAY || tokens->array_type != GgufValueType::STRING)
        return Status::error(g.path() + ": metadata 'tokenizer.ggml.tokens' is missing or not an array of strings");
    if (tokens->strings.empty()) return Status::error(g.path() + ": tokenizer.ggml.tokens is empty");
    v.tokens = tokens->strings;
    const auto n = v.size();

    if (const GgufValue* s = g.find("tokenizer.ggml.scores")) {
        if (s->type != GgufValueType::ARRAY || s->array_type == GgufValueType::STRING || s->numbers.size() != size_t(n))
            return Status::error(g.path() + ": tokenizer.ggml.scores must be a numeric array of " + std::to_string(n) +
                                 " entries, found " + std::to_string(s->array_size()));
        v.scores.assign(s->numbers.begin(), s->numbers.end());
    } else if (v.kind == VocabKind::spm) {
        return Status::error(g.path() + ": SentencePiece vocab needs tokenizer.ggml.scores, which is missing");
    }
    v.types.assign(size_t(n), TokenType::normal);
    if (const GgufValue* t = g.find("tokenizer.ggml.token_type")) {
        if (t->type != GgufValueType::ARRAY || t->integers.size() != size_t(n))
            return Status::error(g.path() + ": tokenizer.ggml.token_type must be an integer array of " +
                                 std::to_string(n) + " entries, found " + std::to_string(t->array_size()));
        for (int32_t i = 0; i < n; ++i) {
            const int64_t ty = t->integers[size_t(i)];
            if (ty < 0 || ty > 6)
                return Status::error(g.path() + ": token " + std::to_string(i) + " has type " + std::to_string(ty) +
                                     ", expected 0..6");
            v.types[size_t(i)] = TokenType(ty);
        }
    }
    if (v.kind == VocabKind::bpe) {
        const GgufValue* m = g.find("tokenizer.ggml.merges");
        if (!m || m->type != GgufValueType::ARRAY || m->array_type != GgufValueType::STRING)
            return Status::error(g.path() + ": byte-level BPE vocab needs tokenizer.ggml.merges (array of strings)");
        v.merges = m->strings;
        v.pre = g.get_string_or("tokenizer.ggml.pre", "default");
    }

    // Defaults as llama.cpp: SPM has <unk>=0 <s>=1 </s>=2 and adds BOS; BPE adds BOS only for the
    // pre-tokenizers whose models were trained with it, unless the file says otherwise.
    if (v.kind == VocabKind::bpe) v.add_bos = bpe_adds_bos_by_default(v.pre);
    if (v.kind == VocabKind::spm) {
        v.unk_id = 0;
        v.bos_id = n > 1 ? 1 : -1;
        v.eos_id = n > 2 ? 2 : -1;
        v.add_bos = true;
    }
    LUMEN_TRY(read_optional_id(g, "tokenizer.ggml.bos_token_id", n, &v.bos_id));
    LUMEN_TRY(read_optional_id(g, "tokenizer.ggml.eos_token_id", n, &v.eos_id));
    LUMEN_TRY(read_optional_id(g, "tokenizer.ggml.eot_token_id", n, &v.eot_id));
    LUMEN_TRY(read_optional_id(g, "tokenizer.ggml.unknown_token_id", n, &v.unk_id));
    LUMEN_TRY(read_optional_id(g, "tokenizer.ggml.padding_token_id", n, &v.pad_id));
    v.add_bos = g.get_bool_or("tokenizer.ggml.add_bos_token", v.add_bos);
    v.add_eos = g.get_bool_or("tokenizer.ggml.add_eos_token", v.add_eos);
    v.add_space_prefix = g.get_bool_or("tokenizer.ggml.add_space_prefix", v.kind == VocabKind::spm);
    v.chat_template = g.get_string_or("tokenizer.chat_template", "");

    // Chat models often end a turn with a token other than EOS; find it by its well-known text.
    if (v.eot_id < 0) {
        for (const char* text : {"<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|end_of_turn|>"}) {
            const int32_t id = find_control(v, text);
            if (id >= 0 && id != v.eos_id) {
                v.eot_id = id;
                break;
            }
        }
    }
    return v;
}

}  // namespace lumen
