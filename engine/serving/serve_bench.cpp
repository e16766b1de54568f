// serve-bench: workload generation, the arrival-driven run loop and the
// latency/throughput summary.
#include "serving/serve_bench.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <thread>

namespace lumen {

bool apply_serve_bench_preset(const std::string& name, ServeBenchConfig* c) {
    if (name == "long-in-short-out") {
        c->input_len = 1024;
        c->output_len = 32;
    } else if (name == "short-in-long-out") {
        c->input_len = 64;
        c->output_len = 256;
    } else if (name == "long-in-long-out") {
        c->input_len = 1024;
        c->output_len = 256;
    } else {
        return false;
    }
    c->len_jitter = 0.25;
    return true;
}

const char* serve_bench_preset_names() {
    return "long-in-short-out, short-in-long-out, long-in-long-out";
}

Distribution summarize(std::vector<double> v) {
    Distribution d;
    d.count = int64_t(v.size());
    if (v.empty()) return d;
    std::sort(v.begin(), v.end());
    double sum = 0;
    for (double x : v) sum += x;
    d.mean = sum / double(v.size());
    // Percentiles by linear interpolation between closest ranks (numpy's default).
    auto pct = [&](double p) {
        const double rank = p / 100.0 * double(v.size() - 1);
        const size_t lo = size_t(std::floor(rank)), hi = std::min(v.size() - 1, lo + 1);
        return v[lo] + (v[hi] - v[lo]) * (rank - double(lo));
    };
    d.median = pct(50);
    d.p90 = pct(90);
    d.p99 = pct(99);
    d.max = v.back();
    return d;
}

Result<std::vector<ServeBenchRequestPlan>> make_serve_workload(const ServeBenchConfig& c, int32_t n_vocab) {
    if (c.n_requests < 1) return Status::error("serve-bench needs at least one request");
    if (c.input_len < 1 || c.output_len < 1) return Status::error("serve-bench input and output lengths must be >= 1");
    if (c.len_jitter < 0 || c.len_jitter >= 1) return Status::error("length jitter must be in [0, 1)");
    if (c.shared_prefix < 0 || c.shared_prefix > 1) return Status::error("shared prefix ratio must be in [0, 1]");
    if (c.rate < 0) return Status::error("arrival rate must be >= 0");
    if (c.n < 1 || c.n > 64) return Status::error("parallel samples n must be in 1..64");
    std::mt19937_64 rng(c.seed);
    // Ids from the middle of the vocabulary: no control or byte tokens.
    std::uniform_int_distribution<int32_t> token(std::min(n_vocab - 1, 256), n_vocab - 1);
    auto length = [&](int32_t len) {
        if (c.len_jitter == 0) return len;
        std::uniform_real_distribution<double> f(1.0 - c.len_jitter, 1.0 + c.len_jitter);
        return std::max(1, int32_t(std::lround(len * f(rng))));
    };
    std::vector<int32_t> prefix(size_t(std::lround(c.input_len * c.shared_prefix)));
    for (auto& t : prefix) t = token(rng);
    std::exponential_distribution<double> gap(c.rate > 0 ? c.rate : 1.0);
    double t_ms = 0;
    std::vector<ServeBenchRequestPlan> out;
    for (int32_t i = 0; i < c.n_requests; ++i) {
        ServeBenchRequestPlan p;
        if (!c.prompts.empty()) {
            p.request.prompt = c.prompts[size_t(i) % c.prompts.size()];
        } else {
            p.request.prompt = prefix;
            const int32_t n = std::max<int32_t>(length(c.input_len) - int32_t(prefix.size()), 1);
            for (int32_t k = 0; k < n; ++k) p.request.prompt.push_back(token(rng));
        }
        for (int32_t t : p.request.prompt)
            if (t < 0 || t >= n_vocab)
                return Status::error("prompt token " + std::to_string(t) + " is outside the vocabulary of " +
                                     std::to_string(n_vocab));
        p.request.max_tokens = length(c.output_len);
        p.request.sampling = c.sampling;
        p.request.sampling.seed = c.seed + uint64_t(i);
        p.request.stop_at_eos = false;  // fixed output lengths, as benchmark_serving's --ignore-eos
        p.request.n = c.n;
        p.request.lookup_draft = c.lookup_draft;
        p.request.draft_model_tokens = c.draft_model_tokens;
        if (c.rate > 0) t_ms += 1000.0 * gap(rng);
        p.arrival_ms = t_ms;
        out.push_back(std::move(p));
    }
    if (c.interfering_prompt > 0) {
        ServeBenchRequestPlan p;
        for (int32_t k = 0; k < c.interfering_prompt; ++k) p.request.prompt.push_back(token(rng));
        p.request.max_tokens = 1;
        p.request.sampling = c.sampling;
        p.request.stop_at_eos = false;
        p.arrival_ms = t_ms;
        p.after_first_tokens = true;
        p.measured = false;
        out.push_back(std::move(p));
    }
    return out;
}

Result<ServeBenchResult> run_serve_bench(ServingEngine& serving, const std::vector<ServeBenchRequestPlan>& workload,
                                         int32_t max_concurrency,
                                         const std::function<void(const StepMetrics&)>& on_step,
                                         const std::atomic<bool>* stop,
                                         const std::function<void(const RequestState&)>& on_request) {
    ServeBenchResult r;
    if (!serving.idle()) return Status::error("serve-bench needs an idle serving engine");
    const double start = serving.now_ms();
    const int64_t preemptions_before = serving.preemptions();
    std::vector<double> ttft, tpot, itl, e2el, queue, kv_util, running, waiting;
    const double n_blocks = double(serving.engine().kv().n_blocks());
    size_t next = 0;
    int32_t in_flight = 0;
    int64_t cached = 0, admitted = 0;
    std::vector<int64_t> submitted;
    int64_t unmeasured = -1;
    // Every submitted request still running has its first token.
    auto all_started = [&] {
        for (int64_t id : submitted) {
            const RequestState* s = serving.request(id);
            if (s && s->n_generated() == 0) return false;
        }
        return true;
    };
    int32_t expected = 0;  // finished sequences to wait for: n per request
    for (const auto& w : workload) expected += w.request.n;
    while (r.completed < expected) {
        if (stop && stop->load()) {
            for (int64_t id : submitted) (void)serving.cancel(id);  // in flight ones; finished ids are no-ops
            (void)serving.take_finished();
            return Status::error("serve-bench stopped");
        }
        const double now = serving.now_ms() - start;
        while (next < workload.size() && workload[next].arrival_ms <= now &&
               (max_concurrency <= 0 || in_flight < max_concurrency) &&
               (!workload[next].after_first_tokens || all_started())) {
            auto id = serving.submit(workload[next].request);
            if (!id) return id.status().with_context("request " + std::to_string(next));
            submitted.push_back(id.value());
            if (!workload[next].measured) unmeasured = id.value();
            ++next;
            ++in_flight;
        }
        if (serving.idle()) {
            if (next < workload.size() && in_flight == 0) {
                const double wait = workload[next].arrival_ms - (serving.now_ms() - start);
                if (wait > 0) std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(wait));
            }
            continue;
        }
        auto m = serving.step();
        if (!m) return m.status();
        ++r.steps;
        kv_util.push_back(double(m->blocks_used) / n_blocks);
        running.push_back(m->n_running);
        waiting.push_back(m->n_waiting);
        r.step_log.push_back(*m);
        if (on_step) on_step(*m);
        for (auto& f : serving.take_finished()) {
            if (f->sample_index == 0) --in_flight;  // a request is in flight until its first sample ends
            ++r.completed;
            const RequestMetrics& rm = f->metrics;
            if (f->id == unmeasured) {
                r.interfering_ttft_ms = rm.ttft_ms();
                continue;
            }
            r.input_tokens += rm.n_input;
            r.output_tokens += rm.n_output;
            ttft.push_back(rm.ttft_ms());
            if (rm.n_output > 1) tpot.push_back(rm.tpot_ms());
            itl.insert(itl.end(), rm.itl_ms.begin(), rm.itl_ms.end());
            e2el.push_back(rm.e2e_ms());
            queue.push_back(rm.queue_ms());
            cached += rm.n_cached;
            admitted += rm.n_input;
            r.drafted += rm.n_drafted;
            r.draft_accepted += rm.n_draft_accepted;
            if (on_request) on_request(*f);
        }
    }
    r.duration_s = (serving.now_ms() - start) / 1000.0;
    double decode_ms = 0, prefill_ms = 0;
    int64_t decode_tokens = 0, prefill_tokens = 0;
    for (const StepMetrics& m : r.step_log) {
        if (m.n_prefill_tokens == 0 && m.n_decode_tokens > 0) {
            decode_ms += m.step_ms;
            decode_tokens += m.n_decode_tokens;
        } else if (m.n_decode_tokens == 0 && m.n_prefill_tokens > 0) {
            prefill_ms += m.step_ms;
            prefill_tokens += m.n_prefill_tokens;
        }
    }
    r.decode_throughput = decode_ms > 0 ? 1000.0 * double(decode_tokens) / decode_ms : 0;
    r.prefill_throughput = prefill_ms > 0 ? 1000.0 * double(prefill_tokens) / prefill_ms : 0;
    r.request_throughput = r.completed / r.duration_s;
    r.output_throughput = double(r.output_tokens) / r.duration_s;
    r.total_token_throughput = double(r.input_tokens + r.output_tokens) / r.duration_s;
    r.ttft_ms = summarize(ttft);
    r.tpot_ms = summarize(tpot);
    r.itl_ms = summarize(itl);
    r.e2el_ms = summarize(e2el);
    r.queue_ms = summarize(queue);
    r.kv_utilization = summarize(kv_util);
    r.running = summarize(running);
    r.waiting = summarize(waiting);
    r.prefix_hit_rate = admitted ? double(cached) / double(admitted) : 0;
    r.preemptions = serving.preemptions() - preemptions_before;
    return r;
}

}  // namespace lumen
