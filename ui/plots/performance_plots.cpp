// The live performance plots panel (see performance_plots.h): keeps the last
// points of each series, copies them into QCustomPlot on a throttled timer,
// and exports each plot as PNG or as the CSV of the data behind it.
#include "plots/performance_plots.h"

#include <QAction>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLocale>
#include <QMessageBox>
#include <QSaveFile>
#include <QTabWidget>
#include <QToolButton>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/export_path.h"
#include "plots/plot_fit.h"

namespace lumen::ui {

namespace {

const char* const kPlotNames[] = {"decode_tps", "ttft", "itl_timeline", "itl_histogram", "memory", "decoding"};

constexpr double kBytesPerMiB = 1024.0 * 1024.0;

// Shortest text that reads back as the same double.
QString num(double v) {
    return QString::number(v, 'g', QLocale::FloatingPointShortest);
}

double mib(qint64 bytes) {
    return double(bytes) / kBytesPerMiB;
}

// Linear-interpolated quantile of sorted data (q in [0, 1]).
double quantile(const QVector<double>& sorted, double q) {
    const double pos = q * double(sorted.size() - 1);
    const int i = int(std::floor(pos));
    const int j = std::min(i + 1, int(sorted.size()) - 1);
    return sorted.at(i) + (pos - i) * (sorted.at(j) - sorted.at(i));
}

// y from 0 to a little above the largest value (1 when there is nothing).
void rescaleValueAxisFromZero(QCPAxis* axis, double maxValue) {
    axis->setRange(0, maxValue > 0 ? maxValue * 1.08 : 1.0);
}

// Ticks at whole numbers only: the x axis counts requests or replies.
QSharedPointer<QCPAxisTickerFixed> wholeNumberTicker() {
    QSharedPointer<QCPAxisTickerFixed> ticker(new QCPAxisTickerFixed);
    ticker->setTickStep(1.0);
    ticker->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
    return ticker;
}

// A line graph's data with a break before each index in `breaks` (ascending): QCustomPlot
// draws no line through a NaN value. The break's key lies between its neighbours.
QVector<double> withBreaks(const QVector<double>& data, const QVector<int>& breaks, bool keys) {
    if (breaks.isEmpty()) return data;
    QVector<double> out;
    out.reserve(data.size() + breaks.size());
    int next = 0;
    for (int i = 0; i < data.size(); ++i) {
        if (next < breaks.size() && breaks[next] == i) {
            ++next;
            if (i > 0) out.push_back(keys ? (data[i - 1] + data[i]) / 2 : std::numeric_limits<double>::quiet_NaN());
        }
        out.push_back(data[i]);
    }
    return out;
}

void rescaleKeyAxis(QCPAxis* axis, double lo, double hi) {
    if (!(hi > lo)) {
        lo -= 0.5;
        hi += 0.5;
    }
    const double margin = (hi - lo) * 0.02;
    axis->setRange(lo - margin, hi + margin);
}

}  // namespace

HistogramBins histogramBins(const QVector<double>& samples) {
    HistogramBins bins;
    const int n = samples.size();
    if (n == 0) return bins;
    QVector<double> sorted = samples;
    std::sort(sorted.begin(), sorted.end());
    const double lo = sorted.front();
    const double hi = sorted.back();
    const double range = hi - lo;
    if (!(range > 0)) {
        bins.edges = {lo - 0.5, lo + 0.5};
        bins.counts = {n};
        return bins;
    }
    // Freedman–Diaconis, with the square-root rule when the IQR is 0.
    const double iqr = quantile(sorted, 0.75) - quantile(sorted, 0.25);
    const double fdWidth = 2.0 * iqr / std::cbrt(double(n));
    double count = fdWidth > 0 ? std::ceil(range / fdWidth) : std::ceil(std::sqrt(double(n)));
    count = std::clamp(count, 1.0, double(kMaxHistogramBins));
    const int binCount = int(count);
    const double width = range / binCount;
    bins.edges.resize(binCount + 1);
    for (int i = 0; i < binCount; ++i) bins.edges[i] = lo + i * width;
    bins.edges[binCount] = hi;  // exact, so the largest sample is inside
    bins.counts.fill(0, binCount);
    for (double x : sorted) {
        int i = int(std::upper_bound(bins.edges.cbegin(), bins.edges.cend(), x) - bins.edges.cbegin()) - 1;
        i = std::clamp(i, 0, binCount - 1);
        ++bins.counts[i];
    }
    return bins;
}

PerformancePlots::PerformancePlots(QWidget* parent) : QWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    tabs_ = new QTabWidget(this);
    tabs_->setObjectName(QStringLiteral("performance_tabs"));
    layout->addWidget(tabs_);

