// SamplingPanel: the controls, their ranges and tooltips, presets, and the
// current settings persisted in QSettings.
#include "sampling/sampling_panel.h"

#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QInputDialog>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPushButton>
#include <QRegularExpressionValidator>
#include <QSettings>
#include <QSpinBox>
#include <QVBoxLayout>

#include "common/spin_boxes.h"
#include "sampling/sampling_preset_model.h"

namespace lumen::ui {

namespace {

const char* kCurrentKey = "sampling/current";

}  // namespace

// ------------------------------------------------------------------ building

SamplingPanel::SamplingPanel(QWidget* parent) : QWidget(parent) {
    setObjectName(QStringLiteral("samplingPanel"));
    presets_ = new SamplingPresetModel(QStringLiteral("sampling/userPresets"), this);

    // The rows follow the chain's order: penalties, then the filters, then the draw.
    auto* form = new QFormLayout;
    form->addRow(tr("Preset"), buildPresetRow());
    addPenaltyRows(form);
    addFilterRows(form);
    addDrawRows(form);
    QStringList order;
    for (const auto& stage : sampling_chain_order()) order << QString::fromStdString(stage);
    chain_ = new QLabel(tr("Chain order: %1").arg(order.join(QStringLiteral(" → "))), this);
    chain_->setObjectName(QStringLiteral("chainOrderLabel"));
    chain_->setWordWrap(true);
    chain_->setToolTip(
        tr("The engine applies the stages in this order to each row of logits. With temperature 0 "
           "the chain stops after the penalties and takes the argmax."));
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(chain_);
    layout->addStretch(1);

    // Restore the last settings, else the Balanced defaults.
    const QJsonObject saved = QJsonDocument::fromJson(QSettings().value(kCurrentKey).toByteArray()).object();
    setParams(saved.isEmpty() ? SamplingParams{} : sampling_params_from_json(saved.value("params").toObject()),
              saved.value("max_tokens").toInt(512));
    connectPersistence();
}

QLayout* SamplingPanel::buildPresetRow() {
    preset_combo_ = new QComboBox(this);
    preset_combo_->setObjectName(QStringLiteral("presetCombo"));
    preset_combo_->setModel(presets_);
    preset_combo_->setToolTip(tr("Apply a preset. Greedy always picks the most likely token."));
    auto* save = new QPushButton(tr("Save as…"), this);
    save->setObjectName(QStringLiteral("savePresetButton"));
    auto* remove = new QPushButton(tr("Delete"), this);
    remove->setObjectName(QStringLiteral("deletePresetButton"));
    connect(preset_combo_, &QComboBox::activated, this, &SamplingPanel::applyPreset);
    connect(save, &QPushButton::clicked, this, &SamplingPanel::askAndSavePreset);
    connect(remove, &QPushButton::clicked, this, &SamplingPanel::deleteSelectedPreset);
    auto* row = new QHBoxLayout;
    row->addWidget(preset_combo_, 1);
    row->addWidget(save);
    row->addWidget(remove);
    return row;
}

void SamplingPanel::addPenaltyRows(QFormLayout* form) {
    repeat_penalty_ = doubleSpin(this, "repeatPenaltySpin", 0.5, 3.0, 0.01, 3,
                                 tr("Divide positive logits (multiply negative ones) of tokens seen in the penalty "
                                    "window. 1 disables."));
    presence_penalty_ = doubleSpin(this, "presencePenaltySpin", -2.0, 2.0, 0.05, 2,
                                   tr("Subtract this once from the logit of every token seen in the window "
                                      "(logit − α·[t appeared]). 0 disables."));
    frequency_penalty_ = doubleSpin(this, "frequencyPenaltySpin", -2.0, 2.0, 0.05, 2,
                                    tr("Subtract this times the count of each token in the window "
                                       "(logit − α·count(t)). 0 disables."));
    penalty_last_n_ = intSpin(this, "penaltyLastNSpin", -1, 1 << 20,
                              tr("How many recent tokens the penalties look at. -1: the whole context."));
    no_repeat_ngram_ = intSpin(this, "noRepeatNgramSpin", 0, 64,
                               tr("Hard ban: a token that would repeat an n-gram of this size already in the prompt "
                                  "or reply is never picked. 0 disables."));
    no_repeat_ngram_->setSpecialValueText(tr("off"));
    form->addRow(tr("Repetition penalty"), repeat_penalty_);
    form->addRow(tr("Presence penalty"), presence_penalty_);
    form->addRow(tr("Frequency penalty"), frequency_penalty_);
    form->addRow(tr("Penalty window"), penalty_last_n_);
    form->addRow(tr("No-repeat n-gram"), no_repeat_ngram_);
}

void SamplingPanel::addFilterRows(QFormLayout* form) {
    top_k_ = intSpin(this, "topKSpin", 0, 100000, tr("Keep only the k most likely tokens. 0 disables."));
    top_p_ = doubleSpin(this, "topPSpin", 0.0, 1.0, 0.01, 3,
                        tr("Nucleus sampling: keep the smallest set of tokens whose probabilities sum to at least p. "
                           "1 disables."));
    min_p_ = doubleSpin(this, "minPSpin", 0.0, 1.0, 0.01, 3,
                        tr("Drop tokens whose probability is below min-p times the most likely token's. 0 disables."));
    form->addRow(tr("Top-k"), top_k_);
    form->addRow(tr("Top-p"), top_p_);
    form->addRow(tr("Min-p"), min_p_);
}

// The draw itself: temperature and seed, and how long a reply may get.
void SamplingPanel::addDrawRows(QFormLayout* form) {
    temperature_ = doubleSpin(this, "temperatureSpin", 0.0, 5.0, 0.05, 2,
                              tr("Divides the logits before the draw. 0 is greedy (argmax after the penalties); "
                                 "higher values flatten the distribution."));
    seed_ = new QLineEdit(this);
    seed_->setObjectName(QStringLiteral("seedEdit"));
    seed_->setValidator(new QRegularExpressionValidator(QRegularExpression(QStringLiteral("[0-9]{1,20}")), seed_));
    seed_->setToolTip(tr("Seed of the random draw (0 … 2^64−1). The same seed and settings give the same reply."));
    connect(seed_, &QLineEdit::editingFinished, this, [this] {
        bool ok = false;
        seed_->text().toULongLong(&ok);
        if (!ok) {  // empty or above 2^64-1: show the seed that will really be used
            seed_->setText(QString::number(params().seed));
            seed_->setToolTip(tr("The seed must be a whole number from 0 to 18446744073709551615."));
        }
    });
    max_tokens_ = intSpin(this, "maxTokensSpin", 1, 1 << 20, tr("The most tokens one reply may generate."));
    form->addRow(tr("Temperature"), temperature_);
    form->addRow(tr("Seed"), seed_);
    form->addRow(tr("Max tokens"), max_tokens_);
}

// Every change is saved as the current settings (not while a preset is being applied).
void SamplingPanel::connectPersistence() {
    auto persist = [this] {
        if (!applying_) persistCurrent();
    };
    for (QDoubleSpinBox* s : {temperature_, top_p_, min_p_, repeat_penalty_, presence_penalty_, frequency_penalty_})
        connect(s, &QDoubleSpinBox::valueChanged, this, persist);
    for (QSpinBox* s : {top_k_, penalty_last_n_, no_repeat_ngram_, max_tokens_})
        connect(s, &QSpinBox::valueChanged, this, persist);
    connect(seed_, &QLineEdit::textChanged, this, persist);
}

// ------------------------------------------------------------------ settings and presets

SamplingParams SamplingPanel::params() const {
    SamplingParams p;
    p.temperature = float(temperature_->value());
    p.top_k = top_k_->value();
    p.top_p = float(top_p_->value());
    p.min_p = float(min_p_->value());
    p.repeat_penalty = float(repeat_penalty_->value());
    p.presence_penalty = float(presence_penalty_->value());
    p.frequency_penalty = float(frequency_penalty_->value());
    p.penalty_last_n = penalty_last_n_->value();
    p.no_repeat_ngram = no_repeat_ngram_->value();
    bool ok = false;
    const quint64 seed = seed_->text().toULongLong(&ok);
    if (ok) p.seed = seed;
    return p;
}

int SamplingPanel::maxTokens() const {
    return max_tokens_->value();
}

void SamplingPanel::setParams(const SamplingParams& p, int maxTokens) {
    applying_ = true;
    temperature_->setValue(double(p.temperature));
    top_k_->setValue(p.top_k);
    top_p_->setValue(double(p.top_p));
    min_p_->setValue(double(p.min_p));
    repeat_penalty_->setValue(double(p.repeat_penalty));
    presence_penalty_->setValue(double(p.presence_penalty));
    frequency_penalty_->setValue(double(p.frequency_penalty));
    penalty_last_n_->setValue(p.penalty_last_n);
    no_repeat_ngram_->setValue(p.no_repeat_ngram);
    seed_->setText(QString::number(p.seed));
    max_tokens_->setValue(maxTokens);
    applying_ = false;
    persistCurrent();
}

void SamplingPanel::applyPreset(int row) {
    if (row < 0 || row >= presets_->rowCount()) return;
    const SamplingPreset& preset = presets_->preset(row);
    setParams(preset.params, preset.maxTokens);
    preset_combo_->setCurrentIndex(row);
}

bool SamplingPanel::saveCurrentAsPreset(const QString& name, QString* error) {
    const int row = presets_->savePreset(name, params(), maxTokens(), error);
    if (row < 0) return false;
    preset_combo_->setCurrentIndex(row);
    return true;
}

void SamplingPanel::persistCurrent() {
    const QJsonObject o{{"params", sampling_params_to_json(params())}, {"max_tokens", maxTokens()}};
    QSettings().setValue(kCurrentKey, QJsonDocument(o).toJson(QJsonDocument::Compact));
    Q_EMIT settingsChanged();
}

void SamplingPanel::askAndSavePreset() {
    bool ok = false;
    const QString name =
        QInputDialog::getText(this, tr("Save sampling preset"), tr("Preset name:"), QLineEdit::Normal, {}, &ok);
    if (!ok) return;
    QString error;
    if (!saveCurrentAsPreset(name, &error)) QMessageBox::warning(this, tr("Save sampling preset"), error);
}

void SamplingPanel::deleteSelectedPreset() {
    QString error;
    if (!presets_->removePreset(preset_combo_->currentIndex(), &error))
        QMessageBox::information(this, tr("Delete sampling preset"), error);
}

}  // namespace lumen::ui
