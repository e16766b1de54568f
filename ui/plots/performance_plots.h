// The live performance plots panel: decode tokens/s, TTFT per request,
// inter-token latency (timeline and histogram), memory over time, and per reply
// what a decoding strategy did (draft acceptance, layers run with early exit), drawn
// with QCustomPlot from the events the engine worker sends, with throttled
// replots, a bound on retained points and PNG/CSV export per plot.
#pragma once

#include <QString>
#include <QStringList>
#include <QTimer>
#include <QVector>
#include <QWidget>

#include <deque>

// qcustomplot.h uses the Qt keywords `signals` and `foreach`, which
// QT_NO_KEYWORDS (set for lumen_ui) removes: lend them for this include only.
// Include qcustomplot.h through this header (or the same wrapper).
#ifdef QT_NO_KEYWORDS
#define LUMEN_QCP_SIGNALS_DEFINED
#define LUMEN_QCP_FOREACH_DEFINED
#define signals Q_SIGNALS
#define foreach Q_FOREACH
#endif
#include <qcustomplot.h>
#ifdef LUMEN_QCP_SIGNALS_DEFINED
#undef signals
#undef LUMEN_QCP_SIGNALS_DEFINED
#endif
#ifdef LUMEN_QCP_FOREACH_DEFINED
#undef foreach
#undef LUMEN_QCP_FOREACH_DEFINED
#endif

#include "worker/engine_events.h"

class QTabWidget;

namespace lumen::ui {

// Bins of a histogram: bin i covers [edges[i], edges[i+1]); the last bin
// also includes its upper edge. edges.size() == counts.size() + 1.
struct HistogramBins {
    QVector<double> edges;
    QVector<int> counts;
    int binCount() const { return counts.size(); }
    double binStart(int i) const { return edges.at(i); }
    double binEnd(int i) const { return edges.at(i + 1); }
};

// Bins `samples` with the Freedman–Diaconis rule: width = 2·IQR·n^(−1/3).
// The bin count is ceil(range / width), clamped to 1..kMaxHistogramBins, and
// the bins then split [min, max] evenly (so they cover exactly the data).
// When the IQR is 0 it falls back to the square-root rule (ceil(sqrt(n))
// bins over the range); when all samples are equal it is one bin of width
// 1 ms centred on the value; no samples, no bins.
HistogramBins histogramBins(const QVector<double>& samples);
inline constexpr int kMaxHistogramBins = 200;

class PerformancePlots : public QWidget {
    Q_OBJECT

public:
    // Points kept per series (older ones are dropped first).
    static constexpr int kDefaultMaxPoints = 20000;
    // Interval of the throttled live replot.
    static constexpr int kReplotIntervalMs = 100;
    // A pause between engine steps longer than this breaks the time lines: no line
    // is drawn across a time when nothing ran.
    static constexpr double kIdleGapSec = 1.0;
    // Size of exported PNGs.
    static constexpr int kPngWidth = 800;
    static constexpr int kPngHeight = 500;

    explicit PerformancePlots(QWidget* parent = nullptr);
    ~PerformancePlots() override;

    void addStep(const StepStatsData& step);
    void addToken(const TokenEventData& token);
    void addReply(const ReplyStats& reply);
    void addDecodingStats(const DecodingStatsData& stats);
    void clear();

    // The six plot names, in display order: decode_tps, ttft, itl_timeline,
    // itl_histogram, memory, decoding.
    QStringList plotNames() const;
    // The plot widget (its objectName is the name), nullptr for an unknown name.
    QCustomPlot* plot(const QString& name) const;
    // The data behind a plot: a header row, then one row per point; empty
    // for an unknown name.
    QString csv(const QString& name) const;
    bool exportCsv(const QString& name, const QString& path, QString* error) const;
    bool exportPng(const QString& name, const QString& path, QString* error) const;
    // Immediate replot of all plots (tests, screenshots).
    void replotNow();

    int maxPointsPerSeries() const { return max_points_; }
    // Changes the bound (at least 1) and drops what is beyond it now.
    void setMaxPointsPerSeries(int maxPoints);

private:
    enum PlotId { DecodeTps = 0, Ttft, ItlTimeline, ItlHistogram, Memory, Decoding, PlotCount };

    struct DecodePoint {
        double wallTimeSec;
        qint64 requestId;
        int step;
        double decodeTps;
        bool afterIdle;  // the engine was idle before this point: no line from the previous one
    };
    struct TtftPoint {
        qint64 request;  // 1-based request number since the last clear()
        qint64 requestId;
        double ttftMs;
    };
    struct ItlPoint {
        double wallTimeSec;
        qint64 requestId;
        int index;
        double itlMs;
    };
    struct DecodingPoint {
        qint64 reply;  // 1-based count of replies with decoding statistics
        qint64 requestId;
        double acceptancePct;    // drafts accepted / drafted, -1 without speculation
        double acceptedPerStep;  // accepted drafts per verify step
        double layersRunPct;     // mean layers run / model layers (early exit), -1 without
    };
    struct MemoryPoint {
        double wallTimeSec;
        qint64 weightBytes;
        qint64 kvUsedBytes;
        qint64 kvReservedBytes;
        bool afterIdle;
    };

    void buildPlot(PlotId id, const QString& title);
    void setupAxes();
    void setupDecodeTpsPlot(QCustomPlot* plot);
    void setupTtftPlot(QCustomPlot* plot);
    void setupItlPlots(QCustomPlot* timeline, QCustomPlot* histogram);
    void setupMemoryPlot(QCustomPlot* plot);
    void setupDecodingPlot(QCustomPlot* plot);
    int indexOf(const QString& name) const;
    void markDirty(PlotId id);
    void onReplotTimer();
    // Copies the retained data into the plot and rescales its axes.
    void syncPlot(int id) const;
    // Each returns the largest value shown, for the value axis.
    // A break (NaN) goes before each index in `breaks`.
    double syncTimeline(QCustomPlot* plot, const QVector<double>& keys, const QVector<double>& values,
                        const QVector<int>& breaks = {}) const;
    double syncTtft(QCustomPlot* plot) const;
    double syncItlHistogram(QCustomPlot* plot) const;
    double syncMemory(QCustomPlot* plot) const;
    double syncDecoding(QCustomPlot* plot) const;
    QVector<double> itlSamples() const;
    template <typename T>
    void trim(std::deque<T>& series) const;
    void exportInteractive(const QString& name, bool png);

    QTabWidget* tabs_ = nullptr;
    QCustomPlot* plots_[PlotCount] = {};
    mutable bool dirty_[PlotCount] = {};
    QTimer replot_timer_;
    int max_points_ = kDefaultMaxPoints;

    std::deque<DecodePoint> decode_;
    std::deque<TtftPoint> ttft_;
    std::deque<ItlPoint> itl_;
    std::deque<MemoryPoint> memory_;
    std::deque<DecodingPoint> decoding_;
    double last_step_end_sec_ = -1;   // when the engine's last step ended
    bool decode_after_idle_ = false;  // an idle pause came since the last decode point
    qint64 reply_count_ = 0;
    qint64 decoding_count_ = 0;
};

}  // namespace lumen::ui
