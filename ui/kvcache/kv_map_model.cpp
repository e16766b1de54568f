// KvMapModel: snapshot diffing and the totals shown under the map.
#include "kvcache/kv_map_model.h"

namespace lumen::ui {

namespace {

bool sameBlock(const KvBlockData& a, const KvBlockData& b) {
    return a.refcount == b.refcount && a.tokens == b.tokens && a.owners == b.owners && a.cached == b.cached;
}

}  // namespace

KvMapModel::KvMapModel(QObject* parent) : QAbstractListModel(parent) {}

int KvMapModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : int(snapshot_.blocks.size());
}

QVariant KvMapModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return {};
    const KvBlockData& b = snapshot_.blocks[index.row()];
    switch (role) {
        case Qt::DisplayRole: return QStringLiteral("block %1").arg(index.row());
        case Qt::ToolTipRole: return blockDescription(index.row());
        case RefcountRole: return b.refcount;
        case TokensRole: return b.tokens;
        case OwnersRole: {
            QVariantList owners;
            for (int s : b.owners) owners << s;
            return owners;
        }
        case ConversationRole: return b.owners.isEmpty() ? qint64(-1) : conversationOfSequence(b.owners.first());
        case SharedRole: return b.owners.size() > 1;
        case CachedRole: return b.cached;
        default: return {};
    }
}

QHash<int, QByteArray> KvMapModel::roleNames() const {
    auto names = QAbstractListModel::roleNames();
    names[RefcountRole] = "refcount";
    names[TokensRole] = "tokens";
    names[OwnersRole] = "owners";
    names[ConversationRole] = "conversation";
    names[SharedRole] = "shared";
    names[CachedRole] = "cached";
    return names;
}

QString KvMapModel::blockDescription(int block) const {
    if (block < 0 || block >= snapshot_.blocks.size()) return {};
    const KvBlockData& b = snapshot_.blocks[block];
    if (b.refcount == 0) return QStringLiteral("Block %1: free").arg(block);
    if (b.owners.isEmpty())
        return QStringLiteral("Block %1: prefix cache only (evictable)\ntokens: %2 of %3\nrefcount: %4")
            .arg(block)
            .arg(b.tokens)
            .arg(snapshot_.blockSize)
            .arg(b.refcount);
    QStringList owners;
    for (int s : b.owners) {
        const qint64 c = conversationOfSequence(s);
        owners << (c >= 0 ? QStringLiteral("sequence %1 (conversation %2)").arg(s).arg(c)
                          : QStringLiteral("sequence %1").arg(s));
    }
    return QStringLiteral("Block %1\nowners: %2%3\ntokens: %4 of %5\nrefcount: %6")
        .arg(block)
        .arg(owners.join(QStringLiteral(", ")), b.cached ? QStringLiteral(" + prefix cache") : QString())
        .arg(b.tokens)
        .arg(snapshot_.blockSize)
        .arg(b.refcount);
}

void KvMapModel::setSnapshot(const KvSnapshotData& snapshot) {
    QHash<int, qint64> conversationOf;
    for (qsizetype i = 0; i < snapshot.sequenceIds.size() && i < snapshot.sequenceConversation.size(); ++i)
        conversationOf.insert(snapshot.sequenceIds[i], snapshot.sequenceConversation[i]);
    const bool ownersRenamed = conversationOf != conversation_of_;
    conversation_of_ = conversationOf;
    if (snapshot.blocks.size() != snapshot_.blocks.size() || snapshot.blockSize != snapshot_.blockSize) {
        beginResetModel();
        snapshot_ = snapshot;
        endResetModel();
    } else {
        int first = -1, last = -1;
        for (int i = 0; i < snapshot.blocks.size(); ++i)
            if (!sameBlock(snapshot.blocks[i], snapshot_.blocks[i])) {
                if (first < 0) first = i;
                last = i;
            }
        snapshot_ = snapshot;
        if (ownersRenamed && !snapshot_.blocks.isEmpty()) {
            first = 0;  // a sequence changed conversation: every owned row may read differently
            last = int(snapshot_.blocks.size()) - 1;
        }
        if (first >= 0) Q_EMIT dataChanged(index(first), index(last));
    }

    KvTotals t;
    t.totalBlocks = int(snapshot_.blocks.size());
    for (const KvBlockData& b : snapshot_.blocks) {
        if (b.refcount == 0) continue;
        ++t.usedBlocks;
        if (b.owners.size() > 1) ++t.sharedBlocks;
        if (b.cached) ++t.cachedBlocks;
        if (b.cached && b.owners.isEmpty()) ++t.cachedOnlyBlocks;
        t.tokensHeld += b.tokens;
    }
    t.usedBytes = qint64(t.usedBlocks) * snapshot_.bytesPerBlock;
    t.freeBytes = qint64(t.totalBlocks - t.usedBlocks) * snapshot_.bytesPerBlock;
    t.savedBytes = qint64(t.totalBlocks) * (snapshot_.f16BytesPerBlock - snapshot_.bytesPerBlock);
    t.utilization = t.totalBlocks ? double(t.usedBlocks) / t.totalBlocks : 0;
    const double slots = double(t.usedBlocks) * snapshot_.blockSize;
    t.fragmentation = slots > 0 ? 1.0 - double(t.tokensHeld) / slots : 0;
    totals_ = t;
    Q_EMIT totalsChanged();
}

}  // namespace lumen::ui
