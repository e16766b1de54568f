// generate_served: a GenerationRequest through the serving core, reported as
// Engine::generate reports it.
#include "serving/served_generation.h"

namespace lumen {

namespace {

// Steps `serving` until request `id` has finished (or is cancelled by `cancel`).
Status step_until_finished(ServingEngine& serving, int64_t id, double t0, const std::atomic<bool>* cancel,
                           const StepCallback& on_step) {
    int32_t n_steps = 0;
    while (serving.request(id)) {
        auto m = serving.step();
        if (!m) {
            (void)serving.cancel(id);
            (void)serving.take_finished(id);
            return m.status();
        }
        const int32_t n_tokens = m->n_prefill_tokens + m->n_decode_tokens + m->n_draft_tokens;
        if (n_tokens == 0 && serving.request(id)) {
            (void)serving.cancel(id);
            (void)serving.take_finished(id);
            return Status::error("the serving engine ran no tokens for the request; expected a step to run it");
        }
        if (on_step) {
            StepEvent ev;
            ev.step = n_steps;
            ev.prefill = m->n_prefill_tokens > 0;
            ev.n_tokens = n_tokens;
            ev.step_ms = m->step_ms;
            ev.elapsed_ms = m->time_ms - t0;
            on_step(ev);
        }
        ++n_steps;
        if (cancel && cancel->load() && serving.request(id)) (void)serving.cancel(id);
    }
    return Status::ok();
}

// The finished request as Engine::generate reports a generation.
void fill_result(const RequestState& r, double t0, GenerationResult& result) {
    const RequestMetrics& m = r.metrics;
    result.ids.assign(r.tokens.begin() + r.n_prompt, r.tokens.end());
    result.text = r.text.text();
    result.stop_reason = r.finish_reason;
    GenerationStats& s = result.stats;
    s.n_prompt = r.n_prompt;
    s.n_gen = int32_t(result.ids.size());
    s.n_cached = m.n_cached;
    if (m.first_token_ms >= 0) {
        s.ttft_ms = m.first_token_ms - t0;
        s.prefill_tps = s.ttft_ms > 0 ? 1000.0 * double(r.n_prompt - m.n_cached) / s.ttft_ms : 0;
    }
    if (result.ids.size() > 1) {
        const double decode_ms = m.finished_ms - m.first_token_ms;
        s.decode_tps = decode_ms > 0 ? 1000.0 * double(result.ids.size() - 1) / decode_ms : 0;
    }
    s.n_drafted = m.n_drafted;
    s.n_draft_accepted = m.n_draft_accepted;
    s.n_verify_steps = m.n_verify_steps;
    s.draft_accepted_at = m.draft_accepted_at;
    s.draft_ms = m.draft_ms;
    s.exit_layer_counts = m.exit_layer_counts;
    result.logprobs = r.logprobs;
}

}  // namespace

ServingOptions single_stream_serving_options(const Engine& engine) {
    ServingOptions options;
    options.scheduler.max_batch_tokens = engine.options().max_batch_tokens;
    options.prefix_cache = true;
    options.max_itl_factor = 0;
    return options;
}

Result<ServeRequest> to_serve_request(const GenerationRequest& request, const std::vector<int32_t>& prompt_ids) {
    if (request.seq_id >= 0)
        return Status::error(
            "the serving core continues a conversation through its prefix cache, not a kept "
            "sequence; leave seq_id at -1 and send the whole conversation as the prompt");
    if (request.max_tokens < 0) return Status::error("max tokens must be >= 0");
    if (request.draft_engine && request.lookup_draft > 0)
        return Status::error("a draft model and prompt-lookup drafts cannot be combined; choose one draft source");
    if (request.draft_tokens < 0)
        return Status::error("draft tokens must be >= 0 (0: " + std::to_string(kDefaultDraftTokens) + ")");
    ServeRequest s;
    s.prompt = prompt_ids;
    s.max_tokens = request.max_tokens;
    s.sampling = request.sampling;
    s.stop_at_eos = request.stop_at_eos;
    s.stop_strings = request.stop_strings;
    s.lookup_draft = request.lookup_draft;
    s.lookup_ngram = request.lookup_ngram;
    if (request.draft_engine)
        s.draft_model_tokens = request.draft_tokens > 0 ? request.draft_tokens : kDefaultDraftTokens;
    s.draft_adaptive = request.lookup_adaptive;
    s.early_exit = request.early_exit;
    if (request.top_logprobs > kMaxTopLogprobs)
        return Status::error("top logprobs is " + std::to_string(request.top_logprobs) + ", expected -1 (none) to " +
                             std::to_string(kMaxTopLogprobs));
    s.top_logprobs = std::max(-1, request.top_logprobs);
    return s;
}

Result<GenerationResult> generate_served(ServingEngine& serving, const GenerationRequest& request,
                                         const TokenCallback& on_token, const std::atomic<bool>* cancel,
                                         const StepCallback& on_step) {
    const double t0 = serving.now_ms();
    GenerationResult result;
    auto prompt = serving.engine().tokenize_prompt(request);
    if (!prompt) return prompt.status();
    result.prompt_ids = std::move(prompt.value());
    auto serve_request = to_serve_request(request, result.prompt_ids);
    if (!serve_request) return serve_request.status();
    if (request.max_tokens == 0) {
        result.stop_reason = "max_tokens";
        result.stats.n_prompt = int32_t(result.prompt_ids.size());
        return result;
    }
    if (request.draft_engine) LUMEN_TRY(serving.set_draft_engine(request.draft_engine));
    TokenOutputCallback stream;
    if (on_token)
        stream = [&](const TokenOutput& out) {
            TokenEvent ev;
            ev.id = out.token;
            ev.text = out.text;
            ev.index = out.index;
            ev.elapsed_ms = out.time_ms - t0;
            ev.logprobs = out.logprobs;
            on_token(ev);
        };
    auto id = serving.submit(serve_request.value(), std::move(stream));
    if (!id) return id.status();
    LUMEN_TRY(step_until_finished(serving, id.value(), t0, cancel, on_step));
    const std::unique_ptr<RequestState> finished = serving.take_finished(id.value());
    if (!finished) return Status::error("request " + std::to_string(id.value()) + " finished but was taken elsewhere");
    fill_result(*finished, t0, result);
    return result;
}

}  // namespace lumen
