// QuantizationPanel: evaluation settings, the comparison table and chart, and the
// per-tensor error list and histogram.
#include "quantization/quantization_panel.h"

#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QSplitter>
#include <QTreeWidget>
#include <QVBoxLayout>
#include <cmath>

#include "common/spin_boxes.h"
#include "plots/performance_plots.h"
#include "plots/plot_fit.h"

namespace lumen::ui {

namespace {
// Debian's base-files ships the CC0 legal code: a public-domain English text on every install.
const char* kDefaultText = "/usr/share/common-licenses/CC0-1.0";

// A tree item that sorts numerically in the columns that hold numbers.
class NumericItem : public QTreeWidgetItem {
public:
    using QTreeWidgetItem::QTreeWidgetItem;
    bool operator<(const QTreeWidgetItem& other) const override {
        const int c = treeWidget() ? treeWidget()->sortColumn() : 0;
        bool a = false, b = false;
        const double x = text(c).toDouble(&a), y = other.text(c).toDouble(&b);
        return a && b ? x < y : QTreeWidgetItem::operator<(other);
    }
};

QString mib(qint64 bytes) {
    return QString::number(double(bytes) / (1024.0 * 1024.0), 'f', 1);
}
}  // namespace

// ------------------------------------------------------------------ building

QuantizationPanel::QuantizationPanel(QWidget* parent) : QWidget(parent) {
    setObjectName(QStringLiteral("quantizationPanel"));
    QLayout* form = buildEvaluationForm();
    status_ = new QLabel(this);
    status_->setObjectName(QStringLiteral("quantStatusLabel"));
    status_->setWordWrap(true);
    status_->setMinimumHeight(3 * status_->fontMetrics().lineSpacing());  // wrapped lines keep their room
    status_->setAlignment(Qt::AlignTop | Qt::AlignLeft);
    auto* views = new QSplitter(Qt::Vertical, this);
    buildComparisonViews(views);
    buildTensorViews(views);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(evaluate_);
    layout->addWidget(status_);
    layout->addWidget(views, 1);
    setModelLoaded(false);
}

QLayout* QuantizationPanel::buildEvaluationForm() {
    text_path_ = new QLineEdit(QString::fromLatin1(kDefaultText), this);
    text_path_->setObjectName(QStringLiteral("evalTextEdit"));
    text_path_->setToolTip(
        tr("A plain text to score. The default, the CC0 legal code, is public domain and ships "
           "with every Debian system."));
    context_ = intSpin(this, "evalContextSpin", 32, 8192, tr("Tokens per chunk; the second half of each is scored."));
    context_->setValue(256);
    chunks_ = intSpin(this, "evalChunksSpin", 1, 1000, tr("Chunks of the text to score."));
    chunks_->setValue(4);
    evaluate_ = new QPushButton(tr("Evaluate the loaded model"), this);
    evaluate_->setObjectName(QStringLiteral("evaluateButton"));
    evaluate_->setToolTip(
        tr("Perplexity on the text. If the weights were quantized at load (Model panel, Weights), "
           "also the KL divergence and top-1 agreement against the file's own weights, and every "
           "tensor's error."));
    connect(evaluate_, &QPushButton::clicked, this, [this] {
        running_ = true;
        evaluate_->setEnabled(false);
        status_->setText(tr("Evaluating…"));
        Q_EMIT evaluateRequested(settings());
    });
    auto* form = new QFormLayout;
    form->addRow(tr("Text"), text_path_);
    form->addRow(tr("Context"), context_);
    form->addRow(tr("Chunks"), chunks_);
    return form;
}

// The evaluations side by side: a sortable table and KL divergence per format.
void QuantizationPanel::buildComparisonViews(QSplitter* views) {
    comparison_ = new QTreeWidget(this);
    comparison_->setObjectName(QStringLiteral("quantComparisonTable"));
    comparison_->setHeaderLabels({tr("format"), tr("weights MiB"), tr("predicted MiB"), tr("backend MiB"),
                                  tr("process MiB"), tr("PPL"), tr("KLD mean"), tr("KLD p99"), tr("top-1 %"),
                                  tr("decode tok/s")});
    comparison_->setToolTip(
        tr("predicted: weights plus the KV pool, from the shapes; backend: what the backend holds "
           "(weights, KV pool, scratch); process: resident memory after the evaluation."));
    comparison_->setRootIsDecorated(false);
    comparison_->setSortingEnabled(true);
    kld_plot_ = new QCustomPlot(this);
    kld_plot_->setObjectName(QStringLiteral("quantKldPlot"));
    kld_plot_->setMinimumHeight(140);
    auto* kld = new QCPBars(kld_plot_->xAxis, kld_plot_->yAxis);
    kld->setName(tr("KLD mean"));
    kld->setBrush(QColor(214, 39, 40, 150));
    kld_plot_->yAxis->setLabel(tr("KL divergence (nats)"));
    kld_plot_->xAxis->setLabel(tr("Evaluation (format)"));
    fitPlotText(kld_plot_);
    views->addWidget(comparison_);
    views->addWidget(kld_plot_);
}

// The last evaluation's per-tensor errors: a sortable list and a histogram.
void QuantizationPanel::buildTensorViews(QSplitter* views) {
    tensors_ = new QTreeWidget(this);
    tensors_->setObjectName(QStringLiteral("tensorErrorTable"));
    tensors_->setHeaderLabels(
        {tr("tensor"), tr("type"), tr("from"), tr("NMSE"), tr("RTN ‖XΔW‖²"), tr("GPTQ ‖XΔW‖²"), tr("kernels")});
    tensors_->setToolTip(
        tr("NMSE: the weights' error against the file's. With GPTQ (Model panel), the layer "
           "outputs' error on the calibration text, relative to ‖XW‖², for round-to-nearest "
           "and for GPTQ, and for the loaded weights through the CPU kernels (activation "
           "quantization included)."));
    tensors_->setRootIsDecorated(false);
    tensors_->setSortingEnabled(true);
    tensor_histogram_ = new QCustomPlot(this);
    tensor_histogram_->setObjectName(QStringLiteral("tensorErrorHistogram"));
    tensor_histogram_->setMinimumHeight(140);
    auto* hist = new QCPBars(tensor_histogram_->xAxis, tensor_histogram_->yAxis);
    hist->setName(tr("tensors"));
    hist->setWidthType(QCPBars::wtPlotCoords);
    hist->setBrush(QColor(31, 119, 180, 150));
    tensor_histogram_->xAxis->setLabel(tr("log10 NMSE of the tensor's weights"));
    tensor_histogram_->yAxis->setLabel(tr("Tensors (count)"));
    fitPlotText(tensor_histogram_);
    views->addWidget(tensors_);
    views->addWidget(tensor_histogram_);
}

// ------------------------------------------------------------------ results

QuantEvalSettings QuantizationPanel::settings() const {
    QuantEvalSettings s;
    s.textPath = text_path_->text();
    s.contextTokens = context_->value();
    s.chunks = chunks_->value();
    return s;
}

void QuantizationPanel::setModelLoaded(bool loaded) {
    loaded_ = loaded;
    evaluate_->setEnabled(loaded_ && !running_);
    // The hint follows the model; a result or an error stays until the next evaluation.
    const QString needModel = tr("Load a model, then evaluate it. Choose the weight format in the Model panel.");
    const QString ready =
        tr("Ready: Evaluate scores the loaded model. Choose the weight format in the Model panel "
           "before loading.");
    const QString shown = status_->text();
    if (running_ || !(shown.isEmpty() || shown == needModel || shown == ready)) return;
    status_->setText(loaded_ ? ready : needModel);
}

QString QuantizationPanel::statusText() const {
    return status_->text();
}

void QuantizationPanel::showFailure(const QString& message) {
    running_ = false;
    evaluate_->setEnabled(loaded_);
    status_->setText(tr("Evaluation failed: %1").arg(message));
}

void QuantizationPanel::showResult(const QuantEvalData& r) {
    running_ = false;
    evaluate_->setEnabled(loaded_);
    results_.append(r);
    auto* row = new NumericItem(comparison_);
    row->setText(0, r.format);
    row->setText(1, mib(r.weightBytes));
    row->setText(2, mib(r.predictedBytes));
    row->setText(3, mib(r.backendBytes));
    row->setText(4, mib(r.processRssBytes));
    row->setText(5, QString::number(r.perplexity, 'f', 3));
    row->setText(6, r.hasReference ? QString::number(r.kldMean, 'f', 5) : tr("–"));
    row->setText(7, r.hasReference ? QString::number(r.kldP99, 'f', 4) : tr("–"));
    row->setText(8, r.hasReference ? QString::number(100.0 * r.top1, 'f', 2) : tr("–"));
    row->setText(9, QString::number(r.decodeTps, 'f', 1));
    for (int c = 0; c < comparison_->columnCount(); ++c) comparison_->resizeColumnToContents(c);
    status_->setText(tr("%1: PPL %2 ± %3 over %4 predictions%5")
                         .arg(r.format)
                         .arg(r.perplexity, 0, 'f', 3)
                         .arg(r.perplexityError, 0, 'f', 3)
                         .arg(r.scored)
                         .arg(r.hasReference ? tr("; KLD %1 against the file's weights").arg(r.kldMean, 0, 'f', 5)
                                             : tr("; quantize at load (Model panel) to compare with the file")));
    showTensorErrors(r);
    replotComparison();
}

// Per-tensor errors: a sortable list and a histogram of log10 NMSE.
void QuantizationPanel::showTensorErrors(const QuantEvalData& r) {
    tensors_->clear();
    QVector<double> logs;
    for (const TensorErrorData& t : r.tensors) {
        auto* item = new NumericItem(tensors_);
        item->setText(0, t.name);
        item->setText(1, t.type);
        item->setText(2, t.originalType);
        item->setText(3, QString::number(t.nmse, 'g', 4));
        if (t.rtnOutputError >= 0) item->setText(4, QString::number(t.rtnOutputError, 'g', 4));
        if (t.gptqOutputError >= 0) item->setText(5, QString::number(t.gptqOutputError, 'g', 4));
        if (t.kernelOutputError >= 0) item->setText(6, QString::number(t.kernelOutputError, 'g', 4));
        if (t.nmse > 0) logs.append(std::log10(t.nmse));
    }
    tensors_->sortByColumn(3, Qt::DescendingOrder);
    for (int c = 0; c < tensors_->columnCount(); ++c) tensors_->resizeColumnToContents(c);
    const HistogramBins bins = histogramBins(logs);
    QVector<double> keys, counts;
    for (int i = 0; i < bins.binCount(); ++i) {
        keys.append((bins.binStart(i) + bins.binEnd(i)) / 2);
        counts.append(bins.counts.at(i));
    }
    auto* hist = qobject_cast<QCPBars*>(tensor_histogram_->plottable(0));
    hist->setData(keys, counts, true);
    if (bins.binCount() > 0) {
        hist->setWidth((bins.edges.back() - bins.edges.front()) / bins.binCount());
        tensor_histogram_->rescaleAxes();
        tensor_histogram_->yAxis->setRangeLower(0);
    } else {  // no reference, so no errors: an empty chart, not a degenerate range
        tensor_histogram_->xAxis->setRange(-8, 0);
        tensor_histogram_->yAxis->setRange(0, 1);
    }
    tensor_histogram_->replot();
}

void QuantizationPanel::replotComparison() {
    QVector<double> keys, values;
    QSharedPointer<QCPAxisTickerText> ticker(new QCPAxisTickerText);
    for (int i = 0; i < results_.size(); ++i) {
        keys.append(i + 1);
        values.append(results_[i].hasReference ? results_[i].kldMean : 0.0);
        ticker->addTick(i + 1, results_[i].format.left(12));
    }
    auto* bars = qobject_cast<QCPBars*>(kld_plot_->plottable(0));
    bars->setData(keys, values, true);
    kld_plot_->xAxis->setTicker(ticker);
    kld_plot_->xAxis->setRange(0.5, results_.size() + 0.5);
    double top = 0;
    for (double v : values) top = std::max(top, v);
    kld_plot_->yAxis->setRange(0, top > 0 ? top * 1.15 : 1.0);
    kld_plot_->replot();
}

}  // namespace lumen::ui
