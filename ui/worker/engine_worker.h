// The engine worker: the one object that talks to lumen::Engine. It lives on
// its own QThread; the GUI calls its slots through queued invocations and gets
// value types back through queued signals, so the GUI thread never waits on
// the engine. Every reply is a request of one ServingEngine: several
// conversations generate at once, batched into the same steps, and the
// prefix cache carries a conversation's KV from one turn to the next. Each
// step is queued to the worker's own event loop, so new requests join between
// steps. Stop and cancel are atomic flags the GUI sets directly.
#pragma once

#include <QElapsedTimer>
#include <QHash>
#include <QObject>
#include <QPair>
#include <QString>
#include <QStringList>
#include <QVector>
#include <atomic>
#include <map>
#include <memory>
#include <vector>

#include "quant/requantize.h"
#include "sampling/sampler.h"
#include "worker/engine_events.h"

namespace lumen {
class Engine;
class ServingEngine;
struct Model;
struct StepMetrics;
}  // namespace lumen

namespace lumen::ui {

// What the model panel shows before and after loading.
struct ModelSummary {
    QString path;
    QString name;
    QString format;  // gguf or llama2c
    QString architecture;
    qint64 parameters = 0;
    qint64 weightBytes = 0;
    QVector<QPair<QString, qint64>> weightBytesByFormat;  // predicted after load-time quantization to each format
    WeightShapes weightShapes;  // the tensors' shapes: predicts any format and mix (quant/requantize.h)
    int dim = 0, layers = 0, heads = 0, kvHeads = 0, headDim = 0, ffnDim = 0, vocabSize = 0, contextLength = 0;
    QString chatTemplate;                       // detected template family; empty: completion mode
    QStringList tensorTypes;                    // "q4_1 × 90"
    QVector<QPair<QString, QString>> metadata;  // GGUF key/value, display strings
    QString backend;                            // after a load: the backend that runs the model ("cpu", "cuda")
};

struct LoadSettings {
    QString path;
    int contextTokens = 0;  // KV pool capacity in tokens; 0: min(model context, 4096)
    QString kvType = QStringLiteral("f16");
    int threads = 0;                         // 0: all hardware threads
    QString device = QStringLiteral("cpu");  // cpu, cuda or auto (cuda falls back to the CPU, saying why)
    QString weights;                         // load-time quantization format ("q4_k_m", ...); empty: as stored
    QString weightsMix;                      // "TYPE:embd,output,first,last" or empty (quantize.h's QuantMix)
    bool gptq = false;                       // calibrated (GPTQ) instead of round-to-nearest
    QString calibrationText;                 // GPTQ's calibration text; empty: CalibrationOptions' default
    int calibrationSamples = 8;
};

struct ChatTurn {
    QString role;  // system, user, assistant
    QString content;
};

struct GenerationJob {
    qint64 requestId = 0;
    qint64 conversationId = 0;
    bool chatMode = true;     // chat template over `turns`; else raw continuation of their text
    QVector<ChatTurn> turns;  // the conversation so far, ending with the user's turn
    int maxTokens = 256;
    SamplingParams sampling;
    BeamSettings beam;                          // width >= 1: beam search instead of sampling
    ContrastiveSettings contrastive;            // enabled: contrastive decoding instead of sampling
    SpeculationSettings speculation;            // with sampling: drafts verified by rejection sampling
    EarlyExitSettings earlyExit;                // with sampling: lossy early exit
    std::shared_ptr<std::atomic<bool>> cancel;  // set by the GUI to stop this reply (checked every step)
};

ModelSummary summarize_model(const Model& model);
QString sampling_to_json(const SamplingParams& params);

class EngineWorker : public QObject {
    Q_OBJECT
public:
    explicit EngineWorker(QObject* parent = nullptr);
    ~EngineWorker() override;

