// Value types the engine worker sends to the GUI thread through queued
// signals. They are plain copies: nothing here points into the engine.
#pragma once

#include <QMetaType>
#include <QString>
#include <QStringList>
#include <QVector>

namespace lumen::ui {

// One generated token, as it streams.
struct TokenEventData {
    qint64 requestId = 0;
    int index = 0;  // 0-based among the reply's generated tokens
    int tokenId = 0;
    QString text;            // text now safe to show (may be empty while a stop string is pending)
    double elapsedMs = 0;    // since the request started
    double sinceLastMs = 0;  // inter-token latency (0 for the first token)
    double wallTimeSec = 0;  // since the worker started (shared time axis of the plots)
};

// One step of the serving engine (every running request advances together).
struct StepStatsData {
    qint64 requestId = 0;        // 0: the step served several requests
    int step = 0;                // 0-based since the model was loaded
    bool prefill = false;        // only prompt tokens in the step
    int tokens = 0;              // tokens processed in the step
    double stepMs = 0;           // wall time of the step
    double elapsedMs = 0;        // since the model was loaded, at the end of the step
    double wallTimeSec = 0;      // since the worker started (shared time axis of the plots)
    double decodeTps = 0;        // tokens decoded per second of the step, accepted drafts too (0: prefill only)
    qint64 weightBytes = 0;      // model weights
    qint64 kvUsedBytes = 0;      // KV bytes of allocated blocks
    qint64 kvReservedBytes = 0;  // KV bytes of the whole pool
    int running = 0;             // requests running after the step
    int waiting = 0;             // requests queued after the step
    int prefillTokens = 0;       // prompt tokens in the step
    int decodeTokens = 0;        // decode tokens in the step
};

// The outcome and statistics of one reply.
struct ReplyStats {
    qint64 requestId = 0;
    int promptTokens = 0;
    int generatedTokens = 0;
    int cachedPromptTokens = 0;  // prompt tokens whose KV was reused from the previous turn
    double ttftMs = 0;
    double prefillTps = 0;
    double decodeTps = 0;
    double totalMs = 0;
    double wallTimeSec = 0;  // when the reply finished, on the worker's time axis
    QString stopReason;      // eos, max_tokens, stop_string, context_full, cancelled
    QString samplingJson;    // the sampling settings used, as JSON
    int drafted = 0;         // speculative decoding: draft tokens verified
    int draftAccepted = 0;   // of which accepted
};

struct KvBlockData {
    int refcount = 0;
    int tokens = 0;       // tokens held, 0..blockSize
    QVector<int> owners;  // sequence ids
    bool cached = false;  // held by the prefix cache
};

// The KV pool, one entry per block, with the owner of each sequence.
struct KvSnapshotData {
    int blockSize = 0;
    qint64 bytesPerBlock = 0;
    QString kvType;               // the pool's element format ("f16", "q8_0", ...)
    qint64 f16BytesPerBlock = 0;  // what a block would take in f16, for the bytes saved
    QVector<KvBlockData> blocks;
    QVector<int> sequenceIds;              // sequences alive
    QVector<qint64> sequenceConversation;  // the conversation of each sequence (parallel to sequenceIds)
    double wallTimeSec = 0;
};

// A serve-bench workload run from the Serving panel.
struct ServeBenchSettings {
    int requests = 32;
    int inputLen = 256;
    int outputLen = 64;
    double lenJitter = 0.25;
    double sharedPrefix = 0.0;  // fraction of each input from one common prefix
    double rate = 0.0;          // Poisson requests/s; 0: all at once
    int maxConcurrency = 0;     // 0: unlimited
};

// One finished request of a serve-bench run.
struct ServeRequestDone {
    double ttftMs = 0;
    QVector<double> itlMs;
    double wallTimeSec = 0;
};

struct ServeBenchSummary {
    int completed = 0;
    double durationSec = 0;
    double requestThroughput = 0;  // requests/s
    double outputThroughput = 0;   // generated tokens/s
    double prefixHitRate = 0;
    qint64 preemptions = 0;
    QString table;  // the figures as an HTML table
    QString csv;    // the same figures as CSV (figure,value)
};

// The decoding strategy of a reply other than the sampling chain (DecodingPanel).
struct BeamSettings {
    int width = 0;               // 0: sample with the chain; >= 1: beam search with this many beams
    double lengthPenalty = 1.0;  // score = sum log p / length^lengthPenalty
    bool earlyStopping = true;
};

// Contrastive decoding of a reply (DecodingPanel): an early-exit amateur (the model's
// first amateurLayers layers) or another model file with the same vocabulary.
struct ContrastiveSettings {
    bool enabled = false;
    int amateurLayers = 0;  // > 0: early-exit amateur
    QString amateurPath;    // else this model file
    double alpha = 0.1;     // plausibility: p_expert >= alpha * max p_expert
    double lambda = 1.0;    // score = log p_expert - lambda * log p_amateur
};

// Speculative decoding and early exit for a sampled reply (DecodingPanel).
struct SpeculationSettings {
    enum Mode { off = 0, promptLookup = 1, draftModel = 2 };
    int mode = off;
    int draftTokens = 4;  // k: draft tokens per step
    QString draftPath;    // draftModel: a smaller model with the same vocabulary
};
struct EarlyExitSettings {
    bool enabled = false;     // lossy: for studying the quality/speed trade-off
    double maxEntropy = 1.0;  // nats
    int firstLayer = 1;
    int every = 1;
};

// What a reply's decoding did beyond sampling: speculation and early exit statistics.
struct DecodingStatsData {
    qint64 requestId = 0;
    QString mode;  // "prompt lookup", "draft model: <file>", "early exit"
    int drafted = 0;
    int accepted = 0;
    int verifySteps = 0;
    QVector<int> acceptedAtPosition;  // accepted drafts per draft position (generate path)
    double draftMs = 0;
    double decodeTps = 0;
    QVector<int> stepsByLayersRun;  // early exit: index = layers run
    double meanLayersRun = 0;       // early exit: over the decode steps
};

// A quick evaluation of the loaded model (QuantizationPanel): perplexity on a text, and
// against the unquantized file when the weights were quantized at load.
struct QuantEvalSettings {
    QString textPath;  // a plain English text (Debian's CC0-1.0 license by default)
    int contextTokens = 256;
    int chunks = 4;
};
struct TensorErrorData {
    QString name;
    QString type;          // loaded
    QString originalType;  // in the file
    double nmse = 0;
    // With GPTQ: ||X W^T - X Wq^T||^2 / ||X W^T||^2 on the calibration text (-1: not measured).
    double rtnOutputError = -1, gptqOutputError = -1;
    // The kept weights through the CPU kernels (activation quantization included), on
    // the first calibration tokens; -1: not measured.
    double kernelOutputError = -1;
};
struct QuantEvalData {
    QString format;  // the load-time format, or "as stored (<types>)"
    qint64 weightBytes = 0;
    double perplexity = 0;
    double perplexityError = 0;
    bool hasReference = false;  // KLD and top-1 against the file's own weights
    double kldMean = 0, kldP99 = 0, kldMax = 0, top1 = 0;
    double decodeTps = 0;        // greedy, a short generation
    qint64 predictedBytes = 0;   // weights + the KV pool, from the shapes (the Model panel's estimate)
    qint64 backendBytes = 0;     // what the backend holds: weights, KV pool and scratch
    qint64 processRssBytes = 0;  // the whole process's resident memory (both models while evaluating)
    int scored = 0;
    QVector<TensorErrorData> tensors;  // with a reference: every matrix's error
};

// One token of a contrastive reply: the best candidates with both models' probabilities.
struct ContrastiveCandidateData {
    QString token;
    double pExpert = 0;
    double pAmateur = 0;
    double score = 0;
};
struct ContrastiveTokenData {
    QString token;
    QString expertGreedy;  // what the expert alone would have picked
    int plausible = 0;
    QVector<ContrastiveCandidateData> candidates;
};
struct ContrastiveData {
    qint64 requestId = 0;
    QString amateur;  // "first K layers" or the file name
    double alpha = 0, lambda = 0;
    int differs = 0;  // tokens where the choice was not the expert's greedy token
    double elapsedMs = 0;
    QVector<ContrastiveTokenData> tokens;
};

// One beam after one step of a beam search, for the tree view.
struct BeamNodeData {
    int step = 0;
    int parent = -1;  // index among the previous step's nodes; -1: the prompt
    QString token;
    double sumLogprob = 0;
    bool finished = false;  // an end-of-generation token ended a hypothesis here
};

struct BeamHypothesisData {
    QString text;
    double score = 0;
    double sumLogprob = 0;
    int tokens = 0;
    QString finishReason;
};

// A finished beam search: its tree, its hypotheses (best first) and what it cost.
struct BeamSearchData {
    qint64 requestId = 0;
    int width = 0;
    double lengthPenalty = 1.0;
    int steps = 0;
    int forks = 0;
    int promptBlocks = 0;
    int peakBlocks = 0;
    double elapsedMs = 0;
    QVector<QVector<BeamNodeData>> tree;  // per step: the kept beams, then the hypotheses it finished
    QVector<BeamHypothesisData> hypotheses;
};

}  // namespace lumen::ui

Q_DECLARE_METATYPE(lumen::ui::BeamSearchData)
Q_DECLARE_METATYPE(lumen::ui::QuantEvalSettings)
Q_DECLARE_METATYPE(lumen::ui::QuantEvalData)
Q_DECLARE_METATYPE(lumen::ui::ContrastiveData)
Q_DECLARE_METATYPE(lumen::ui::DecodingStatsData)
Q_DECLARE_METATYPE(lumen::ui::ServeBenchSettings)
Q_DECLARE_METATYPE(lumen::ui::ServeRequestDone)
Q_DECLARE_METATYPE(lumen::ui::ServeBenchSummary)
Q_DECLARE_METATYPE(lumen::ui::TokenEventData)
Q_DECLARE_METATYPE(lumen::ui::StepStatsData)
Q_DECLARE_METATYPE(lumen::ui::ReplyStats)
Q_DECLARE_METATYPE(lumen::ui::KvSnapshotData)
