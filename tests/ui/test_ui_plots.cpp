// Tests of the live performance plots panel (ui/plots/performance_plots.h):
// the five plots, the CSV behind each, the ITL histogram binning, the data
// handed to QCustomPlot, PNG/CSV export and its failures, the bound on
// retained points, the throttled replot and clear().
// performance_plots.h brings qcustomplot.h (it must be included through it
// while QT_NO_KEYWORDS is set).
#include "plots/performance_plots.h"
#include "worker/engine_events.h"

#include <QAction>
#include <QFile>
#include <QImage>
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>

using lumen::ui::HistogramBins;
using lumen::ui::PerformancePlots;
using lumen::ui::ReplyStats;
using lumen::ui::StepStatsData;
using lumen::ui::TokenEventData;

namespace {

constexpr qint64 kMiB = 1024 * 1024;
constexpr int kReplies = 3;
constexpr int kPrefillSteps = 2;
constexpr int kDecodeSteps = 4;
constexpr int kTokens = 5;

struct ExpectedDecode {
    double t;
    qint64 requestId;
    int step;
    double tps;
};
struct ExpectedItl {
    double t;
    qint64 requestId;
    int index;
    double ms;
};
struct ExpectedMemory {
    double t;
    double weights, used, reserved;  // MiB
};

// What the synthetic session below should produce.
struct Expected {
    QVector<ExpectedDecode> decode;
    QVector<ExpectedItl> itl;
    QVector<double> ttft;
    QVector<qint64> replyIds;
    QVector<ExpectedMemory> memory;
};

// Three replies: two prefill chunks, four decode steps (decodeTps 10r+step),
// five tokens (ITL 10r+index, index 0 has none) and a reply with TTFT
// 100r+5. Time advances 0.25 s per event (exact in binary).
Expected feedSession(PerformancePlots& plots) {
    Expected e;
    double t = 0;
    for (int r = 1; r <= kReplies; ++r) {
        const qint64 id = 100 + r;
        for (int s = 0; s < kPrefillSteps + kDecodeSteps; ++s) {
            t += 0.25;
            StepStatsData step;
            step.requestId = id;
            step.step = s;
            step.prefill = s < kPrefillSteps;
            step.tokens = step.prefill ? 64 : 1;
            step.wallTimeSec = t;
            step.decodeTps = step.prefill ? 0 : 10.0 * r + s;
            step.weightBytes = 512 * kMiB;
            step.kvUsedBytes = (16 * r + s) * kMiB + kMiB / 2;  // x.5 MiB
            step.kvReservedBytes = 256 * kMiB;
            plots.addStep(step);
            if (!step.prefill) e.decode.push_back({t, id, s, step.decodeTps});
            e.memory.push_back({t, 512.0, 16.0 * r + s + 0.5, 256.0});
        }
        for (int i = 0; i < kTokens; ++i) {
            t += 0.25;
            TokenEventData token;
            token.requestId = id;
            token.index = i;
            token.tokenId = 1000 + i;
            token.text = QStringLiteral("tok");
            token.sinceLastMs = i == 0 ? 0 : 10.0 * r + i;
            token.wallTimeSec = t;
            plots.addToken(token);
            if (i > 0) e.itl.push_back({t, id, i, token.sinceLastMs});
        }
        t += 0.25;
        ReplyStats reply;
        reply.requestId = id;
        reply.generatedTokens = kTokens;
        reply.ttftMs = 100.0 * r + 5;
        reply.wallTimeSec = t;
        reply.stopReason = QStringLiteral("eos");
        plots.addReply(reply);
        e.ttft.push_back(reply.ttftMs);
        e.replyIds.push_back(id);
    }
    return e;
}

// The CSV split into the header and rows of numbers.
struct Csv {
    QString header;
    QVector<QVector<double>> rows;
};

Csv parseCsv(const QString& text) {
    Csv csv;
    const QStringList lines = text.split(QLatin1Char('\n'), Qt::SkipEmptyParts);
    if (lines.isEmpty()) return csv;
    csv.header = lines.first();
    for (int i = 1; i < lines.size(); ++i) {
        QVector<double> row;
        for (const QString& cell : lines.at(i).split(QLatin1Char(','))) {
            bool ok = false;
            const double value = cell.toDouble(&ok);
            row.push_back(ok ? value : std::nan(""));  // an empty cell is NaN, in its column
        }
        csv.rows.push_back(row);
    }
    return csv;
}

int dataCount(QCustomPlot* plot, int plottable = 0) {
    return plot->plottable(plottable)->interface1D()->dataCount();
}

}  // namespace

