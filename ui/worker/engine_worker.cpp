// EngineWorker: loads models, runs generations and reports tokens, step
// statistics and KV snapshots as queued signals. Every engine error becomes a
// signal the GUI shows; nothing here throws or aborts.
#include "worker/engine_worker.h"

#include <QFileInfo>
#include <QJsonDocument>
#include <algorithm>
#include <cmath>

#include "chat/chat_template.h"
#include "gguf/gguf_file.h"
#include "quant/requantize.h"
#include "runtime/engine.h"
#include "sampling/sampling_preset_model.h"
#include "serving/serve_bench.h"
#include "serving/serving_engine.h"

namespace lumen::ui {

namespace {

QString q(const std::string& s) {
    return QString::fromStdString(s);
}

constexpr double kKvSnapshotIntervalSec = 0.1;  // the KV map updates at about 10 Hz
constexpr double kChatMaxItlFactor = 2.0;       // streaming replies keep steps within 2x a decode step

// The Serving panel's summary: the headline figures and the latency table (HTML).
ServeBenchSummary serve_bench_summary(const ServeBenchResult& r) {
    ServeBenchSummary summary;
    summary.completed = r.completed;
    summary.durationSec = r.duration_s;
    summary.requestThroughput = r.request_throughput;
    summary.outputThroughput = r.output_throughput;
    summary.prefixHitRate = r.prefix_hit_rate;
    summary.preemptions = r.preemptions;
    QString rows;
    summary.csv = QStringLiteral("figure,value\n");
    auto figure = [&](const QString& name, double value) {
        summary.csv += name + QLatin1Char(',') + QString::number(value, 'g', 10) + QLatin1Char('\n');
    };
    for (const auto& [name, value] : {std::pair{"requests", double(r.completed)},
                                      {"duration_s", r.duration_s},
                                      {"request_throughput", r.request_throughput},
                                      {"output_throughput", r.output_throughput},
                                      {"total_token_throughput", r.total_token_throughput},
                                      {"decode_throughput", r.decode_throughput},
                                      {"prefix_hit_rate", r.prefix_hit_rate},
                                      {"preemptions", double(r.preemptions)},
                                      {"kv_utilization_mean", r.kv_utilization.mean}})
        figure(QString::fromLatin1(name), value);
    auto row = [&](const QString& name, const Distribution& d) {
        for (const auto& [stat, value] :
             {std::pair{"mean", d.mean}, {"median", d.median}, {"p90", d.p90}, {"p99", d.p99}})
            figure(QStringLiteral("%1_%2_ms").arg(name.toLower(), QLatin1String(stat)), value);
        rows += QStringLiteral("<tr><td>%1</td><td>%2</td><td>%3</td><td>%4</td><td>%5</td></tr>")
                    .arg(name)
                    .arg(d.mean, 0, 'f', 1)
                    .arg(d.median, 0, 'f', 1)
                    .arg(d.p90, 0, 'f', 1)
                    .arg(d.p99, 0, 'f', 1);
    };
    row(QStringLiteral("TTFT"), r.ttft_ms);
    row(QStringLiteral("TPOT"), r.tpot_ms);
    row(QStringLiteral("ITL"), r.itl_ms);
    row(QStringLiteral("E2EL"), r.e2el_ms);
    row(QStringLiteral("queue"), r.queue_ms);
    summary.table = QStringLiteral(
                        "<p>%1 requests in %2 s · %3 req/s · output %4 tok/s · total %5 tok/s · decode %6 tok/s · "
                        "prefix hits %7 % · %8 preemptions · KV use mean %9 %</p>"
                        "<table border='1' cellspacing='0' cellpadding='3'><tr><th>ms</th><th>mean</th>"
                        "<th>median</th><th>p90</th><th>p99</th></tr>%10</table>")
                        .arg(r.completed)
                        .arg(r.duration_s, 0, 'f', 2)
                        .arg(r.request_throughput, 0, 'f', 2)
                        .arg(r.output_throughput, 0, 'f', 1)
                        .arg(r.total_token_throughput, 0, 'f', 1)
                        .arg(r.decode_throughput, 0, 'f', 1)
                        .arg(100.0 * r.prefix_hit_rate, 0, 'f', 1)
                        .arg(r.preemptions)
                        .arg(100.0 * r.kv_utilization.mean, 0, 'f', 1)
                        .arg(rows);
    return summary;
}

}  // namespace

size_t complete_utf8(const std::string& text, size_t from) {
    size_t end = text.size();
    // Step back over at most 3 continuation bytes to the lead byte of the last character.
    size_t lead = end;
    for (int i = 0; i < 4 && lead > from; ++i) {
        const unsigned char c = static_cast<unsigned char>(text[lead - 1]);
        --lead;
        if ((c & 0xC0) != 0x80) {
            const size_t need = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
            return end - lead >= need ? end - from : lead - from;
        }
    }
    return end - from;
}

// ------------------------------------------------------------------ helpers

void register_engine_types() {
    qRegisterMetaType<TokenEventData>();
    qRegisterMetaType<StepStatsData>();
    qRegisterMetaType<ReplyStats>();
    qRegisterMetaType<KvSnapshotData>();
    qRegisterMetaType<ModelSummary>();
    qRegisterMetaType<LoadSettings>();
    qRegisterMetaType<GenerationJob>();
    qRegisterMetaType<ServeBenchSettings>();
    qRegisterMetaType<ServeRequestDone>();
    qRegisterMetaType<ServeBenchSummary>();
    qRegisterMetaType<BeamSearchData>();
    qRegisterMetaType<ContrastiveData>();
    qRegisterMetaType<DecodingStatsData>();
    qRegisterMetaType<QuantEvalSettings>();
    qRegisterMetaType<QuantEvalData>();
}

ModelSummary summarize_model(const Model& m) {
    const ModelConfig& c = m.config;
    ModelSummary s;
    s.path = q(m.path);
    s.name = q(c.name);
    s.format = q(m.format);
    s.architecture = q(c.architecture);
    s.parameters = m.n_parameters();
    s.weightBytes = m.weight_bytes();
    s.dim = c.dim;
    s.layers = c.n_layers;
    s.heads = c.n_heads;
    s.kvHeads = c.n_kv_heads;
    s.headDim = c.head_dim;
    s.ffnDim = c.ffn_dim;
    s.vocabSize = c.vocab_size;
    s.contextLength = c.context_length;
    if (auto kind = detect_chat_template(m.tokenizer->vocab().chat_template))
        s.chatTemplate = chat_template_name(*kind);
    s.weightShapes = weight_shapes(m);
    for (QuantScheme scheme : load_time_schemes())
        s.weightBytesByFormat.append(
            {QString::fromLatin1(quant_scheme_name(scheme)), predicted_weight_bytes(s.weightShapes, scheme)});
    for (const auto& [type, count] : m.tensor_type_counts())
        s.tensorTypes << QStringLiteral("%1 × %2").arg(q(type)).arg(count);
    if (m.gguf)
        for (const auto& key : m.gguf->metadata_order())
            s.metadata.append({q(key), q(m.gguf->find(key)->to_display_string(4))});
    return s;
}

QString sampling_to_json(const SamplingParams& p) {
    return QString::fromUtf8(QJsonDocument(sampling_params_to_json(p)).toJson(QJsonDocument::Compact));
}

// ------------------------------------------------------------------ worker

EngineWorker::EngineWorker(QObject* parent) : QObject(parent) {
    clock_.start();
}

EngineWorker::~EngineWorker() = default;

void EngineWorker::inspectModel(const QString& path) {
    try {
        inspect(path);
    } catch (const std::exception& e) {
        Q_EMIT inspectFailed(path, QStringLiteral("internal error: %1").arg(QString::fromUtf8(e.what())));
    }
}

void EngineWorker::inspect(const QString& path) {
    auto model = load_model(path.toStdString());
    if (!model) {
        Q_EMIT inspectFailed(path, q(model.status().message()));
        return;
    }
    Q_EMIT modelInspected(summarize_model(*model.value()));
}

void EngineWorker::loadModel(const LoadSettings& settings) {
    try {
        load(settings);
    } catch (const std::exception& e) {
        Q_EMIT loadFailed(settings.path, QStringLiteral("internal error: %1").arg(QString::fromUtf8(e.what())));
    }
}

void EngineWorker::load(const LoadSettings& settings) {
    EngineOptions options;
    options.kv_tokens = settings.contextTokens;
    options.backend.n_threads = settings.threads;
    options.backend.device = settings.device.toStdString();
    auto kv_type = parse_kv_cache_type(settings.kvType.toStdString());
    if (!kv_type) {
        Q_EMIT loadFailed(settings.path, q(kv_type.status().message()));
        return;
    }
    options.kv_type = kv_type.value();
    options.weights_scheme = settings.weights.toStdString();
    options.weights_mix = settings.weightsMix.toStdString();
    options.weights_gptq = settings.gptq && !settings.weights.isEmpty();
    if (!settings.calibrationText.isEmpty()) options.calibration.text_path = settings.calibrationText.toStdString();
    options.calibration.samples = settings.calibrationSamples;
    unloadModel();  // both models would rarely fit side by side
    options.on_load_progress = [this](const std::string& stage, float fraction) {
        Q_EMIT loadProgress(q(stage), double(fraction));
        return !load_cancel_.load();
    };
    auto engine = Engine::load(settings.path.toStdString(), {}, options);
    if (!engine) {
        Q_EMIT loadFailed(settings.path, q(engine.status().message()));
        return;
    }
    engine_ = std::move(engine.value());
    loaded_ = settings;
    // Conversations share one serving core. When one of them sends a long prompt while
    // others stream, its chunks are sized so that the streaming replies' steps stay
    // within twice a decode-only step (ItlGovernor); a reply generating alone is unaffected.
    ServingOptions servingOptions;
    servingOptions.max_itl_factor = kChatMaxItlFactor;
    serving_ = std::make_unique<ServingEngine>(*engine_, servingOptions);
    serving_->set_token_callback([this](const TokenOutput& out) {
        if (out.index > 0) ++step_decoded_tokens_;
        auto it = active_.find(out.request_id);
        if (it == active_.end()) return;
        ActiveReply& reply = it->second;
        const Tokenizer& tok = engine_->tokenizer();
        TokenEventData t;
        t.requestId = reply.job.requestId;
        t.index = out.index;
        t.tokenId = out.token;
        const RequestState* state = serving_->request(out.request_id);
        const double arrival = state ? state->metrics.arrival_ms : 0;
        t.elapsedMs = out.time_ms - arrival;
        t.sinceLastMs = out.index == 0 ? 0 : out.time_ms - reply.lastTokenMs;
        reply.lastTokenMs = out.time_ms;
        t.wallTimeSec = wallTimeSec();
        if (!tok.is_end_of_generation(out.token)) reply.text += tok.decode_token(out.token);
        const size_t n = complete_utf8(reply.text, reply.shownBytes);
        t.text = QString::fromUtf8(reply.text.data() + reply.shownBytes, qsizetype(n));
        reply.shownBytes += n;
        Q_EMIT tokenGenerated(t);
    });
    ModelSummary summary = summarize_model(engine_->model());
    summary.backend = QString::fromStdString(engine_->backend().name());
    Q_EMIT modelLoaded(summary, engine_->load_ms());
    publishKvSnapshot();
}

void EngineWorker::failAll(const QString& message) {
    for (const auto& [id, reply] : active_) Q_EMIT generationFailed(reply.job.requestId, message);
    active_.clear();
}

void EngineWorker::unloadModel() {
    if (!engine_) return;
    failAll(QStringLiteral("the model was unloaded"));
    serving_.reset();
    engine_.reset();
    second_model_.reset();
    second_model_path_.clear();
    conversation_paths_.clear();
    Q_EMIT modelUnloaded();
    Q_EMIT kvSnapshotReady(KvSnapshotData{});
}

void EngineWorker::releaseConversation(qint64 conversationId) {
    if (!serving_) return;
    for (const auto& [id, reply] : active_)
        if (reply.job.conversationId == conversationId) {
            (void)serving_->cancel(id);
            break;
        }
    reportFinished();
    // Longest paths first, so that shorter ones (earlier turns) are leaves by the time they are evicted.
    auto paths = conversation_paths_.take(conversationId);
    std::sort(paths.begin(), paths.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
    if (PrefixCache* cache = serving_->prefix_cache())
        for (const auto& path : paths) cache->evict_path(path.data(), path.size());
    publishKvSnapshot();
}

void EngineWorker::publishKvSnapshot() {
    if (engine_) Q_EMIT kvSnapshotReady(makeKvSnapshot());
}

KvSnapshotData EngineWorker::makeKvSnapshot() const {
    KvSnapshotData out;
    const KVSnapshot snap = engine_->kv().snapshot();
    out.blockSize = snap.block_size;
    out.bytesPerBlock = snap.bytes_per_block;
    KVCacheLayout f16 = engine_->kv().layout();
    out.kvType = QString::fromLatin1(dtype_name(f16.type));
    f16.type = DType::F16;
    out.f16BytesPerBlock = f16.bytes_per_block();
    out.blocks.resize(qsizetype(snap.blocks.size()));
    for (size_t b = 0; b < snap.blocks.size(); ++b) {
        KvBlockData& d = out.blocks[qsizetype(b)];
        d.refcount = snap.blocks[b].refcount;
        d.tokens = snap.blocks[b].tokens;
        d.owners = QVector<int>(snap.blocks[b].owners.begin(), snap.blocks[b].owners.end());
        d.cached = snap.blocks[b].cached;
    }
    for (const auto& [id, reply] : active_) {
        const RequestState* state = serving_->request(id);
        if (!state || state->seq_id < 0) continue;
        out.sequenceIds << state->seq_id;
        out.sequenceConversation << reply.job.conversationId;
    }
    out.wallTimeSec = wallTimeSec();
    return out;
}

// ------------------------------------------------------------------ generation

void EngineWorker::generate(const GenerationJob& job) {
    try {
        submit(job);
    } catch (const std::exception& e) {
        Q_EMIT generationFailed(job.requestId, QStringLiteral("internal error: %1").arg(QString::fromUtf8(e.what())));
    }
}

void EngineWorker::submit(const GenerationJob& job) {
    if (!engine_) {
        Q_EMIT generationFailed(job.requestId, QStringLiteral("no model is loaded; open a model first"));
        return;
    }
    for (const auto& [id, reply] : active_)
        if (reply.job.conversationId == job.conversationId) {
            Q_EMIT generationFailed(job.requestId, QStringLiteral("this conversation is already generating a reply"));
            return;
        }
    const Tokenizer& tok = engine_->tokenizer();

    // The prompt: the chat template over the turns, or their text as one document.
    std::string text;
    const auto kind = detect_chat_template(tok.vocab().chat_template);
    if (job.chatMode && kind) {
        std::vector<ChatMessage> messages;
        for (const ChatTurn& t : job.turns) messages.push_back({t.role.toStdString(), t.content.toStdString()});
        text = apply_chat_template(*kind, messages, true);
    } else {
        for (const ChatTurn& t : job.turns) text += t.content.toStdString();
    }
    ServeRequest request;
    request.prompt = tok.encode(text, tok.vocab().add_bos, true);
    request.max_tokens = job.maxTokens;
    request.sampling = job.sampling;
    if (request.prompt.empty()) {
        Q_EMIT generationFailed(job.requestId, QStringLiteral("the prompt is empty; type some text first"));
        return;
    }
    if (job.contrastive.enabled) {
        runContrastive(job, request.prompt);
        return;
    }
    if (job.beam.width >= 1) {
        runBeamSearch(job, request.prompt);
        return;
    }
    if (job.earlyExit.enabled) {
        runGenerate(job, request.prompt);
        return;
    }
    if (job.speculation.mode == SpeculationSettings::promptLookup) request.lookup_draft = job.speculation.draftTokens;
    if (job.speculation.mode == SpeculationSettings::draftModel) {  // drafts in the serving core too
        QString error;
        Engine* draft = secondModel(job.speculation.draftPath, &error);
        Status ready = draft ? serving_->set_draft_engine(draft) : Status::error(error.toStdString());
        if (!ready) {
            Q_EMIT generationFailed(job.requestId, tr("draft model: %1").arg(q(ready.message())));
            return;
        }
        request.draft_model_tokens = job.speculation.draftTokens;
    }
    auto id = serving_->submit(request);
    if (!id) {
        Q_EMIT generationFailed(job.requestId, q(id.status().message()));
        return;
    }
    active_[id.value()] = ActiveReply{job, {}, 0};
    queueStep();
}

void EngineWorker::queueStep() {
    if (step_queued_) return;
    step_queued_ = true;
    QMetaObject::invokeMethod(this, &EngineWorker::runStep, Qt::QueuedConnection);
}

// One serving step; queued again while requests remain, so that new requests,
// cancels and deletions are handled between steps.
void EngineWorker::runStep() {
    step_queued_ = false;
    try {
        step();
    } catch (const std::exception& e) {
        // The engine's state is unknown: end every reply and start over with a fresh serving core.
        failAll(QStringLiteral("internal error: %1").arg(QString::fromUtf8(e.what())));
        serving_.reset();
        if (engine_) {
            Q_EMIT loadFailed(q(engine_->model().path),
                              QStringLiteral("the engine stopped after an internal error; load the model again"));
            engine_.reset();
            Q_EMIT modelUnloaded();
        }
    }
}

void EngineWorker::step() {
    if (!serving_) return;
    std::vector<int64_t> cancelled;
    for (const auto& [id, reply] : active_)
        if (stop_.load() || (reply.job.cancel && reply.job.cancel->load())) cancelled.push_back(id);
    for (int64_t id : cancelled) (void)serving_->cancel(id);
    if (!serving_->idle()) {
        auto m = serving_->step();
        if (!m) {
            const QString message = q(m.status().message());
            for (const auto& [id, reply] : active_) (void)serving_->cancel(id);
            (void)serving_->take_finished();
            failAll(message);
        } else {
            const StepStatsData s = takeStepStats(*m);
            Q_EMIT stepFinished(s);
        }
    }
    reportFinished();
    if (wallTimeSec() - last_snapshot_sec_ >= kKvSnapshotIntervalSec || serving_->idle()) {
        last_snapshot_sec_ = wallTimeSec();
        Q_EMIT kvSnapshotReady(makeKvSnapshot());
    }
    if (!serving_->idle()) queueStep();
}

StepStatsData EngineWorker::takeStepStats(const StepMetrics& m) {
    const KVCacheManager& kv = engine_->kv();
    const qint64 bytesPerBlock = kv.layout().bytes_per_block();
    StepStatsData s;
    s.step = int(m.step);
    s.prefill = m.n_decode_tokens == 0;
    s.tokens = m.n_prefill_tokens + m.n_decode_tokens;
    s.prefillTokens = m.n_prefill_tokens;
    s.decodeTokens = m.n_decode_tokens;
    s.stepMs = m.step_ms;
    s.elapsedMs = m.time_ms;
    s.wallTimeSec = wallTimeSec();
    // Tokens generated, not decode chunks: a verified draft yields several tokens in one step,
    // and the reply's own rate counts them all.
    const int decoded = step_decoded_tokens_;
    step_decoded_tokens_ = 0;
    s.decodeTps = m.step_ms > 0 && m.n_decode_tokens > 0 ? 1000.0 * decoded / m.step_ms : 0;
    s.weightBytes = engine_->model().weight_bytes();
    s.kvUsedBytes = qint64(m.blocks_used) * bytesPerBlock;
    s.kvReservedBytes = qint64(kv.n_blocks()) * bytesPerBlock;
    s.running = m.n_running;
    s.waiting = m.n_waiting;
    return s;
}

void EngineWorker::runServeBench(const ServeBenchSettings& settings) {
    if (!engine_) {
        Q_EMIT serveBenchFailed(QStringLiteral("no model is loaded; open a model first"));
        return;
    }
    if (!serving_->idle()) {
        Q_EMIT serveBenchFailed(
            QStringLiteral("replies are still being generated; run the workload when they are done"));
        return;
    }
    bench_stop_.store(false);
    ServeBenchConfig config;
    config.n_requests = settings.requests;
    config.input_len = settings.inputLen;
    config.output_len = settings.outputLen;
    config.len_jitter = settings.lenJitter;
    config.shared_prefix = settings.sharedPrefix;
    config.rate = settings.rate;
    config.max_concurrency = settings.maxConcurrency;
    try {
        auto workload = make_serve_workload(config, engine_->model().config.vocab_size);
        if (!workload) {
            Q_EMIT serveBenchFailed(q(workload.status().message()));
            return;
        }
        auto onStep = [&](const StepMetrics& m) {
            Q_EMIT serveBenchStep(takeStepStats(m));
            if (wallTimeSec() - last_snapshot_sec_ >= kKvSnapshotIntervalSec) {
                last_snapshot_sec_ = wallTimeSec();
                Q_EMIT kvSnapshotReady(makeKvSnapshot());
            }
        };
        auto onRequest = [&](const RequestState& r) {
            ServeRequestDone done;
            done.ttftMs = r.metrics.ttft_ms();
            done.itlMs = QVector<double>(r.metrics.itl_ms.begin(), r.metrics.itl_ms.end());
            done.wallTimeSec = wallTimeSec();
            Q_EMIT serveBenchRequestDone(done);
        };
        auto result =
            run_serve_bench(*serving_, workload.value(), config.max_concurrency, onStep, &bench_stop_, onRequest);
        Q_EMIT kvSnapshotReady(makeKvSnapshot());
        if (!result) {
            Q_EMIT serveBenchFailed(q(result.status().message()));
            return;
        }
        Q_EMIT serveBenchFinished(serve_bench_summary(result.value()));
    } catch (const std::exception& e) {
        Q_EMIT serveBenchFailed(QStringLiteral("internal error: %1").arg(QString::fromUtf8(e.what())));
    }
}

void EngineWorker::reportFinished() {
    for (auto& f : serving_->take_finished()) {
        auto it = active_.find(f->id);
        if (it == active_.end()) continue;
        const ActiveReply& reply = it->second;
        const RequestMetrics& rm = f->metrics;
        // Remember the reply's cached path; a path that this one extends (an earlier turn) is covered by it.
        auto& paths = conversation_paths_[reply.job.conversationId];
        paths.erase(std::remove_if(paths.begin(), paths.end(),
                                   [&](const std::vector<int32_t>& p) {
                                       return p.size() <= f->tokens.size() &&
                                              std::equal(p.begin(), p.end(), f->tokens.begin());
                                   }),
                    paths.end());
        paths.push_back(f->tokens);
        ReplyStats stats;
        stats.requestId = reply.job.requestId;
        stats.promptTokens = rm.n_input;
        stats.generatedTokens = rm.n_output;
        stats.cachedPromptTokens = rm.n_cached;
        stats.ttftMs = rm.first_token_ms >= 0 ? rm.ttft_ms() : 0;
        const double prefillMs = rm.first_token_ms - rm.first_scheduled_ms;
        stats.prefillTps =
            rm.first_token_ms >= 0 && prefillMs > 0 ? 1000.0 * (rm.n_input - rm.n_cached) / prefillMs : 0;
        const double decodeMs = rm.finished_ms - rm.first_token_ms;
        stats.decodeTps = rm.n_output > 1 && decodeMs > 0 ? 1000.0 * (rm.n_output - 1) / decodeMs : 0;
        stats.totalMs = rm.e2e_ms();
        stats.wallTimeSec = wallTimeSec();
        stats.stopReason = q(f->finish_reason);
        stats.samplingJson = sampling_to_json(reply.job.sampling);
        stats.drafted = rm.n_drafted;
        stats.draftAccepted = rm.n_draft_accepted;
        if (reply.job.speculation.mode != SpeculationSettings::off) {
            DecodingStatsData d;
            d.requestId = reply.job.requestId;
            d.mode = reply.job.speculation.mode == SpeculationSettings::promptLookup
                         ? tr("prompt lookup (in the serving core)")
                         : tr("draft model %1 (in the serving core)")
                               .arg(QFileInfo(reply.job.speculation.draftPath).fileName());
            d.drafted = rm.n_drafted;
            d.accepted = rm.n_draft_accepted;
            d.verifySteps = rm.n_verify_steps;
            d.acceptedAtPosition = QVector<int>(rm.draft_accepted_at.begin(), rm.draft_accepted_at.end());
            d.draftMs = rm.draft_ms;
            d.decodeTps = stats.decodeTps;
            Q_EMIT decodingStatsReady(d);
        }
        const QString text = QString::fromUtf8(reply.text.data(), qsizetype(reply.text.size()));
        active_.erase(it);
        Q_EMIT replyFinished(stats, text);
    }
}

}  // namespace lumen::ui
