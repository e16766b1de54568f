// The Log panel (View → Log): every engine message with its time and level,
// newest last, read-only, capped at kMaxEntries (the oldest go first), with a
// Clear button and Copy (Ctrl+C) for the selected rows. Warnings and errors are
// coloured.
#pragma once

#include <QWidget>

#include "log/engine_log.h"

class QLabel;
class QTreeWidget;

namespace lumen::ui {

class LogPanel : public QWidget {
    Q_OBJECT
public:
    static constexpr int kMaxEntries = 2000;

    explicit LogPanel(QWidget* parent = nullptr);

    int entryCount() const;
    // "time level message" of entry `row` (0 is the oldest kept), empty when out of range.
    QString entryText(int row) const;

public Q_SLOTS:
    void append(const lumen::ui::LogEntry& entry);
    void clear();
    void copySelection();  // the selected entries, one "time level message" line each

private:
    void updateCount();

    QTreeWidget* entries_;
    QLabel* count_;
};

}  // namespace lumen::ui
