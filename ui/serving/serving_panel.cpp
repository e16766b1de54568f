// ServingPanel: workload controls, live plots, the run's summary and their export.
#include "serving/serving_panel.h"

#include <QAction>
#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QMenu>
#include <QMessageBox>
#include <QPushButton>
#include <QSaveFile>
#include <QSpinBox>
#include <QTextBrowser>
#include <QTimer>
#include <QToolButton>
#include <QVBoxLayout>

#include "common/export_path.h"
#include "common/spin_boxes.h"
#include "plots/plot_fit.h"

namespace lumen::ui {

namespace {

struct Preset {
    const char* name;
    int input;
    int output;
};
// The seed's query patterns (as lumen-cli serve-bench --preset), scaled for a desktop CPU.
const Preset kPresets[] = {{"Custom", 0, 0},
                           {"Long in, short out", 1024, 32},
                           {"Short in, long out", 64, 256},
                           {"Long in, long out", 1024, 256}};

void fillHistogram(QCustomPlot* plot, const QVector<double>& samples) {
    auto* bars = static_cast<QCPBars*>(plot->plottable(0));
    const HistogramBins bins = histogramBins(samples);
    QVector<double> keys, values;
    for (int i = 0; i < bins.binCount(); ++i) {
        keys << (bins.binStart(i) + bins.binEnd(i)) / 2;
        values << bins.counts[i];
    }
    bars->setWidth(bins.binCount() ? bins.binEnd(0) - bins.binStart(0) : 1);
    bars->setData(keys, values, true);
}

// A small legend in the top-left corner: the plots are small, and a full-size legend covers them.
void compactLegend(QCustomPlot* plot) {
    QFont font = plot->legend->font();
    font.setPointSizeF(font.pointSizeF() * 0.8);
    plot->legend->setFont(font);
    plot->legend->setIconSize(14, 8);
    plot->legend->setRowSpacing(-2);
    plot->legend->setBrush(QColor(255, 255, 255, 200));
    plot->legend->setVisible(true);
    plot->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignLeft);
}

}  // namespace

QCustomPlot* ServingPanel::makePlot(const char* name, const QString& title, const QString& x, const QString& y) {
    auto* plot = new QCustomPlot(this);
    plot->setObjectName(QString::fromLatin1(name));
    plot->setMinimumSize(150, 120);
    plot->plotLayout()->insertRow(0);
    plot->plotLayout()->addElement(0, 0, new QCPTextElement(plot, title, QFont(font().family(), 9, QFont::Bold)));
    plot->xAxis->setLabel(x);
    plot->yAxis->setLabel(y);
    fitPlotText(plot);
    for (const bool png : {true, false}) {  // right-click: export this plot
        auto* action = new QAction(png ? tr("Export PNG…") : tr("Export CSV…"), plot);
        action->setObjectName((png ? QStringLiteral("exportPng_") : QStringLiteral("exportCsv_")) + plot->objectName());
        connect(action, &QAction::triggered, this, [this, plot, png] { exportInteractive(plot->objectName(), png); });
        plot->addAction(action);
    }
    plot->setContextMenuPolicy(Qt::ActionsContextMenu);
    return plot;
}

ServingPanel::ServingPanel(QWidget* parent) : QWidget(parent) {
    setObjectName(QStringLiteral("servingPanel"));
    QLayout* controls = buildWorkloadControls();
    QLayout* plots = buildPlots();
    summary_view_ = new QTextBrowser(this);
    summary_view_->setObjectName(QStringLiteral("serveSummary"));
    summary_view_->setMaximumHeight(150);
    auto* right = new QVBoxLayout;
    right->addLayout(plots, 1);
    right->addLayout(buildExportRow());
    right->addWidget(summary_view_);
    layout_ = new QBoxLayout(QBoxLayout::LeftToRight, this);
    layout_->addLayout(controls);
    layout_->addLayout(right, 1);

    replot_timer_ = new QTimer(this);
    replot_timer_->setInterval(100);  // live, at most ten redraws a second
    connect(replot_timer_, &QTimer::timeout, this, [this] {
        if (dirty_) replotNow();
    });
    updateControls();
}

