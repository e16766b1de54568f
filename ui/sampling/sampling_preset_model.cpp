// SamplingPresetModel: built-in presets, user presets and their JSON form.
#include "sampling/sampling_preset_model.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSettings>

namespace lumen::ui {

QJsonObject sampling_params_to_json(const SamplingParams& p) {
    QJsonObject o;
    o["temperature"] = double(p.temperature);
    o["top_k"] = p.top_k;
    o["top_p"] = double(p.top_p);
    o["min_p"] = double(p.min_p);
    o["repeat_penalty"] = double(p.repeat_penalty);
    o["presence_penalty"] = double(p.presence_penalty);
    o["frequency_penalty"] = double(p.frequency_penalty);
    o["penalty_last_n"] = p.penalty_last_n;
    o["no_repeat_ngram"] = p.no_repeat_ngram;
    o["seed"] = QString::number(p.seed);  // 64-bit: a string keeps every digit
    return o;
}

SamplingParams sampling_params_from_json(const QJsonObject& o) {
    SamplingParams p;
    p.temperature = float(o.value("temperature").toDouble(p.temperature));
    p.top_k = o.value("top_k").toInt(p.top_k);
    p.top_p = float(o.value("top_p").toDouble(p.top_p));
    p.min_p = float(o.value("min_p").toDouble(p.min_p));
    p.repeat_penalty = float(o.value("repeat_penalty").toDouble(p.repeat_penalty));
    p.presence_penalty = float(o.value("presence_penalty").toDouble(p.presence_penalty));
    p.frequency_penalty = float(o.value("frequency_penalty").toDouble(p.frequency_penalty));
    p.penalty_last_n = o.value("penalty_last_n").toInt(p.penalty_last_n);
    p.no_repeat_ngram = o.value("no_repeat_ngram").toInt(p.no_repeat_ngram);
    bool ok = false;
    const quint64 seed = o.value("seed").toString().toULongLong(&ok);
    if (ok) p.seed = seed;
    return p;
}

QVector<SamplingPreset> SamplingPresetModel::builtInPresets() {
    SamplingPreset greedy{QStringLiteral("Greedy"), {}, 512, true};
    greedy.params.temperature = 0.f;
    SamplingPreset balanced{QStringLiteral("Balanced"), {}, 512, true};  // the engine's defaults (llama.cpp's)
    SamplingPreset creative{QStringLiteral("Creative"), {}, 512, true};
    creative.params.temperature = 1.1f;
    creative.params.top_k = 100;
    creative.params.top_p = 0.98f;
    creative.params.min_p = 0.02f;
    creative.params.repeat_penalty = 1.05f;
    creative.params.presence_penalty = 0.2f;
    return {greedy, balanced, creative};
}

SamplingPresetModel::SamplingPresetModel(const QString& settingsKey, QObject* parent)
    : QAbstractListModel(parent), settings_key_(settingsKey), presets_(builtInPresets()) {
    const QJsonArray saved = QJsonDocument::fromJson(QSettings().value(settings_key_).toByteArray()).array();
    for (const QJsonValue& v : saved) {
        const QJsonObject o = v.toObject();
        const QString name = o.value("name").toString().trimmed();
        if (name.isEmpty() || rowOf(name) >= 0) continue;
        presets_.append(
            {name, sampling_params_from_json(o.value("params").toObject()), o.value("max_tokens").toInt(512), false});
    }
}

int SamplingPresetModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : int(presets_.size());
}

QVariant SamplingPresetModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return {};
    const SamplingPreset& p = presets_[index.row()];
    switch (role) {
        case Qt::DisplayRole: return p.name;
        case Qt::ToolTipRole:
            return QStringLiteral("%1: temperature %2, top-k %3, top-p %4, min-p %5, repeat penalty %6")
                .arg(p.name)
                .arg(double(p.params.temperature))
                .arg(p.params.top_k)
                .arg(double(p.params.top_p))
                .arg(double(p.params.min_p))
                .arg(double(p.params.repeat_penalty));
        case BuiltInRole: return p.builtIn;
        case MaxTokensRole: return p.maxTokens;
        case TemperatureRole: return double(p.params.temperature);
        default: return {};
    }
}

QHash<int, QByteArray> SamplingPresetModel::roleNames() const {
    auto names = QAbstractListModel::roleNames();
    names[BuiltInRole] = "builtIn";
    names[MaxTokensRole] = "maxTokens";
    names[TemperatureRole] = "temperature";
    return names;
}

int SamplingPresetModel::rowOf(const QString& name) const {
    for (int i = 0; i < presets_.size(); ++i)
        if (presets_[i].name.compare(name, Qt::CaseInsensitive) == 0) return i;
    return -1;
}

int SamplingPresetModel::savePreset(const QString& rawName, const SamplingParams& params, int maxTokens,
                                    QString* error) {
    const QString name = rawName.trimmed();
    if (name.isEmpty()) {
        if (error) *error = tr("A preset needs a name.");
        return -1;
    }
    int row = rowOf(name);
    if (row >= 0 && presets_[row].builtIn) {
        if (error) *error = tr("'%1' is a built-in preset; choose another name.").arg(presets_[row].name);
        return -1;
    }
    if (row >= 0) {
        presets_[row].params = params;
        presets_[row].maxTokens = maxTokens;
        Q_EMIT dataChanged(index(row), index(row));
    } else {
        row = int(presets_.size());
        beginInsertRows({}, row, row);
        presets_.append({name, params, maxTokens, false});
        endInsertRows();
    }
    persist();
    return row;
}

bool SamplingPresetModel::removePreset(int row, QString* error) {
    if (row < 0 || row >= presets_.size()) {
        if (error) *error = tr("No preset at row %1.").arg(row);
        return false;
    }
    if (presets_[row].builtIn) {
        if (error) *error = tr("'%1' is built in and cannot be deleted.").arg(presets_[row].name);
        return false;
    }
    beginRemoveRows({}, row, row);
    presets_.removeAt(row);
    endRemoveRows();
    persist();
    return true;
}

void SamplingPresetModel::persist() const {
    QJsonArray saved;
    for (const SamplingPreset& p : presets_)
        if (!p.builtIn)
            saved.append(QJsonObject{
                {"name", p.name}, {"params", sampling_params_to_json(p.params)}, {"max_tokens", p.maxTokens}});
    QSettings().setValue(settings_key_, QJsonDocument(saved).toJson(QJsonDocument::Compact));
}

}  // namespace lumen::ui