    buildPlot(DecodeTps, tr("Decode tokens/s"));
    buildPlot(Ttft, tr("TTFT"));
    buildPlot(ItlTimeline, tr("ITL timeline"));
    buildPlot(ItlHistogram, tr("ITL histogram"));
    buildPlot(Memory, tr("Memory"));
    buildPlot(Decoding, tr("Decoding"));
    setupAxes();

    replot_timer_.setSingleShot(true);
    replot_timer_.setInterval(kReplotIntervalMs);
    connect(&replot_timer_, &QTimer::timeout, this, &PerformancePlots::onReplotTimer);
    replotNow();
}

PerformancePlots::~PerformancePlots() = default;

void PerformancePlots::buildPlot(PlotId id, const QString& title) {
    const QString name = QString::fromLatin1(kPlotNames[id]);
    auto* page = new QWidget(tabs_);
    auto* pageLayout = new QVBoxLayout(page);
    pageLayout->setContentsMargins(4, 4, 4, 4);

    auto* plot = new QCustomPlot(page);
    plot->setObjectName(name);
    plot->setMinimumSize(240, 160);
    plot->plotLayout()->insertRow(0);
    QFont titleFont = plot->font();
    titleFont.setBold(true);
    plot->plotLayout()->addElement(0, 0, new QCPTextElement(plot, title, titleFont));

    auto* pngAction = new QAction(tr("Export PNG…"), plot);
    pngAction->setObjectName(QStringLiteral("exportPng_") + name);
    pngAction->setToolTip(tr("Save this plot as a PNG image (%1×%2)").arg(kPngWidth).arg(kPngHeight));
    connect(pngAction, &QAction::triggered, this, [this, name] { exportInteractive(name, true); });
    auto* csvAction = new QAction(tr("Export CSV…"), plot);
    csvAction->setObjectName(QStringLiteral("exportCsv_") + name);
    csvAction->setToolTip(tr("Save the data behind this plot as CSV"));
    connect(csvAction, &QAction::triggered, this, [this, name] { exportInteractive(name, false); });
    plot->addAction(pngAction);
    plot->addAction(csvAction);
    plot->setContextMenuPolicy(Qt::ActionsContextMenu);

    auto* buttons = new QHBoxLayout;
    for (QAction* action : {pngAction, csvAction}) {
        auto* button = new QToolButton(page);
        button->setDefaultAction(action);
        button->setAutoRaise(true);
        buttons->addWidget(button);
    }
    buttons->addStretch(1);
    pageLayout->addLayout(buttons);
    pageLayout->addWidget(plot, 1);

    fitPlotText(plot);
    plots_[id] = plot;
    tabs_->addTab(page, title);
}

void PerformancePlots::setupAxes() {
    setupDecodeTpsPlot(plots_[DecodeTps]);
    setupTtftPlot(plots_[Ttft]);
    setupItlPlots(plots_[ItlTimeline], plots_[ItlHistogram]);
    setupMemoryPlot(plots_[Memory]);
    setupDecodingPlot(plots_[Decoding]);
    for (int i = 0; i < PlotCount; ++i) dirty_[i] = true;
}

void PerformancePlots::setupDecodeTpsPlot(QCustomPlot* p) {
    QCPGraph* graph = p->addGraph();
    graph->setName(tr("Decode tokens/s"));
    graph->setPen(QPen(QColor(31, 119, 180), 1.5));
    graph->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, 4));
    p->xAxis->setLabel(tr("Time since start (s)"));
    p->yAxis->setLabel(tr("Decode throughput (tokens/s)"));
}

void PerformancePlots::setupTtftPlot(QCustomPlot* p) {
    auto* bars = new QCPBars(p->xAxis, p->yAxis);
    bars->setName(tr("TTFT"));
    bars->setWidth(0.6);
    bars->setPen(QPen(QColor(214, 39, 40)));
    bars->setBrush(QColor(214, 39, 40, 150));
    p->xAxis->setTicker(wholeNumberTicker());
    p->xAxis->setLabel(tr("Request (#)"));
    p->yAxis->setLabel(tr("Time to first token (ms)"));
}

