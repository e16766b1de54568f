// requantize_model: each matrix through f32 in chunks of rows, into an owned buffer.
#include "quant/requantize.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "model/model_writer.h"
#include "quant/lumen_formats.h"

namespace lumen {

namespace {
QuantModelShape shape_of(const Model& model) {
    QuantModelShape shape;
    shape.n_layers = model.config.n_layers;
    shape.has_output_tensor = !model.config.tied_output;
    return shape;
}
}  // namespace

WeightShapes weight_shapes(const Model& model) {
    WeightShapes shapes;
    shapes.model = shape_of(model);
    shapes.bytes = model.weight_bytes();
    for (const auto& [name, view] : gguf_named_tensors(model))
        shapes.tensors.push_back({name, gguf_dims(*view), view->type});
    return shapes;
}

int64_t predicted_weight_bytes(const WeightShapes& shapes, QuantScheme scheme, const QuantMix& mix) {
    int64_t bytes = shapes.bytes;  // counts a tied output projection once, as the embedding
    for (const WeightShapes::Tensor& t : shapes.tensors) {
        if (t.dims.size() < 2 || t.dims[1] <= 1) continue;
        const DType target = tensor_type_for_scheme(scheme, t.name, t.dims, t.type, shapes.model, mix);
        if (target == t.type || t.dims[0] % traits(target).block_elements != 0) continue;
        int64_t rows = 1;
        for (size_t i = 1; i < t.dims.size(); ++i) rows *= t.dims[i];
        bytes += int64_t(row_bytes(target, t.dims[0]) - row_bytes(t.type, t.dims[0])) * rows;
    }
    return bytes;
}

int64_t predicted_weight_bytes(const Model& model, QuantScheme scheme, const QuantMix& mix) {
    return predicted_weight_bytes(weight_shapes(model), scheme, mix);
}

namespace {
// The largest magnitude of a whole tensor, for the formats with one scale per tensor.
float tensor_absmax(const TensorView& t) {
    std::vector<float> row(size_t(t.cols));
    float amax = 0.f;
    for (int64_t r = 0; r < t.rows; ++r) {
        dequantize_row(t.type, t.row(r), row.data(), t.cols);
        for (float v : row) amax = std::max(amax, std::fabs(v));
    }
    return amax;
}
}  // namespace

Result<RequantizeReport> requantize_model(Model& model, QuantScheme scheme, int n_threads, const QuantMix& mix) {
    RequantizeReport report;
    report.bytes_before = model.weight_bytes();
    const QuantModelShape shape = shape_of(model);
    ModelWeights& w = model.weights;
    const bool tied = w.output.data == w.token_embedding.data;
    constexpr int64_t kChunkRows = 256;
    for (const auto& [name, view] : gguf_named_tensors(model)) {
        TensorView& t = const_cast<TensorView&>(*view);  // gguf_named_tensors points into model.weights
        if (t.rows <= 1) continue;                       // norms and biases keep their types
        const DType target = tensor_type_for_scheme(scheme, name, gguf_dims(t), t.type, shape, mix);
        if (target == t.type) continue;
        if (t.cols % traits(target).block_elements != 0)
            return Status::error("tensor " + name + " has rows of " + std::to_string(t.cols) +
                                 " values, which do not divide into " + dtype_name(target) + " blocks");
        const size_t out_stride = row_bytes(target, t.cols);
        auto buffer = std::shared_ptr<uint8_t[]>(new uint8_t[out_stride * size_t(t.rows)]);
        std::vector<float> rows(size_t(std::min<int64_t>(kChunkRows, t.rows)) * size_t(t.cols));
        const float amax = has_tensor_scale(target) ? tensor_absmax(t) : -1.f;
        for (int64_t r0 = 0; r0 < t.rows; r0 += kChunkRows) {
            const int64_t n = std::min(kChunkRows, t.rows - r0);
            for (int64_t r = 0; r < n; ++r) dequantize_row(t.type, t.row(r0 + r), rows.data() + r * t.cols, t.cols);
            LUMEN_TRY(
                quantize_rows(target, rows.data(), buffer.get() + size_t(r0) * out_stride, n, t.cols, n_threads, amax));
        }
        t.type = target;
        t.data = buffer.get();
        w.owned.push_back(std::static_pointer_cast<void>(std::shared_ptr<uint8_t>(buffer, buffer.get())));
        ++report.tensors_changed;
    }
    // A tied output projection is the embedding: it follows the embedding's new type.
    if (tied) w.output = w.token_embedding;
    report.bytes_after = model.weight_bytes();
    return report;
}

}  // namespace lumen

namespace lumen {

std::vector<TensorError> tensor_errors(const Model& model, const Model& original) {
    std::vector<TensorError> out;
    const auto a = gguf_named_tensors(model), b = gguf_named_tensors(original);
    std::vector<float> x, y;
    for (const auto& [name, t] : a) {
        if (t->rows <= 1) continue;
        auto it = std::find_if(b.begin(), b.end(), [&](const auto& p) { return p.first == name; });
        if (it == b.end() || it->second->rows != t->rows || it->second->cols != t->cols) continue;
        const TensorView& o = *it->second;
        x.resize(size_t(t->cols));
        y.resize(size_t(t->cols));
        double err = 0, ref = 0;
        for (int64_t r = 0; r < t->rows; ++r) {
            dequantize_row(t->type, t->row(r), x.data(), t->cols);
            dequantize_row(o.type, o.row(r), y.data(), o.cols);
            for (int64_t i = 0; i < t->cols; ++i) {
                const double d = double(x[size_t(i)]) - double(y[size_t(i)]);
                err += d * d;
                ref += double(y[size_t(i)]) * double(y[size_t(i)]);
            }
        }
        out.push_back({name, t->type, o.type, t->rows * t->cols, ref > 0 ? err / ref : 0});
    }
    return out;
}

}  // namespace lumen
