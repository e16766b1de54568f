// Engine: model + backend + KV cache manager, the step runner, and the
// single-request generation loop (prefill in chunks, then one token per step).
#include "runtime/engine.h"

#include <optional>

#include "model/model_writer.h"
#include "quant/lumen_formats.h"
#include "quant/requantize.h"
#include "runtime/speculative.h"

#include <algorithm>
#include <chrono>
#include <deque>

namespace lumen {

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Length of the longest suffix of `text` that is a proper prefix of some stop string.
size_t held_back_suffix(const std::string& text, const std::vector<std::string>& stops) {
    size_t hold = 0;
    for (const auto& s : stops)
        for (size_t len = std::min(s.size() - 1, text.size()); len > hold; --len)
            if (text.compare(text.size() - len, len, s, 0, len) == 0) {
                hold = len;
                break;
            }
    return hold;
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
            auto requantized = requantize_model(*engine->model_, scheme.value(), options.backend.n_threads, mix.value());
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
    if (options.max_batch_tokens < 1)
        return Status::error("max batch tokens must be at least 1");
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
        auto report = calibrate_and_quantize(*engine, *engine->model_, calibrated->first, calibrated->second,
                                             options.calibration, [&](float f) {
                                                 return progress("calibrating and quantizing (GPTQ)", 0.92f + 0.07f * f);
                                             });
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

Result<int32_t> Engine::create_sequence_from(const std::vector<int32_t>& blocks, const std::vector<int32_t>& prefix_tokens) {
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

Result<GenerationResult> Engine::generate(const GenerationRequest& request, const TokenCallback& on_token,
                                          const std::atomic<bool>* cancel, const StepCallback& on_step) {
    const auto t0 = Clock::now();
    const Tokenizer& tok = tokenizer();
    GenerationResult result;
    if (!request.prompt_ids.empty()) {
        result.prompt_ids = request.prompt_ids;
    } else {
        const bool add_bos = request.add_bos < 0 ? tok.vocab().add_bos : request.add_bos != 0;
        result.prompt_ids = tok.encode(request.prompt, add_bos, request.parse_special);
    }
    if (result.prompt_ids.empty()) return Status::error("the prompt is empty after tokenization; expected at least one token");
    const int32_t capacity = kv_->n_blocks() * kv_->layout().block_size;
    if (int32_t(result.prompt_ids.size()) >= capacity)
        return Status::error("the prompt has " + std::to_string(result.prompt_ids.size()) +
                             " tokens but the KV cache holds " + std::to_string(capacity) + "; use a larger context");
    if (request.max_tokens < 0) return Status::error("max tokens must be >= 0");
    // Before any sequence exists: a bad draft setup (e.g. another vocabulary) changes nothing.
    // The plan's source owns the draft model's sequence and frees it on every return path.
    if (request.early_exit.enabled()) {
        if (request.lookup_draft > 0 || request.draft_engine)
            return Status::error("early exit cannot be combined with speculative decoding; choose one");
        const int32_t layers = model_->config.n_layers;
        if (request.early_exit.first_layer < 1 || request.early_exit.first_layer >= layers || request.early_exit.every < 1)
            return Status::error("early exit's first layer is " + std::to_string(request.early_exit.first_layer) +
                                 "; expected 1.." + std::to_string(layers - 1) + " (the model has " +
                                 std::to_string(layers) + " layers), and every >= 1");
        result.stats.exit_layer_counts.assign(size_t(layers) + 1, 0);
    }
    auto drafts = plan_drafts(request, *this);
    if (!drafts) return drafts.status();
    DraftSource* draft_source = drafts->source.get();
    DraftLengthPolicy& draft_length = drafts->length;

    const bool keep_sequence = request.seq_id >= 0;
    if (keep_sequence && !kv_->has_sequence(request.seq_id))
        return Status::error("sequence " + std::to_string(request.seq_id) + " does not exist");
    Result<int32_t> seq = keep_sequence ? Result<int32_t>(request.seq_id) : create_sequence();
    if (!seq) return seq.status();
    struct SequenceGuard {
        Engine* e;
        int32_t id;
        bool keep;
        ~SequenceGuard() {
            if (!keep) e->free_sequence(id);
        }
    } guard{this, seq.value(), keep_sequence};

    // Reuse the KV of the longest common prefix; the last prompt token is always
    // recomputed because its logits start the generation.
    const auto& ids = result.prompt_ids;
    size_t reused = 0;
    if (keep_sequence) {
        const auto& held = sequence_tokens(seq.value());
        while (reused + 1 < ids.size() && reused < held.size() && held[reused] == ids[reused]) ++reused;
        LUMEN_TRY(truncate_sequence(seq.value(), int32_t(reused)));
    }
    result.stats.n_cached = int32_t(reused);

    // Prefill in chunks of max_batch_tokens; logits only for the last prompt token.
    std::vector<float> logits;
    int32_t n_steps = 0;
    auto timed_step = [&](std::vector<int32_t> tokens, bool prefill, bool all_logits = false) {
        const auto ts = Clock::now();
        const int32_t n = int32_t(tokens.size());
        const bool early_exit = !prefill && request.early_exit.enabled();
        StepOptions options;
        if (early_exit) options.early_exit = request.early_exit;
        Status s = step({{seq.value(), std::move(tokens), all_logits}}, &logits, options);
        if (s.is_ok() && early_exit) ++result.stats.exit_layer_counts[size_t(backend_->last_exit_layer())];
        if (s.is_ok() && on_step) {
            StepEvent ev;
            ev.step = n_steps;
            ev.prefill = prefill;
            ev.n_tokens = n;
            ev.step_ms = ms_since(ts);
            ev.elapsed_ms = ms_since(t0);
            on_step(ev);
        }
        ++n_steps;
        return s;
    };
    for (size_t i = reused; i < ids.size(); i += size_t(options_.max_batch_tokens)) {
        const size_t end = std::min(ids.size(), i + size_t(options_.max_batch_tokens));
        LUMEN_TRY(timed_step(std::vector<int32_t>(ids.begin() + long(i), ids.begin() + long(end)), true));
        if (cancel && cancel->load()) {
            result.stop_reason = "cancelled";
            return result;
        }
    }
    const double prefill_ms = ms_since(t0);
    result.stats.n_prompt = int32_t(ids.size());
    result.stats.prefill_tps = prefill_ms > 0 ? 1000.0 * double(ids.size() - reused) / prefill_ms : 0;

    Sampler sampler(request.sampling);
    std::vector<int32_t> history = ids;
    size_t emitted = 0;
    Clock::time_point first_token_time;
    const int32_t n_vocab = model_->config.vocab_size;
    result.stop_reason = "max_tokens";
    std::deque<int32_t> decided;  // tokens speculative verification already chose (all but the last in the KV)
    for (int32_t n = 0; n < request.max_tokens; ++n) {
        int32_t next;
        if (!decided.empty()) {
            next = decided.front();
            decided.pop_front();
        } else {
            next = sampler.sample(logits.data(), n_vocab, history);
        }
        if (n == 0) {
            first_token_time = Clock::now();
            result.stats.ttft_ms = ms_since(t0);
        }
        result.ids.push_back(next);
        history.push_back(next);
        const bool end_of_generation = request.stop_at_eos && tok.is_end_of_generation(next);
        if (!end_of_generation) result.text += tok.decode_token(next);

        bool stop_string_hit = false;
        for (const auto& s : request.stop_strings) {
            if (s.empty()) continue;
            const size_t from = result.text.size() > s.size() + 64 ? result.text.size() - s.size() - 64 : 0;
            const size_t at = result.text.find(s, std::min(from, emitted));
            if (at != std::string::npos) {
                result.text.resize(at);
                stop_string_hit = true;
                break;
            }
        }
        const bool done = end_of_generation || stop_string_hit;
        const size_t safe = done ? result.text.size()
                                 : result.text.size() - held_back_suffix(result.text, request.stop_strings);
        if (on_token) {
            TokenEvent ev;
            ev.id = next;
            ev.index = n;
            ev.elapsed_ms = ms_since(t0);
            if (safe > emitted) ev.text = result.text.substr(emitted, safe - emitted);
            on_token(ev);
        }
        emitted = std::max(emitted, safe);
        if (end_of_generation) { result.stop_reason = "eos"; break; }
        if (stop_string_hit) { result.stop_reason = "stop_string"; break; }
        if (n + 1 == request.max_tokens) break;
        if (cancel && cancel->load()) { result.stop_reason = "cancelled"; break; }
        if (!decided.empty()) continue;  // accepted drafts: their KV is already there

        // Feed `next`, with drafts to verify in the same step when speculating.
        // Drafts never reach past max_tokens or the KV capacity, so they cannot end a
        // generation that plain decoding would continue.
        const int32_t room = std::min(request.max_tokens - n - 2, capacity - kv_->length(seq.value()) - 1);
        std::vector<int32_t> draft;
        if (draft_source && room > 0) {
            auto proposed = draft_source->propose(history, std::min(draft_length.current(), room));
            if (!proposed) return proposed.status();
            draft = std::move(proposed.value());
        }
        std::vector<int32_t> feed = {next};
        feed.insert(feed.end(), draft.begin(), draft.end());
        Status s = timed_step(feed, false, !draft.empty());
        if (s.code() == StatusCode::recoverable && !draft.empty()) {  // the pool is short: no drafts this step
            draft.clear();
            s = timed_step({next}, false);
        }
        if (s.code() == StatusCode::recoverable) { result.stop_reason = "context_full"; break; }
        if (!s.is_ok()) return s;
        if (draft.empty()) continue;
        // Row i predicts the token after feed[i]: accept drafts while the chain agrees.
        std::vector<int32_t> h = history;
        size_t i = 0;
        for (; i < draft.size(); ++i) {
            bool accepted = false;
            const int32_t t = sampler.verify_draft(logits.data() + i * size_t(n_vocab), n_vocab, h, draft[i], &accepted);
            if (result.stats.draft_accepted_at.size() <= i) result.stats.draft_accepted_at.resize(i + 1, 0);
            decided.push_back(t);
            if (!accepted) break;
            ++result.stats.draft_accepted_at[i];
            h.push_back(t);
        }
        result.stats.n_drafted += int32_t(draft.size());
        result.stats.n_draft_accepted += int32_t(i);
        ++result.stats.n_verify_steps;
        draft_length.update(draft.size(), i);
        if (i == draft.size()) {  // every draft accepted: the last row gives one more token
            decided.push_back(sampler.sample(logits.data() + i * size_t(n_vocab), n_vocab, h));
        } else {  // drop the KV of the rejected drafts
            LUMEN_TRY(truncate_sequence(seq.value(), kv_->length(seq.value()) - int32_t(draft.size() - i)));
        }
    }
    // A kept sequence holds exactly the prompt and the emitted tokens but the last (accepted
    // drafts beyond a stop are dropped), as without speculation.
    if (keep_sequence && !decided.empty()) {
        const int32_t emitted_len = int32_t(ids.size() + result.ids.size()) - 1;
        if (kv_->length(seq.value()) > emitted_len) LUMEN_TRY(truncate_sequence(seq.value(), emitted_len));
    }
    result.stats.n_gen = int32_t(result.ids.size());
    if (draft_source) result.stats.draft_ms = draft_source->draft_ms();
    if (result.ids.size() > 1) {
        const double decode_ms = std::chrono::duration<double, std::milli>(Clock::now() - first_token_time).count();
        result.stats.decode_tps = decode_ms > 0 ? 1000.0 * double(result.ids.size() - 1) / decode_ms : 0;
    }
    return result;
}

}  // namespace lumen
