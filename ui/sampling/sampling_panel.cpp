// SamplingPanel: the controls, their ranges and tooltips, presets, the seed
// drawn per reply, and the current settings persisted in QSettings.
#include "sampling/sampling_panel.h"

#include <QCheckBox>
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
#include <QRandomGenerator>
#include <QRegularExpressionValidator>
#include <QSettings>
#include <QSpinBox>
#include <QVBoxLayout>

#include <cmath>

#include "common/spin_boxes.h"
#include "sampling/sampling_preset_model.h"

namespace lumen::ui {

namespace {

const char* kCurrentKey = "sampling/current";

// The spin boxes round to their decimals, so a preset's floats come back within this.
bool nearlyEqual(float a, float b) {
    return std::abs(a - b) < 1e-4f;
}

// Everything a preset sets except the seed, which a reply draws unless it is fixed.
bool sameSettings(const SamplingPreset& preset, const SamplingParams& p, int maxTokens) {
    const SamplingParams& q = preset.params;
    return nearlyEqual(q.temperature, p.temperature) && q.top_k == p.top_k && nearlyEqual(q.top_p, p.top_p) &&
           nearlyEqual(q.min_p, p.min_p) && nearlyEqual(q.repeat_penalty, p.repeat_penalty) &&
           nearlyEqual(q.presence_penalty, p.presence_penalty) &&
           nearlyEqual(q.frequency_penalty, p.frequency_penalty) && q.penalty_last_n == p.penalty_last_n &&
           q.no_repeat_ngram == p.no_repeat_ngram && preset.maxTokens == maxTokens;
}

}  // namespace

// ------------------------------------------------------------------ building

SamplingPanel::SamplingPanel(QWidget* parent) : QWidget(parent) {
    setObjectName(QStringLiteral("samplingPanel"));
    presets_ = new SamplingPresetModel(QStringLiteral("sampling/userPresets"), this);

    // The rows follow the chain's order: penalties, then the filters, then the draw.
    auto* form = new QFormLayout;
    addPresetRows(form);
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

    restoreCurrent();
    connectPersistence();
}

// The last settings, else the Balanced defaults; the preset box names their preset.
void SamplingPanel::restoreCurrent() {
    const QJsonObject saved = QJsonDocument::fromJson(QSettings().value(kCurrentKey).toByteArray()).object();
    chosen_preset_ = saved.value("preset").toString();
    fixed_seed_->setChecked(saved.value("fixed_seed").toBool(false));
    setParams(saved.isEmpty() ? SamplingParams{} : sampling_params_from_json(saved.value("params").toObject()),
              saved.value("max_tokens").toInt(512));
}

// The preset box, then Save as… and Delete below it (beside it they would widen the side bar).
void SamplingPanel::addPresetRows(QFormLayout* form) {
    preset_combo_ = new QComboBox(this);
    preset_combo_->setObjectName(QStringLiteral("presetCombo"));
    preset_combo_->setModel(presets_);
    preset_combo_->setPlaceholderText(customPresetName());  // shown when no preset matches the settings
    preset_combo_->setToolTip(tr("Apply a preset. Greedy always picks the most likely token. \"%1\": the settings "
                                 "are no preset's.")
                                  .arg(customPresetName()));
    auto* save = new QPushButton(tr("Save as…"), this);
    save->setObjectName(QStringLiteral("savePresetButton"));
    auto* remove = new QPushButton(tr("Delete"), this);
    remove->setObjectName(QStringLiteral("deletePresetButton"));
    connect(preset_combo_, &QComboBox::activated, this, &SamplingPanel::applyPreset);
    connect(save, &QPushButton::clicked, this, &SamplingPanel::askAndSavePreset);
    connect(remove, &QPushButton::clicked, this, &SamplingPanel::deleteSelectedPreset);
    auto* buttons = new QHBoxLayout;
    buttons->addStretch(1);
    buttons->addWidget(save);
    buttons->addWidget(remove);
    form->addRow(tr("Preset"), preset_combo_);
    form->addRow(QString(), buttons);
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
    seed_->setToolTip(
        tr("Seed of the random draw (0 … 2^64−1). The same seed and settings give the same reply. "
           "Unless Fixed is ticked, each reply draws a new seed, shown here and in the reply's "
           "sampling line: tick Fixed to repeat it."));
    fixed_seed_ = new QCheckBox(tr("Fixed"), this);
    fixed_seed_->setObjectName(QStringLiteral("fixedSeedCheck"));
    fixed_seed_->setToolTip(
        tr("Use this seed for every reply. Off: each reply draws a new seed, so Regenerate gives "
           "a different reply."));
    connect(seed_, &QLineEdit::editingFinished, this, [this] {
        bool ok = false;
        seed_->text().toULongLong(&ok);
        if (!ok) {  // empty or above 2^64-1: show the seed that will really be used
            seed_->setText(QString::number(params().seed));
            seed_->setToolTip(tr("The seed must be a whole number from 0 to 18446744073709551615."));
        }
    });
    max_tokens_ = intSpin(this, "maxTokensSpin", 1, 1 << 20, tr("The most tokens one reply may generate."));
    auto* seedRow = new QHBoxLayout;
    seedRow->addWidget(seed_, 1);
    seedRow->addWidget(fixed_seed_);
    form->addRow(tr("Temperature"), temperature_);
    form->addRow(tr("Seed"), seedRow);
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
    connect(fixed_seed_, &QCheckBox::toggled, this, persist);
    connect(presets_, &QAbstractItemModel::rowsInserted, this, &SamplingPanel::showMatchingPreset);
    connect(presets_, &QAbstractItemModel::rowsRemoved, this, &SamplingPanel::showMatchingPreset);
    connect(presets_, &QAbstractItemModel::dataChanged, this, &SamplingPanel::showMatchingPreset);
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

SamplingParams SamplingPanel::paramsForReply() {
    if (!fixed_seed_->isChecked()) seed_->setText(QString::number(QRandomGenerator::global()->generate64()));
    return params();
}

bool SamplingPanel::fixedSeed() const {
    return fixed_seed_->isChecked();
}

void SamplingPanel::setFixedSeed(bool fixed) {
    fixed_seed_->setChecked(fixed);
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
    chosen_preset_ = preset.name;
    setParams(preset.params, preset.maxTokens);
}

bool SamplingPanel::saveCurrentAsPreset(const QString& name, QString* error) {
    const int row = presets_->savePreset(name, params(), maxTokens(), error);
    if (row < 0) return false;
    chosen_preset_ = presets_->preset(row).name;
    persistCurrent();
    return true;
}

QString SamplingPanel::customPresetName() {
    return tr("Custom");
}

QString SamplingPanel::presetName() const {
    const int row = matchingPreset();
    return row < 0 ? customPresetName() : presets_->preset(row).name;
}

int SamplingPanel::matchingPreset() const {
    const SamplingParams p = params();
    const int chosen = presets_->rowOf(chosen_preset_);
    if (chosen >= 0 && sameSettings(presets_->preset(chosen), p, maxTokens())) return chosen;
    for (int row = 0; row < presets_->rowCount(); ++row)
        if (sameSettings(presets_->preset(row), p, maxTokens())) return row;
    return -1;
}

void SamplingPanel::showMatchingPreset() {
    preset_combo_->setCurrentIndex(matchingPreset());
}

void SamplingPanel::persistCurrent() {
    showMatchingPreset();
    const int row = matchingPreset();
    const QJsonObject o{{"params", sampling_params_to_json(params())},
                        {"max_tokens", maxTokens()},
                        {"fixed_seed", fixed_seed_->isChecked()},
                        {"preset", row < 0 ? QString() : presets_->preset(row).name}};
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
    if (preset_combo_->currentIndex() < 0)
        error = tr("The settings are not a preset's: choose one of your presets to delete it.");
    else if (presets_->removePreset(preset_combo_->currentIndex(), &error))
        return;
    QMessageBox::information(this, tr("Delete sampling preset"), error);
}

}  // namespace lumen::ui