class TestUiPlots : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void namesAndWidgets();
    void axesLegendsAndExportActions();
    void decodeTpsCsvAndData();
    void ttftCsvAndData();
    void itlTimelineCsvAndData();
    void itlHistogram();
    void histogramRules();
    void memoryCsvAndData();
    void decodingCsvAndData();
    void exportPngAndCsv();
    void exportFailures();
    void boundOnRetainedPoints();
    void throttledReplot();
    void clearEmptiesEverything();
    void idleGapsBreakTheLines();
};

void TestUiPlots::namesAndWidgets() {
    PerformancePlots plots;
    const QStringList expected = {QStringLiteral("decode_tps"),   QStringLiteral("ttft"),
                                  QStringLiteral("itl_timeline"), QStringLiteral("itl_histogram"),
                                  QStringLiteral("memory"),       QStringLiteral("decoding")};
    QCOMPARE(plots.plotNames(), expected);
    for (const QString& name : expected) {
        QCustomPlot* p = plots.plot(name);
        QVERIFY2(p, qPrintable(name));
        QCOMPARE(p->objectName(), name);
        QCOMPARE(plots.findChild<QCustomPlot*>(name), p);
    }
    QVERIFY(plots.plot(QStringLiteral("nope")) == nullptr);
    QVERIFY(plots.csv(QStringLiteral("nope")).isEmpty());
}

void TestUiPlots::axesLegendsAndExportActions() {
    PerformancePlots plots;
    for (const QString& name : plots.plotNames()) {
        QCustomPlot* p = plots.plot(name);
        QVERIFY2(p->xAxis->label().contains(QLatin1Char('(')), qPrintable(name));  // has units
        QVERIFY2(p->yAxis->label().contains(QLatin1Char('(')), qPrintable(name));
        QCOMPARE(p->contextMenuPolicy(), Qt::ActionsContextMenu);
        auto* png = plots.findChild<QAction*>(QStringLiteral("exportPng_") + name);
        auto* csv = plots.findChild<QAction*>(QStringLiteral("exportCsv_") + name);
        QVERIFY2(png && csv, qPrintable(name));
        QVERIFY(p->actions().contains(png));
        QVERIFY(p->actions().contains(csv));
    }
    QCustomPlot* memory = plots.plot(QStringLiteral("memory"));
    QCOMPARE(memory->graphCount(), 3);
    QVERIFY(memory->legend->visible());
    QCOMPARE(memory->legend->itemCount(), 3);
    QCOMPARE(memory->yAxis->label(), QStringLiteral("Memory (MiB)"));
    QVERIFY(qobject_cast<QCPBars*>(plots.plot(QStringLiteral("itl_histogram"))->plottable(0)));
}

void TestUiPlots::decodeTpsCsvAndData() {
    PerformancePlots plots;
    const Expected e = feedSession(plots);
    const Csv csv = parseCsv(plots.csv(QStringLiteral("decode_tps")));
    QCOMPARE(csv.header, QStringLiteral("wall_time_s,request_id,step,decode_tps"));
    QCOMPARE(csv.rows.size(), kReplies * kDecodeSteps);  // prefill steps excluded
    for (int i = 0; i < e.decode.size(); ++i) {
        const QVector<double>& row = csv.rows.at(i);
        QCOMPARE(row.size(), 4);
        QCOMPARE(row.at(0), e.decode.at(i).t);
        QCOMPARE(row.at(1), double(e.decode.at(i).requestId));
        QCOMPARE(row.at(2), double(e.decode.at(i).step));
        QCOMPARE(row.at(3), e.decode.at(i).tps);
        QVERIFY(row.at(2) >= kPrefillSteps);
    }
    plots.replotNow();
    QCPGraph* graph = plots.plot(QStringLiteral("decode_tps"))->graph(0);
    // The 1.75 s between replies is idle time: the line breaks there (a NaN point each).
    QCOMPARE(graph->dataCount(), e.decode.size() + kReplies - 1);
    QCOMPARE(graph->data()->at(0)->key, e.decode.first().t);
    QCOMPARE(graph->data()->at(graph->dataCount() - 1)->value, e.decode.last().tps);
    // The value axis starts at 0 and shows the largest value.
    QCOMPARE(plots.plot(QStringLiteral("decode_tps"))->yAxis->range().lower, 0.0);
    QVERIFY(plots.plot(QStringLiteral("decode_tps"))->yAxis->range().upper >= e.decode.last().tps);
}

