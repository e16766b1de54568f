// The sampling panel: one control per stage of the engine's sampling chain,
// the chain order, a seed, the reply length, and presets. The chat reads the
// settings when it sends, so changes apply to the next request.
#pragma once

#include <QWidget>

#include "sampling/sampler.h"

class QComboBox;
class QDoubleSpinBox;
class QFormLayout;
class QLabel;
class QLayout;
class QLineEdit;
class QSpinBox;

namespace lumen::ui {

class SamplingPresetModel;

class SamplingPanel : public QWidget {
    Q_OBJECT
public:
    explicit SamplingPanel(QWidget* parent = nullptr);

    SamplingParams params() const;
    int maxTokens() const;
    void setParams(const SamplingParams& params, int maxTokens);
    SamplingPresetModel* presetModel() const { return presets_; }
    // Applies the preset at `row` of the preset model.
    void applyPreset(int row);
    bool saveCurrentAsPreset(const QString& name, QString* error);

Q_SIGNALS:
    void settingsChanged();

private:
    QLayout* buildPresetRow();
    void addPenaltyRows(QFormLayout* form);
    void addFilterRows(QFormLayout* form);
    void addDrawRows(QFormLayout* form);
    void connectPersistence();
    void persistCurrent();
    void askAndSavePreset();
    void deleteSelectedPreset();

    SamplingPresetModel* presets_;
    QComboBox* preset_combo_;
    QDoubleSpinBox* temperature_;
    QSpinBox* top_k_;
    QDoubleSpinBox* top_p_;
    QDoubleSpinBox* min_p_;
    QDoubleSpinBox* repeat_penalty_;
    QDoubleSpinBox* presence_penalty_;
    QDoubleSpinBox* frequency_penalty_;
    QSpinBox* penalty_last_n_;
    QSpinBox* no_repeat_ngram_;
    QLineEdit* seed_;
    QSpinBox* max_tokens_;
    QLabel* chain_;
    bool applying_ = false;
};

}  // namespace lumen::ui
