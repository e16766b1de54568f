// A loaded model: hyperparameters, weight views, tokenizer, and what keeps the
// underlying bytes alive. Produced by load_model() from a GGUF file or a
// llama2.c checkpoint; everything is validated before a Model exists.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "core/status.h"
#include "model/config.h"
#include "model/weights.h"
#include "tokenizer/tokenizer.h"

namespace lumen {

class GgufFile;

struct Model {
    std::string path;
    std::string format;  // "gguf" or "llama2c"
    ModelConfig config;
    ModelWeights weights;
    std::unique_ptr<Tokenizer> tokenizer;
    std::shared_ptr<GgufFile> gguf;  // for GGUF models: metadata access; keeps the mapping alive

    int64_t n_parameters() const;
    int64_t weight_bytes() const;                           // bytes of all weight tensors
    int64_t weight_bytes_read_per_token() const;            // decode reads every weight once but one embedding row
    std::map<std::string, int> tensor_type_counts() const;  // "q4_1" -> number of tensors
};

struct LoadOptions {
    std::string tokenizer_path;  // llama2.c tokenizer.bin, or empty to use the model's own / the file beside it
};

Result<std::unique_ptr<Model>> load_model(const std::string& path, const LoadOptions& options = {});
// Only the tokenizer: works on a vocabulary-only GGUF (tokenizer metadata and no
// tensors, as llama.cpp's ggml-vocab-*.gguf) as well as on any loadable model.
Result<std::unique_ptr<Tokenizer>> load_tokenizer(const std::string& path, const LoadOptions& options = {});

// Parts used by load_model, exposed for convert and tests.
Result<std::unique_ptr<Model>> load_gguf_model(const std::string& path, const LoadOptions& options);
Result<std::unique_ptr<Model>> load_llama2c_model(const std::string& path, const LoadOptions& options);
Result<Vocab> load_llama2c_vocab(const std::string& path, int32_t expected_vocab_size);

}  // namespace lumen
