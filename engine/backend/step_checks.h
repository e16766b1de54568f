// The checks every backend makes on a step before it runs: token ids inside the
// vocabulary, every position backed by a reserved KV block, and an early-exit request
// the model can honour. One definition, so the CPU and CUDA backends refuse the same
// input with the same message.
#pragma once

#include <cstdint>

#include "backend/backend.h"
#include "core/status.h"
#include "model/config.h"

namespace lumen {

// On success *max_position is the largest position in the batch.
Status check_step(const StepBatch& batch, const ModelConfig& config, int32_t block_size, int32_t* max_position);

}  // namespace lumen
