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

int32_t ItlGovernor::prefill_limit() const {
    if (!enabled()) return INT32_MAX;
    if (decode_ms_ < 0) return 0;  // measure an undisturbed decode step first
    return int32_t(std::max(1.0, std::floor(limit_)));
}

void ItlGovernor::observe(int32_t n_decode_tokens, int32_t n_prefill_tokens, double step_ms) {
    if (!enabled() || n_decode_tokens <= 0 || !(step_ms >= 0)) return;
    if (n_prefill_tokens == 0) {
        decode_ms_ = smooth(decode_ms_, step_ms);
        return;
    }
    if (decode_ms_ < 0) return;
    // What the prompt tokens added to the step, per token (a floor keeps a noisy
    // step that ran faster than the average decode step from reading as free).
    const double per_token = std::max(step_ms - decode_ms_, 0.02 * decode_ms_) / double(n_prefill_tokens);
    token_ms_ = smooth(token_ms_, per_token);
    const double allowed = (factor_ - 1.0) * decode_ms_ / token_ms_;
    limit_ = std::clamp(allowed, 1.0, std::max(2.0 * limit_, 2.0));
}

}  // namespace lumen