// The workload form, Run and Stop, and the status line.
QLayout* ServingPanel::buildWorkloadControls() {
    preset_ = new QComboBox(this);
    preset_->setObjectName(QStringLiteral("servePresetCombo"));
    for (const Preset& p : kPresets) preset_->addItem(tr(p.name));
    connect(preset_, &QComboBox::activated, this, &ServingPanel::applyPreset);
    auto* form = new QFormLayout;
    form->addRow(tr("Pattern"), preset_);
    addWorkloadRows(form);
    run_ = new QPushButton(tr("Run"), this);
    run_->setObjectName(QStringLiteral("serveRunButton"));
    stop_ = new QPushButton(tr("Stop"), this);
    stop_->setObjectName(QStringLiteral("serveStopButton"));
    connect(run_, &QPushButton::clicked, this, &ServingPanel::start);
    connect(stop_, &QPushButton::clicked, this, &ServingPanel::stopRequested);
    status_ = new QLabel(this);
    status_->setObjectName(QStringLiteral("serveStatusLabel"));
    status_->setWordWrap(true);
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(run_);
    buttons->addWidget(stop_);
    auto* controls = new QVBoxLayout;
    controls->addLayout(form);
    controls->addLayout(buttons);
    controls->addWidget(status_);
    controls->addStretch(1);
    return controls;
}

void ServingPanel::addWorkloadRows(QFormLayout* form) {
    auto spin = [this](const char* name, int lo, int hi, int value, const QString& tip) {
        auto* s = intSpin(this, name, lo, hi, tip);
        s->setValue(value);
        return s;
    };
    requests_ = spin("serveRequestsSpin", 1, 100000, 16, tr("Requests in the workload."));
    input_len_ = spin("serveInputSpin", 1, 1 << 20, 256, tr("Prompt tokens per request (±25%)."));
    output_len_ = spin("serveOutputSpin", 1, 1 << 20, 64, tr("Generated tokens per request (±25%; EOS is ignored)."));
    shared_prefix_ = doubleSpin(this, "serveSharedSpin", 0, 100, 1, 2,
                                tr("Share of each prompt taken from one common prefix (a system prompt): the prefix "
                                   "cache computes it once."));
    shared_prefix_->setSuffix(QStringLiteral(" %"));
    rate_ = doubleSpin(this, "serveRateSpin", 0, 10000, 1, 2,
                       tr("Poisson arrivals at this rate; 0: every request arrives at the start."));
    rate_->setSpecialValueText(tr("all at once"));
    rate_->setSuffix(tr(" req/s"));
    concurrency_ = spin("serveConcurrencySpin", 0, 100000, 0, tr("Requests in flight at most; 0: no limit."));
    concurrency_->setSpecialValueText(tr("unlimited"));
    form->addRow(tr("Requests"), requests_);
    form->addRow(tr("Input tokens"), input_len_);
    form->addRow(tr("Output tokens"), output_len_);
    form->addRow(tr("Shared prefix"), shared_prefix_);
    form->addRow(tr("Arrival rate"), rate_);
    form->addRow(tr("Max concurrency"), concurrency_);
}

// One Export button: every plot as PNG or CSV, and the summary as CSV.
QLayout* ServingPanel::buildExportRow() {
    auto* menu = new QMenu(this);
    for (QCustomPlot* p : {throughput_, queue_, ttft_hist_, itl_hist_}) {
        const QString name = p->objectName();
        const QString title = fullText(p->plotLayout()->element(0, 0));
        menu->addAction(tr("%1 as PNG…").arg(title), this, [this, name] { exportInteractive(name, true); });
        menu->addAction(tr("%1 as CSV…").arg(title), this, [this, name] { exportInteractive(name, false); });
    }
    menu->addSeparator();
    QAction* summary = menu->addAction(tr("Summary as CSV…"), this,
                                       [this] { exportInteractive(QStringLiteral("serve_summary"), false); });
    summary->setObjectName(QStringLiteral("exportCsv_serve_summary"));
    auto* button = new QToolButton(this);
    button->setObjectName(QStringLiteral("serveExportButton"));
    button->setText(tr("Export…"));
    button->setToolTip(
        tr("Save a plot as PNG, the data behind it as CSV, or the summary's figures as CSV. "
           "Right-click a plot for its own."));
    button->setMenu(menu);
    button->setPopupMode(QToolButton::InstantPopup);
    button->setAutoRaise(true);
    auto* row = new QHBoxLayout;
    row->addWidget(button);
    row->addStretch(1);
    return row;
}

// Throughput and queue depth over time; the TTFT and ITL distributions.
QLayout* ServingPanel::buildPlots() {
    throughput_ = makePlot("serve_throughput", tr("Throughput"), tr("Time (s)"), tr("Tokens/s"));
    throughput_->addGraph()->setName(tr("decode"));
    throughput_->addGraph()->setName(tr("prefill"));
    throughput_->graph(1)->setPen(QPen(QColor(0xe0, 0x7b, 0x00)));
    compactLegend(throughput_);
    queue_ = makePlot("serve_queue", tr("Queue depth"), tr("Time (s)"), tr("Requests"));
    queue_->addGraph()->setName(tr("running"));
    queue_->addGraph()->setName(tr("waiting"));
    queue_->graph(1)->setPen(QPen(QColor(0xc0, 0x1c, 0x28)));
    compactLegend(queue_);
    ttft_hist_ = makePlot("serve_ttft_hist", tr("TTFT distribution"), tr("TTFT (ms)"), tr("Requests"));
    new QCPBars(ttft_hist_->xAxis, ttft_hist_->yAxis);
    itl_hist_ = makePlot("serve_itl_hist", tr("ITL distribution"), tr("Inter-token latency (ms)"), tr("Tokens"));
    new QCPBars(itl_hist_->xAxis, itl_hist_->yAxis);
    auto* plots = new QGridLayout;
    plots->addWidget(throughput_, 0, 0);
    plots->addWidget(queue_, 0, 1);
    plots->addWidget(ttft_hist_, 1, 0);
    plots->addWidget(itl_hist_, 1, 1);
    return plots;
}

