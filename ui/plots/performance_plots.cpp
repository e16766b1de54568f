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
    if (n == 0)
        return bins;
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
    for (int i = 0; i < binCount; ++i)
        bins.edges[i] = lo + i * width;
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
    m_tabs = new QTabWidget(this);
    m_tabs->setObjectName(QStringLiteral("performance_tabs"));
    layout->addWidget(m_tabs);

    buildPlot(DecodeTps, tr("Decode tokens/s"));
    buildPlot(Ttft, tr("TTFT"));
    buildPlot(ItlTimeline, tr("ITL timeline"));
    buildPlot(ItlHistogram, tr("ITL histogram"));
    buildPlot(Memory, tr("Memory"));
    buildPlot(Decoding, tr("Decoding"));
    setupAxes();

    m_replotTimer.setSingleShot(true);
    m_replotTimer.setInterval(kReplotIntervalMs);
    connect(&m_replotTimer, &QTimer::timeout, this, &PerformancePlots::onReplotTimer);
    replotNow();
}

PerformancePlots::~PerformancePlots() = default;

void PerformancePlots::buildPlot(PlotId id, const QString& title) {
    const QString name = QString::fromLatin1(kPlotNames[id]);
    auto* page = new QWidget(m_tabs);
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

    m_plots[id] = plot;
    m_tabs->addTab(page, title);
}

void PerformancePlots::setupAxes() {
    const QString timeLabel = tr("Time since start (s)");
    const QCPScatterStyle dots(QCPScatterStyle::ssDisc, 4);

    QCustomPlot* p = m_plots[DecodeTps];
    QCPGraph* graph = p->addGraph();
    graph->setName(tr("Decode tokens/s"));
    graph->setPen(QPen(QColor(31, 119, 180), 1.5));
    graph->setScatterStyle(dots);
    p->xAxis->setLabel(timeLabel);
    p->yAxis->setLabel(tr("Decode throughput (tokens/s)"));

    p = m_plots[Ttft];
    auto* ttftBars = new QCPBars(p->xAxis, p->yAxis);
    ttftBars->setName(tr("TTFT"));
    ttftBars->setWidth(0.6);
    ttftBars->setPen(QPen(QColor(214, 39, 40)));
    ttftBars->setBrush(QColor(214, 39, 40, 150));
    QSharedPointer<QCPAxisTickerFixed> requestTicker(new QCPAxisTickerFixed);
    requestTicker->setTickStep(1.0);
    requestTicker->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
    p->xAxis->setTicker(requestTicker);
    p->xAxis->setLabel(tr("Request (#)"));
    p->yAxis->setLabel(tr("Time to first token (ms)"));

    p = m_plots[ItlTimeline];
    graph = p->addGraph();
    graph->setName(tr("Inter-token latency"));
    graph->setLineStyle(QCPGraph::lsNone);
    graph->setPen(QPen(QColor(44, 160, 44)));
    graph->setScatterStyle(dots);
    p->xAxis->setLabel(timeLabel);
    p->yAxis->setLabel(tr("Inter-token latency (ms)"));

    p = m_plots[ItlHistogram];
    auto* histBars = new QCPBars(p->xAxis, p->yAxis);
    histBars->setName(tr("ITL histogram"));
    histBars->setWidthType(QCPBars::wtPlotCoords);
    histBars->setPen(QPen(QColor(44, 160, 44)));
    histBars->setBrush(QColor(44, 160, 44, 150));
    p->xAxis->setLabel(tr("Inter-token latency (ms)"));
    p->yAxis->setLabel(tr("Tokens (count)"));

    p = m_plots[Memory];
    const struct {
        QString name;
        QColor color;
    } series[] = {{tr("Weights"), QColor(31, 119, 180)},
                  {tr("KV in use"), QColor(255, 127, 14)},
                  {tr("KV reserved"), QColor(148, 103, 189)}};
    for (const auto& s : series) {
        graph = p->addGraph();
        graph->setName(s.name);
        graph->setPen(QPen(s.color, 1.5));
    }
    p->xAxis->setLabel(timeLabel);
    p->yAxis->setLabel(tr("Memory (MiB)"));
    p->legend->setVisible(true);
    p->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignLeft);

    p = m_plots[Decoding];
    const struct {
        QString name;
        QColor color;
    } decodingSeries[] = {{tr("Draft acceptance"), QColor(23, 190, 207)}, {tr("Layers run (early exit)"), QColor(188, 189, 34)}};
    for (const auto& s : decodingSeries) {
        graph = p->addGraph();
        graph->setName(s.name);
        graph->setLineStyle(QCPGraph::lsNone);
        graph->setPen(QPen(s.color, 1.5));
        graph->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, 6));
    }
    p->xAxis->setTicker(requestTicker);
    p->xAxis->setLabel(tr("Reply (#)"));
    p->yAxis->setLabel(tr("Share (%)"));
    p->legend->setVisible(true);

    for (int i = 0; i < PlotCount; ++i)
        m_dirty[i] = true;
}