void PerformancePlots::setupItlPlots(QCustomPlot* timeline, QCustomPlot* histogram) {
    QCPGraph* graph = timeline->addGraph();
    graph->setName(tr("Inter-token latency"));
    graph->setLineStyle(QCPGraph::lsNone);
    graph->setPen(QPen(QColor(44, 160, 44)));
    graph->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, 4));
    timeline->xAxis->setLabel(tr("Time since start (s)"));
    timeline->yAxis->setLabel(tr("Inter-token latency (ms)"));

    auto* bars = new QCPBars(histogram->xAxis, histogram->yAxis);
    bars->setName(tr("ITL histogram"));
    bars->setWidthType(QCPBars::wtPlotCoords);
    bars->setPen(QPen(QColor(44, 160, 44)));
    bars->setBrush(QColor(44, 160, 44, 150));
    histogram->xAxis->setLabel(tr("Inter-token latency (ms)"));
    histogram->yAxis->setLabel(tr("Tokens (count)"));
}

void PerformancePlots::setupMemoryPlot(QCustomPlot* p) {
    const struct {
        QString name;
        QColor color;
    } series[] = {{tr("Weights"), QColor(31, 119, 180)},
                  {tr("KV in use"), QColor(255, 127, 14)},
                  {tr("KV reserved"), QColor(148, 103, 189)}};
    for (const auto& s : series) {
        QCPGraph* graph = p->addGraph();
        graph->setName(s.name);
        graph->setPen(QPen(s.color, 1.5));
    }
    p->xAxis->setLabel(tr("Time since start (s)"));
    p->yAxis->setLabel(tr("Memory (MiB)"));
    p->legend->setVisible(true);
    p->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignLeft);
}

void PerformancePlots::setupDecodingPlot(QCustomPlot* p) {
    const struct {
        QString name;
        QColor color;
    } series[] = {{tr("Draft acceptance"), QColor(23, 190, 207)},
                  {tr("Layers run (early exit)"), QColor(188, 189, 34)}};
    for (const auto& s : series) {
        QCPGraph* graph = p->addGraph();
        graph->setName(s.name);
        graph->setLineStyle(QCPGraph::lsNone);
        graph->setPen(QPen(s.color, 1.5));
        graph->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, 6));
    }
    p->xAxis->setTicker(wholeNumberTicker());
    p->xAxis->setLabel(tr("Reply (#)"));
    p->yAxis->setLabel(tr("Share (%)"));
    p->legend->setVisible(true);
}

QStringList PerformancePlots::plotNames() const {
    QStringList names;
    for (const char* name : kPlotNames) names << QString::fromLatin1(name);
    return names;
}

int PerformancePlots::indexOf(const QString& name) const {
    for (int i = 0; i < PlotCount; ++i)
        if (name == QLatin1String(kPlotNames[i])) return i;
    return -1;
}

QCustomPlot* PerformancePlots::plot(const QString& name) const {
    const int i = indexOf(name);
    return i < 0 ? nullptr : plots_[i];
}

template <typename T>
void PerformancePlots::trim(std::deque<T>& series) const {
    while (series.size() > size_t(max_points_)) series.pop_front();
}

void PerformancePlots::setMaxPointsPerSeries(int maxPoints) {
    max_points_ = std::max(1, maxPoints);
    trim(decode_);
    trim(ttft_);
    trim(itl_);
    trim(memory_);
    for (int i = 0; i < PlotCount; ++i) markDirty(PlotId(i));
}

void PerformancePlots::markDirty(PlotId id) {
    dirty_[id] = true;
    if (!replot_timer_.isActive()) replot_timer_.start();
}

void PerformancePlots::addStep(const StepStatsData& step) {
    const double start = step.wallTimeSec - step.stepMs / 1000.0;
    const bool afterIdle = last_step_end_sec_ >= 0 && start - last_step_end_sec_ > kIdleGapSec;
    last_step_end_sec_ = step.wallTimeSec;
    decode_after_idle_ = decode_after_idle_ || afterIdle;
    if (!step.prefill) {
        decode_.push_back({step.wallTimeSec, step.requestId, step.step, step.decodeTps, decode_after_idle_});
        decode_after_idle_ = false;
        trim(decode_);
        markDirty(DecodeTps);
    }
    memory_.push_back({step.wallTimeSec, step.weightBytes, step.kvUsedBytes, step.kvReservedBytes, afterIdle});
    trim(memory_);
    markDirty(Memory);
}

