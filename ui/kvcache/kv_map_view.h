// The KV-cache memory map widget: one cell per block, colored by the owning
// conversation, shared blocks outlined, free blocks grey, partly filled blocks
// filled from the bottom by their fill. Cells shrink to fit, so 64 blocks and
// 20,000 blocks both fit the panel. The panel adds a legend and the totals.
#pragma once

#include <QLabel>
#include <QWidget>

#include "kvcache/kv_map_model.h"

namespace lumen::ui {

class KvMapView : public QWidget {
    Q_OBJECT
public:
    explicit KvMapView(KvMapModel* model, QWidget* parent = nullptr);
    // The block under a widget position, or -1.
    int blockAt(const QPoint& pos) const;
    int cellSize() const;  // pixels per cell side for the current size and block count
    static QColor conversationColor(qint64 conversationId);
    // A sequence with no conversation (a serve-bench request) gets its own colour too.
    static QColor sequenceColor(int sequenceId);

protected:
    void paintEvent(QPaintEvent* event) override;
    bool event(QEvent* event) override;
    QSize sizeHint() const override { return {360, 240}; }

private:
    int columns() const;
    KvMapModel* model_;
};

class KvMapPanel : public QWidget {
    Q_OBJECT
public:
    explicit KvMapPanel(KvMapModel* model, QWidget* parent = nullptr);
    KvMapView* view() const { return view_; }
    QString totalsText() const;
    QString kvFormatText() const;  // the pool's format and the bytes it saves against f16

private:
    void updateTotals();
    KvMapModel* model_;
    KvMapView* view_;
    QLabel* totals_;
};

}  // namespace lumen::ui
