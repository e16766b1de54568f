// Weight quantization: encoders for every type Lumen reads (the inverse of
// dequantize_row in core/dtype.h, byte for byte the GGUF block layouts), the
// per-tensor type choice of each quantization scheme (llama.cpp's Q4_K_M mix
// included), and whole-model quantization that streams tensor by tensor.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "gguf/gguf_writer.h"
#include "model/model.h"

namespace lumen {

// ------------------------------------------------------------------ rows

// Encodes n floats as `type`. The algorithms are ggml's reference quantizers
// (quantize_row_*_ref), so Q8_0 and Q4_0 output is byte-identical to llama.cpp's
// for the same f32 input. n must be a multiple of the type's block size.
Status quantize_row(DType type, const float* src, void* dst, int64_t n);

// Encodes n_rows rows of n_per_row floats, split over up to n_threads threads
// (0: all hardware threads). Each row is encoded exactly as quantize_row does, except
// that a type with one scale per tensor (FP8_E4M3_T) takes it from tensor_absmax, or
// from these rows when it is negative. Lumen's own formats: quant/lumen_formats.h.
Status quantize_rows(DType type, const float* src, void* dst, int64_t n_rows, int64_t n_per_row, int n_threads = 0,
                     float tensor_absmax = -1.f);

// Fills rows [first_row, first_row + n_rows) of a tensor with f32 values (row-major into dst).
using RowFiller = std::function<Status(int64_t first_row, int64_t n_rows, float* dst)>;

// Encodes a [n_rows x n_per_row] tensor as `type` a chunk of rows at a time and hands
// the bytes to `sink`, so no whole tensor, in f32 or encoded, is ever held in memory.
Status stream_encoded_rows(DType type, int64_t n_rows, int64_t n_per_row, const RowFiller& fill, const ByteSink& sink);

// ------------------------------------------------------------------ schemes

// What `lumen-cli quantize --type` accepts. A scheme named after a type puts every
// matrix in that type; q4_k_m is llama.cpp's Q4_K_M mix. 1-D tensors (norms, biases)
// keep their type. A matrix whose rows do not divide into the type's blocks falls
// back as llama.cpp does: q4_k -> q5_0, q5_k -> q5_1, q6_k -> q8_0, then f16.
// The int*/fp8 schemes are Lumen's own formats (quant/lumen_formats.h): load-time
// quantization only, since GGUF cannot hold them.
enum class QuantScheme {
    f32,
    f16,
    bf16,
    q8_0,
    q4_0,
    q4_1,
    q5_0,
    q5_1,
    q4_k,
    q5_k,
    q6_k,
    q4_k_m,
    int8_ch,
    int4_g32,
    int4_g64,
    int4_g128,
    int4_asym_g32,
    int4_asym_g64,
    int4_asym_g128,
    fp8_e4m3_ch,
    fp8_e4m3_tensor,
    int8_w8a8
};

std::optional<QuantScheme> quant_scheme_from_name(std::string_view name);
// The parsed scheme, or an error naming the value and every accepted name.
Result<QuantScheme> parse_quant_scheme(std::string_view name);
const char* quant_scheme_name(QuantScheme scheme);
// "q8_0|q4_0|...|f32|int8-ch|...": every scheme, or only those GGUF files can hold.
std::string quant_scheme_names(bool gguf_only = false);
// Every scheme, in the order a format picker lists them: wide to narrow.
std::vector<QuantScheme> load_time_schemes();
// Whether a GGUF file can hold the scheme's types (what `quantize` writes).
bool quant_scheme_in_gguf(QuantScheme scheme);
// The type of an ordinary matrix under the scheme.
DType quant_scheme_base_type(QuantScheme scheme);
// The scheme that puts every matrix in `type`.
QuantScheme quant_scheme_for_type(DType type);
// general.file_type as llama.cpp numbers it (llama_ftype); q4_k and q5_k report
// the nearest llama.cpp mix (Q4_K_S, Q5_K_S).
uint32_t quant_scheme_file_type(QuantScheme scheme);

// The model a tensor belongs to, as far as the scheme's choice depends on it.
struct QuantModelShape {
    int32_t n_layers = 0;
    bool has_output_tensor = false;  // false: token_embd.weight doubles as the output projection
};

// Mixed precision chosen by the user, as Q4_K_M mixes types: the named tensors take
// `type` instead of the scheme's. Spec "TYPE:WHICH[,WHICH...]" with WHICH among embd,
// output, first (the first layer's matrices), last (the last layer's), e.g.
// "q8_0:embd,output,first,last".
struct QuantMix {
    std::optional<DType> type;
    bool embedding = false, output = false, first_layer = false, last_layer = false;
};
Result<QuantMix> parse_quant_mix(std::string_view spec);  // "" gives no mix
std::string quant_mix_spec(const QuantMix& mix);          // back to the spec ("" for none)

// The type `scheme` (and `mix`) give tensor `name` of GGUF dims `dims` (dims[0] = row
// length) that is now stored as `current`.
DType tensor_type_for_scheme(QuantScheme scheme, const std::string& name, const std::vector<int64_t>& dims,
                             DType current, const QuantModelShape& model, const QuantMix& mix = {});

// ------------------------------------------------------------------ models

// Reads a model (GGUF, or llama2.c checkpoint with its tokenizer.bin) and writes it
// as GGUF with the same metadata and every matrix in the type `scheme` gives it.
// Tensors are converted one chunk of rows at a time (dequantize_row to f32, then
// quantize_row), so neither model is ever whole in memory. `report`, if given,
// receives a table of tensor counts and sizes per type, before and after.
Status quantize_model(const std::string& input_path, const std::string& output_path, const std::string& scheme,
                      std::string* report, const LoadOptions& load_options = {}, const std::string& mix = "");

}  // namespace lumen
