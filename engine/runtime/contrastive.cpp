// Contrastive decoding: expert and amateur log-probabilities per step, the
// plausibility constraint, and the per-token trace.
#include "runtime/contrastive.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "runtime/speculative.h"

namespace lumen {

namespace {

// log-softmax of logits / temperature, in double.
void log_probs(const float* logits, int32_t n, double temperature, std::vector<double>* out) {
    out->resize(size_t(n));
    double mx = -INFINITY;
    for (int32_t i = 0; i < n; ++i) mx = std::max(mx, double(logits[i]) / temperature);
    double sum = 0;
    for (int32_t i = 0; i < n; ++i) sum += std::exp(double(logits[i]) / temperature - mx);
    const double log_z = mx + std::log(sum);
    for (int32_t i = 0; i < n; ++i) (*out)[size_t(i)] = double(logits[i]) / temperature - log_z;
}

// A sequence on an engine, freed when the search ends however it ends.
struct OwnedSequence {
    Engine* engine = nullptr;
    int32_t id = -1;
    ~OwnedSequence() {
        if (engine && id >= 0) engine->free_sequence(id);
    }
};

}  // namespace

Result<ContrastiveResult> contrastive_generate(Engine& expert, const ContrastiveRequest& request,
                                               const std::atomic<bool>* cancel) {
    const auto start = std::chrono::steady_clock::now();
    const int32_t n_layers = expert.model().config.n_layers;
    const bool early_exit = request.amateur_layers > 0;
    if (early_exit == (request.amateur != nullptr))
        return Status::error(
            "contrastive decoding needs exactly one amateur: another model, or the expert's first k "
            "layers");
    if (early_exit && request.amateur_layers >= n_layers)
        return Status::error("the early-exit amateur has " + std::to_string(request.amateur_layers) +
                             " layers; expected 1.." + std::to_string(n_layers - 1) + " (the expert has " +
                             std::to_string(n_layers) + ")");
    if (request.amateur) LUMEN_TRY(check_same_vocabulary(expert, *request.amateur, "amateur model"));
    if (!(request.alpha >= 0 && request.alpha <= 1))
        return Status::error("the plausibility alpha is " + std::to_string(request.alpha) + "; expected 0..1");
    if (!(request.lambda >= 0 && request.lambda <= 10))
        return Status::error("the amateur weight lambda is " + std::to_string(request.lambda) + "; expected 0..10");
    if (!(request.amateur_temperature > 0 && request.amateur_temperature <= 10))
        return Status::error("the amateur temperature must be in (0, 10]");
    if (request.max_tokens < 1) return Status::error("contrastive decoding max_tokens must be at least 1");
    const std::vector<int32_t>& prompt = request.prompt_ids;
    if (prompt.empty()) return Status::error("contrastive decoding needs a prompt of at least one token");
    // The context ends where the smaller of the two KV pools ends.
    int32_t capacity = expert.kv().n_blocks() * expert.kv().layout().block_size;
    if (request.amateur)
        capacity = std::min(capacity, request.amateur->kv().n_blocks() * request.amateur->kv().layout().block_size);
    if (int32_t(prompt.size()) >= capacity)
        return Status::error("the prompt has " + std::to_string(prompt.size()) + " tokens but the KV pool" +
                             (request.amateur ? "s hold " : " holds ") + std::to_string(capacity));

    ContrastiveResult result;
    result.prompt_ids = prompt;
    const int32_t vocab = expert.model().config.vocab_size;
    StepOptions expert_options;
    expert_options.exit_layer = early_exit ? request.amateur_layers : 0;
    OwnedSequence expert_seq{&expert, -1}, amateur_seq{request.amateur, -1};
    auto es = expert.create_sequence();
    if (!es) return es.status().with_context("contrastive decoding");
    expert_seq.id = es.value();
    std::vector<float> expert_logits, amateur_logits;
    LUMEN_TRY(expert.feed(expert_seq.id, prompt, &expert_logits, expert_options));
    if (request.amateur) {
        auto as = request.amateur->create_sequence();
        if (!as) return as.status().with_context("contrastive decoding amateur");
        amateur_seq.id = as.value();
        LUMEN_TRY(request.amateur->feed(amateur_seq.id, prompt, &amateur_logits));
    }

    std::vector<double> lp_expert, lp_amateur;
    std::vector<ContrastiveCandidate> plausible;
    result.stop_reason = "max_tokens";
    for (int32_t n = 0; n < request.max_tokens; ++n) {
        const float* amateur_row = early_exit ? expert_logits.data() + size_t(vocab) : amateur_logits.data();
        log_probs(expert_logits.data(), vocab, 1.0, &lp_expert);
        log_probs(amateur_row, vocab, request.amateur_temperature, &lp_amateur);
        const int32_t greedy = int32_t(std::max_element(lp_expert.begin(), lp_expert.end()) - lp_expert.begin());
        // Plausible: p_expert >= alpha * max p_expert, i.e. log p >= log alpha + max log p.
        const double cutoff =
            request.alpha > 0 ? std::log(double(request.alpha)) + lp_expert[size_t(greedy)] : -INFINITY;
        plausible.clear();
        for (int32_t t = 0; t < vocab; ++t)
            if (lp_expert[size_t(t)] >= cutoff)
                plausible.push_back({t, float(std::exp(lp_expert[size_t(t)])), float(std::exp(lp_amateur[size_t(t)])),
                                     lp_expert[size_t(t)] - double(request.lambda) * lp_amateur[size_t(t)]});
        // Best score first; ties to the likelier expert token, then the lower id.
        std::sort(plausible.begin(), plausible.end(), [](const ContrastiveCandidate& a, const ContrastiveCandidate& b) {
            if (a.score != b.score) return a.score > b.score;
            if (a.p_expert != b.p_expert) return a.p_expert > b.p_expert;
            return a.token < b.token;
        });
        ContrastiveToken step;
        step.token = plausible.front().token;
        step.expert_greedy = greedy;
        step.n_plausible = int32_t(plausible.size());
        step.candidates.assign(
            plausible.begin(),
            plausible.begin() + long(std::min(plausible.size(), size_t(std::max(1, request.trace_candidates)))));
        result.ids.push_back(step.token);
        result.n_differs += step.token != greedy;
        result.trace.push_back(std::move(step));

        const int32_t next = result.ids.back();
        if (request.stop_at_eos && expert.tokenizer().is_end_of_generation(next)) {
            result.stop_reason = "eos";
            break;
        }
        if (n + 1 == request.max_tokens) break;
        if (int32_t(prompt.size() + result.ids.size()) >= capacity) {
            result.stop_reason = "context_full";
            break;
        }
        if (cancel && cancel->load()) {
            result.stop_reason = "cancelled";
            break;
        }
        LUMEN_TRY(expert.feed(expert_seq.id, {next}, &expert_logits, expert_options));
        if (request.amateur)
            LUMEN_TRY(request.amateur->feed(amateur_seq.id, {next}, &amateur_logits).with_context("amateur model"));
    }
    result.elapsed_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    return result;
}

}  // namespace lumen
