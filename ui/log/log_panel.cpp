// LogPanel: a three-column list (time, level, message) that follows the newest
// entry unless the user has scrolled up to read.
#include "log/log_panel.h"

#include <QAction>
#include <QClipboard>
#include <QGuiApplication>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QScrollBar>
#include <QTreeWidget>
#include <QVBoxLayout>

namespace lumen::ui {

namespace {
enum Column { kTimeColumn = 0, kLevelColumn, kMessageColumn };

QColor levelColor(lumen::LogLevel level) {
    switch (level) {
        case lumen::LogLevel::error: return QColor(0xb0, 0x00, 0x20);
        case lumen::LogLevel::warning: return QColor(0xb3, 0x5c, 0x00);
        case lumen::LogLevel::debug: return QColor(0x77, 0x77, 0x77);
        case lumen::LogLevel::info: break;
    }
    return {};
}
}  // namespace

LogPanel::LogPanel(QWidget* parent) : QWidget(parent) {
    setObjectName(QStringLiteral("logPanel"));
    entries_ = new QTreeWidget(this);
    entries_->setObjectName(QStringLiteral("logView"));
    entries_->setHeaderLabels({tr("time"), tr("level"), tr("message")});
    entries_->setRootIsDecorated(false);
    entries_->setUniformRowHeights(true);  // cheap appends at the cap
    entries_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    entries_->setSelectionMode(QAbstractItemView::ExtendedSelection);
    // Fixed widths from the font: sizing columns to their contents re-measures every row on each append.
    const QFontMetrics metrics(entries_->font());
    entries_->setColumnWidth(kTimeColumn, metrics.horizontalAdvance(QStringLiteral("00:00:00.000")) + 16);
    entries_->setColumnWidth(kLevelColumn, metrics.horizontalAdvance(QStringLiteral("warning")) + 16);
    entries_->header()->setStretchLastSection(true);
    entries_->setToolTip(tr("Messages from the engine: which backend runs the model and why, fallbacks, "
                            "warnings. The newest %1 are kept.")
                             .arg(kMaxEntries));

    auto* copy = new QAction(tr("Copy"), entries_);
    copy->setObjectName(QStringLiteral("copyLogAction"));
    copy->setShortcut(QKeySequence::Copy);
    copy->setShortcutContext(Qt::WidgetShortcut);
    connect(copy, &QAction::triggered, this, &LogPanel::copySelection);
    entries_->addAction(copy);
    entries_->setContextMenuPolicy(Qt::ActionsContextMenu);

    count_ = new QLabel(this);
    count_->setObjectName(QStringLiteral("logCountLabel"));
    auto* clearButton = new QPushButton(tr("Clear"), this);
    clearButton->setObjectName(QStringLiteral("clearLogButton"));
    auto* bar = new QHBoxLayout;
    bar->addWidget(count_, 1);
    bar->addWidget(clearButton);

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addWidget(entries_, 1);
    layout->addLayout(bar);
    connect(clearButton, &QPushButton::clicked, this, &LogPanel::clear);
    updateCount();
}

int LogPanel::entryCount() const {
    return entries_->topLevelItemCount();
}

QString LogPanel::entryText(int row) const {
    const QTreeWidgetItem* item = entries_->topLevelItem(row);
    if (!item) return {};
    return item->text(kTimeColumn) + QLatin1Char(' ') + item->text(kLevelColumn) + QLatin1Char(' ') +
           item->text(kMessageColumn);
}

void LogPanel::append(const LogEntry& entry) {
    QScrollBar* scroll = entries_->verticalScrollBar();
    const bool atEnd = scroll->value() == scroll->maximum();
    auto* item = new QTreeWidgetItem(
        {entry.time.toString(QStringLiteral("HH:mm:ss.zzz")), log_level_text(entry.level), entry.message});
    item->setToolTip(kMessageColumn, entry.message);
    if (const QColor color = levelColor(entry.level); color.isValid())
        for (int c = kTimeColumn; c <= kMessageColumn; ++c) item->setForeground(c, color);
    entries_->addTopLevelItem(item);
    while (entries_->topLevelItemCount() > kMaxEntries) delete entries_->takeTopLevelItem(0);
    if (atEnd) entries_->scrollToBottom();
    updateCount();
}

void LogPanel::clear() {
    entries_->clear();
    updateCount();
}

void LogPanel::copySelection() {
    QStringList lines;
    for (int row = 0; row < entryCount(); ++row)  // in list order, whatever the selection order
        if (entries_->topLevelItem(row)->isSelected()) lines << entryText(row);
    if (!lines.isEmpty()) QGuiApplication::clipboard()->setText(lines.join(QLatin1Char('\n')));
}

void LogPanel::updateCount() {
    const int n = entryCount();
    count_->setText(n == 1 ? tr("1 message") : tr("%1 messages (the newest %2 are kept)").arg(n).arg(kMaxEntries));
}

}  // namespace lumen::ui
