// Beam search: candidates from each beam's log-softmax, fork-on-continue over
// shared KV blocks, hypotheses ranked with a length penalty.
#include "runtime/beam_search.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

namespace lumen {

namespace {

struct Beam {
    int32_t seq = -1;
    std::vector<int32_t> ids;  // generated so far
    double sum_logprob = 0;
    int32_t node = -1;  // its index in the previous step's trace
};

struct Candidate {
    int32_t beam = 0;
    int32_t token = 0;
    double sum_logprob = 0;
};

// The k best tokens of one row of log-probabilities (computed in double).
void top_tokens(const float* logits, int32_t vocab, int32_t k, std::vector<std::pair<double, int32_t>>* out) {
    double mx = -std::numeric_limits<double>::infinity();
    for (int32_t i = 0; i < vocab; ++i) mx = std::max(mx, double(logits[i]));
    double sum = 0;
    for (int32_t i = 0; i < vocab; ++i) sum += std::exp(double(logits[i]) - mx);
    const double log_z = mx + std::log(sum);
    out->clear();
    for (int32_t i = 0; i < vocab; ++i) out->push_back({double(logits[i]) - log_z, i});
    const size_t keep = std::min(size_t(k), out->size());
    std::partial_sort(out->begin(), out->begin() + long(keep), out->end(), [](const auto& a, const auto& b) {
        return a.first > b.first || (a.first == b.first && a.second < b.second);
    });
    out->resize(keep);
}

double length_normalized(double sum_logprob, size_t length, float penalty) {
    return sum_logprob / std::pow(double(std::max<size_t>(length, 1)), double(penalty));
}

// Frees every sequence still listed when the search ends, however it ends.
struct SequenceGuard {
    Engine& engine;
    std::vector<Beam>* beams;
    ~SequenceGuard() {
        for (Beam& b : *beams)
            if (b.seq >= 0) engine.free_sequence(b.seq);
    }
};

}  // namespace

Result<BeamSearchResult> beam_search(Engine& engine, const BeamSearchRequest& request,
                                     const std::atomic<bool>* cancel) {
    const auto start = std::chrono::steady_clock::now();
    const int32_t vocab = engine.model().config.vocab_size;
    const int32_t bs = engine.kv().layout().block_size;
    const int32_t capacity = engine.kv().n_blocks() * bs;
    if (request.width < 1 || request.width > 64)
        return Status::error("beam width is " + std::to_string(request.width) + "; expected 1..64");
    if (request.n_return < 1 || request.n_return > request.width)
        return Status::error("beam search returns " + std::to_string(request.n_return) +
                             " hypotheses; expected 1..width (" + std::to_string(request.width) + ")");
    if (request.max_tokens < 1) return Status::error("beam search max_tokens must be at least 1");
    if (!(request.length_penalty > -10 && request.length_penalty < 10))
        return Status::error("beam length penalty must be between -10 and 10");
    const std::vector<int32_t>& prompt = request.prompt_ids;
    if (prompt.empty()) return Status::error("beam search needs a prompt of at least one token");
    if (int32_t(prompt.size()) >= capacity)
        return Status::error("the prompt has " + std::to_string(prompt.size()) + " tokens but the KV pool holds " +
                             std::to_string(capacity));

    BeamSearchResult result;
    std::vector<Beam> beams;
    SequenceGuard guard{engine, &beams};
    Sampler constraints(request.constraints);

    // Blocks are counted above what the pool held before (other sequences, a prefix cache).
    const int32_t used_before = engine.kv().n_blocks() - engine.kv().free_blocks();
    auto blocks_in_use = [&] { return engine.kv().n_blocks() - engine.kv().free_blocks() - used_before; };

    // The prompt, in chunks of the engine's batch size; logits for its last token.
    auto seq = engine.create_sequence();
    if (!seq) return seq.status().with_context("beam search");
    beams.push_back({seq.value(), {}, 0.0, -1});
    std::vector<float> logits;
    if (Status s = engine.feed(beams[0].seq, prompt, &logits); !s.is_ok()) return s.with_context("beam search prompt");
    result.prompt_blocks = blocks_in_use();
    result.peak_blocks = result.prompt_blocks;

    std::vector<BeamHypothesis> finished;  // the best `width`, kept sorted by score
    auto add_hypothesis = [&](const std::vector<int32_t>& ids, double sum, const std::string& why) {
        BeamHypothesis h{ids, sum, length_normalized(sum, ids.size(), request.length_penalty), why};
        finished.insert(
            std::upper_bound(finished.begin(), finished.end(), h,
                             [](const BeamHypothesis& a, const BeamHypothesis& x) { return a.score > x.score; }),
            h);
        if (finished.size() > size_t(request.width)) finished.pop_back();
    };

    std::vector<int32_t> history;
    std::vector<std::pair<double, int32_t>> top;
    std::vector<Candidate> candidates;
    for (int32_t t = 0; t < request.max_tokens; ++t) {
        // Every beam's 2 * width best continuations.
        candidates.clear();
        for (size_t i = 0; i < beams.size(); ++i) {
            float* row = logits.data() + i * size_t(vocab);
            history = prompt;
            history.insert(history.end(), beams[i].ids.begin(), beams[i].ids.end());
            constraints.constrain(row, vocab, history);
            top_tokens(row, vocab, 2 * request.width, &top);
            for (const auto& [lp, token] : top)
                if (std::isfinite(lp)) candidates.push_back({int32_t(i), token, beams[i].sum_logprob + lp});
        }
        std::stable_sort(candidates.begin(), candidates.end(),
                         [](const Candidate& a, const Candidate& b) { return a.sum_logprob > b.sum_logprob; });

        // Beam i of this step is node i of the previous step's trace; the first step's parent is the prompt.
        auto parent_node = [t](int32_t beam) { return t == 0 ? -1 : beam; };
        const bool last_step = t + 1 == request.max_tokens;
        const bool context_full = int32_t(prompt.size()) + t + 1 >= capacity;
        std::vector<Beam> next;
        std::vector<BeamNode> trace;
        for (size_t rank = 0; rank < candidates.size() && next.size() < size_t(request.width); ++rank) {
            const Candidate& c = candidates[rank];
            std::vector<int32_t> ids = beams[size_t(c.beam)].ids;
            ids.push_back(c.token);
            if (request.stop_at_eos && engine.tokenizer().is_end_of_generation(c.token)) {
                if (rank < size_t(request.width)) {
                    add_hypothesis(ids, c.sum_logprob, "eos");
                    trace.push_back({parent_node(c.beam), c.token, c.sum_logprob, true});
                }
                continue;
            }
            next.push_back({-1, std::move(ids), c.sum_logprob, c.beam});
        }
        // The kept beams come first in the trace, in the order of `next`.
        std::vector<BeamNode> kept;
        for (const Beam& b : next) kept.push_back({parent_node(b.node), b.ids.back(), b.sum_logprob, false});
        kept.insert(kept.end(), trace.begin(), trace.end());
        result.steps.push_back(std::move(kept));
        result.n_steps = t + 1;

        // Done? Hugging Face's rule: with early stopping, once `width` hypotheses are
        // finished; without, once the best live beam cannot beat the worst of them.
        bool done = next.empty();
        if (!done && finished.size() >= size_t(request.width)) {
            const double best_live = length_normalized(next[0].sum_logprob, next[0].ids.size(), request.length_penalty);
            done = request.early_stopping || best_live <= finished.back().score;
        }
        const bool cancelled = cancel && cancel->load();
        if (done || last_step || context_full || cancelled) {
            const char* why = cancelled ? "cancelled" : last_step ? "max_tokens" : "context_full";
            if (!done)
                for (const Beam& b : next) add_hypothesis(b.ids, b.sum_logprob, why);
            break;
        }

        // Each parent's first child takes over its sequence; further children fork it;
        // a parent without children is freed. Forks happen before anything is appended.
        std::vector<int32_t> children(beams.size(), 0);
        for (Beam& b : next) {
            Beam& parent = beams[size_t(b.node)];
            if (children[size_t(b.node)]++ == 0) continue;
            auto fork = engine.fork_sequence(parent.seq);
            if (!fork) {
                for (Beam& forked : next)
                    if (forked.seq >= 0) engine.free_sequence(forked.seq);
                return fork.status().with_context("beam search fork");
            }
            b.seq = fork.value();
            ++result.n_forks;
        }
        std::vector<bool> handed_over(beams.size(), false);
        for (Beam& b : next) {
            if (b.seq >= 0) continue;
            b.seq = beams[size_t(b.node)].seq;
            handed_over[size_t(b.node)] = true;
        }
        for (size_t i = 0; i < beams.size(); ++i)
            if (!handed_over[i]) engine.free_sequence(beams[i].seq);
        beams.clear();  // every old sequence is now owned by `next` or freed
        beams = std::move(next);

        std::vector<SequenceInput> inputs;
        for (const Beam& b : beams) {
            SequenceInput in;
            in.seq_id = b.seq;
            in.tokens = {b.ids.back()};
            inputs.push_back(std::move(in));
        }
        if (Status s = engine.step(inputs, &logits); !s.is_ok())
            return s.with_context("beam search step " + std::to_string(t + 1) + " with " +
                                  std::to_string(beams.size()) + " beams");
        result.peak_blocks = std::max(result.peak_blocks, blocks_in_use());
    }

    finished.resize(std::min(finished.size(), size_t(request.n_return)));
    result.hypotheses = std::move(finished);
    result.elapsed_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    return result;
}

}  // namespace lumen
