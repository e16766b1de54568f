// The ITL governor: keeps decoding requests' inter-token latency within a factor
// of a decode-only step while long prompts prefill in chunks (Sarathi-Serve sizes
// its token budget from a latency target in the same spirit, but offline).
//
// On a CPU a decode step is bound by reading the weights, while every prompt token
// costs compute, so even a modest fixed token budget (say 512) makes the steps that
// carry a prompt chunk tens of times longer than a decode step. The governor
// measures both online and sizes the prompt share of mixed steps:
//   - decode-only steps give the undisturbed step time D: the lower quartile of the
//     last 16, since noise (other processes, page faults) only ever slows a step;
//   - mixed steps give the cost of one prompt token, (step - D) / prompt tokens,
//     which grows with the context as attention lengthens (moving average);
//   - the limit is (factor * D - D) / token cost, at least one token, growing at
//     most 2x per step.
// Before it has seen a decode-only step it lets one happen (limit 0) to measure D,
// and again after 64 mixed steps in a row, so D follows the batch as it changes.
// Steps without decodes are not limited: a lone prompt prefills at full budget.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace lumen {

class ItlGovernor {
public:
    // factor <= 1 turns the governor off (no limit).
    explicit ItlGovernor(double factor) : factor_(factor) {}
    bool enabled() const { return factor_ > 1; }

    // Prompt tokens a step may carry while requests decode in it.
    int32_t prefill_limit() const;
    // One step's outcome: its decode and prompt tokens and its wall time.
    void observe(int32_t n_decode_tokens, int32_t n_prefill_tokens, double step_ms);

    double decode_step_ms() const;                         // < 0 until measured
    double prefill_token_ms() const { return token_ms_; }  // < 0 until measured
    double target_step_ms() const { return factor_ * decode_step_ms(); }

    static constexpr size_t kDecodeSamples = 16;
    static constexpr int32_t kReprobeAfter = 64;  // mixed steps in a row before a decode-only one

private:
    double factor_;
    std::vector<double> decode_samples_;  // the latest decode-only step times, oldest first
    int32_t mixed_in_a_row_ = 0;
    double token_ms_ = -1;
    double limit_ = 4;  // the first mixed step carries a few prompt tokens
};

}  // namespace lumen
