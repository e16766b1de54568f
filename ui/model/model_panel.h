// The model panel: open a GGUF or llama2.c file (or a recent one), see its
// metadata and a memory estimate before loading, load with progress and
// cancel, unload. Errors from the engine are shown here; the app keeps running.
#pragma once

#include <QWidget>

#include "worker/engine_worker.h"

class QCheckBox;
class QComboBox;
class QFormLayout;
class QLayout;
class QLabel;
class QLineEdit;
class QListWidget;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTreeWidget;
class QVBoxLayout;

namespace lumen::ui {

// Weights plus KV for `contextTokens` tokens in each of `batch` sequences:
// 2 · layers · kv_heads · head_dim · bytes per token and sequence.
qint64 estimate_kv_bytes(const ModelSummary& model, int contextTokens, int batch, const QString& kvType);

class ModelPanel : public QWidget {
    Q_OBJECT
public:
    explicit ModelPanel(QWidget* parent = nullptr);

    LoadSettings loadSettings() const;
    bool isLoading() const { return loading_; }
    // Starts loading `settings` (the panel shows progress and enables Cancel until it ends).
    void requestLoad(const LoadSettings& settings);
    QString errorText() const;
    QString estimateText() const;
    bool isLoaded() const { return loaded_; }
    const ModelSummary& summary() const { return summary_; }
    QStringList recentModels() const;

public Q_SLOTS:
    // Shows `path` and asks the worker to inspect it.
    void selectModel(const QString& path);
    void openFileDialog();
    void showSummary(const lumen::ui::ModelSummary& summary);  // an inspection: also proposes a context
    void showInspectError(const QString& path, const QString& message);
    void showLoadProgress(const QString& stage, double fraction);
    void showLoaded(const lumen::ui::ModelSummary& summary, double loadMs);
    void showLoadFailed(const QString& path, const QString& message);
    void showUnloaded();

Q_SIGNALS:
    void inspectRequested(const QString& path);
    void loadRequested(const lumen::ui::LoadSettings& settings);
    void cancelLoadRequested();
    void unloadRequested();

private:
    QLayout* buildFileRow();  // the path, Open… (and the recent list below it)
    void addMemoryRows(QFormLayout* form);
    void addWeightsRows(QFormLayout* form);
    QLayout* buildMixRow();
    QLayout* buildCalibrationRow();
    void addDeviceRows(QFormLayout* form);
    void addLoadControls(QVBoxLayout* layout);
    void showMetadata(const ModelSummary& summary);
    void updateButtons();
    void setError(const QString& message);
    void updateEstimate();
    QString weightsMix() const;  // the mixed-precision spec of the controls, "" for none
    void rememberRecent(const QString& path);

    ModelSummary summary_;
    bool have_summary_ = false;
    bool loaded_ = false;
    bool loading_ = false;
    QLineEdit* path_;
    QListWidget* recent_;
    QSpinBox* context_;
    QSpinBox* batch_;
    QComboBox* kv_type_;
    QComboBox* weights_;
    QComboBox* mix_type_;
    QVector<QCheckBox*> mix_boxes_;
    QCheckBox* gptq_;
    QLineEdit* calibration_text_;
    QSpinBox* calibration_samples_;
    QSpinBox* threads_;
    QComboBox* device_;
    QTreeWidget* metadata_;
    QLabel* estimate_;
    QLabel* status_;
    QLabel* error_;
    QProgressBar* progress_;
    QPushButton* load_;
    QPushButton* cancel_;
    QPushButton* unload_;
};

}  // namespace lumen::ui