void PerformancePlots::addToken(const TokenEventData& token) {
    if (token.index <= 0) return;  // the first token has no inter-token latency (that is TTFT)
    itl_.push_back({token.wallTimeSec, token.requestId, token.index, token.sinceLastMs});
    trim(itl_);
    markDirty(ItlTimeline);
    markDirty(ItlHistogram);
}

void PerformancePlots::addReply(const ReplyStats& reply) {
    ++reply_count_;
    ttft_.push_back({reply_count_, reply.requestId, reply.ttftMs});
    trim(ttft_);
    markDirty(Ttft);
}

void PerformancePlots::addDecodingStats(const DecodingStatsData& d) {
    DecodingPoint point{++decoding_count_, d.requestId, -1, 0, -1};
    if (d.drafted > 0) {
        point.acceptancePct = 100.0 * d.accepted / d.drafted;
        point.acceptedPerStep = d.verifySteps > 0 ? double(d.accepted) / d.verifySteps : 0;
    }
    if (d.stepsByLayersRun.size() > 1 && d.meanLayersRun > 0)
        point.layersRunPct = 100.0 * d.meanLayersRun / double(d.stepsByLayersRun.size() - 1);
    decoding_.push_back(point);
    trim(decoding_);
    markDirty(Decoding);
}

void PerformancePlots::clear() {
    decoding_.clear();
    decoding_count_ = 0;
    decode_.clear();
    ttft_.clear();
    itl_.clear();
    memory_.clear();
    last_step_end_sec_ = -1;
    decode_after_idle_ = false;
    reply_count_ = 0;
    for (int i = 0; i < PlotCount; ++i) markDirty(PlotId(i));
}

QVector<double> PerformancePlots::itlSamples() const {
    QVector<double> samples;
    samples.reserve(int(itl_.size()));
    for (const ItlPoint& p : itl_) samples.push_back(p.itlMs);
    return samples;
}

void PerformancePlots::syncPlot(int id) const {
    QCustomPlot* p = plots_[id];
    dirty_[id] = false;
    double maxValue = 0;
    switch (id) {
        case DecodeTps: {
            QVector<double> keys, values;
            QVector<int> breaks;
            for (const DecodePoint& d : decode_) {
                if (d.afterIdle) breaks.push_back(keys.size());
                keys.push_back(d.wallTimeSec);
                values.push_back(d.decodeTps);
            }
            maxValue = syncTimeline(p, keys, values, breaks);
            break;
        }
        case ItlTimeline: {
            QVector<double> keys, values;
            for (const ItlPoint& d : itl_) {
                keys.push_back(d.wallTimeSec);
                values.push_back(d.itlMs);
            }
            maxValue = syncTimeline(p, keys, values);
            break;
        }
        case Ttft: maxValue = syncTtft(p); break;
        case ItlHistogram: maxValue = syncItlHistogram(p); break;
        case Memory: maxValue = syncMemory(p); break;
        case Decoding: maxValue = syncDecoding(p); break;
        default: break;
    }
    rescaleValueAxisFromZero(p->yAxis, maxValue);
}

// One graph of values over time; returns the largest value.
double PerformancePlots::syncTimeline(QCustomPlot* p, const QVector<double>& keys, const QVector<double>& values,
                                      const QVector<int>& breaks) const {
    p->graph(0)->setData(withBreaks(keys, breaks, true), withBreaks(values, breaks, false), true);
    if (!keys.isEmpty())
        rescaleKeyAxis(p->xAxis, *std::min_element(keys.cbegin(), keys.cend()),
                       *std::max_element(keys.cbegin(), keys.cend()));
    else
        p->xAxis->setRange(0, 1);
    return values.isEmpty() ? 0.0 : *std::max_element(values.cbegin(), values.cend());
}

double PerformancePlots::syncTtft(QCustomPlot* p) const {
    QVector<double> keys, values;
    double maxValue = 0;
    for (const TtftPoint& d : ttft_) {
        keys.push_back(double(d.request));
        values.push_back(d.ttftMs);
        maxValue = std::max(maxValue, d.ttftMs);
    }
    qobject_cast<QCPBars*>(p->plottable(0))->setData(keys, values, true);
    if (!keys.isEmpty())
        p->xAxis->setRange(keys.front() - 0.5, keys.back() + 0.5);
    else
        p->xAxis->setRange(0.5, 1.5);
    return maxValue;
}