    // Thread-safe: called from the GUI thread, take effect within one step.
    void requestStop() { stop_.store(true); }  // every reply (shutdown)
    void requestLoadCancel() { load_cancel_.store(true); }
    void requestServeBenchStop() { bench_stop_.store(true); }
    void clearLoadCancel() { load_cancel_.store(false); }  // before queueing a load

public Q_SLOTS:
    void inspectModel(const QString& path);
    void loadModel(const lumen::ui::LoadSettings& settings);  // a load that fails keeps the loaded model
    void unloadModel();
    void generate(const lumen::ui::GenerationJob& job);
    // Ends the conversation's reply, if any, and forgets its cached KV.
    void releaseConversation(qint64 conversationId);
    void publishKvSnapshot();
    // Runs a serve-bench workload on the loaded model (chat waits until it ends).
    void runServeBench(const lumen::ui::ServeBenchSettings& settings);
    // Perplexity of the loaded model on a text; with load-time quantization also KLD,
    // top-1 agreement and per-tensor errors against the file's own weights.
    void evaluateQuantization(const lumen::ui::QuantEvalSettings& settings);

Q_SIGNALS:
    void modelInspected(const lumen::ui::ModelSummary& summary);
    void inspectFailed(const QString& path, const QString& message);
    void loadProgress(const QString& stage, double fraction);
    void modelLoaded(const lumen::ui::ModelSummary& summary, double loadMs);
    void loadFailed(const QString& path, const QString& message);
    void modelUnloaded();
    void tokenGenerated(const lumen::ui::TokenEventData& token);
    void stepFinished(const lumen::ui::StepStatsData& step);
    void kvSnapshotReady(const lumen::ui::KvSnapshotData& snapshot);
    void replyFinished(const lumen::ui::ReplyStats& stats, const QString& text);
    void generationFailed(qint64 requestId, const QString& message);
    void serveBenchStep(const lumen::ui::StepStatsData& step);
    void serveBenchRequestDone(const lumen::ui::ServeRequestDone& request);
    void serveBenchFinished(const lumen::ui::ServeBenchSummary& summary);
    void serveBenchFailed(const QString& message);
    void beamSearchFinished(const lumen::ui::BeamSearchData& search);
    void contrastiveFinished(const lumen::ui::ContrastiveData& result);
    void decodingStatsReady(const lumen::ui::DecodingStatsData& stats);
    void quantEvalFinished(const lumen::ui::QuantEvalData& result);
    void quantEvalFailed(const QString& message);

private:
    struct ActiveReply {
        GenerationJob job;
        std::string text;
        size_t shownBytes = 0;  // text already sent to the GUI (whole UTF-8 characters only)
        double lastTokenMs = 0;
    };
    double wallTimeSec() const { return double(clock_.nsecsElapsed()) * 1e-9; }
    KvSnapshotData makeKvSnapshot() const;
    void inspect(const QString& path);
    void load(const LoadSettings& settings);
    void submit(const GenerationJob& job);
    // A beam-search reply: runs to the end on this thread (between serving steps), then
    // reports the best hypothesis as the reply and the whole search for the tree view.
    void runBeamSearch(const GenerationJob& job, const std::vector<int32_t>& prompt);
    // A contrastive reply, likewise; an amateur model file is loaded once and kept.
    void runContrastive(const GenerationJob& job, const std::vector<int32_t>& prompt);
    // A reply through Engine::generate on this thread, streamed: draft-model speculation
    // and early exit, which the serving core does not run.
    void runGenerate(const GenerationJob& job, const std::vector<int32_t>& prompt);
    // The engine of a second model (amateur or draft), loaded once per path and kept.
    Engine* secondModel(const QString& path, QString* error);
    void queueStep();
    void runStep();
    void step();
    // The step's statistics; takes the decode tokens the token callback counted in it.
    StepStatsData takeStepStats(const StepMetrics& m);
    void reportFinished();
    void failAll(const QString& message);

    std::unique_ptr<Engine> engine_;
    // An amateur or draft model file, kept between replies. Declared before serving_,
    // which may hold it as its draft model, so that it outlives the serving core.
    std::unique_ptr<Engine> second_model_;
    QString second_model_path_;
    std::unique_ptr<ServingEngine> serving_;
    LoadSettings loaded_;                                                  // how the current model was loaded
    std::map<int64_t, ActiveReply> active_;                                // serving request id -> reply
    QHash<qint64, std::vector<std::vector<int32_t>>> conversation_paths_;  // each reply's tokens: its cached path
    std::atomic<bool> stop_{false};
    std::atomic<bool> load_cancel_{false};
    std::atomic<bool> bench_stop_{false};
    QElapsedTimer clock_;
    double last_snapshot_sec_ = -1;
    // Tokens after the first of a reply, emitted in the running step: with speculation a
    // step decodes several tokens per request, and the plots' rate must count them all.
    int step_decoded_tokens_ = 0;
    bool step_queued_ = false;
};

// Bytes of text[from, end) that form whole UTF-8 characters: a token may end inside one.
size_t complete_utf8(const std::string& text, size_t from);

// Registers the value types for queued connections; call once before use.
void register_engine_types();

}  // namespace lumen::ui

Q_DECLARE_METATYPE(lumen::ui::ModelSummary)
Q_DECLARE_METATYPE(lumen::ui::LoadSettings)
Q_DECLARE_METATYPE(lumen::ui::GenerationJob)
