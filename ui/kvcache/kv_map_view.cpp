// KvMapView painting and tooltips; KvMapPanel layout and totals.
#include "kvcache/kv_map_view.h"

#include <QHelpEvent>
#include <QLocale>
#include <QPainter>
#include <QToolTip>
#include <QVBoxLayout>
#include <cmath>

namespace lumen::ui {

namespace {

const QColor kFreeColor(0xd0, 0xd0, 0xd0);
const QColor kCachedColor(0x8f, 0xa3, 0xb8);  // held only by the prefix cache
constexpr int kGap = 1;                       // pixels between cells when cells are large enough

QString mib(qint64 bytes) {
    return QLocale().toString(double(bytes) / 1048576.0, 'f', 1) + QStringLiteral(" MiB");
}

}  // namespace

// ------------------------------------------------------------------ view

KvMapView::KvMapView(KvMapModel* model, QWidget* parent) : QWidget(parent), model_(model) {
    setObjectName(QStringLiteral("kvMapView"));
    setMinimumSize(160, 100);
    setMouseTracking(true);
    connect(model_, &QAbstractItemModel::modelReset, this, qOverload<>(&QWidget::update));
    connect(model_, &QAbstractItemModel::dataChanged, this, qOverload<>(&QWidget::update));
}

QColor KvMapView::conversationColor(qint64 conversationId) {
    // Golden-ratio hue steps keep neighbouring ids far apart on the wheel.
    const double hue = std::fmod(0.11 + 0.618033988749895 * double(conversationId), 1.0);
    return QColor::fromHsvF(float(hue), 0.65f, 0.85f);
}

QColor KvMapView::sequenceColor(int sequenceId) {
    // Offset hues and a darker value keep request colours apart from conversation colours.
    const double hue = std::fmod(0.61 + 0.618033988749895 * double(sequenceId), 1.0);
    return QColor::fromHsvF(float(hue), 0.55f, 0.7f);
}

int KvMapView::cellSize() const {
    const int n = model_->rowCount();
    if (n == 0) return 0;
    // The largest square cell such that n cells fit the widget's area.
    int side = int(std::floor(std::sqrt(double(width()) * height() / n)));
    while (side > 1 && (width() / side) * ((height()) / side) < n) --side;
    return std::max(side, 1);
}

int KvMapView::columns() const {
    const int side = cellSize();
    return side > 0 ? std::max(1, width() / side) : 1;
}

int KvMapView::blockAt(const QPoint& pos) const {
    const int side = cellSize();
    if (side == 0 || pos.x() < 0 || pos.y() < 0) return -1;
    const int col = pos.x() / side, row = pos.y() / side;
    if (col >= columns()) return -1;
    const int block = row * columns() + col;
    return block < model_->rowCount() ? block : -1;
}

void KvMapView::paintEvent(QPaintEvent*) {
    QPainter p(this);
    p.fillRect(rect(), palette().window());
    const auto& blocks = model_->snapshot().blocks;
    const int n = int(blocks.size());
    if (n == 0) {
        p.setPen(palette().color(QPalette::PlaceholderText));
        p.drawText(rect(), Qt::AlignCenter, tr("No model loaded"));
        return;
    }
    const int side = cellSize(), cols = columns();
    const int gap = side >= 6 ? kGap : 0;
    const int blockSize = std::max(1, model_->blockSize());
    for (int b = 0; b < n; ++b) {
        const QRect cell((b % cols) * side, (b / cols) * side, side - gap, side - gap);
        const KvBlockData& d = blocks[b];
        if (d.refcount == 0) {
            p.fillRect(cell, kFreeColor);
            continue;
        }
        if (d.owners.isEmpty()) {  // cached, no sequence: hatched slate
            p.fillRect(cell, kCachedColor);
            if (side >= 6) p.fillRect(cell, QBrush(kCachedColor.darker(130), Qt::BDiagPattern));
            continue;
        }
        const qint64 conversation = model_->conversationOfSequence(d.owners.first());
        const QColor color = conversation >= 0 ? conversationColor(conversation) : sequenceColor(d.owners.first());
        if (d.tokens >= blockSize) {
            p.fillRect(cell, color);
        } else {
            // Partly filled: a pale cell filled from the bottom by the share of slots in use.
            p.fillRect(cell, color.lighter(170));
            const int filled = int(std::lround(double(cell.height()) * d.tokens / blockSize));
            p.fillRect(QRect(cell.left(), cell.bottom() - filled + 1, cell.width(), filled), color);
        }
        if (d.owners.size() > 1) {
            p.setPen(QPen(Qt::black, side >= 6 ? 2 : 1));
            p.drawRect(cell.adjusted(0, 0, -1, -1));
        }
        if (d.cached && side >= 8) {  // also in the prefix cache: a corner mark
            p.fillRect(QRect(cell.right() - side / 4, cell.top(), side / 4, side / 4), kCachedColor.darker(150));
        }
    }
}

bool KvMapView::event(QEvent* event) {
    if (event->type() == QEvent::ToolTip) {
        auto* help = static_cast<QHelpEvent*>(event);
        const int block = blockAt(help->pos());
        if (block >= 0)
            QToolTip::showText(help->globalPos(), model_->blockDescription(block), this);
        else
            QToolTip::hideText();
        return true;
    }
    return QWidget::event(event);
}

// ------------------------------------------------------------------ panel

KvMapPanel::KvMapPanel(KvMapModel* model, QWidget* parent) : QWidget(parent), model_(model) {
    setObjectName(QStringLiteral("kvMapPanel"));
    view_ = new KvMapView(model, this);
    totals_ = new QLabel(this);
    totals_->setObjectName(QStringLiteral("kvTotals"));
    totals_->setWordWrap(true);
    totals_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    auto* legend =
        new QLabel(tr("Each cell is one KV block. Colour: owning conversation (or request) · grey: free · "
                      "hatched slate: prefix cache only (evictable) · dark corner: also in the prefix cache · "
                      "black outline: shared by several sequences · pale with a lower fill: partly filled."),
                   this);
    legend->setWordWrap(true);
    legend->setObjectName(QStringLiteral("kvLegend"));
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(view_, 1);
    layout->addWidget(totals_);
    layout->addWidget(legend);
    connect(model_, &KvMapModel::totalsChanged, this, &KvMapPanel::updateTotals);
    updateTotals();
}

QString KvMapPanel::totalsText() const {
    return totals_->text();
}

void KvMapPanel::updateTotals() {
    const KvTotals& t = model_->totals();
    if (t.totalBlocks == 0) {
        totals_->setText(tr("KV pool: no model loaded"));
        return;
    }
    totals_->setText(tr("%1 of %2 blocks used (%3 %), %4 shared, %10 cached (%11 evictable) · %5 used, %6 free · "
                        "%7 tokens held, block size %8 · internal fragmentation %9 %")
                         .arg(t.usedBlocks)
                         .arg(t.totalBlocks)
                         .arg(QLocale().toString(100.0 * t.utilization, 'f', 1))
                         .arg(t.sharedBlocks)
                         .arg(mib(t.usedBytes), mib(t.freeBytes))
                         .arg(t.tokensHeld)
                         .arg(model_->blockSize())
                         .arg(QLocale().toString(100.0 * t.fragmentation, 'f', 1))
                         .arg(t.cachedBlocks)
                         .arg(t.cachedOnlyBlocks) +
                     kvFormatText());
}

QString KvMapPanel::kvFormatText() const {
    const KvTotals& t = model_->totals();
    const QString type = model_->kvType();
    if (type.isEmpty() || type == QLatin1String("f16")) return tr(" · KV format f16");
    const qint64 f16_total = t.savedBytes + qint64(t.totalBlocks) * model_->bytesPerBlock();
    const double share = f16_total > 0 ? 100.0 * double(t.savedBytes) / double(f16_total) : 0.0;
    if (t.savedBytes < 0) return tr(" · KV format %1: %2 more than f16").arg(type, mib(-t.savedBytes));
    return tr(" · KV format %1: saves %2 against f16 (%3 %)")
        .arg(type, mib(t.savedBytes), QLocale().toString(share, 'f', 0));
}

}  // namespace lumen::ui