void TestUiPlots::ttftCsvAndData() {
    PerformancePlots plots;
    const Expected e = feedSession(plots);
    const Csv csv = parseCsv(plots.csv(QStringLiteral("ttft")));
    QCOMPARE(csv.header, QStringLiteral("request,request_id,ttft_ms"));
    QCOMPARE(csv.rows.size(), kReplies);
    for (int i = 0; i < kReplies; ++i) {
        QCOMPARE(csv.rows.at(i), (QVector<double>{double(i + 1), double(e.replyIds.at(i)), e.ttft.at(i)}));
    }
    plots.replotNow();
    auto* bars = qobject_cast<QCPBars*>(plots.plot(QStringLiteral("ttft"))->plottable(0));
    QVERIFY(bars);
    QCOMPARE(bars->dataCount(), kReplies);
    for (int i = 0; i < kReplies; ++i) {
        QCOMPARE(bars->data()->at(i)->key, double(i + 1));
        QCOMPARE(bars->data()->at(i)->value, e.ttft.at(i));
    }
}

void TestUiPlots::itlTimelineCsvAndData() {
    PerformancePlots plots;
    const Expected e = feedSession(plots);
    const Csv csv = parseCsv(plots.csv(QStringLiteral("itl_timeline")));
    QCOMPARE(csv.header, QStringLiteral("wall_time_s,request_id,token_index,itl_ms"));
    QCOMPARE(csv.rows.size(), kReplies * (kTokens - 1));  // index-0 tokens excluded
    for (int i = 0; i < e.itl.size(); ++i) {
        const ExpectedItl& x = e.itl.at(i);
        QCOMPARE(csv.rows.at(i), (QVector<double>{x.t, double(x.requestId), double(x.index), x.ms}));
        QVERIFY(csv.rows.at(i).at(2) > 0);
    }
    plots.replotNow();
    QCPGraph* graph = plots.plot(QStringLiteral("itl_timeline"))->graph(0);
    QCOMPARE(graph->dataCount(), e.itl.size());
    for (int i = 0; i < e.itl.size(); ++i) {
        QCOMPARE(graph->data()->at(i)->key, e.itl.at(i).t);
        QCOMPARE(graph->data()->at(i)->value, e.itl.at(i).ms);
    }
}

