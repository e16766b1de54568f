// ConversationListModel: keeps rows_ in step with the ChatStore and reports
// every change with the matching insert/remove/move/reset/dataChanged signals.
#include "chat/conversation_list_model.h"

#include <QLocale>

namespace lumen::ui {

ConversationListModel::ConversationListModel(ChatStore* store, QObject* parent)
    : QAbstractListModel(parent), store_(store) {
    if (store_ && store_->isOpen()) rows_ = store_->conversations(search_);
}

int ConversationListModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : int(rows_.size());
}

QVariant ConversationListModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return {};
    const ConversationRecord& c = rows_[index.row()];
    switch (role) {
        case Qt::DisplayRole:
        case Qt::EditRole: return c.title;
        case Qt::ToolTipRole:
            return QStringLiteral("%1\n%2 · updated %3")
                .arg(c.title, c.mode, QLocale().toString(c.updated.toLocalTime(), QLocale::ShortFormat));
        case IdRole: return c.id;
        case ModeRole: return c.mode;
        case UpdatedRole: return c.updated;
        case ModelPathRole: return c.modelPath;
        default: return {};
    }
}

Qt::ItemFlags ConversationListModel::flags(const QModelIndex& index) const {
    Qt::ItemFlags f = QAbstractListModel::flags(index);
    if (index.isValid()) f |= Qt::ItemIsEditable;
    return f;
}

bool ConversationListModel::setData(const QModelIndex& index, const QVariant& value, int role) {
    if (role != Qt::EditRole || !store_ ||
        !checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return false;
    const QString title = value.toString().trimmed();
    if (title.isEmpty()) return false;
    ConversationRecord& c = rows_[index.row()];
    if (!store_->renameConversation(c.id, title)) return false;
    c.title = title;
    Q_EMIT dataChanged(index, index, {Qt::DisplayRole, Qt::EditRole, Qt::ToolTipRole});
    return true;
}

QHash<int, QByteArray> ConversationListModel::roleNames() const {
    QHash<int, QByteArray> names = QAbstractListModel::roleNames();
    names.insert(IdRole, "conversationId");
    names.insert(ModeRole, "mode");
    names.insert(UpdatedRole, "updated");
    names.insert(ModelPathRole, "modelPath");
    return names;
}

void ConversationListModel::reload() {
    beginResetModel();
    rows_.clear();
    if (store_ && store_->isOpen()) rows_ = store_->conversations(search_);
    endResetModel();
}

void ConversationListModel::setSearch(const QString& search) {
    search_ = search;
    reload();
}

QModelIndex ConversationListModel::addConversation(const QString& title, const QString& mode,
                                                   const QString& modelPath) {
    if (!store_) return {};
    const auto id = store_->createConversation(title, mode, modelPath);
    if (!id) return {};
    const auto record = store_->conversation(*id);
    if (!record) return {};
    beginInsertRows({}, 0, 0);
    rows_.prepend(*record);
    endInsertRows();
    return index(0);
}

bool ConversationListModel::removeConversation(qint64 id) {
    if (!store_ || !store_->deleteConversation(id)) return false;
    const int row = rowOf(id);
    if (row >= 0) {
        beginRemoveRows({}, row, row);
        rows_.removeAt(row);
        endRemoveRows();
    }
    return true;
}

void ConversationListModel::touch(qint64 id) {
    if (!store_) return;
    const auto record = store_->conversation(id);
    const int row = rowOf(id);
    if (!record) {
        if (row >= 0 && store_->isOpen()) {
            beginRemoveRows({}, row, row);
            rows_.removeAt(row);
            endRemoveRows();
        }
        return;
    }
    if (row < 0) {
        if (!search_.isEmpty() && !store_->matchesSearch(id, search_)) return;
        beginInsertRows({}, 0, 0);
        rows_.prepend(*record);
        endInsertRows();
        return;
    }
    rows_[row] = *record;
    if (row != 0) {
        beginMoveRows({}, row, row, {}, 0);
        rows_.move(row, 0);
        endMoveRows();
    }
    const QModelIndex top = index(0);
    Q_EMIT dataChanged(top, top);
}

void ConversationListModel::refresh(qint64 id) {
    const int row = rowOf(id);
    const auto record = store_ ? store_->conversation(id) : std::nullopt;
    if (row < 0 || !record) return;
    rows_[row] = *record;
    Q_EMIT dataChanged(index(row), index(row));
}

int ConversationListModel::rowOf(qint64 id) const {
    for (int i = 0; i < rows_.size(); ++i)
        if (rows_[i].id == id) return i;
    return -1;
}

qint64 ConversationListModel::idAt(int row) const {
    return row >= 0 && row < rows_.size() ? rows_[row].id : 0;
}

}  // namespace lumen::ui
