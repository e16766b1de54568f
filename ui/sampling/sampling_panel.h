// The sampling panel: one control per stage of the engine's sampling chain,
// the chain order, a seed, the reply length, and presets. The chat reads the
// settings when it sends, so changes apply to the next request. Each reply
// draws a new seed unless "Fixed" is ticked; the preset box names the preset
// the settings equal, or shows "Custom".
#pragma once

#include <QWidget>

#include "sampling/sampler.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QFormLayout;
class QLabel;
class QLineEdit;
class QSpinBox;

namespace lumen::ui {

class SamplingPresetModel;

class SamplingPanel : public QWidget {
    Q_OBJECT
public:
    explicit SamplingPanel(QWidget* parent = nullptr);

    // The settings as shown, with the seed in the seed field.
    SamplingParams params() const;
    // The settings for the next reply: unless the seed is fixed, a new seed is
    // drawn (and shown in the seed field, so that it can be fixed to repeat it).
    SamplingParams paramsForReply();
    int maxTokens() const;
    void setParams(const SamplingParams& params, int maxTokens);
    bool fixedSeed() const;
    void setFixedSeed(bool fixed);
    SamplingPresetModel* presetModel() const { return presets_; }
    // Applies the preset at `row` of the preset model.
    void applyPreset(int row);
    bool saveCurrentAsPreset(const QString& name, QString* error);
    // The preset the settings equal (the last chosen one first), or "Custom".
    QString presetName() const;
    static QString customPresetName();

Q_SIGNALS:
    void settingsChanged();

private:
    void addPresetRows(QFormLayout* form);
    void addPenaltyRows(QFormLayout* form);
    void addFilterRows(QFormLayout* form);
    void addDrawRows(QFormLayout* form);
    void connectPersistence();
    void persistCurrent();
    void askAndSavePreset();
    void deleteSelectedPreset();
    void restoreCurrent();
    int matchingPreset() const;  // -1: none
    void showMatchingPreset();

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
    QCheckBox* fixed_seed_;
    QSpinBox* max_tokens_;
    QLabel* chain_;
    QString chosen_preset_;  // the preset last applied or saved, preferred when several match
    bool applying_ = false;
};

}  // namespace lumen::ui