void TestUiPlots::itlHistogram() {
    PerformancePlots plots;
    const Expected e = feedSession(plots);
    const Csv csv = parseCsv(plots.csv(QStringLiteral("itl_histogram")));
    QCOMPARE(csv.header, QStringLiteral("bin_start_ms,bin_end_ms,count"));
    QVERIFY(!csv.rows.isEmpty());

    // Counts sum to the number of samples; bins are contiguous and ordered.
    int total = 0;
    for (int b = 0; b < csv.rows.size(); ++b) {
        QCOMPARE(csv.rows.at(b).size(), 3);
        QVERIFY(csv.rows.at(b).at(1) > csv.rows.at(b).at(0));
        if (b > 0) QCOMPARE(csv.rows.at(b).at(0), csv.rows.at(b - 1).at(1));
        total += int(csv.rows.at(b).at(2));
    }
    QCOMPARE(total, e.itl.size());

    // Each sample falls inside its bin: recount from the edges and compare.
    QVector<int> recount(csv.rows.size(), 0);
    for (const ExpectedItl& x : e.itl) {
        int found = -1;
        for (int b = 0; b < csv.rows.size(); ++b) {
            const bool last = b == csv.rows.size() - 1;
            const double lo = csv.rows.at(b).at(0);
            const double hi = csv.rows.at(b).at(1);
            if (x.ms >= lo && (x.ms < hi || (last && x.ms <= hi))) {
                found = b;
                break;
            }
        }
        QVERIFY2(found >= 0, qPrintable(QString::number(x.ms)));
        ++recount[found];
    }
    for (int b = 0; b < csv.rows.size(); ++b) QCOMPARE(recount.at(b), int(csv.rows.at(b).at(2)));

    // Freedman–Diaconis on 11..14, 21..24, 31..34: IQR 17.5, width
    // 2*17.5/cbrt(12) ≈ 15.3 over a range of 23 gives 2 bins of 11.5 ms.
    QCOMPARE(csv.rows.size(), 2);
    QCOMPARE(csv.rows.at(0), (QVector<double>{11, 22.5, 6}));
    QCOMPARE(csv.rows.at(1), (QVector<double>{22.5, 34, 6}));

    plots.replotNow();
    auto* bars = qobject_cast<QCPBars*>(plots.plot(QStringLiteral("itl_histogram"))->plottable(0));
    QVERIFY(bars);
    QCOMPARE(bars->dataCount(), csv.rows.size());
    QCOMPARE(bars->width(), 11.5);
    for (int b = 0; b < csv.rows.size(); ++b) {
        QCOMPARE(bars->data()->at(b)->key, (csv.rows.at(b).at(0) + csv.rows.at(b).at(1)) / 2);
        QCOMPARE(bars->data()->at(b)->value, csv.rows.at(b).at(2));
    }
}

void TestUiPlots::histogramRules() {
    // No samples: no bins.
    QCOMPARE(lumen::ui::histogramBins({}).binCount(), 0);

    // All equal: one bin of 1 ms centred on the value.
    HistogramBins same = lumen::ui::histogramBins({7, 7, 7});
    QCOMPARE(same.binCount(), 1);
    QCOMPARE(same.binStart(0), 6.5);
    QCOMPARE(same.binEnd(0), 7.5);
    QCOMPARE(same.counts.at(0), 3);

    // IQR 0: the square-root rule, ceil(sqrt(9)) = 3 bins over [1, 10].
    HistogramBins sqrtRule = lumen::ui::histogramBins({1, 1, 1, 1, 1, 1, 1, 1, 10});
    QCOMPARE(sqrtRule.edges, (QVector<double>{1, 4, 7, 10}));
    QCOMPARE(sqrtRule.counts, (QVector<int>{8, 0, 1}));

    // Many spread samples: capped at kMaxHistogramBins, largest sample inside.
    QVector<double> wide;
    for (int i = 0; i < 100000; ++i) wide.push_back(i * 0.001);
    wide.push_back(1e6);
    HistogramBins capped = lumen::ui::histogramBins(wide);
    QVERIFY(capped.binCount() >= 1 && capped.binCount() <= lumen::ui::kMaxHistogramBins);
    QCOMPARE(capped.edges.back(), 1e6);
    int total = 0;
    for (int c : capped.counts) total += c;
    QCOMPARE(total, wide.size());
    QCOMPARE(capped.counts.back() >= 1, true);
}

void TestUiPlots::memoryCsvAndData() {
    PerformancePlots plots;
    const Expected e = feedSession(plots);
    const Csv csv = parseCsv(plots.csv(QStringLiteral("memory")));
    QCOMPARE(csv.header, QStringLiteral("wall_time_s,weights_mib,kv_used_mib,kv_reserved_mib"));
    QCOMPARE(csv.rows.size(), kReplies * (kPrefillSteps + kDecodeSteps));  // every step, prefill too
    for (int i = 0; i < e.memory.size(); ++i) {
        const ExpectedMemory& m = e.memory.at(i);
        QCOMPARE(csv.rows.at(i), (QVector<double>{m.t, m.weights, m.used, m.reserved}));
    }
    plots.replotNow();
    QCustomPlot* p = plots.plot(QStringLiteral("memory"));
    for (int g = 0; g < 3; ++g) QCOMPARE(p->graph(g)->dataCount(), e.memory.size() + kReplies - 1);
    QCOMPARE(p->graph(0)->data()->at(0)->value, 512.0);
    QCOMPARE(p->graph(1)->data()->at(0)->value, e.memory.first().used);
    QCOMPARE(p->graph(2)->data()->at(0)->value, 256.0);
    QVERIFY(p->yAxis->range().upper >= 512.0);
}