QStringList ServingPanel::plotNames() const {
    return {QStringLiteral("serve_throughput"), QStringLiteral("serve_queue"), QStringLiteral("serve_ttft_hist"),
            QStringLiteral("serve_itl_hist")};
}

QCustomPlot* ServingPanel::plot(const QString& name) const {
    for (QCustomPlot* p : {throughput_, queue_, ttft_hist_, itl_hist_})
        if (p->objectName() == name) return p;
    return nullptr;
}

ServeBenchSettings ServingPanel::settings() const {
    ServeBenchSettings s;
    s.requests = requests_->value();
    s.inputLen = input_len_->value();
    s.outputLen = output_len_->value();
    s.sharedPrefix = shared_prefix_->value() / 100.0;
    s.rate = rate_->value();
    s.maxConcurrency = concurrency_->value();
    return s;
}

void ServingPanel::setSettings(const ServeBenchSettings& s) {
    requests_->setValue(s.requests);
    input_len_->setValue(s.inputLen);
    output_len_->setValue(s.outputLen);
    shared_prefix_->setValue(100.0 * s.sharedPrefix);
    rate_->setValue(s.rate);
    concurrency_->setValue(s.maxConcurrency);
}

void ServingPanel::applyPreset(int index) {
    if (index <= 0 || index >= int(std::size(kPresets))) return;
    input_len_->setValue(kPresets[index].input);
    output_len_->setValue(kPresets[index].output);
}

void ServingPanel::setModelLoaded(bool loaded) {
    model_loaded_ = loaded;
    updateControls();
}

QString ServingPanel::statusText() const {
    return status_->text();
}

void ServingPanel::updateControls() {
    run_->setEnabled(model_loaded_ && !running_);
    stop_->setEnabled(running_);
    const QString needModel = tr("Load a model to run a workload.");
    if (!model_loaded_ && !running_ && status_->text().isEmpty()) status_->setText(needModel);
    if (model_loaded_ && status_->text() == needModel) status_->setText(tr("Ready: choose a workload and press Run."));
}

void ServingPanel::resizeEvent(QResizeEvent* event) {
    QWidget::resizeEvent(event);
    const auto direction = width() < kSideBySideWidth ? QBoxLayout::TopToBottom : QBoxLayout::LeftToRight;
    if (layout_->direction() != direction) layout_->setDirection(direction);
}

void ServingPanel::clearPlots() {
    for (QCustomPlot* p : {throughput_, queue_})
        for (int g = 0; g < p->graphCount(); ++g) p->graph(g)->data()->clear();
    ttft_ms_.clear();
    itl_ms_.clear();
    fillHistogram(ttft_hist_, ttft_ms_);
    fillHistogram(itl_hist_, itl_ms_);
    t0_ = -1;
    done_ = 0;
    replotNow();
}

void ServingPanel::start() {
    if (running_ || !model_loaded_) return;
    running_ = true;
    status_->setStyleSheet(QString());
    clearPlots();
    summary_ = {};
    summary_view_->clear();
    status_->setText(tr("Running %1 requests…").arg(requests_->value()));
    updateControls();
    replot_timer_->start();
    Q_EMIT runRequested(settings());
}

void ServingPanel::onStep(const StepStatsData& s) {
    if (t0_ < 0) t0_ = s.wallTimeSec;
    const double t = s.wallTimeSec - t0_;
    const double tps = s.stepMs > 0 ? 1000.0 / s.stepMs : 0;
    throughput_->graph(0)->addData(t, s.decodeTokens * tps);
    throughput_->graph(1)->addData(t, s.prefillTokens * tps);
    queue_->graph(0)->addData(t, s.running);
    queue_->graph(1)->addData(t, s.waiting);
    dirty_ = true;
}

void ServingPanel::onRequestDone(const ServeRequestDone& r) {
    ttft_ms_ << r.ttftMs;
    itl_ms_ << r.itlMs;
    ++done_;
    status_->setText(tr("Running: %1 of %2 requests done").arg(done_).arg(requests_->value()));
    dirty_ = true;
}