double PerformancePlots::syncItlHistogram(QCustomPlot* p) const {
    const HistogramBins bins = histogramBins(itlSamples());
    auto* bars = qobject_cast<QCPBars*>(p->plottable(0));
    QVector<double> keys, values;
    double maxValue = 0;
    for (int i = 0; i < bins.binCount(); ++i) {
        keys.push_back((bins.binStart(i) + bins.binEnd(i)) / 2);
        values.push_back(bins.counts.at(i));
        maxValue = std::max(maxValue, double(bins.counts.at(i)));
    }
    bars->setData(keys, values, true);
    if (bins.binCount() > 0) {
        bars->setWidth((bins.edges.back() - bins.edges.front()) / bins.binCount());
        rescaleKeyAxis(p->xAxis, bins.edges.front(), bins.edges.back());
    } else {
        p->xAxis->setRange(0, 1);
    }
    return maxValue;
}

double PerformancePlots::syncMemory(QCustomPlot* p) const {
    QVector<double> keys, series[3];
    keys.reserve(int(memory_.size()));
    for (QVector<double>& s : series) s.reserve(int(memory_.size()));
    for (const MemoryPoint& m : memory_) {
        keys.push_back(m.wallTimeSec);
        series[0].push_back(mib(m.weightBytes));
        series[1].push_back(mib(m.kvUsedBytes));
        series[2].push_back(mib(m.kvReservedBytes));
    }
    QVector<int> breaks;
    for (int i = 0; i < int(memory_.size()); ++i)
        if (memory_[size_t(i)].afterIdle) breaks.push_back(i);
    double maxValue = 0;
    for (int g = 0; g < 3; ++g) {
        p->graph(g)->setData(withBreaks(keys, breaks, true), withBreaks(series[g], breaks, false), true);
        for (double v : series[g]) maxValue = std::max(maxValue, v);
    }
    if (!keys.isEmpty())
        rescaleKeyAxis(p->xAxis, *std::min_element(keys.cbegin(), keys.cend()),
                       *std::max_element(keys.cbegin(), keys.cend()));
    else
        p->xAxis->setRange(0, 1);
    return maxValue;
}

// Both series are shares in percent: the value axis always ends at 100.
double PerformancePlots::syncDecoding(QCustomPlot* p) const {
    QVector<double> acceptanceKeys, acceptance, layerKeys, layers;
    for (const DecodingPoint& d : decoding_) {
        if (d.acceptancePct >= 0) {
            acceptanceKeys.push_back(double(d.reply));
            acceptance.push_back(d.acceptancePct);
        }
        if (d.layersRunPct >= 0) {
            layerKeys.push_back(double(d.reply));
            layers.push_back(d.layersRunPct);
        }
    }
    p->graph(0)->setData(acceptanceKeys, acceptance);
    p->graph(1)->setData(layerKeys, layers);
    if (!decoding_.empty())
        p->xAxis->setRange(double(decoding_.front().reply) - 0.5, double(decoding_.back().reply) + 0.5);
    else
        p->xAxis->setRange(0.5, 1.5);
    return 100.0;
}

void PerformancePlots::onReplotTimer() {
    for (int i = 0; i < PlotCount; ++i) {
        if (!dirty_[i]) continue;
        syncPlot(i);
        plots_[i]->replot(QCustomPlot::rpQueuedReplot);
    }
}

void PerformancePlots::replotNow() {
    replot_timer_.stop();
    for (int i = 0; i < PlotCount; ++i) {
        if (dirty_[i]) syncPlot(i);
        plots_[i]->replot();
    }
}

