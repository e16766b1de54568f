// The checks every backend makes on a step before it runs (step_checks.h).
#include "backend/step_checks.h"

#include <algorithm>
#include <string>

namespace lumen {

Status check_step(const StepBatch& batch, const ModelConfig& c, int32_t block_size, int32_t* max_position) {
    int32_t max_pos = 0;
    for (int32_t t = 0; t < batch.n_tokens(); ++t) {
        const int32_t tok = batch.tokens[size_t(t)], pos = batch.positions[size_t(t)];
        if (tok < 0 || tok >= c.vocab_size)
            return Status::error("token id " + std::to_string(tok) + " is outside the vocabulary (0.." +
                                 std::to_string(c.vocab_size - 1) + ")");
        const auto& seq = batch.sequences[size_t(batch.sequence_index[size_t(t)])];
        if (pos < 0 || size_t(pos / block_size) >= seq.block_table->size())
            return Status::error("position " + std::to_string(pos) + " of sequence " + std::to_string(seq.seq_id) +
                                 " has no KV block reserved");
        max_pos = std::max(max_pos, pos);
    }
    const EarlyExitRule& early = batch.early_exit;
    if (early.enabled()) {
        if (batch.n_tokens() != 1 || !batch.want_logits[0] || batch.exit_layer != 0)
            return Status::error("early exit works on a step of one token that wants logits, without exit_layer");
        LUMEN_TRY(early.validate(c.n_layers));
    }
    if (batch.exit_layer < 0 || batch.exit_layer >= c.n_layers)
        return Status::error("early-exit layer " + std::to_string(batch.exit_layer) + " is out of range; expected 1.." +
                             std::to_string(c.n_layers - 1) + " (or 0 for none)");
    *max_position = max_pos;
    return Status::ok();
}

}  // namespace lumen
