// The KV-cache memory map as a Qt model: one row per block of the paged pool,
// updated from the worker's snapshots. Rows that did not change emit nothing.
#pragma once

#include <QAbstractListModel>
#include <QHash>

#include "worker/engine_events.h"

namespace lumen::ui {

struct KvTotals {
    int totalBlocks = 0;
    int usedBlocks = 0;
    int sharedBlocks = 0;      // held by more than one sequence
    int cachedBlocks = 0;      // held by the prefix cache
    int cachedOnlyBlocks = 0;  // held only by the prefix cache: evictable
    qint64 usedBytes = 0;
    qint64 freeBytes = 0;
    qint64 savedBytes = 0;  // the whole pool in its format against f16 (negative for f32)
    qint64 tokensHeld = 0;
    double utilization = 0;    // used blocks / all blocks
    double fragmentation = 0;  // internal: unused token slots in used blocks / slots of used blocks
};

class KvMapModel : public QAbstractListModel {
    Q_OBJECT
public:
    enum Role {
        RefcountRole = Qt::UserRole + 1,
        TokensRole,        // tokens held by the block
        OwnersRole,        // QVariantList of sequence ids
        ConversationRole,  // qint64 conversation of the first owner, -1 if none
        SharedRole,        // held by more than one sequence
        CachedRole,        // held by the prefix cache
    };

    explicit KvMapModel(QObject* parent = nullptr);

    int rowCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QHash<int, QByteArray> roleNames() const override;

    void setSnapshot(const KvSnapshotData& snapshot);
    const KvSnapshotData& snapshot() const { return snapshot_; }
    const KvTotals& totals() const { return totals_; }
    int blockSize() const { return snapshot_.blockSize; }
    qint64 bytesPerBlock() const { return snapshot_.bytesPerBlock; }
    QString kvType() const { return snapshot_.kvType; }
    qint64 conversationOfSequence(int sequence) const { return conversation_of_.value(sequence, -1); }
    QString blockDescription(int block) const;

Q_SIGNALS:
    void totalsChanged();

private:
    KvSnapshotData snapshot_;
    QHash<int, qint64> conversation_of_;
    KvTotals totals_;
};

}  // namespace lumen::ui