QStringList PerformancePlots::plotNames() const {
    QStringList names;
    for (const char* name : kPlotNames)
        names << QString::fromLatin1(name);
    return names;
}

int PerformancePlots::indexOf(const QString& name) const {
    for (int i = 0; i < PlotCount; ++i)
        if (name == QLatin1String(kPlotNames[i]))
            return i;
    return -1;
}

QCustomPlot* PerformancePlots::plot(const QString& name) const {
    const int i = indexOf(name);
    return i < 0 ? nullptr : m_plots[i];
}

template <typename T>
void PerformancePlots::trim(std::deque<T>& series) const {
    while (series.size() > size_t(m_maxPoints))
        series.pop_front();
}

void PerformancePlots::setMaxPointsPerSeries(int maxPoints) {
    m_maxPoints = std::max(1, maxPoints);
    trim(m_decode);
    trim(m_ttft);
    trim(m_itl);
    trim(m_memory);
    for (int i = 0; i < PlotCount; ++i)
        markDirty(PlotId(i));
}

void PerformancePlots::markDirty(PlotId id) {
    m_dirty[id] = true;
    if (!m_replotTimer.isActive())
        m_replotTimer.start();
}

void PerformancePlots::addStep(const StepStatsData& step) {
    if (!step.prefill) {
        m_decode.push_back({step.wallTimeSec, step.requestId, step.step, step.decodeTps});
        trim(m_decode);
        markDirty(DecodeTps);
    }
    m_memory.push_back({step.wallTimeSec, step.weightBytes, step.kvUsedBytes, step.kvReservedBytes});
    trim(m_memory);
    markDirty(Memory);
}

void PerformancePlots::addToken(const TokenEventData& token) {
    if (token.index <= 0)
        return;  // the first token has no inter-token latency (that is TTFT)
    m_itl.push_back({token.wallTimeSec, token.requestId, token.index, token.sinceLastMs});
    trim(m_itl);
    markDirty(ItlTimeline);
    markDirty(ItlHistogram);
}

void PerformancePlots::addReply(const ReplyStats& reply) {
    ++m_replyCount;
    m_ttft.push_back({m_replyCount, reply.requestId, reply.ttftMs});
    trim(m_ttft);
    markDirty(Ttft);
}

void PerformancePlots::addDecodingStats(const DecodingStatsData& d) {
    DecodingPoint point{++m_decodingCount, d.requestId, -1, 0, -1};
    if (d.drafted > 0) {
        point.acceptancePct = 100.0 * d.accepted / d.drafted;
        point.acceptedPerStep = d.verifySteps > 0 ? double(d.accepted) / d.verifySteps : 0;
    }
    if (d.stepsByLayersRun.size() > 1 && d.meanLayersRun > 0)
        point.layersRunPct = 100.0 * d.meanLayersRun / double(d.stepsByLayersRun.size() - 1);
    m_decoding.push_back(point);
    trim(m_decoding);
    markDirty(Decoding);
}

void PerformancePlots::clear() {
    m_decoding.clear();
    m_decodingCount = 0;
    m_decode.clear();
    m_ttft.clear();
    m_itl.clear();
    m_memory.clear();
    m_replyCount = 0;
    for (int i = 0; i < PlotCount; ++i)
        markDirty(PlotId(i));
}

QVector<double> PerformancePlots::itlSamples() const {
    QVector<double> samples;
    samples.reserve(int(m_itl.size()));
    for (const ItlPoint& p : m_itl)
        samples.push_back(p.itlMs);
    return samples;
}

