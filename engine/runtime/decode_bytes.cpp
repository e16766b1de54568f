// Bytes read per decoded token (see decode_bytes.h for what is counted).
#include "runtime/decode_bytes.h"

namespace lumen {

DecodeBytes decode_bytes_per_token(const Model& model, DType kv_type) {
    DecodeBytes b;
    b.weights = model.weight_bytes_read_per_token();
    b.kv_per_position = model.config.kv_bytes_per_token(bits_per_weight(kv_type) / 8.0);
    return b;
}

}  // namespace lumen
