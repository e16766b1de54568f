// Whole-model quantization: copy a model's metadata to a new GGUF and re-encode
// each matrix in the type its scheme gives it, streaming one chunk of rows at a time
// from the memory-mapped input to the output file.
#include <cstdio>
#include <map>
#include <set>
#include <vector>

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "model/model_writer.h"
#include "quant/quantize.h"

namespace lumen {

namespace {

constexpr uint32_t kQuantizationVersion = 2;  // GGML_QNT_VERSION: the k-quant/legacy block layouts of today

// A tensor of the input, wherever it came from.
struct SourceTensor {
    std::string name;
    std::vector<int64_t> dims;  // GGUF order, dims[0] = row length
    DType type;
    const uint8_t* data;
};

int64_t count_rows(const std::vector<int64_t>& dims) {
    int64_t rows = 1;
    for (size_t i = 1; i < dims.size(); ++i) rows *= dims[i];
    return rows;
}

size_t tensor_bytes(DType type, const std::vector<int64_t>& dims) {
    return size_t(count_rows(dims)) * row_bytes(type, dims[0]);
}

std::vector<SourceTensor> source_tensors(const Model& model) {
    std::vector<SourceTensor> out;
    if (model.gguf) {
        for (const auto& t : model.gguf->tensors()) out.push_back({t.name, t.dims, t.type, t.data});
    } else {
        for (const auto& [name, view] : gguf_named_tensors(model))
            out.push_back({name, gguf_dims(*view), view->type, static_cast<const uint8_t*>(view->data)});
    }
    return out;
}

void copy_metadata(GgufWriter& w, const Model& model) {
    if (!model.gguf) {
        set_architecture_metadata(w, model.config);
        set_vocab_metadata(w, model.tokenizer->vocab());
        return;
    }
    for (const auto& key : model.gguf->metadata_order()) {
        if (key == "general.alignment") {
            w.set_u32(key, uint32_t(w.alignment()));  // the writer aligns to its own boundary
            continue;
        }
        w.set_value(key, *model.gguf->find(key));
    }
}

struct TypeTotals {
    int tensors = 0;
    uint64_t bytes = 0;
};

std::string format_report(const std::map<std::string, TypeTotals>& before,
                          const std::map<std::string, TypeTotals>& after) {
    std::set<std::string> types;
    for (const auto& [name, t] : before) types.insert(name);
    for (const auto& [name, t] : after) types.insert(name);
    std::string out;
    char line[160];
    std::snprintf(line, sizeof line, "%-8s %16s %12s %16s %12s\n", "type", "tensors before", "MiB before",
                  "tensors after", "MiB after");
    out += line;
    TypeTotals total_before, total_after;
    for (const auto& name : types) {
        const auto b = before.count(name) ? before.at(name) : TypeTotals{};
        const auto a = after.count(name) ? after.at(name) : TypeTotals{};
        std::snprintf(line, sizeof line, "%-8s %16d %12.2f %16d %12.2f\n", name.c_str(), b.tensors, b.bytes / 1048576.0,
                      a.tensors, a.bytes / 1048576.0);
        out += line;
        total_before.tensors += b.tensors;
        total_before.bytes += b.bytes;
        total_after.tensors += a.tensors;
        total_after.bytes += a.bytes;
    }
    std::snprintf(line, sizeof line, "%-8s %16d %12.2f %16d %12.2f\n", "total", total_before.tensors,
                  total_before.bytes / 1048576.0, total_after.tensors, total_after.bytes / 1048576.0);
    out += line;
    return out;
}

}  // namespace

Status quantize_model(const std::string& input_path, const std::string& output_path, const std::string& scheme_name,
                      std::string* report, const LoadOptions& load_options, const std::string& mix) {
    auto scheme = parse_quant_scheme(scheme_name);
    if (!scheme) return scheme.status();
    auto quant_mix = parse_quant_mix(mix);
    if (!quant_mix) return quant_mix.status();
    const auto not_in_gguf = [](const std::string& what) {
        return Status::error(what +
                             " is one of Lumen's own formats, which GGUF files cannot hold; load the model with "
                             "--weights to quantize it in memory, or write one of " +
                             quant_scheme_names(true));
    };
    if (!quant_scheme_in_gguf(scheme.value())) return not_in_gguf("'" + scheme_name + "'");
    if (quant_mix.value().type && !traits(*quant_mix.value().type).in_gguf)
        return not_in_gguf(std::string("mixed-precision type '") + dtype_name(*quant_mix.value().type) + "'");
    auto loaded = load_model(input_path, load_options);
    if (!loaded) return loaded.status();
    const Model& model = *loaded.value();
    const std::vector<SourceTensor> sources = source_tensors(model);

    QuantModelShape shape;
    shape.n_layers = model.config.n_layers;
    for (const auto& t : sources) shape.has_output_tensor |= t.name == "output.weight";

    GgufWriter w;
    copy_metadata(w, model);
    w.set_u32("general.quantization_version", kQuantizationVersion);
    w.set_u32("general.file_type", quant_scheme_file_type(scheme.value()));

    std::map<std::string, TypeTotals> before, after;
    for (const SourceTensor& t : sources) {
        const DType target = tensor_type_for_scheme(scheme.value(), t.name, t.dims, t.type, shape, quant_mix.value());
        const size_t in_bytes = tensor_bytes(t.type, t.dims);
        before[dtype_name(t.type)].tensors++;
        before[dtype_name(t.type)].bytes += in_bytes;
        after[dtype_name(target)].tensors++;
        after[dtype_name(target)].bytes += tensor_bytes(target, t.dims);
        if (target == t.type) {
            LUMEN_TRY(w.add_tensor(t.name, t.dims, t.type, t.data, in_bytes));
            continue;
        }
        const SourceTensor* src = &t;
        auto dequantize_rows = [src](int64_t first_row, int64_t n_rows, float* dst) {
            const int64_t n = src->dims[0];
            const size_t stride = row_bytes(src->type, n);
            for (int64_t r = 0; r < n_rows; ++r)
                dequantize_row(src->type, src->data + size_t(first_row + r) * stride, dst + r * n, n);
            return Status::ok();
        };
        LUMEN_TRY(w.add_tensor_streamed(t.name, t.dims, target, [src, target, dequantize_rows](const ByteSink& sink) {
            return stream_encoded_rows(target, count_rows(src->dims), src->dims[0], dequantize_rows, sink)
                .with_context("tensor '" + src->name + "'");
        }));
    }
    LUMEN_TRY(w.write(output_path));
    if (report) *report = format_report(before, after);
    return Status::ok();
}

}  // namespace lumen