void PerformancePlots::syncPlot(int id) const {
    QCustomPlot* p = m_plots[id];
    m_dirty[id] = false;
    QVector<double> keys;
    QVector<double> values;
    double maxValue = 0;
    switch (id) {
    case DecodeTps:
    case ItlTimeline: {
        const bool decode = id == DecodeTps;
        const int n = int(decode ? m_decode.size() : m_itl.size());
        keys.reserve(n);
        values.reserve(n);
        if (decode) {
            for (const DecodePoint& d : m_decode) {
                keys.push_back(d.wallTimeSec);
                values.push_back(d.decodeTps);
            }
        } else {
            for (const ItlPoint& d : m_itl) {
                keys.push_back(d.wallTimeSec);
                values.push_back(d.itlMs);
            }
        }
        p->graph(0)->setData(keys, values);
        for (double v : values)
            maxValue = std::max(maxValue, v);
        if (!keys.isEmpty())
            rescaleKeyAxis(p->xAxis, *std::min_element(keys.cbegin(), keys.cend()),
                           *std::max_element(keys.cbegin(), keys.cend()));
        else
            p->xAxis->setRange(0, 1);
        break;
    }
    case Ttft: {
        for (const TtftPoint& d : m_ttft) {
            keys.push_back(double(d.request));
            values.push_back(d.ttftMs);
            maxValue = std::max(maxValue, d.ttftMs);
        }
        qobject_cast<QCPBars*>(p->plottable(0))->setData(keys, values, true);
        if (!keys.isEmpty())
            p->xAxis->setRange(keys.front() - 0.5, keys.back() + 0.5);
        else
            p->xAxis->setRange(0.5, 1.5);
        break;
    }
    case ItlHistogram: {
        const HistogramBins bins = histogramBins(itlSamples());
        auto* bars = qobject_cast<QCPBars*>(p->plottable(0));
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
        break;
    }
    case Memory: {
        QVector<double> series[3];
        keys.reserve(int(m_memory.size()));
        for (QVector<double>& s : series)
            s.reserve(int(m_memory.size()));
        for (const MemoryPoint& m : m_memory) {
            keys.push_back(m.wallTimeSec);
            series[0].push_back(mib(m.weightBytes));
            series[1].push_back(mib(m.kvUsedBytes));
            series[2].push_back(mib(m.kvReservedBytes));
        }
        for (int g = 0; g < 3; ++g) {
            p->graph(g)->setData(keys, series[g]);
            for (double v : series[g])
                maxValue = std::max(maxValue, v);
        }
        if (!keys.isEmpty())
            rescaleKeyAxis(p->xAxis, *std::min_element(keys.cbegin(), keys.cend()),
                           *std::max_element(keys.cbegin(), keys.cend()));
        else
            p->xAxis->setRange(0, 1);
        break;
    }
    case Decoding: {
        QVector<double> acceptanceKeys, acceptance, layerKeys, layers;
        for (const DecodingPoint& d : m_decoding) {
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
        maxValue = 100.0;
        if (!m_decoding.empty())
            p->xAxis->setRange(double(m_decoding.front().reply) - 0.5, double(m_decoding.back().reply) + 0.5);
        else
            p->xAxis->setRange(0.5, 1.5);
        break;
    }
    default:
        break;
    }
    rescaleValueAxisFromZero(p->yAxis, maxValue);
}

void PerformancePlots::onReplotTimer() {
    for (int i = 0; i < PlotCount; ++i) {
        if (!m_dirty[i])
            continue;
        syncPlot(i);
        m_plots[i]->replot(QCustomPlot::rpQueuedReplot);
    }
}

void PerformancePlots::replotNow() {
    m_replotTimer.stop();
    for (int i = 0; i < PlotCount; ++i) {
        if (m_dirty[i])
            syncPlot(i);
        m_plots[i]->replot();
    }
}

QString PerformancePlots::csv(const QString& name) const {
    const int id = indexOf(name);
    QString out;
    switch (id) {
    case DecodeTps:
        out += QStringLiteral("wall_time_s,request_id,step,decode_tps\n");
        for (const DecodePoint& d : m_decode)
            out += num(d.wallTimeSec) + ',' + QString::number(d.requestId) + ',' +
                   QString::number(d.step) + ',' + num(d.decodeTps) + '\n';
        break;
    case Ttft:
        out += QStringLiteral("request,request_id,ttft_ms\n");
        for (const TtftPoint& d : m_ttft)
            out += QString::number(d.request) + ',' + QString::number(d.requestId) + ',' +
                   num(d.ttftMs) + '\n';
        break;
    case ItlTimeline:
        out += QStringLiteral("wall_time_s,request_id,token_index,itl_ms\n");
        for (const ItlPoint& d : m_itl)
            out += num(d.wallTimeSec) + ',' + QString::number(d.requestId) + ',' +
                   QString::number(d.index) + ',' + num(d.itlMs) + '\n';
        break;
    case ItlHistogram: {
        out += QStringLiteral("bin_start_ms,bin_end_ms,count\n");
        const HistogramBins bins = histogramBins(itlSamples());
        for (int i = 0; i < bins.binCount(); ++i)
            out += num(bins.binStart(i)) + ',' + num(bins.binEnd(i)) + ',' +
                   QString::number(bins.counts.at(i)) + '\n';
        break;
    }
    case Memory:
        out += QStringLiteral("wall_time_s,weights_mib,kv_used_mib,kv_reserved_mib\n");
        for (const MemoryPoint& m : m_memory)
            out += num(m.wallTimeSec) + ',' + num(mib(m.weightBytes)) + ',' +
                   num(mib(m.kvUsedBytes)) + ',' + num(mib(m.kvReservedBytes)) + '\n';
        break;
    case Decoding:
        out += QStringLiteral("reply,request_id,draft_acceptance_pct,accepted_per_verify_step,layers_run_pct\n");
        for (const DecodingPoint& d : m_decoding)
            out += QString::number(d.reply) + ',' + QString::number(d.requestId) + ',' +
                   (d.acceptancePct >= 0 ? num(d.acceptancePct) : QString()) + ',' +
                   (d.acceptancePct >= 0 ? num(d.acceptedPerStep) : QString()) + ',' +
                   (d.layersRunPct >= 0 ? num(d.layersRunPct) : QString()) + '\n';
        break;
    default:
        break;
    }
    return out;
}

bool PerformancePlots::exportCsv(const QString& name, const QString& path, QString* error) const {
    auto fail = [&](const QString& why) {
        if (error)
            *error = why;
        return false;
    };
    if (indexOf(name) < 0)
        return fail(tr("Cannot export CSV: unknown plot '%1' (known: %2)")
                        .arg(name, plotNames().join(QStringLiteral(", "))));
    if (path.isEmpty())
        return fail(tr("Cannot export CSV of plot '%1': no file name given").arg(name));
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
        if (error)
            *error = why;
        return false;
    };
    const int id = indexOf(name);
    if (id < 0)
        return fail(tr("Cannot export PNG: unknown plot '%1' (known: %2)")
                        .arg(name, plotNames().join(QStringLiteral(", "))));
    if (path.isEmpty())
        return fail(tr("Cannot export PNG of plot '%1': no file name given").arg(name));
    const QFileInfo info(path);
    if (!info.absoluteDir().exists())
        return fail(tr("Cannot write PNG of plot '%1' to '%2': the folder '%3' does not exist")
                        .arg(name, path, info.absolutePath()));
    if (info.isDir())
        return fail(tr("Cannot write PNG of plot '%1' to '%2': it is a folder").arg(name, path));
    if (m_dirty[id])
        syncPlot(id);
    if (!m_plots[id]->savePng(path, kPngWidth, kPngHeight))
        return fail(tr("Cannot write PNG of plot '%1' to '%2': the image could not be saved "
                       "(is the folder writable?)")
                        .arg(name, path));
    return true;
}

// Asks for a file (adding the suffix when none is typed) and exports; errors go to a message box.
void PerformancePlots::exportInteractive(const QString& name, bool png) {
    const QString suffix = png ? QStringLiteral("png") : QStringLiteral("csv");
    QString path = QFileDialog::getSaveFileName(
        this, png ? tr("Export plot as PNG") : tr("Export plot data as CSV"),
        QDir::home().filePath(QStringLiteral("lumen_%1.%2").arg(name, suffix)),
        png ? tr("PNG images (*.png)") : tr("CSV files (*.csv)"));
    if (path.isEmpty())
        return;
    if (QFileInfo(path).suffix().isEmpty())
        path += QLatin1Char('.') + suffix;
    QString error;
    if (!(png ? exportPng(name, path, &error) : exportCsv(name, path, &error)))
        QMessageBox::warning(this, png ? tr("Export PNG") : tr("Export CSV"), error);
}

}  // namespace lumen::ui
