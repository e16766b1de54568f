// Sampling presets as a Qt model: the built-in Greedy, Balanced and Creative
// presets plus the user's own, which persist in QSettings as JSON.
#pragma once

#include <QAbstractListModel>
#include <QJsonObject>
#include <QVector>

#include "sampling/sampler.h"

namespace lumen::ui {

struct SamplingPreset {
    QString name;
    SamplingParams params;
    int maxTokens = 512;
    bool builtIn = false;
};

QJsonObject sampling_params_to_json(const SamplingParams& params);
SamplingParams sampling_params_from_json(const QJsonObject& json);

class SamplingPresetModel : public QAbstractListModel {
    Q_OBJECT
public:
    enum Role { BuiltInRole = Qt::UserRole + 1, MaxTokensRole, TemperatureRole };

    // settingsKey: where the user presets live in QSettings.
    explicit SamplingPresetModel(const QString& settingsKey = QStringLiteral("sampling/userPresets"),
                                 QObject* parent = nullptr);
    static QVector<SamplingPreset> builtInPresets();

    int rowCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QHash<int, QByteArray> roleNames() const override;

    const SamplingPreset& preset(int row) const { return presets_[row]; }
    int rowOf(const QString& name) const;
    // Adds a user preset, or replaces the user preset of that name. Built-in
    // names cannot be replaced. Returns the row or -1 with *error set.
    int savePreset(const QString& name, const SamplingParams& params, int maxTokens, QString* error);
    bool removePreset(int row, QString* error);  // user presets only

private:
    void persist() const;
    QString settings_key_;
    QVector<SamplingPreset> presets_;
};

}  // namespace lumen::ui
