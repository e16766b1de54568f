// The conversation list as a Qt model over a ChatStore: most recently updated
// first, optionally filtered by a search string, editable titles.
//
// Filtering happens in reload()/setSearch(). Between those, rows the user is
// working with are never hidden: addConversation() always inserts the new row
// at the top, and touch() keeps a shown row (moving it to the top) even if it
// no longer matches; touch() of a row not shown inserts it only if it matches.
#pragma once

#include <QAbstractListModel>
#include <QVector>

#include "chat/chat_store.h"

namespace lumen::ui {

class ConversationListModel : public QAbstractListModel {
    Q_OBJECT
public:
    enum Role { IdRole = Qt::UserRole + 1, ModeRole, UpdatedRole, ModelPathRole };

    // store is not owned and must outlive the model. The model starts loaded.
    explicit ConversationListModel(ChatStore* store, QObject* parent = nullptr);

    int rowCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    Qt::ItemFlags flags(const QModelIndex& index) const override;
    // EditRole renames in the store; empty or whitespace titles are rejected.
    bool setData(const QModelIndex& index, const QVariant& value, int role = Qt::EditRole) override;
    QHash<int, QByteArray> roleNames() const override;

    void reload();
    void setSearch(const QString& search);  // filters through ChatStore::conversations(search)
    QString search() const { return search_; }

    // Creates the conversation in the store and inserts it at row 0. Returns
    // its index, or an invalid index on failure (see ChatStore::lastError()).
    QModelIndex addConversation(const QString& title, const QString& mode, const QString& modelPath);
    bool removeConversation(qint64 id);
    // Re-reads the conversation (after a message write, say) and moves it to
    // row 0; removes its row if the conversation no longer exists.
    void touch(qint64 id);
    // Re-reads the conversation in its row without moving it (nothing if it is not shown).
    void refresh(qint64 id);

    int rowOf(qint64 id) const;  // -1 if absent
    qint64 idAt(int row) const;  // 0 if out of range

private:
    ChatStore* store_;
    QString search_;
    QVector<ConversationRecord> rows_;
};

}  // namespace lumen::ui