// Per reply: the draft acceptance of speculative replies and the share of layers run by
// early-exit replies, each on its own graph; a reply with neither adds a point to neither.
void TestUiPlots::decodingCsvAndData() {
    PerformancePlots plots;
    lumen::ui::DecodingStatsData lookup;
    lookup.requestId = 11;
    lookup.drafted = 200;
    lookup.accepted = 150;
    lookup.verifySteps = 50;
    plots.addDecodingStats(lookup);
    lumen::ui::DecodingStatsData exits;
    exits.requestId = 12;
    exits.stepsByLayersRun = QVector<int>(31, 0);  // a 30-layer model
    exits.stepsByLayersRun[20] = 30;
    exits.stepsByLayersRun[30] = 10;
    exits.meanLayersRun = 22.5;  // (30 x 20 + 10 x 30) / 40, as GenerationStats::mean_layers_run gives it
    plots.addDecodingStats(exits);
    plots.addDecodingStats(lumen::ui::DecodingStatsData{});  // nothing to show
    const Csv csv = parseCsv(plots.csv(QStringLiteral("decoding")));
    QCOMPARE(csv.header,
             QStringLiteral("reply,request_id,draft_acceptance_pct,accepted_per_verify_step,layers_run_pct"));
    QCOMPARE(csv.rows.size(), 3);
    QCOMPARE(csv.rows.at(0).mid(0, 4), (QVector<double>{1, 11, 75.0, 3.0}));
    QCOMPARE(csv.rows.at(1).at(0), 2.0);
    QVERIFY(std::isnan(csv.rows.at(1).at(2)));  // no drafts
    // (30 steps x 20 layers + 10 x 30) / 40 steps = 22.5 of 30 layers = 75 %.
    QCOMPARE(csv.rows.at(1).at(4), 75.0);
    QVERIFY(std::isnan(csv.rows.at(2).at(2)) && std::isnan(csv.rows.at(2).at(4)));
    plots.replotNow();
    QCustomPlot* p = plots.plot(QStringLiteral("decoding"));
    QCOMPARE(p->graphCount(), 2);
    QCOMPARE(p->graph(0)->dataCount(), 1);
    QCOMPARE(p->graph(0)->data()->at(0)->key, 1.0);
    QCOMPARE(p->graph(0)->data()->at(0)->value, 75.0);
    QCOMPARE(p->graph(1)->dataCount(), 1);
    QCOMPARE(p->graph(1)->data()->at(0)->key, 2.0);
    plots.clear();
    QCOMPARE(parseCsv(plots.csv(QStringLiteral("decoding"))).rows.size(), 0);
}

void TestUiPlots::exportPngAndCsv() {
    PerformancePlots plots;
    feedSession(plots);
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    for (const QString& name : plots.plotNames()) {
        const QString png = dir.filePath(name + QStringLiteral(".png"));
        QString error;
        QVERIFY2(plots.exportPng(name, png, &error), qPrintable(error));
        const QImage image(png);
        QVERIFY2(!image.isNull(), qPrintable(png));
        QCOMPARE(image.size(), QSize(PerformancePlots::kPngWidth, PerformancePlots::kPngHeight));
        QCOMPARE(image.size(), QSize(800, 500));

        const QString csvPath = dir.filePath(name + QStringLiteral(".csv"));
        QVERIFY2(plots.exportCsv(name, csvPath, &error), qPrintable(error));
        QFile file(csvPath);
        QVERIFY(file.open(QIODevice::ReadOnly));
        QCOMPARE(QString::fromUtf8(file.readAll()), plots.csv(name));
    }
}

