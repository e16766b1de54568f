// The quantization panel: a quick evaluation of the loaded model (perplexity on a
// plain text; with load-time quantization also KL divergence, top-1 agreement and
// every tensor's error against the file's own weights), and the evaluations so far
// side by side: a sortable table and a bar chart of KL divergence per format. The
// per-tensor errors of the last evaluation come as a sortable list and a histogram.
// The format itself is chosen in the Model panel (Weights) before loading.
#pragma once

#include <QWidget>

#include "worker/engine_events.h"

class QCustomPlot;
class QLabel;
class QLayout;
class QLineEdit;
class QPushButton;
class QSpinBox;
class QSplitter;
class QTreeWidget;

namespace lumen::ui {

class QuantizationPanel : public QWidget {
    Q_OBJECT
public:
    explicit QuantizationPanel(QWidget* parent = nullptr);
    QuantEvalSettings settings() const;
    int evaluations() const { return int(results_.size()); }
    QString statusText() const;

public Q_SLOTS:
    void setModelLoaded(bool loaded);
    void showResult(const lumen::ui::QuantEvalData& result);
    void showFailure(const QString& message);

Q_SIGNALS:
    void evaluateRequested(const lumen::ui::QuantEvalSettings& settings);

private:
    QLayout* buildEvaluationForm();  // and the Evaluate button
    void buildComparisonViews(QSplitter* views);
    void buildTensorViews(QSplitter* views);
    void showTensorErrors(const QuantEvalData& result);
    void replotComparison();

    QLineEdit* text_path_;
    QSpinBox* context_;
    QSpinBox* chunks_;
    QPushButton* evaluate_;
    QLabel* status_;
    QTreeWidget* comparison_;
    QCustomPlot* kld_plot_;
    QTreeWidget* tensors_;
    QCustomPlot* tensor_histogram_;
    QVector<QuantEvalData> results_;
    bool loaded_ = false;
    bool running_ = false;
};

}  // namespace lumen::ui
