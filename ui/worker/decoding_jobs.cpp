// EngineWorker::runBeamSearch and runContrastive: chat replies decoded by beam
// search or contrastively. Each runs to the end on the worker thread (other
// conversations' steps wait for it); the result becomes the reply, and what the
// strategy did goes to the Decoding panel.
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>

#include "runtime/beam_search.h"
#include "runtime/contrastive.h"
#include "runtime/engine.h"
#include "sampling/sampling_preset_model.h"
#include "serving/serving_engine.h"
#include "worker/engine_worker.h"

namespace lumen::ui {

namespace {

// What speculation and early exit did in one Engine::generate reply.
void add_generation_stats(DecodingStatsData& details, const GenerationStats& g) {
    details.drafted = g.n_drafted;
    details.accepted = g.n_draft_accepted;
    details.verifySteps = g.n_verify_steps;
    details.acceptedAtPosition = QVector<int>(g.draft_accepted_at.begin(), g.draft_accepted_at.end());
    details.draftMs = g.draft_ms;
    details.decodeTps = g.decode_tps;
    details.stepsByLayersRun = QVector<int>(g.exit_layer_counts.begin(), g.exit_layer_counts.end());
    details.meanLayersRun = g.mean_layers_run();
}

ReplyStats reply_stats(const GenerationJob& job, const GenerationStats& g, const QString& stopReason) {
    ReplyStats stats;
    stats.requestId = job.requestId;
    stats.promptTokens = g.n_prompt;
    stats.generatedTokens = g.n_gen;
    stats.ttftMs = g.ttft_ms;
    stats.prefillTps = g.prefill_tps;
    stats.decodeTps = g.decode_tps;
    stats.stopReason = stopReason;
    stats.samplingJson = sampling_to_json(job.sampling);
    stats.drafted = g.n_drafted;
    stats.draftAccepted = g.n_draft_accepted;
    return stats;
}

QString beam_settings_json(const SamplingParams& constraints, const BeamSettings& beam) {
    QJsonObject o = sampling_params_to_json(constraints);
    o.insert(QStringLiteral("beam_width"), beam.width);
    o.insert(QStringLiteral("length_penalty"), beam.lengthPenalty);
    o.insert(QStringLiteral("early_stopping"), beam.earlyStopping);
    return QString::fromUtf8(QJsonDocument(o).toJson(QJsonDocument::Compact));
}

QString contrastive_settings_json(const SamplingParams& sampling, const ContrastiveSettings& c,
                                  const QString& amateur) {
    QJsonObject o = sampling_params_to_json(sampling);
    o.insert(QStringLiteral("contrastive_amateur"), amateur);
    o.insert(QStringLiteral("contrastive_alpha"), c.alpha);
    o.insert(QStringLiteral("contrastive_lambda"), c.lambda);
    return QString::fromUtf8(QJsonDocument(o).toJson(QJsonDocument::Compact));
}

// The stats of a reply that appears whole when its search ends (nothing streams).
ReplyStats whole_reply_stats(const GenerationJob& job, size_t prompt_tokens, size_t generated, double elapsed_ms,
                             const std::string& stop_reason, const QString& settings_json) {
    ReplyStats stats;
    stats.requestId = job.requestId;
    stats.promptTokens = int(prompt_tokens);
    stats.generatedTokens = int(generated);
    stats.ttftMs = elapsed_ms;
    stats.decodeTps = elapsed_ms > 0 ? 1000.0 * double(generated) / elapsed_ms : 0;
    stats.totalMs = elapsed_ms;
    stats.stopReason = QString::fromStdString(stop_reason);
    stats.samplingJson = settings_json;
    return stats;
}

}  // namespace

void EngineWorker::runBeamSearch(const GenerationJob& job, const std::vector<int32_t>& prompt) {
    BeamSearchRequest request;
    request.prompt_ids = prompt;
    request.width = job.beam.width;
    request.n_return = job.beam.width;
    request.max_tokens = job.maxTokens;
    request.length_penalty = float(job.beam.lengthPenalty);
    request.early_stopping = job.beam.earlyStopping;
    request.constraints = job.sampling;
    auto result = beam_search(*engine_, request, job.cancel.get());
    publishKvSnapshot();
    if (!result) {
        Q_EMIT generationFailed(job.requestId, QString::fromStdString(result.status().message()));
        return;
    }
    const BeamSearchResult& r = result.value();
    const Tokenizer& tok = engine_->tokenizer();

    BeamSearchData search;
    search.requestId = job.requestId;
    search.width = request.width;
    search.lengthPenalty = request.length_penalty;
    search.steps = r.n_steps;
    search.forks = r.n_forks;
    search.promptBlocks = r.prompt_blocks;
    search.peakBlocks = r.peak_blocks;
    search.elapsedMs = r.elapsed_ms;
    for (size_t t = 0; t < r.steps.size(); ++t) {
        QVector<BeamNodeData> nodes;
        for (const BeamNode& n : r.steps[t])
            nodes.append(
                {int(t), n.parent, QString::fromStdString(tok.decode_token(n.token, true)), n.sum_logprob, n.finished});
        search.tree.append(nodes);
    }
    for (const BeamHypothesis& h : r.hypotheses)
        search.hypotheses.append({QString::fromStdString(tok.decode(h.ids)), h.score, h.sum_logprob, int(h.ids.size()),
                                  QString::fromStdString(h.finish_reason)});
    Q_EMIT beamSearchFinished(search);

    const BeamHypothesis* best = r.hypotheses.empty() ? nullptr : &r.hypotheses.front();
    ReplyStats stats =
        whole_reply_stats(job, prompt.size(), best ? best->ids.size() : 0, r.elapsed_ms,
                          best ? best->finish_reason : "cancelled", beam_settings_json(job.sampling, job.beam));
    stats.wallTimeSec = wallTimeSec();
    Q_EMIT replyFinished(stats, best ? QString::fromStdString(tok.decode(best->ids)) : QString());
}

void EngineWorker::runContrastive(const GenerationJob& job, const std::vector<int32_t>& prompt) {
    const ContrastiveSettings& settings = job.contrastive;
    ContrastiveRequest request;
    request.prompt_ids = prompt;
    request.max_tokens = job.maxTokens;
    request.alpha = float(settings.alpha);
    request.lambda = float(settings.lambda);
    request.amateur_layers = settings.amateurLayers;
    QString amateurName = tr("first %1 layers").arg(settings.amateurLayers);
    if (settings.amateurLayers <= 0) {
        if (settings.amateurPath.isEmpty()) {
            Q_EMIT generationFailed(job.requestId,
                                    tr("contrastive decoding needs an amateur: a layer count or a model file"));
            return;
        }
        QString error;
        request.amateur = secondModel(settings.amateurPath, &error);
        if (!request.amateur) {
            Q_EMIT generationFailed(job.requestId, tr("amateur model: %1").arg(error));
            return;
        }
        amateurName = QFileInfo(settings.amateurPath).fileName();
    }
    auto result = contrastive_generate(*engine_, request, job.cancel.get());
    publishKvSnapshot();
    if (!result) {
        Q_EMIT generationFailed(job.requestId, QString::fromStdString(result.status().message()));
        return;
    }
    const ContrastiveResult& r = result.value();
    const Tokenizer& tok = engine_->tokenizer();
    auto text = [&](int32_t id) { return QString::fromStdString(tok.decode_token(id, true)); };
    ContrastiveData data;
    data.requestId = job.requestId;
    data.amateur = amateurName;
    data.alpha = settings.alpha;
    data.lambda = settings.lambda;
    data.differs = r.n_differs;
    data.elapsedMs = r.elapsed_ms;
    for (const ContrastiveToken& t : r.trace) {
        ContrastiveTokenData td{text(t.token), text(t.expert_greedy), t.n_plausible, {}};
        for (const ContrastiveCandidate& k : t.candidates)
            td.candidates.append({text(k.token), k.p_expert, k.p_amateur, k.score});
        data.tokens.append(td);
    }
    Q_EMIT contrastiveFinished(data);

    ReplyStats stats = whole_reply_stats(job, prompt.size(), r.ids.size(), r.elapsed_ms, r.stop_reason,
                                         contrastive_settings_json(job.sampling, settings, amateurName));
    stats.wallTimeSec = wallTimeSec();
    Q_EMIT replyFinished(stats, QString::fromStdString(tok.decode(r.ids)));
}

Engine* EngineWorker::secondModel(const QString& path, QString* error) {
    if (second_model_ && second_model_path_ == path) return second_model_.get();
    // The serving core may hold the current second model as its draft model.
    if (serving_ && serving_->draft_engine() == second_model_.get()) {
        if (Status s = serving_->set_draft_engine(nullptr); !s) {
            *error = QString::fromStdString(s.message());
            return nullptr;
        }
    }
    second_model_.reset();
    second_model_path_.clear();
    EngineOptions options = engine_->options();
    options.on_load_progress = nullptr;
    auto loaded = Engine::load(path.toStdString(), {}, options);
    if (!loaded) {
        *error = QString::fromStdString(loaded.status().message());
        return nullptr;
    }
    second_model_ = std::move(loaded.value());
    second_model_path_ = path;
    return second_model_.get();
}

void EngineWorker::runGenerate(const GenerationJob& job, const std::vector<int32_t>& prompt) {
    GenerationRequest request;
    request.prompt_ids = prompt;
    request.max_tokens = job.maxTokens;
    request.sampling = job.sampling;
    DecodingStatsData details;
    details.requestId = job.requestId;
    if (job.earlyExit.enabled) {
        request.early_exit = {float(job.earlyExit.maxEntropy), job.earlyExit.firstLayer, job.earlyExit.every};
        details.mode = tr("early exit (lossy)");
    }
    if (job.speculation.mode == SpeculationSettings::draftModel) {
        QString error;
        request.draft_engine = secondModel(job.speculation.draftPath, &error);
        if (!request.draft_engine) {
            Q_EMIT generationFailed(job.requestId, tr("draft model: %1").arg(error));
            return;
        }
        request.draft_tokens = job.speculation.draftTokens;
        details.mode = tr("draft model %1").arg(QFileInfo(job.speculation.draftPath).fileName());
    }
    // Tokens stream to the chat as the serving path's do.
    std::string text;
    size_t shown = 0;
    double lastMs = 0;
    auto onToken = [&](const TokenEvent& ev) {
        TokenEventData t;
        t.requestId = job.requestId;
        t.index = ev.index;
        t.tokenId = ev.id;
        t.elapsedMs = ev.elapsed_ms;
        t.sinceLastMs = ev.index == 0 ? 0 : ev.elapsed_ms - lastMs;
        lastMs = ev.elapsed_ms;
        t.wallTimeSec = wallTimeSec();
        text += ev.text;
        const size_t n = complete_utf8(text, shown);
        t.text = QString::fromUtf8(text.data() + shown, qsizetype(n));
        shown += n;
        Q_EMIT tokenGenerated(t);
    };
    auto result = engine_->generate(request, onToken, job.cancel.get());
    publishKvSnapshot();
    if (!result) {
        Q_EMIT generationFailed(job.requestId, QString::fromStdString(result.status().message()));
        return;
    }
    add_generation_stats(details, result->stats);
    Q_EMIT decodingStatsReady(details);
    ReplyStats stats = reply_stats(job, result->stats, QString::fromStdString(result->stop_reason));
    stats.totalMs = lastMs;
    stats.wallTimeSec = wallTimeSec();
    Q_EMIT replyFinished(stats, QString::fromStdString(result->text));
}

}  // namespace lumen::ui
