// ItlGovernor: moving averages of the decode-only step time and of one prompt
// token's cost in a mixed step, and the prompt-token limit they imply.
#include "serving/itl_governor.h"

#include <algorithm>
#include <climits>
#include <cmath>

namespace lumen {

namespace {
constexpr double kSmoothing = 0.25;  // weight of the newest observation

double smooth(double average, double sample) {
    return average < 0 ? sample : average + kSmoothing * (sample - average);
}
}  // namespace

double ItlGovernor::decode_step_ms() const {
    if (decode_samples_.empty()) return -1;
    std::vector<double> sorted = decode_samples_;
    std::sort(sorted.begin(), sorted.end());
    return sorted[(sorted.size() - 1) / 4];  // the lower quartile
}

int32_t ItlGovernor::prefill_limit() const {
    if (!enabled()) return INT32_MAX;
    if (decode_samples_.empty() || mixed_in_a_row_ >= kReprobeAfter) return 0;  // measure a decode-only step
    return int32_t(std::max(1.0, std::floor(limit_)));
}

void ItlGovernor::observe(int32_t n_decode_tokens, int32_t n_prefill_tokens, double step_ms) {
    if (!enabled() || n_decode_tokens <= 0 || !(step_ms >= 0)) return;
    if (n_prefill_tokens == 0) {
        decode_samples_.push_back(step_ms);
        if (decode_samples_.size() > kDecodeSamples) decode_samples_.erase(decode_samples_.begin());
        mixed_in_a_row_ = 0;
        return;
    }
    const double decode_ms = decode_step_ms();
    if (decode_ms < 0) return;
    ++mixed_in_a_row_;
    // What the prompt tokens added to the step, per token (a floor keeps a noisy
    // step that ran faster than the decode estimate from reading as free).
    const double per_token = std::max(step_ms - decode_ms, 0.02 * decode_ms) / double(n_prefill_tokens);
    token_ms_ = smooth(token_ms_, per_token);
    const double allowed = (factor_ - 1.0) * decode_ms / token_ms_;
    limit_ = std::clamp(allowed, 1.0, std::max(2.0 * limit_, 2.0));
}

}  // namespace lumen