void TestUiPlots::exportFailures() {
    PerformancePlots plots;
    feedSession(plots);
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString missingPng = dir.filePath(QStringLiteral("missing/sub/plot.png"));
    const QString missingCsv = dir.filePath(QStringLiteral("missing/sub/plot.csv"));

    QString error;
    QVERIFY(!plots.exportPng(QStringLiteral("decode_tps"), missingPng, &error));
    QVERIFY(!error.isEmpty());
    QVERIFY2(error.contains(missingPng), qPrintable(error));
    QVERIFY(!QFile::exists(missingPng));

    error.clear();
    QVERIFY(!plots.exportCsv(QStringLiteral("memory"), missingCsv, &error));
    QVERIFY2(error.contains(missingCsv), qPrintable(error));
    QVERIFY(!QFile::exists(missingCsv));

    // A folder where the file should be.
    error.clear();
    QVERIFY(!plots.exportCsv(QStringLiteral("ttft"), dir.path(), &error));
    QVERIFY(!error.isEmpty());
    error.clear();
    QVERIFY(!plots.exportPng(QStringLiteral("ttft"), dir.path(), &error));
    QVERIFY(!error.isEmpty());

    const QString ok = dir.filePath(QStringLiteral("ok.png"));
    error.clear();
    QVERIFY(!plots.exportPng(QStringLiteral("nope"), ok, &error));
    QVERIFY2(error.contains(QStringLiteral("nope")), qPrintable(error));
    error.clear();
    QVERIFY(!plots.exportCsv(QStringLiteral("nope"), ok, &error));
    QVERIFY2(error.contains(QStringLiteral("nope")), qPrintable(error));
    QVERIFY(!QFile::exists(ok));

    // A null error pointer is allowed.
    QVERIFY(!plots.exportPng(QStringLiteral("nope"), ok, nullptr));
}

void TestUiPlots::boundOnRetainedPoints() {
    PerformancePlots plots;
    const int bound = PerformancePlots::kDefaultMaxPoints;
    QCOMPARE(plots.maxPointsPerSeries(), bound);
    const int extra = 50;
    for (int i = 0; i < bound + extra; ++i) {
        StepStatsData step;
        step.requestId = 1;
        step.step = i;
        step.wallTimeSec = i * 0.01;
        step.decodeTps = 50 + (i % 7);
        step.weightBytes = 100 * kMiB;
        step.kvUsedBytes = (i % 10) * kMiB;
        step.kvReservedBytes = 20 * kMiB;
        plots.addStep(step);
        TokenEventData token;
        token.requestId = 1;
        token.index = i + 1;
        token.sinceLastMs = 10 + (i % 13);
        token.wallTimeSec = i * 0.01;
        plots.addToken(token);
        ReplyStats reply;
        reply.requestId = i;
        reply.ttftMs = 100 + (i % 5);
        plots.addReply(reply);
    }
    plots.replotNow();
    QCOMPARE(plots.plot(QStringLiteral("decode_tps"))->graph(0)->dataCount(), bound);
    QCOMPARE(plots.plot(QStringLiteral("itl_timeline"))->graph(0)->dataCount(), bound);
    QCOMPARE(dataCount(plots.plot(QStringLiteral("ttft"))), bound);
    for (int g = 0; g < 3; ++g) QCOMPARE(plots.plot(QStringLiteral("memory"))->graph(g)->dataCount(), bound);

    // The oldest points are the ones dropped; request numbers keep counting.
    const Csv decode = parseCsv(plots.csv(QStringLiteral("decode_tps")));
    QCOMPARE(decode.rows.size(), bound);
    QCOMPARE(decode.rows.first().at(2), double(extra));
    const Csv ttft = parseCsv(plots.csv(QStringLiteral("ttft")));
    QCOMPARE(ttft.rows.size(), bound);
    QCOMPARE(ttft.rows.first().at(0), double(extra + 1));
    QCOMPARE(ttft.rows.last().at(0), double(bound + extra));

    // The histogram uses the retained samples.
    int total = 0;
    for (const QVector<double>& row : parseCsv(plots.csv(QStringLiteral("itl_histogram"))).rows)
        total += int(row.at(2));
    QCOMPARE(total, bound);

    // A smaller bound drops the excess at once.
    plots.setMaxPointsPerSeries(10);
    plots.replotNow();
    QCOMPARE(plots.plot(QStringLiteral("decode_tps"))->graph(0)->dataCount(), 10);
    QCOMPARE(dataCount(plots.plot(QStringLiteral("ttft"))), 10);
    QCOMPARE(parseCsv(plots.csv(QStringLiteral("memory"))).rows.size(), 10);
}

