// Engine: model + backend + KV cache manager, loading, sequences and the step
// runner. The single-request generation loop is in generation.cpp.
#include "runtime/engine.h"

#include <optional>

#include "model/model_writer.h"
#include "quant/lumen_formats.h"
#include "quant/requantize.h"

#include <algorithm>
#include <chrono>

namespace lumen {

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

}  // namespace

Engine::~Engine() = default;

double GenerationStats::mean_layers_run() const {
    double steps = 0, layers = 0;
    for (size_t l = 0; l < exit_layer_counts.size(); ++l) {
        steps += exit_layer_counts[l];
        layers += double(l) * exit_layer_counts[l];
    }
    return steps > 0 ? layers / steps : 0;
}

Status Engine::feed(int32_t seq_id, const std::vector<int32_t>& tokens, std::vector<float>* logits,
                    const StepOptions& options) {
    const size_t chunk = size_t(options_.max_batch_tokens);
    for (size_t i = 0; i < tokens.size(); i += chunk) {
        SequenceInput in;
        in.seq_id = seq_id;
        in.tokens.assign(tokens.begin() + long(i), tokens.begin() + long(std::min(tokens.size(), i + chunk)));
        in.logits = i + chunk >= tokens.size();
        LUMEN_TRY(step({in}, logits, in.logits ? options : StepOptions{}));
    }
    return Status::ok();
}

Result<std::unique_ptr<Engine>> Engine::load(const std::string& path, const LoadOptions& load_options,
                                             const EngineOptions& options) {
    const auto t0 = Clock::now();
    auto engine = std::unique_ptr<Engine>(new Engine());
    engine->options_ = options;
    auto progress = [&](const char* stage, float fraction) {
        return !options.on_load_progress || options.on_load_progress(stage, fraction);
    };
    if (!progress("reading the model file", 0.f)) return Status::error("loading cancelled");
    auto model = load_model(path, load_options);
    if (!model) return model.status();
    engine->model_ = std::move(model.value());
    const ModelConfig& c = engine->model_->config;
    std::optional<std::pair<QuantScheme, QuantMix>> calibrated;
    if (!options.weights_scheme.empty() || !options.weights_mix.empty()) {
        auto scheme = parse_quant_scheme(options.weights_scheme.empty() ? "f32" : options.weights_scheme);
        if (!scheme) return scheme.status().with_context("load-time quantization");
        auto mix = parse_quant_mix(options.weights_mix);
        if (!mix) return mix.status().with_context("load-time quantization");
        if (options.weights_scheme.empty())
            return Status::error("load-time quantization: mixed precision '" + options.weights_mix +
                                 "' needs a weights format for the other tensors (--weights)");
        if (options.weights_gptq) {  // after the KV cache exists: calibration runs the model
            calibrated = std::pair{scheme.value(), mix.value()};
        } else {
            if (!progress("quantizing the weights", 0.15f)) return Status::error("loading cancelled");
            auto requantized =
                requantize_model(*engine->model_, scheme.value(), options.backend.n_threads, mix.value());
            if (!requantized) return requantized.status().with_context("load-time quantization");
        }
    } else if (options.weights_gptq) {
        return Status::error("load-time quantization: GPTQ needs a weights format (--weights)");
    }

    if (!progress("preparing the backend", 0.3f)) return Status::error("loading cancelled");
    auto backend = create_backend(options.backend);
    if (!backend) return backend.status();
    engine->backend_ = std::move(backend.value());
    LUMEN_TRY(engine->backend_->upload(*engine->model_));

    if (options.block_size < 1 || options.block_size > 1024)
        return Status::error("block size " + std::to_string(options.block_size) + " is invalid, expected 1..1024");
    if (options.max_batch_tokens < 1) return Status::error("max batch tokens must be at least 1");
    const int32_t kv_tokens = options.kv_tokens > 0 ? options.kv_tokens : std::min(c.context_length, 4096);
    if (!progress("allocating the KV cache", 0.9f)) return Status::error("loading cancelled");
    KVCacheLayout layout;
    layout.n_layers = c.n_layers;
    layout.n_kv_heads = c.n_kv_heads;
    layout.head_dim = c.head_dim;
    layout.block_size = options.block_size;
    layout.n_blocks = (kv_tokens + options.block_size - 1) / options.block_size;
    layout.type = options.kv_type;
    LUMEN_TRY(engine->backend_->allocate_kv(layout));
    engine->kv_ = std::make_unique<KVCacheManager>(layout);
    if (calibrated) {
        if (!progress("calibrating and quantizing (GPTQ)", 0.92f)) return Status::error("loading cancelled");
        auto report = calibrate_and_quantize(
            *engine, *engine->model_, calibrated->first, calibrated->second, options.calibration,
            [&](float f) { return progress("calibrating and quantizing (GPTQ)", 0.92f + 0.07f * f); });
        if (!report) return report.status().with_context("load-time quantization");
        engine->calibration_report_ = std::move(report.value());
        LUMEN_TRY(engine->backend_->upload(*engine->model_));
    }
    for (const auto& [name, view] : gguf_named_tensors(*engine->model_))
        set_outlier_threshold(const_cast<TensorView&>(*view), options.outlier_threshold);
    engine->load_ms_ = ms_since(t0);
    progress("ready", 1.f);
    return engine;
}

