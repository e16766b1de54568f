// Sampling stages. Filtering stages work on candidates sorted by logit, so
// each is a cut of a prefix; probabilities are recomputed after each cut.
#include "sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>

namespace lumen {

std::vector<std::string> sampling_chain_order() {
    return {"penalties", "no_repeat_ngram", "top_k", "top_p", "min_p", "temperature", "dist"};
}

Sampler::Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) {}

void Sampler::apply_penalties(float* logits, int32_t n_vocab, const std::vector<int32_t>& history) const {
    const bool any =
        params_.repeat_penalty != 1.f || params_.presence_penalty != 0.f || params_.frequency_penalty != 0.f;
    if (!any || history.empty() || params_.penalty_last_n == 0) return;
    const size_t window =
        params_.penalty_last_n < 0 ? history.size() : std::min(history.size(), size_t(params_.penalty_last_n));
    std::unordered_map<int32_t, int32_t> counts;
    for (size_t i = history.size() - window; i < history.size(); ++i) counts[history[i]]++;
    for (const auto& [id, count] : counts) {
        if (id < 0 || id >= n_vocab) continue;
        float& l = logits[id];
        if (params_.repeat_penalty != 1.f) l = l > 0 ? l / params_.repeat_penalty : l * params_.repeat_penalty;
        l -= float(count) * params_.frequency_penalty + params_.presence_penalty;
    }
}

// No n-gram may appear twice (as TensorRT-LLM's and Hugging Face's no_repeat_ngram_size):
// every token that would complete an n-gram already in the history is banned. If that
// bans the whole vocabulary, nothing is banned.
void Sampler::ban_repeated_ngrams(float* logits, int32_t n_vocab, const std::vector<int32_t>& history) {
    const size_t n = size_t(params_.no_repeat_ngram);
    if (n == 0 || history.size() + 1 < n) return;
    banned_.clear();
    const size_t prefix = n - 1;  // the last n-1 tokens, which the next token would extend
    const int32_t* tail = history.data() + history.size() - prefix;
    for (size_t i = 0; i + n <= history.size(); ++i)
        if (std::equal(tail, tail + prefix, history.data() + i)) banned_.push_back(history[i + prefix]);
    std::sort(banned_.begin(), banned_.end());
    banned_.erase(std::unique(banned_.begin(), banned_.end()), banned_.end());
    if (banned_.size() >= size_t(n_vocab)) return;
    for (int32_t id : banned_)
        if (id >= 0 && id < n_vocab) logits[id] = -std::numeric_limits<float>::infinity();
}

int32_t Sampler::sample(float* logits, int32_t n_vocab, const std::vector<int32_t>& history) {
    const size_t n = distribution(logits, n_vocab, history);
    if (params_.greedy()) return candidates_[0].id;
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    const double r = uniform(rng_);
    double cum = 0;
    for (size_t i = 0; i < n; ++i) {
        cum += candidates_[i].p;
        if (r < cum) return candidates_[i].id;
    }
    return candidates_[n - 1].id;
}

// Speculative verification of a deterministic draft token d (prompt lookup, or a greedy
// draft model): accept d with probability p(d); otherwise draw from p without d,
// renormalized. The token that comes out is distributed exactly as p.
int32_t Sampler::verify_draft(float* logits, int32_t n_vocab, const std::vector<int32_t>& history, int32_t draft,
                              bool* accepted) {
    const size_t n = distribution(logits, n_vocab, history);
    double p_draft = 0;
    for (size_t i = 0; i < n; ++i)
        if (candidates_[i].id == draft) p_draft = candidates_[i].p;
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    if (p_draft >= 1.0 || (p_draft > 0 && uniform(rng_) < p_draft)) {
        *accepted = true;
        return draft;
    }
    *accepted = false;
    const double r = uniform(rng_) * (1.0 - p_draft);
    double cum = 0;
    int32_t last = candidates_[0].id;
    for (size_t i = 0; i < n; ++i) {
        if (candidates_[i].id == draft) continue;
        last = candidates_[i].id;
        cum += candidates_[i].p;
        if (r < cum) return candidates_[i].id;
    }
    return last;
}

void Sampler::constrain(float* logits, int32_t n_vocab, const std::vector<int32_t>& history) {
    apply_penalties(logits, n_vocab, history);
    ban_repeated_ngrams(logits, n_vocab, history);
}

size_t Sampler::distribution(float* logits, int32_t n_vocab, const std::vector<int32_t>& history) {
    constrain(logits, n_vocab, history);
    if (params_.greedy()) {  // a point mass on the argmax
        candidates_.resize(1);
        candidates_[0] = {int32_t(std::max_element(logits, logits + n_vocab) - logits), 0.f, 1.f};
        return 1;
    }

    candidates_.resize(size_t(n_vocab));
    for (int32_t i = 0; i < n_vocab; ++i) candidates_[size_t(i)] = {i, logits[i], 0.f};
    size_t n = candidates_.size();
    auto by_logit = [](const Candidate& a, const Candidate& b) { return a.logit > b.logit; };
    // Sort only as much as needed: top-k bounds the prefix when it is set.
    if (params_.top_k > 0 && size_t(params_.top_k) < n) {
        std::partial_sort(candidates_.begin(), candidates_.begin() + params_.top_k, candidates_.end(), by_logit);
        n = size_t(params_.top_k);
    } else {
        std::sort(candidates_.begin(), candidates_.end(), by_logit);
    }
    auto softmax_prefix = [&](size_t count, float temperature) {
        const float max = candidates_[0].logit;
        double sum = 0;
        for (size_t i = 0; i < count; ++i) {
            candidates_[i].p = std::exp((candidates_[i].logit - max) / temperature);
            sum += candidates_[i].p;
        }
        for (size_t i = 0; i < count; ++i) candidates_[i].p = float(candidates_[i].p / sum);
    };
    softmax_prefix(n, 1.f);
    if (params_.top_p < 1.f) {
        double cum = 0;
        size_t keep = n;
        for (size_t i = 0; i < n; ++i) {
            cum += candidates_[i].p;
            if (cum >= params_.top_p) {
                keep = i + 1;
                break;
            }
        }
        n = std::max<size_t>(keep, 1);
        softmax_prefix(n, 1.f);
    }
    if (params_.min_p > 0.f) {
        const float threshold = params_.min_p * candidates_[0].p;
        size_t keep = 1;
        while (keep < n && candidates_[keep].p >= threshold) ++keep;
        n = keep;
    }
    softmax_prefix(n, params_.temperature);
    return n;
}

}  // namespace lumen