void ServingPanel::onFinished(const ServeBenchSummary& summary) {
    running_ = false;
    replot_timer_->stop();
    summary_ = summary;
    summary_view_->setHtml(summary.table);
    status_->setText(tr("Done: %1 requests in %2 s.").arg(summary.completed).arg(summary.durationSec, 0, 'f', 2));
    replotNow();
    updateControls();
}

void ServingPanel::onFailed(const QString& message) {
    running_ = false;
    replot_timer_->stop();
    status_->setText(tr("The workload did not finish: %1").arg(message));
    status_->setStyleSheet(QStringLiteral("color: #b00020;"));
    replotNow();
    updateControls();
}

// ------------------------------------------------------------------ export

QString ServingPanel::csv(const QString& name) const {
    auto graphCsv = [](QCustomPlot* p, const QString& header) {
        QString out = header;
        const auto* first = p->graph(0)->data().data();
        const auto* second = p->graph(1)->data().data();
        for (int i = 0; i < first->size() && i < second->size(); ++i)
            out += QStringLiteral("%1,%2,%3\n")
                       .arg((first->constBegin() + i)->key)
                       .arg((first->constBegin() + i)->value)
                       .arg((second->constBegin() + i)->value);
        return out;
    };
    auto histogramCsv = [](const QVector<double>& samples) {
        QString out = QStringLiteral("bin_start_ms,bin_end_ms,count\n");
        const HistogramBins bins = histogramBins(samples);
        for (int i = 0; i < bins.binCount(); ++i)
            out += QStringLiteral("%1,%2,%3\n").arg(bins.binStart(i)).arg(bins.binEnd(i)).arg(bins.counts[i]);
        return out;
    };
    if (name == QLatin1String("serve_throughput"))
        return graphCsv(throughput_, QStringLiteral("time_s,decode_tokens_per_s,prefill_tokens_per_s\n"));
    if (name == QLatin1String("serve_queue")) return graphCsv(queue_, QStringLiteral("time_s,running,waiting\n"));
    if (name == QLatin1String("serve_ttft_hist")) return histogramCsv(ttft_ms_);
    if (name == QLatin1String("serve_itl_hist")) return histogramCsv(itl_ms_);
    if (name == QLatin1String("serve_summary")) return summary_.csv;
    return {};
}

bool ServingPanel::exportCsv(const QString& name, const QString& path, QString* error) const {
    const bool known = plot(name) || name == QLatin1String("serve_summary");
    const QByteArray bytes = csv(name).toUtf8();
    QString why;
    if (!known)
        why = tr("unknown plot '%1'").arg(name);
    else if (bytes.isEmpty())
        why = tr("no workload has finished yet");
    QSaveFile file(path);
    if (why.isEmpty() && !file.open(QIODevice::WriteOnly)) why = file.errorString();
    if (why.isEmpty() && (file.write(bytes) != bytes.size() || !file.commit())) why = file.errorString();
    if (!why.isEmpty() && error) *error = tr("Cannot write CSV of '%1' to '%2': %3").arg(name, path, why);
    return why.isEmpty();
}

bool ServingPanel::exportPng(const QString& name, const QString& path, QString* error) const {
    QCustomPlot* p = plot(name);
    QString why;
    if (!p)
        why = tr("unknown plot '%1'").arg(name);
    else if (!QFileInfo(path).absoluteDir().exists())
        why = tr("the folder does not exist");
    else {
        showFullPlotText(p);  // the export has its own size: the widget's shortened texts do not apply
        if (!p->savePng(path, PerformancePlots::kPngWidth, PerformancePlots::kPngHeight))
            why = tr("the image could not be saved");
        p->replot(QCustomPlot::rpQueuedReplot);
    }
    if (!why.isEmpty() && error) *error = tr("Cannot write PNG of '%1' to '%2': %3").arg(name, path, why);
    return why.isEmpty();
}

void ServingPanel::exportInteractive(const QString& name, bool png) {
    const QString path = askExportPath(this, name, png);
    if (path.isEmpty()) return;
    QString error;
    if (!(png ? exportPng(name, path, &error) : exportCsv(name, path, &error)))
        QMessageBox::warning(this, png ? tr("Export PNG") : tr("Export CSV"), error);
}

// ------------------------------------------------------------------ plots

void ServingPanel::replotNow() {
    dirty_ = false;
    fillHistogram(ttft_hist_, ttft_ms_);
    fillHistogram(itl_hist_, itl_ms_);
    for (QCustomPlot* p : {throughput_, queue_, ttft_hist_, itl_hist_}) {
        p->rescaleAxes();
        p->yAxis->setRangeLower(0);
        p->replot(QCustomPlot::rpQueuedReplot);
    }
}

}  // namespace lumen::ui