Result<int32_t> Engine::create_sequence() {
    auto seq = kv_->create_sequence();
    if (seq) sequence_tokens_[seq.value()].clear();
    return seq;
}

Result<int32_t> Engine::create_sequence_from(const std::vector<int32_t>& blocks,
                                             const std::vector<int32_t>& prefix_tokens) {
    auto seq = kv_->create_sequence_from(blocks, int32_t(prefix_tokens.size()));
    if (seq) sequence_tokens_[seq.value()] = prefix_tokens;
    return seq;
}

Result<int32_t> Engine::fork_sequence(int32_t seq_id) {
    auto seq = kv_->fork_sequence(seq_id);
    if (seq) sequence_tokens_[seq.value()] = sequence_tokens_[seq_id];
    return seq;
}

void Engine::free_sequence(int32_t seq_id) {
    kv_->free_sequence(seq_id);
    sequence_tokens_.erase(seq_id);
}

Status Engine::truncate_sequence(int32_t seq_id, int32_t n_tokens) {
    LUMEN_TRY(kv_->truncate(seq_id, n_tokens));
    auto it = sequence_tokens_.find(seq_id);
    if (it != sequence_tokens_.end() && int32_t(it->second.size()) > n_tokens) it->second.resize(size_t(n_tokens));
    return Status::ok();
}

int32_t Engine::kv_capacity() const {
    return kv_->n_blocks() * kv_->layout().block_size;
}

const std::vector<int32_t>& Engine::sequence_tokens(int32_t seq_id) const {
    static const std::vector<int32_t> none;
    auto it = sequence_tokens_.find(seq_id);
    return it == sequence_tokens_.end() ? none : it->second;
}

Status Engine::step(const std::vector<SequenceInput>& inputs, std::vector<float>* logits, const StepOptions& options) {
    batch_.clear();
    batch_.exit_layer = options.exit_layer;
    batch_.early_exit = options.early_exit;
    std::vector<std::pair<int32_t, int32_t>> reserved;  // (seq, length before) for roll-back
    // Copy-on-write copies queued by the reservations run before anything reads or rolls back.
    auto run_copies = [&] { return backend_->copy_kv_blocks(kv_->take_pending_copies()); };
    auto roll_back = [&] {
        (void)run_copies();
        for (auto [seq, len] : reserved) (void)kv_->truncate(seq, len);
    };
    for (size_t i = 0; i < inputs.size(); ++i)
        for (size_t j = 0; j < i; ++j)
            if (inputs[i].seq_id == inputs[j].seq_id)
                return Status::error("sequence " + std::to_string(inputs[i].seq_id) +
                                     " appears twice in one step; expected each sequence at most once");
    for (const auto& in : inputs) {
        if (!kv_->has_sequence(in.seq_id)) {
            roll_back();
            return Status::error("sequence " + std::to_string(in.seq_id) + " does not exist");
        }
        if (in.tokens.empty()) continue;
        const int32_t start = kv_->length(in.seq_id);
        Status s = kv_->reserve(in.seq_id, start + int32_t(in.tokens.size()));
        if (!s.is_ok()) {
            roll_back();
            return s;
        }
        reserved.emplace_back(in.seq_id, start);
        const int32_t index = int32_t(batch_.sequences.size());
        batch_.sequences.push_back({in.seq_id, &kv_->block_table(in.seq_id)});
        for (size_t i = 0; i < in.tokens.size(); ++i) {
            batch_.tokens.push_back(in.tokens[i]);
            batch_.positions.push_back(start + int32_t(i));
            batch_.sequence_index.push_back(index);
            batch_.want_logits.push_back(in.logits && (in.all_logits || i + 1 == in.tokens.size()));
        }
    }
    if (Status c = run_copies(); !c.is_ok()) {
        roll_back();
        return c;
    }
    Status s = backend_->forward(batch_, logits);
    if (!s.is_ok()) {
        roll_back();
        return s;
    }
    for (const auto& in : inputs) {
        if (in.tokens.empty()) continue;
        kv_->set_length(in.seq_id, kv_->length(in.seq_id) + int32_t(in.tokens.size()));
        auto& held = sequence_tokens_[in.seq_id];
        held.insert(held.end(), in.tokens.begin(), in.tokens.end());
    }
    return Status::ok();
}

}  // namespace lumen