void TestUiPlots::throttledReplot() {
    PerformancePlots plots;
    StepStatsData step;
    step.requestId = 1;
    step.step = 3;
    step.wallTimeSec = 1.5;
    step.decodeTps = 42;
    plots.addStep(step);
    // add* only records the data; the plot catches up on the replot timer.
    QCustomPlot* p = plots.plot(QStringLiteral("decode_tps"));
    QCOMPARE(p->graph(0)->dataCount(), 0);
    QTRY_COMPARE_WITH_TIMEOUT(p->graph(0)->dataCount(), 1, 2000);
    QCOMPARE(p->graph(0)->data()->at(0)->value, 42.0);
}

void TestUiPlots::clearEmptiesEverything() {
    PerformancePlots plots;
    feedSession(plots);
    plots.replotNow();
    QVERIFY(plots.plot(QStringLiteral("decode_tps"))->graph(0)->dataCount() > 0);
    plots.clear();
    plots.replotNow();
    for (const QString& name : plots.plotNames()) {
        QCustomPlot* p = plots.plot(name);
        for (int i = 0; i < p->plottableCount(); ++i) QVERIFY2(dataCount(p, i) == 0, qPrintable(name));
        // Only the header row is left.
        QCOMPARE(plots.csv(name).count(QLatin1Char('\n')), 1);
    }
    // Request numbers start again at 1.
    ReplyStats reply;
    reply.requestId = 9;
    reply.ttftMs = 12.5;
    plots.addReply(reply);
    QCOMPARE(parseCsv(plots.csv(QStringLiteral("ttft"))).rows, (QVector<QVector<double>>{{1, 9, 12.5}}));
}

// A line is drawn between steps that follow each other, however long a step takes, and
// broken where the engine was idle for more than kIdleGapSec; the CSV keeps only the data.
void TestUiPlots::idleGapsBreakTheLines() {
    PerformancePlots plots;
    auto step = [&](double endSec, double stepMs) {
        StepStatsData s;
        s.wallTimeSec = endSec;
        s.stepMs = stepMs;
        s.decodeTps = 1000.0 / stepMs;
        s.weightBytes = kMiB;
        plots.addStep(s);
    };
    step(1.0, 100);
    step(3.0, 2000);  // a 2 s step right after the last: not idle
    step(3.1, 100);
    step(3.0 + PerformancePlots::kIdleGapSec + 0.6, 100);  // starts after an idle pause
    step(4.2, 100);
    plots.replotNow();
    for (const char* name : {"decode_tps", "memory"}) {
        QCPGraph* graph = plots.plot(QString::fromLatin1(name))->graph(0);
        QCOMPARE(graph->dataCount(), 6);
        int breaks = 0;
        for (int i = 0; i < graph->dataCount(); ++i)
            if (std::isnan(graph->data()->at(i)->value)) {
                ++breaks;
                QCOMPARE(i, 3);  // between the third and the fourth step
                QVERIFY(graph->data()->at(i)->key > 3.1 && graph->data()->at(i)->key < 4.6);
            }
        QCOMPARE(breaks, 1);
        QCOMPARE(parseCsv(plots.csv(QString::fromLatin1(name))).rows.size(), 5);
        QVERIFY(!plots.csv(QString::fromLatin1(name)).contains(QStringLiteral("nan"), Qt::CaseInsensitive));
    }
}

QTEST_MAIN(TestUiPlots)
#include "test_ui_plots.moc"
