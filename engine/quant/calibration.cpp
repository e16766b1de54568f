// Calibration: Hessians from an observer on the backend, a pass over the text per
// group of layers (as many as the memory budget holds), then GPTQ or RTN per matrix.
#include "quant/calibration.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <memory>
#include <sstream>

#include "backend/cpu/cpu_ops.h"
#include "backend/thread_pool.h"
#include "model/model.h"
#include "quant/gptq.h"
#include "quant/lumen_formats.h"
#include "quant/requantize.h"
#include "runtime/engine.h"

namespace lumen {

namespace {

constexpr int kInputs = 4;  // MatmulInput values

// The matrices each input feeds, with their GGUF names.
std::vector<std::pair<TensorView*, std::string>> matrices_of(LayerWeights& lw, MatmulInput input, int layer) {
    const std::string p = "blk." + std::to_string(layer) + ".";
    switch (input) {
        case MatmulInput::attn_in:
            return {{&lw.wq, p + "attn_q.weight"}, {&lw.wk, p + "attn_k.weight"}, {&lw.wv, p + "attn_v.weight"}};
        case MatmulInput::attn_out: return {{&lw.wo, p + "attn_output.weight"}};
        case MatmulInput::ffn_in: return {{&lw.w_gate, p + "ffn_gate.weight"}, {&lw.w_up, p + "ffn_up.weight"}};
        default: return {{&lw.w_down, p + "ffn_down.weight"}};
    }
}

class HessianCollector : public ActivationObserver {
public:
    HessianCollector(int32_t first_layer, int32_t end_layer, ThreadPool* pool)
        : first_(first_layer),
          end_(end_layer),
          pool_(pool),
          acc_(size_t(end_layer - first_layer)),
          samples_(size_t(end_layer - first_layer)) {}
    void observe(int32_t layer, MatmulInput input, const float* x, int64_t n_tokens, int64_t cols) override {
        if (layer < first_ || layer >= end_ || !status_.is_ok()) return;
        auto& a = acc_[size_t(layer - first_)][size_t(input)];
        if (!a) a = std::make_unique<HessianAccumulator>(cols);
        status_ = a->add(x, n_tokens, pool_);
        // The first tokens themselves, for the kernels' error.
        auto& kept = samples_[size_t(layer - first_)][size_t(input)];
        const int64_t take = std::min<int64_t>(n_tokens, kKernelSampleTokens - int64_t(kept.size()) / cols);
        if (take > 0) kept.insert(kept.end(), x, x + take * cols);
    }
    const HessianAccumulator* get(int32_t layer, MatmulInput input) const {
        return acc_[size_t(layer - first_)][size_t(input)].get();
    }
    const std::vector<float>& sample(int32_t layer, MatmulInput input) const {
        return samples_[size_t(layer - first_)][size_t(input)];
    }
    const Status& status() const { return status_; }

private:
    int32_t first_, end_;
    ThreadPool* pool_;
    std::vector<std::array<std::unique_ptr<HessianAccumulator>, kInputs>> acc_;
    std::vector<std::array<std::vector<float>, kInputs>> samples_;  // the first kKernelSampleTokens rows of X
    Status status_ = Status::ok();
};

// sum_r v_r^T H v_r over the rows of V [rows][cols], with H as an f32 "weight matrix"
// through the CPU matmul (H V^T, tiled and threaded), then one dot per row. With
// V = W - Wq this is ||X W^T - X Wq^T||^2 times 2/n; with V = W, ||X W^T||^2 times 2/n.
double quadratic_form(const TensorView& h, const float* v, int64_t rows, int64_t cols, ThreadPool& pool) {
    std::vector<float> hv(size_t(rows * cols));
    cpu::matmul(h, v, rows, hv.data(), pool);
    double sum = 0;
    for (int64_t i = 0; i < rows * cols; ++i) sum += double(v[i]) * double(hv[size_t(i)]);
    return sum;
}

double relative_error(const TensorView& h, const std::vector<float>& w, const float* wq, double reference, int64_t rows,
                      int64_t cols, ThreadPool& pool) {
    std::vector<float> d(w.size());
    for (size_t i = 0; i < w.size(); ++i) d[i] = w[i] - wq[i];
    return reference > 0 ? quadratic_form(h, d.data(), rows, cols, pool) / reference : 0.0;
}

// ||X W^T - matmul(q, X)||^2 / ||X W^T||^2 through the CPU kernels, X [n][cols].
double kernel_error(const TensorView& q, const std::vector<float>& w, const std::vector<float>& x, ThreadPool& pool) {
    const int64_t n = int64_t(x.size()) / q.cols;
    if (n == 0) return -1;
    const TensorView f32{DType::F32, w.data(), q.rows, q.cols, "reference"};
    std::vector<float> y_ref(size_t(n * q.rows)), y_q(size_t(n * q.rows));
    cpu::matmul(f32, x.data(), n, y_ref.data(), pool);
    cpu::matmul(q, x.data(), n, y_q.data(), pool);
    double e = 0, r = 0;
    for (size_t i = 0; i < y_ref.size(); ++i) {
        e += (double(y_ref[i]) - y_q[i]) * (double(y_ref[i]) - y_q[i]);
        r += double(y_ref[i]) * y_ref[i];
    }
    return r > 0 ? e / r : 0.0;
}

std::vector<float> dequantized(const TensorView& t) {
    std::vector<float> w(size_t(t.rows * t.cols));
    for (int64_t r = 0; r < t.rows; ++r) dequantize_row(t.type, t.row(r), w.data() + r * t.cols, t.cols);
    return w;
}

// Encodes [rows][cols] f32 as `type` with the type's own (round-to-nearest) encoder.
Result<std::shared_ptr<uint8_t[]>> encode_rtn(DType type, const std::vector<float>& w, int64_t rows, int64_t cols) {
    auto bytes = std::shared_ptr<uint8_t[]>(new uint8_t[row_bytes(type, cols) * size_t(rows)]);
    LUMEN_TRY(quantize_rows(type, w.data(), bytes.get(), rows, cols));
    return bytes;
}

std::vector<int32_t> calibration_tokens(const Engine& engine, const CalibrationOptions& options, Status* status) {
    std::ifstream in(options.text_path, std::ios::binary);
    if (!in) {
        *status =
            Status::error("calibration text '" + options.text_path + "' cannot be read; expected a plain-text file");
        return {};
    }
    std::stringstream ss;
    ss << in.rdbuf();
    return engine.tokenizer().encode(ss.str(), false, false);
}

}  // namespace

Result<CalibrationReport> calibrate_and_quantize(Engine& engine, Model& model, QuantScheme scheme, const QuantMix& mix,
                                                 const CalibrationOptions& options,
                                                 const std::function<bool(float)>& on_progress) {
    const auto t0 = std::chrono::steady_clock::now();
    if (options.samples < 1 || options.sample_tokens < 2)
        return Status::error("calibration needs at least 1 sample of 2 tokens, got " + std::to_string(options.samples) +
                             " of " + std::to_string(options.sample_tokens));
    Status read = Status::ok();
    const std::vector<int32_t> text = calibration_tokens(engine, options, &read);
    LUMEN_TRY(read);
    const int64_t per_sample = options.sample_tokens - 1;  // after BOS
    const int64_t n_samples = std::min<int64_t>(options.samples, int64_t(text.size()) / per_sample);
    if (n_samples < 1)
        return Status::error("calibration text '" + options.text_path + "' has " + std::to_string(text.size()) +
                             " tokens, fewer than one sample of " + std::to_string(options.sample_tokens));
    if (int64_t(engine.kv().layout().n_blocks) * engine.kv().layout().block_size < options.sample_tokens)
        return Status::error("calibration samples of " + std::to_string(options.sample_tokens) +
                             " tokens do not fit the KV pool; use a larger context or shorter samples");

    const ModelConfig& c = model.config;
    const int64_t layer_bytes = int64_t(sizeof(double)) * (3 * int64_t(c.dim) * c.dim + int64_t(c.q_dim()) * c.q_dim() +
                                                           int64_t(c.ffn_dim) * c.ffn_dim);
    const int32_t layers_per_pass =
        int32_t(std::clamp<int64_t>(options.memory_budget / std::max<int64_t>(1, layer_bytes), 1, c.n_layers));
    ThreadPool pool(engine.options().backend.n_threads > 0 ? engine.options().backend.n_threads
                                                           : int(std::max(1u, std::thread::hardware_concurrency())));
    const QuantModelShape shape{c.n_layers, !c.tied_output};
    CalibrationReport report;
    report.calibration_tokens = n_samples * options.sample_tokens;

    for (int32_t first = 0; first < c.n_layers; first += layers_per_pass) {
        const int32_t end = std::min(c.n_layers, first + layers_per_pass);
        HessianCollector collector(first, end, &pool);
        if (!engine.backend().set_activation_observer(&collector))
            return Status::error("calibration: the " + engine.backend().name() + " backend cannot observe activations");
        Status run = Status::ok();
        for (int64_t s = 0; s < n_samples && run.is_ok(); ++s) {
            std::vector<int32_t> tokens;
            if (engine.tokenizer().vocab().add_bos) tokens.push_back(engine.tokenizer().vocab().bos_id);
            tokens.insert(tokens.end(), text.begin() + s * per_sample, text.begin() + (s + 1) * per_sample);
            auto seq = engine.create_sequence();
            if (!seq) {
                run = seq.status();
                break;
            }
            std::vector<float> logits;
            run = engine.feed(seq.value(), tokens, &logits);
            engine.free_sequence(seq.value());
        }
        engine.backend().set_activation_observer(nullptr);
        LUMEN_TRY(run.with_context("calibration"));
        LUMEN_TRY(collector.status().with_context("calibration"));

        for (int32_t layer = first; layer < end; ++layer) {
            for (int in = 0; in < kInputs; ++in) {
                const HessianAccumulator* acc = collector.get(layer, MatmulInput(in));
                if (!acc) return Status::error("calibration: layer " + std::to_string(layer) + " saw no activations");
                const std::vector<double> h = acc->finish();
                const std::vector<float> h32(h.begin(), h.end());
                const TensorView h_view{DType::F32, h32.data(), acc->cols(), acc->cols(), "hessian"};
                for (auto& [t, name] : matrices_of(model.weights.layers[size_t(layer)], MatmulInput(in), layer)) {
                    const DType target = tensor_type_for_scheme(scheme, name, {t->cols, t->rows}, t->type, shape, mix);
                    if (target == t->type) continue;
                    const std::vector<float> w = dequantized(*t);
                    auto rtn = encode_rtn(target, w, t->rows, t->cols);
                    LUMEN_TRY(rtn.status());
                    MatrixQuantError e{name, target};
                    const double reference = quadratic_form(h_view, w.data(), t->rows, t->cols, pool);
                    e.rtn = relative_error(
                        h_view, w, dequantized(TensorView{target, rtn.value().get(), t->rows, t->cols, name}).data(),
                        reference, t->rows, t->cols, pool);
                    std::shared_ptr<uint8_t[]> chosen = rtn.value();
                    QuantGrid grid;
                    if (quant_grid_for_type(target, &grid)) {
                        GptqOptions g;
                        g.grid = grid;
                        g.damp_percent = options.damp_percent;
                        auto q = gptq_quantize(w.data(), t->rows, t->cols, h, g, &pool);
                        if (!q) return q.status().with_context("GPTQ of " + name);
                        const std::vector<float> wq = q->dequantized();
                        e.gptq = relative_error(h_view, w, wq.data(), reference, t->rows, t->cols, pool);
                        if (options.apply_gptq) {
                            chosen =
                                std::shared_ptr<uint8_t[]>(new uint8_t[row_bytes(target, t->cols) * size_t(t->rows)]);
                            for (int64_t r = 0; r < t->rows; ++r)
                                encode_row_from_codes(target, q->scales.data() + r * q->groups_per_row,
                                                      q->offsets.data() + r * q->groups_per_row,
                                                      q->codes.data() + r * t->cols,
                                                      chosen.get() + size_t(r) * row_bytes(target, t->cols), t->cols);
                        }
                    }
                    const TensorView kept{target, chosen.get(), t->rows, t->cols, name};
                    const std::vector<float>& x = collector.sample(layer, MatmulInput(in));
                    e.kernel = kernel_error(kept, w, x, pool);
                    if (target == DType::I8_W8A8) {  // the same weights without LLM.int8's outlier split
                        TensorView plain = kept;
                        set_outlier_threshold(plain, std::numeric_limits<float>::infinity());
                        e.kernel_no_outliers = kernel_error(plain, w, x, pool);
                        set_outlier_threshold(plain, kDefaultOutlierThreshold);  // Engine::load sets the option's
                    }
                    t->type = target;
                    t->data = chosen.get();
                    model.weights.owned.push_back(
                        std::static_pointer_cast<void>(std::shared_ptr<uint8_t>(chosen, chosen.get())));
                    report.matrices.push_back(e);
                }
            }
            if (on_progress && !on_progress(float(layer + 1) / float(c.n_layers)))
                return Status::error("loading cancelled");
        }
    }
    // The embedding and the output projection (no observed inputs): round-to-nearest.
    LUMEN_TRY(requantize_model(model, scheme, engine.options().backend.n_threads, mix).status());
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return report;
}

}  // namespace lumen
