// The engine worker: the one object that talks to lumen::Engine. It lives on
// its own QThread; the GUI calls its slots through queued invocations and gets
// value types back through queued signals, so the GUI thread never waits on
// the engine. Stop and cancel are atomic flags the GUI sets directly.
#pragma once

#include <QElapsedTimer>
#include <QHash>
#include <QList>
#include <QObject>
#include <QPair>
#include <QString>
#include <QStringList>
#include <QVector>
#include <atomic>
#include <memory>

#include "sampling/sampler.h"
#include "worker/engine_events.h"

namespace lumen {
class Engine;
struct Model;
}  // namespace lumen

namespace lumen::ui {

// What the model panel shows before and after loading.
struct ModelSummary {
    QString path;
    QString name;
    QString format;        // gguf or llama2c
    QString architecture;
    qint64 parameters = 0;
    qint64 weightBytes = 0;
    int dim = 0, layers = 0, heads = 0, kvHeads = 0, headDim = 0, ffnDim = 0, vocabSize = 0, contextLength = 0;
    QString chatTemplate;  // detected template family; empty: completion mode
    QStringList tensorTypes;                       // "q4_1 × 90"
    QVector<QPair<QString, QString>> metadata;     // GGUF key/value, display strings
};

struct LoadSettings {
    QString path;
    int contextTokens = 0;  // KV pool capacity in tokens; 0: min(model context, 4096)
    QString kvType = QStringLiteral("f16");
    int threads = 0;        // 0: all hardware threads
};

struct ChatTurn {
    QString role;  // system, user, assistant
    QString content;
};

struct GenerationJob {
    qint64 requestId = 0;
    qint64 conversationId = 0;  // its KV sequence is kept between turns
    bool chatMode = true;       // chat template over `turns`; else raw continuation of their text
    QVector<ChatTurn> turns;    // the conversation so far, ending with the user's turn
    int maxTokens = 256;
    SamplingParams sampling;
};

ModelSummary summarize_model(const Model& model);
QString sampling_to_json(const SamplingParams& params);

class EngineWorker : public QObject {
    Q_OBJECT
public:
    explicit EngineWorker(QObject* parent = nullptr);
    ~EngineWorker() override;

    // Thread-safe: called from the GUI thread, take effect within one step.
    void requestStop() { stop_.store(true); }
    void requestLoadCancel() { load_cancel_.store(true); }

public Q_SLOTS:
    void inspectModel(const QString& path);
    void loadModel(const lumen::ui::LoadSettings& settings);
    void unloadModel();
    void generate(const lumen::ui::GenerationJob& job);
    // Frees the KV blocks a conversation keeps between turns.
    void releaseConversation(qint64 conversationId);
    void publishKvSnapshot();

Q_SIGNALS:
    void modelInspected(const lumen::ui::ModelSummary& summary);
    void inspectFailed(const QString& path, const QString& message);
    void loadProgress(const QString& stage, double fraction);
    void modelLoaded(const lumen::ui::ModelSummary& summary, double loadMs);
    void loadFailed(const QString& path, const QString& message);
    void modelUnloaded();
    void generationStarted(qint64 requestId);
    void tokenGenerated(const lumen::ui::TokenEventData& token);
    void stepFinished(const lumen::ui::StepStatsData& step);
    void kvSnapshotReady(const lumen::ui::KvSnapshotData& snapshot);
    void replyFinished(const lumen::ui::ReplyStats& stats, const QString& text);
    void generationFailed(qint64 requestId, const QString& message);

private:
    double wallTimeSec() const { return double(clock_.nsecsElapsed()) * 1e-9; }
    KvSnapshotData makeKvSnapshot() const;
    bool makeRoom(qint64 conversationId, int tokensNeeded);

    std::unique_ptr<Engine> engine_;
    std::atomic<bool> stop_{false};
    std::atomic<bool> load_cancel_{false};
    QElapsedTimer clock_;
    QHash<qint64, int> sequence_of_;   // conversation -> kept KV sequence
    QList<qint64> recent_;             // conversations by last use, most recent last
};

// Registers the value types for queued connections; call once before use.
void register_engine_types();

}  // namespace lumen::ui

Q_DECLARE_METATYPE(lumen::ui::ModelSummary)
Q_DECLARE_METATYPE(lumen::ui::LoadSettings)
Q_DECLARE_METATYPE(lumen::ui::GenerationJob)
