// Writes a loaded Model as a GGUF file (architecture metadata, vocabulary and
// tensors in their current types). `lumen-cli convert` uses it to turn
// llama2.c checkpoints into GGUF.
#pragma once

#include <string>

#include "core/status.h"
#include "gguf/gguf_writer.h"
#include "model/model.h"

namespace lumen {

Status write_model_gguf(const Model& model, const std::string& path);

// general.* and <arch>.* hyperparameter keys, as llama.cpp names them.
void set_architecture_metadata(GgufWriter& writer, const ModelConfig& config);

}  // namespace lumen
