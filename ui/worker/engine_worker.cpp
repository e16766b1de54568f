// EngineWorker: loads models, runs generations and reports tokens, step
// statistics and KV snapshots as queued signals. Every engine error becomes a
// signal the GUI shows; nothing here throws or aborts.
#include "worker/engine_worker.h"

#include <QJsonDocument>
#include <algorithm>
#include <cmath>

#include "chat/chat_template.h"
#include "gguf/gguf_file.h"
#include "runtime/engine.h"
#include "sampling/sampling_preset_model.h"

namespace lumen::ui {

namespace {

QString q(const std::string& s) { return QString::fromStdString(s); }

constexpr double kKvSnapshotIntervalSec = 0.1;  // the KV map updates at about 10 Hz

}  // namespace

// ------------------------------------------------------------------ helpers

void register_engine_types() {
    qRegisterMetaType<TokenEventData>();
    qRegisterMetaType<StepStatsData>();
    qRegisterMetaType<ReplyStats>();
    qRegisterMetaType<KvSnapshotData>();
    qRegisterMetaType<ModelSummary>();
    qRegisterMetaType<LoadSettings>();
    qRegisterMetaType<GenerationJob>();
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
    if (auto kind = detect_chat_template(m.tokenizer->vocab().chat_template)) s.chatTemplate = chat_template_name(*kind);
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

EngineWorker::EngineWorker(QObject* parent) : QObject(parent) { clock_.start(); }

EngineWorker::~EngineWorker() = default;

void EngineWorker::inspectModel(const QString& path) {
    auto model = load_model(path.toStdString());
    if (!model) {
        Q_EMIT inspectFailed(path, q(model.status().message()));
        return;
    }
    Q_EMIT modelInspected(summarize_model(*model.value()));
}

void EngineWorker::loadModel(const LoadSettings& settings) {
    unloadModel();
    load_cancel_.store(false);
    EngineOptions options;
    options.kv_tokens = settings.contextTokens;
    options.backend.n_threads = settings.threads;
    if (settings.kvType == QLatin1String("f16")) {
        options.kv_type = DType::F16;
    } else if (settings.kvType == QLatin1String("f32")) {
        options.kv_type = DType::F32;
    } else {
        Q_EMIT loadFailed(settings.path, QStringLiteral("KV type '%1' is not supported; expected f16 or f32").arg(settings.kvType));
        return;
    }
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
    Q_EMIT modelLoaded(summarize_model(engine_->model()), engine_->load_ms());
    publishKvSnapshot();
}

void EngineWorker::unloadModel() {
    if (!engine_) return;
    engine_.reset();
    sequence_of_.clear();
    recent_.clear();
    Q_EMIT modelUnloaded();
    Q_EMIT kvSnapshotReady(KvSnapshotData{});
}

void EngineWorker::releaseConversation(qint64 conversationId) {
    auto it = sequence_of_.find(conversationId);
    if (it == sequence_of_.end()) return;
    if (engine_) engine_->free_sequence(it.value());
    sequence_of_.erase(it);
    recent_.removeAll(conversationId);
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
    out.blocks.resize(qsizetype(snap.blocks.size()));
    for (size_t b = 0; b < snap.blocks.size(); ++b) {
        KvBlockData& d = out.blocks[qsizetype(b)];
        d.refcount = snap.blocks[b].refcount;
        d.tokens = snap.blocks[b].tokens;
        d.owners = QVector<int>(snap.blocks[b].owners.begin(), snap.blocks[b].owners.end());
    }
    for (auto it = sequence_of_.begin(); it != sequence_of_.end(); ++it) {
        out.sequenceIds << it.value();
        out.sequenceConversation << it.key();
    }
    out.wallTimeSec = wallTimeSec();
    return out;
}

// Frees the KV of the least recently used other conversations until the
// request fits (their KV is recomputed if they continue). False if it cannot.
bool EngineWorker::makeRoom(qint64 conversationId, int tokensNeeded) {
    const KVCacheManager& kv = engine_->kv();
    const int blockSize = kv.layout().block_size;
    const int seq = sequence_of_.value(conversationId, -1);
    const int held = seq >= 0 ? int(kv.block_table(seq).size()) : 0;
    const int blocksNeeded = std::min(kv.n_blocks(), (tokensNeeded + blockSize - 1) / blockSize);
    for (int i = 0; i < recent_.size() && kv.free_blocks() + held < blocksNeeded;) {
        const qint64 victim = recent_[i];
        if (victim == conversationId) {
            ++i;
            continue;
        }
        engine_->free_sequence(sequence_of_.take(victim));
        recent_.removeAt(i);
    }
    return kv.free_blocks() + held >= blocksNeeded;
}

void EngineWorker::generate(const GenerationJob& job) {
    if (!engine_) {
        Q_EMIT generationFailed(job.requestId, QStringLiteral("no model is loaded; open a model first"));
        return;
    }
    stop_.store(false);
    Q_EMIT generationStarted(job.requestId);
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
    GenerationRequest request;
    request.prompt_ids = tok.encode(text, tok.vocab().add_bos, true);
    request.max_tokens = job.maxTokens;
    request.sampling = job.sampling;
    if (request.prompt_ids.empty()) {
        Q_EMIT generationFailed(job.requestId, QStringLiteral("the prompt is empty; type some text first"));
        return;
    }

    // The conversation's kept sequence, so the next turn reuses this one's KV.
    if (!sequence_of_.contains(job.conversationId)) {
        makeRoom(job.conversationId, 1);
        auto seq = engine_->create_sequence();
        if (!seq) {
            Q_EMIT generationFailed(job.requestId, q(seq.status().message()));
            return;
        }
        sequence_of_.insert(job.conversationId, seq.value());
    }
    recent_.removeAll(job.conversationId);
    recent_.append(job.conversationId);
    request.seq_id = sequence_of_.value(job.conversationId);
    makeRoom(job.conversationId, int(request.prompt_ids.size()) + job.maxTokens);

    const KVCacheManager& kv = engine_->kv();
    const qint64 bytesPerBlock = kv.layout().bytes_per_block();
    const qint64 weightBytes = engine_->model().weight_bytes();
    double lastSnapshot = -1, lastTokenMs = 0, firstTokenMs = 0;
    int decodeTokens = 0;
    auto onStep = [&](const StepEvent& ev) {
        StepStatsData s;
        s.requestId = job.requestId;
        s.step = ev.step;
        s.prefill = ev.prefill;
        s.tokens = ev.n_tokens;
        s.stepMs = ev.step_ms;
        s.elapsedMs = ev.elapsed_ms;
        s.wallTimeSec = wallTimeSec();
        if (!ev.prefill) {
            decodeTokens += ev.n_tokens;
            const double decodeMs = ev.elapsed_ms - firstTokenMs;
            s.decodeTps = decodeMs > 0 ? 1000.0 * decodeTokens / decodeMs : 0;
        }
        s.weightBytes = weightBytes;
        s.kvUsedBytes = qint64(kv.n_blocks() - kv.free_blocks()) * bytesPerBlock;
        s.kvReservedBytes = qint64(kv.n_blocks()) * bytesPerBlock;
        Q_EMIT stepFinished(s);
        if (s.wallTimeSec - lastSnapshot >= kKvSnapshotIntervalSec) {
            lastSnapshot = s.wallTimeSec;
            Q_EMIT kvSnapshotReady(makeKvSnapshot());
        }
    };
    auto onToken = [&](const TokenEvent& ev) {
        TokenEventData t;
        t.requestId = job.requestId;
        t.index = ev.index;
        t.tokenId = ev.id;
        t.text = q(ev.text);
        t.elapsedMs = ev.elapsed_ms;
        t.sinceLastMs = ev.index == 0 ? 0 : ev.elapsed_ms - lastTokenMs;
        t.wallTimeSec = wallTimeSec();
        if (ev.index == 0) firstTokenMs = ev.elapsed_ms;
        lastTokenMs = ev.elapsed_ms;
        Q_EMIT tokenGenerated(t);
    };

    auto result = engine_->generate(request, onToken, &stop_, onStep);
    if (!result && result.status().code() == StatusCode::recoverable && recent_.size() > 1) {
        // The pool filled up during the prompt: free every other conversation and retry once.
        for (qint64 other : QList<qint64>(recent_))
            if (other != job.conversationId) engine_->free_sequence(sequence_of_.take(other));
        recent_ = {job.conversationId};
        result = engine_->generate(request, onToken, &stop_, onStep);
    }
    Q_EMIT kvSnapshotReady(makeKvSnapshot());
    if (!result) {
        Q_EMIT generationFailed(job.requestId, q(result.status().message()));
        return;
    }
    ReplyStats stats;
    stats.requestId = job.requestId;
    stats.promptTokens = result->stats.n_prompt;
    stats.generatedTokens = result->stats.n_gen;
    stats.cachedPromptTokens = result->stats.n_cached;
    stats.ttftMs = result->stats.ttft_ms;
    stats.prefillTps = result->stats.prefill_tps;
    stats.decodeTps = result->stats.decode_tps;
    stats.totalMs = lastTokenMs;
    stats.wallTimeSec = wallTimeSec();
    stats.stopReason = q(result->stop_reason);
    stats.samplingJson = sampling_to_json(job.sampling);
    Q_EMIT replyFinished(stats, q(result->text));
}

}  // namespace lumen::ui
