// Quantization schemes: names, llama.cpp file-type numbers, and which type each
// tensor gets. q4_k_m reproduces llama.cpp's Q4_K_M choice (llama_tensor_get_type)
// for the llama and qwen2 tensors Lumen knows.
#include <array>
#include <cstdio>
#include <string>

#include "quant/quantize.h"

namespace lumen {

namespace {

struct SchemeInfo {
    QuantScheme scheme;
    const char* name;
    DType base_type;     // the type of an ordinary matrix
    uint32_t file_type;  // llama_ftype
};

// In the order `quantize --type` lists them.
constexpr uint32_t kNoFileType = ~0u;  // Lumen's own formats: no GGUF file holds them

constexpr std::array<SchemeInfo, 22> kSchemes = {{
    {QuantScheme::q8_0, "q8_0", DType::Q8_0, 7},
    {QuantScheme::q4_0, "q4_0", DType::Q4_0, 2},
    {QuantScheme::q4_1, "q4_1", DType::Q4_1, 3},
    {QuantScheme::q5_0, "q5_0", DType::Q5_0, 8},
    {QuantScheme::q5_1, "q5_1", DType::Q5_1, 9},
    {QuantScheme::q4_k, "q4_k", DType::Q4_K, 14},  // LLAMA_FTYPE_MOSTLY_Q4_K_S
    {QuantScheme::q5_k, "q5_k", DType::Q5_K, 16},  // LLAMA_FTYPE_MOSTLY_Q5_K_S
    {QuantScheme::q6_k, "q6_k", DType::Q6_K, 18},
    {QuantScheme::q4_k_m, "q4_k_m", DType::Q4_K, 15},
    {QuantScheme::f16, "f16", DType::F16, 1},
    {QuantScheme::bf16, "bf16", DType::BF16, 32},
    {QuantScheme::f32, "f32", DType::F32, 0},
    {QuantScheme::int8_ch, "int8-ch", DType::I8_CH, kNoFileType},
    {QuantScheme::int4_g32, "int4-g32", DType::I4_G32, kNoFileType},
    {QuantScheme::int4_g64, "int4-g64", DType::I4_G64, kNoFileType},
    {QuantScheme::int4_g128, "int4-g128", DType::I4_G128, kNoFileType},
    {QuantScheme::int4_asym_g32, "int4-asym-g32", DType::I4Z_G32, kNoFileType},
    {QuantScheme::int4_asym_g64, "int4-asym-g64", DType::I4Z_G64, kNoFileType},
    {QuantScheme::int4_asym_g128, "int4-asym-g128", DType::I4Z_G128, kNoFileType},
    {QuantScheme::fp8_e4m3_ch, "fp8-e4m3-ch", DType::F8_E4M3_CH, kNoFileType},
    {QuantScheme::fp8_e4m3_tensor, "fp8-e4m3-tensor", DType::F8_E4M3_T, kNoFileType},
    {QuantScheme::int8_w8a8, "int8-w8a8", DType::I8_W8A8, kNoFileType},
}};

const SchemeInfo& info(QuantScheme scheme) {
    for (const auto& s : kSchemes)
        if (s.scheme == scheme) return s;
    return kSchemes[0];  // unreachable for valid enum values
}

bool contains(const std::string& s, const char* part) {
    return s.find(part) != std::string::npos;
}

// llama.cpp's use_more_bits: the first and last eighth of the layers, and every third one between.
bool use_more_bits(int layer, int n_layers) {
    return layer < n_layers / 8 || layer >= 7 * n_layers / 8 || (layer - n_layers / 8) % 3 == 2;
}

int layer_index(const std::string& name) {
    int layer = -1;
    if (std::sscanf(name.c_str(), "blk.%d.", &layer) != 1) return -1;
    return layer;
}

// What llama.cpp falls back to when rows do not divide into the type's blocks.
// Lumen's int4 groups fall back to the next smaller group (128 -> 64 -> 32).
DType fallback_for_row_length(DType type, int64_t row_length) {
    while (row_length % traits(type).block_elements != 0) {
        switch (type) {
            case DType::Q4_K: type = DType::Q5_0; break;
            case DType::Q5_K: type = DType::Q5_1; break;
            case DType::Q6_K: type = DType::Q8_0; break;
            case DType::I4_G128: type = DType::I4_G64; break;
            case DType::I4_G64: type = DType::I4_G32; break;
            case DType::I4Z_G128: type = DType::I4Z_G64; break;
            case DType::I4Z_G64: type = DType::I4Z_G32; break;
            default: return DType::F16;
        }
    }
    return type;
}

// Q4_K_M: Q6_K for the output projection, and for attn_v and ffn_down in the
// use_more_bits layers; Q4_K for everything else.
DType q4_k_m_type(const std::string& name, const QuantModelShape& model) {
    const bool is_output = name == "output.weight" || (!model.has_output_tensor && name == "token_embd.weight");
    if (is_output) return DType::Q6_K;
    if (contains(name, "attn_v.weight") || contains(name, "ffn_down")) {
        const int layer = layer_index(name);
        if (layer >= 0 && use_more_bits(layer, model.n_layers)) return DType::Q6_K;
    }
    return DType::Q4_K;
}

}  // namespace

std::optional<QuantScheme> quant_scheme_from_name(std::string_view name) {
    for (const auto& s : kSchemes)
        if (name == s.name) return s.scheme;
    return std::nullopt;
}

Result<QuantScheme> parse_quant_scheme(std::string_view name) {
    if (auto scheme = quant_scheme_from_name(name)) return *scheme;
    return Status::error("quantization type '" + std::string(name) + "' is not supported, expected one of " +
                         quant_scheme_names());
}

const char* quant_scheme_name(QuantScheme scheme) {
    return info(scheme).name;
}

std::string quant_scheme_names(bool gguf_only) {
    std::string names;
    for (const auto& s : kSchemes) {
        if (gguf_only && s.file_type == kNoFileType) continue;
        if (!names.empty()) names += '|';
        names += s.name;
    }
    return names;
}

QuantScheme quant_scheme_for_type(DType type) {
    for (const auto& s : kSchemes)
        if (s.base_type == type && s.scheme != QuantScheme::q4_k_m) return s.scheme;
    return QuantScheme::f32;  // unreachable: every DType has its scheme
}

uint32_t quant_scheme_file_type(QuantScheme scheme) {
    return info(scheme).file_type;
}
std::vector<QuantScheme> load_time_schemes() {
    using Q = QuantScheme;
    return {Q::f32,       Q::f16,           Q::bf16,        Q::q8_0,
            Q::int8_ch,   Q::int8_w8a8,     Q::fp8_e4m3_ch, Q::fp8_e4m3_tensor,
            Q::q6_k,      Q::q5_k,          Q::q5_1,        Q::q5_0,
            Q::q4_k_m,    Q::q4_k,          Q::q4_1,        Q::q4_0,
            Q::int4_g32,  Q::int4_asym_g32, Q::int4_g64,    Q::int4_asym_g64,
            Q::int4_g128, Q::int4_asym_g128};
}

bool quant_scheme_in_gguf(QuantScheme scheme) {
    return info(scheme).file_type != kNoFileType;
}
DType quant_scheme_base_type(QuantScheme scheme) {
    return info(scheme).base_type;
}

Result<QuantMix> parse_quant_mix(std::string_view spec) {
    QuantMix mix;
    if (spec.empty()) return mix;
    const auto expected = [&](const std::string& what) {
        return Status::error("mixed precision '" + std::string(spec) + "': " + what +
                             "; expected TYPE:WHICH[,WHICH...] with WHICH among embd, output, first, last, e.g. "
                             "q8_0:embd,output,first,last");
    };
    const size_t colon = spec.find(':');
    if (colon == std::string_view::npos) return expected("no ':'");
    const std::string type_name(spec.substr(0, colon));
    const auto type = dtype_from_name(type_name);
    if (!type) return expected("type '" + type_name + "' is unknown");
    // GGUF types without a scheme (the i-quants, q2_k, ...) are ones Lumen reads but has no encoder for.
    if (traits(*type).in_gguf && !quant_scheme_from_name(type_name))
        return expected("Lumen reads type '" + type_name + "' but does not write it");
    mix.type = *type;
    std::string_view rest = spec.substr(colon + 1);
    while (!rest.empty()) {
        const size_t comma = rest.find(',');
        const std::string_view part = rest.substr(0, comma);
        if (part == "embd")
            mix.embedding = true;
        else if (part == "output")
            mix.output = true;
        else if (part == "first")
            mix.first_layer = true;
        else if (part == "last")
            mix.last_layer = true;
        else
            return expected(std::string(part).append(" names no tensors"));
        if (comma == std::string_view::npos) break;
        rest = rest.substr(comma + 1);
    }
    if (!mix.embedding && !mix.output && !mix.first_layer && !mix.last_layer) return expected("no tensors named");
    return mix;
}

std::string quant_mix_spec(const QuantMix& mix) {
    if (!mix.type) return "";
    std::string parts;
    const auto add = [&](bool on, const char* name) {
        if (!on) return;
        parts += parts.empty() ? "" : ",";
        parts += name;
    };
    add(mix.embedding, "embd");
    add(mix.output, "output");
    add(mix.first_layer, "first");
    add(mix.last_layer, "last");
    return std::string(dtype_name(*mix.type)) + ":" + parts;
}

namespace {
bool mix_names(const QuantMix& mix, const std::string& name, const QuantModelShape& model) {
    if (!mix.type) return false;
    const bool is_embedding = name == "token_embd.weight";
    const bool is_output = name == "output.weight" || (!model.has_output_tensor && is_embedding);
    const int layer = layer_index(name);
    return (mix.embedding && is_embedding) || (mix.output && is_output) || (mix.first_layer && layer == 0) ||
           (mix.last_layer && layer >= 0 && layer == model.n_layers - 1);
}
}  // namespace

DType tensor_type_for_scheme(QuantScheme scheme, const std::string& name, const std::vector<int64_t>& dims,
                             DType current, const QuantModelShape& model, const QuantMix& mix) {
    // Only matrices are converted (llama.cpp: names ending in "weight" with two or more dims).
    const bool is_matrix_weight =
        dims.size() >= 2 && name.size() >= 6 && name.compare(name.size() - 6, 6, "weight") == 0;
    if (!is_matrix_weight) return current;
    if (mix_names(mix, name, model)) return fallback_for_row_length(*mix.type, dims[0]);
    const DType wanted = scheme == QuantScheme::q4_k_m ? q4_k_m_type(name, model) : info(scheme).base_type;
    return fallback_for_row_length(wanted, dims[0]);
}

}  // namespace lumen
