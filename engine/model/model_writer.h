// Writes a loaded Model as a GGUF file (architecture metadata, vocabulary and
// tensors in their current types). `lumen-cli convert` uses it to turn
// llama2.c checkpoints into GGUF.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "gguf/gguf_writer.h"
#include "model/model.h"

namespace lumen {

Status write_model_gguf(const Model& model, const std::string& path);

// general.* and <arch>.* hyperparameter keys, as llama.cpp names them.
void set_architecture_metadata(GgufWriter& writer, const ModelConfig& config);
// tokenizer.* keys, as llama.cpp names them.
void set_vocab_metadata(GgufWriter& writer, const Vocab& vocab);

// The model's tensors under their GGUF names, in the order convert writes them
// (absent ones, and the output projection when tied, left out).
std::vector<std::pair<std::string, const TensorView*>> gguf_named_tensors(const Model& model);
// GGUF dims of a view: [cols] for a vector, [cols, rows] for a matrix.
std::vector<int64_t> gguf_dims(const TensorView& tensor);

}  // namespace lumen