QString PerformancePlots::csv(const QString& name) const {
    const int id = indexOf(name);
    QString out;
    switch (id) {
        case DecodeTps:
            out += QStringLiteral("wall_time_s,request_id,step,decode_tps\n");
            for (const DecodePoint& d : decode_)
                out += num(d.wallTimeSec) + ',' + QString::number(d.requestId) + ',' + QString::number(d.step) + ',' +
                       num(d.decodeTps) + '\n';
            break;
        case Ttft:
            out += QStringLiteral("request,request_id,ttft_ms\n");
            for (const TtftPoint& d : ttft_)
                out += QString::number(d.request) + ',' + QString::number(d.requestId) + ',' + num(d.ttftMs) + '\n';
            break;
        case ItlTimeline:
            out += QStringLiteral("wall_time_s,request_id,token_index,itl_ms\n");
            for (const ItlPoint& d : itl_)
                out += num(d.wallTimeSec) + ',' + QString::number(d.requestId) + ',' + QString::number(d.index) + ',' +
                       num(d.itlMs) + '\n';
            break;
        case ItlHistogram: {
            out += QStringLiteral("bin_start_ms,bin_end_ms,count\n");
            const HistogramBins bins = histogramBins(itlSamples());
            for (int i = 0; i < bins.binCount(); ++i)
                out +=
                    num(bins.binStart(i)) + ',' + num(bins.binEnd(i)) + ',' + QString::number(bins.counts.at(i)) + '\n';
            break;
        }
        case Memory:
            out += QStringLiteral("wall_time_s,weights_mib,kv_used_mib,kv_reserved_mib\n");
            for (const MemoryPoint& m : memory_)
                out += num(m.wallTimeSec) + ',' + num(mib(m.weightBytes)) + ',' + num(mib(m.kvUsedBytes)) + ',' +
                       num(mib(m.kvReservedBytes)) + '\n';
            break;
        case Decoding:
            out += QStringLiteral("reply,request_id,draft_acceptance_pct,accepted_per_verify_step,layers_run_pct\n");
            for (const DecodingPoint& d : decoding_)
                out += QString::number(d.reply) + ',' + QString::number(d.requestId) + ',' +
                       (d.acceptancePct >= 0 ? num(d.acceptancePct) : QString()) + ',' +
                       (d.acceptancePct >= 0 ? num(d.acceptedPerStep) : QString()) + ',' +
                       (d.layersRunPct >= 0 ? num(d.layersRunPct) : QString()) + '\n';
            break;
        default: break;
    }
    return out;
}

bool PerformancePlots::exportCsv(const QString& name, const QString& path, QString* error) const {
    auto fail = [&](const QString& why) {
        if (error) *error = why;
        return false;
    };
    if (indexOf(name) < 0)
        return fail(
            tr("Cannot export CSV: unknown plot '%1' (known: %2)").arg(name, plotNames().join(QStringLiteral(", "))));
    if (path.isEmpty()) return fail(tr("Cannot export CSV of plot '%1': no file name given").arg(name));
    const QFileInfo info(path);
    if (!info.absoluteDir().exists())
        return fail(tr("Cannot write CSV of plot '%1' to '%2': the folder '%3' does not exist")
                        .arg(name, path, info.absolutePath()));
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly))
        return fail(tr("Cannot write CSV of plot '%1' to '%2': %3").arg(name, path, file.errorString()));
    const QByteArray bytes = csv(name).toUtf8();
    if (file.write(bytes) != bytes.size() || !file.commit())
        return fail(tr("Cannot write CSV of plot '%1' to '%2': %3").arg(name, path, file.errorString()));
    return true;
}

bool PerformancePlots::exportPng(const QString& name, const QString& path, QString* error) const {
    auto fail = [&](const QString& why) {
        if (error) *error = why;
        return false;
    };
    const int id = indexOf(name);
    if (id < 0)
        return fail(
            tr("Cannot export PNG: unknown plot '%1' (known: %2)").arg(name, plotNames().join(QStringLiteral(", "))));
    if (path.isEmpty()) return fail(tr("Cannot export PNG of plot '%1': no file name given").arg(name));
    const QFileInfo info(path);
    if (!info.absoluteDir().exists())
        return fail(tr("Cannot write PNG of plot '%1' to '%2': the folder '%3' does not exist")
                        .arg(name, path, info.absolutePath()));
    if (info.isDir()) return fail(tr("Cannot write PNG of plot '%1' to '%2': it is a folder").arg(name, path));
    if (dirty_[id]) syncPlot(id);
    showFullPlotText(plots_[id]);  // the export has its own size: the widget's shortened texts do not apply
    const bool saved = plots_[id]->savePng(path, kPngWidth, kPngHeight);
    plots_[id]->replot(QCustomPlot::rpQueuedReplot);
    if (!saved)
        return fail(tr("Cannot write PNG of plot '%1' to '%2': the image could not be saved "
                       "(is the folder writable?)")
                        .arg(name, path));
    return true;
}

// Asks for a file (adding the suffix when none is typed) and exports; errors go to a message box.
void PerformancePlots::exportInteractive(const QString& name, bool png) {
    const QString path = askExportPath(this, name, png);
    if (path.isEmpty()) return;
    QString error;
    if (!(png ? exportPng(name, path, &error) : exportCsv(name, path, &error)))
        QMessageBox::warning(this, png ? tr("Export PNG") : tr("Export CSV"), error);
}

}  // namespace lumen::ui
