// The Serving panel: runs a serve-bench workload (N requests, input/output
// lengths, shared prefix, arrival rate or concurrency) through the loaded
// model's serving engine, with live plots of throughput, queue depth and the
// TTFT and inter-token-latency distributions, and the summary table at the end.
// Each plot exports as PNG and as the CSV of its data, and the summary as CSV.
// Narrower than kSideBySideWidth, the controls go above the plots.
#pragma once

#include <QVector>
#include <QWidget>

#include "plots/performance_plots.h"  // includes <qcustomplot.h> safely under QT_NO_KEYWORDS
#include "worker/engine_events.h"

class QBoxLayout;
class QComboBox;
class QDoubleSpinBox;
class QFormLayout;
class QLabel;
class QLayout;
class QPushButton;
class QSpinBox;
class QTextBrowser;
class QTimer;

namespace lumen::ui {

class ServingPanel : public QWidget {
    Q_OBJECT
public:
    // Below this width the workload controls stack above the plots.
    static constexpr int kSideBySideWidth = 600;

    explicit ServingPanel(QWidget* parent = nullptr);

    ServeBenchSettings settings() const;
    void setSettings(const ServeBenchSettings& settings);
    bool isRunning() const { return running_; }
    QStringList plotNames() const;
    QCustomPlot* plot(const QString& name) const;
    const ServeBenchSummary& lastSummary() const { return summary_; }
    void replotNow();
    QString statusText() const;
    // Exports: a plot by name as PNG, or a plot's data or "serve_summary" (the
    // summary table's figures) as CSV. On failure *error says why.
    QString csv(const QString& name) const;
    bool exportCsv(const QString& name, const QString& path, QString* error) const;
    bool exportPng(const QString& name, const QString& path, QString* error) const;

protected:
    void resizeEvent(QResizeEvent* event) override;

public Q_SLOTS:
    void setModelLoaded(bool loaded);
    void start();
    void onStep(const lumen::ui::StepStatsData& step);
    void onRequestDone(const lumen::ui::ServeRequestDone& request);
    void onFinished(const lumen::ui::ServeBenchSummary& summary);
    void onFailed(const QString& message);

Q_SIGNALS:
    void runRequested(const lumen::ui::ServeBenchSettings& settings);
    void stopRequested();

private:
    QLayout* buildWorkloadControls();
    void addWorkloadRows(QFormLayout* form);
    QLayout* buildPlots();
    QLayout* buildExportRow();
    void exportInteractive(const QString& name, bool png);
    void applyPreset(int index);
    void clearPlots();
    void updateControls();
    QCustomPlot* makePlot(const char* name, const QString& title, const QString& x, const QString& y);

    QComboBox* preset_;
    QSpinBox* requests_;
    QSpinBox* input_len_;
    QSpinBox* output_len_;
    QDoubleSpinBox* shared_prefix_;
    QDoubleSpinBox* rate_;
    QSpinBox* concurrency_;
    QPushButton* run_;
    QPushButton* stop_;
    QLabel* status_;
    QTextBrowser* summary_view_;
    QCustomPlot* throughput_;
    QCustomPlot* queue_;
    QCustomPlot* ttft_hist_;
    QCustomPlot* itl_hist_;
    QBoxLayout* layout_;
    QTimer* replot_timer_;
    QVector<double> ttft_ms_, itl_ms_;
    double t0_ = -1;
    int done_ = 0;
    bool running_ = false;
    bool model_loaded_ = false;
    bool dirty_ = false;
    ServeBenchSummary summary_;
};

}  // namespace lumen::ui
