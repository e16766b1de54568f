// Log-softmax with one pass for the maximum and one for the normalizer, in double so
// a 150k-entry vocabulary sums without visible rounding.
#include "sampling/logprobs.h"

#include <algorithm>
#include <cmath>

namespace lumen {

TokenLogprobs token_logprobs(const float* logits, int32_t n_vocab, int32_t chosen, int32_t top_n) {
    TokenLogprobs out;
    if (n_vocab <= 0) return out;
    const float max = *std::max_element(logits, logits + n_vocab);
    double sum = 0;
    for (int32_t i = 0; i < n_vocab; ++i) sum += std::exp(double(logits[i]) - max);
    const double log_z = double(max) + std::log(sum);
    auto logprob = [&](int32_t i) { return float(double(logits[i]) - log_z); };
    if (chosen >= 0 && chosen < n_vocab) out.logprob = logprob(chosen);
    const int32_t n = std::clamp(top_n, 0, std::min(kMaxTopLogprobs, n_vocab));
    std::vector<int32_t> ids(static_cast<size_t>(n_vocab));
    for (int32_t i = 0; i < n_vocab; ++i) ids[size_t(i)] = i;
    std::partial_sort(ids.begin(), ids.begin() + n, ids.end(),
                      [&](int32_t a, int32_t b) { return logits[a] != logits[b] ? logits[a] > logits[b] : a < b; });
    for (int32_t k = 0; k < n; ++k) out.top.push_back({ids[size_t(k)], logprob(ids[size_t(k)])});
    return out;
}

}  // namespace lumen
