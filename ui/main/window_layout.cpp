// MainWindow's docks and layouts: the settings side bar, the inspector, the log;
// the Chat, Inspect and Benchmark presets and Reset Layout; the View menu and the
// layout buttons at the right of the menu bar.
#include <QAction>
#include <QActionGroup>
#include <QDockWidget>
#include <QHBoxLayout>
#include <QMenu>
#include <QMenuBar>
#include <QScrollArea>
#include <QShowEvent>
#include <QSignalBlocker>
#include <QToolButton>
#include <algorithm>

#include "chat/chat_panel.h"
#include "common/narrow_panels.h"
#include "decoding/decoding_panel.h"
#include "kvcache/kv_map_view.h"
#include "log/log_panel.h"
#include "main/main_window.h"
#include "model/model_panel.h"
#include "plots/performance_plots.h"
#include "quantization/quantization_panel.h"
#include "sampling/sampling_panel.h"
#include "serving/serving_panel.h"

namespace lumen::ui {

namespace {

// Shares of the window's width. The chat keeps the rest, which is the most in
// the Chat and Inspect layouts.
constexpr int kSidebarPercent = 23, kSidebarMinPx = 280, kSidebarMaxPx = 400;
constexpr int kInspectorPercent = 27, kInspectorMinPx = 280, kInspectorMaxPx = 560;
// Benchmark gives Serving room for its controls beside its plots (ServingPanel::kSideBySideWidth).
constexpr int kBenchmarkPercent = 55, kBenchmarkMinPx = 600, kBenchmarkMaxPx = 1100;

}  // namespace

// ------------------------------------------------------------------ docks

QDockWidget* MainWindow::addPanelDock(QWidget* panel, const QString& title, const char* name, bool scrolls) {
    auto* dock = new QDockWidget(title, this);
    dock->setObjectName(QString::fromLatin1(name));
    if (scrolls) {
        // A form taller or wider than its dock scrolls instead of setting the window's minimum size.
        fitNarrowColumn(panel);
        auto* area = new QScrollArea(dock);
        area->setObjectName(panel->objectName() + QStringLiteral("Scroll"));
        area->setWidgetResizable(true);
        area->setFrameShape(QFrame::NoFrame);
        area->setWidget(panel);
        dock->setWidget(area);
    } else {
        dock->setWidget(panel);
    }
    docks_ << dock;
    connect(dock, &QDockWidget::visibilityChanged, this, &MainWindow::syncLayoutActions);
    return dock;
}

void MainWindow::buildDocks() {
    setDockOptions(AnimatedDocks | AllowTabbedDocks | AllowNestedDocks);
    // The side bar and the inspector run the window's full height; the log sits between them.
    setCorner(Qt::TopLeftCorner, Qt::LeftDockWidgetArea);
    setCorner(Qt::BottomLeftCorner, Qt::LeftDockWidgetArea);
    setCorner(Qt::TopRightCorner, Qt::RightDockWidgetArea);
    setCorner(Qt::BottomRightCorner, Qt::RightDockWidgetArea);
    // The side bar's tabs stand along its edge: four names side by side would not fit its width.
    setTabPosition(Qt::LeftDockWidgetArea, QTabWidget::West);
    setTabPosition(Qt::RightDockWidgetArea, QTabWidget::North);
    model_dock_ = addPanelDock(model_, tr("Model"), "modelDock", true);
    sidebar_docks_ = {model_dock_, addPanelDock(sampling_, tr("Sampling"), "samplingDock", true),
                      addPanelDock(decoding_, tr("Decoding"), "decodingDock", true),
                      addPanelDock(quantization_, tr("Quantization"), "quantizationDock", true)};
    kv_dock_ = addPanelDock(kv_panel_, tr("KV cache"), "kvDock", false);
    plots_dock_ = addPanelDock(plots_, tr("Performance"), "plotsDock", false);
    serving_dock_ = addPanelDock(serving_, tr("Serving"), "servingDock", true);
    inspector_docks_ = {kv_dock_, plots_dock_, serving_dock_};
    log_dock_ = addPanelDock(log_panel_, tr("Log"), "logDock", false);
}

// ------------------------------------------------------------------ presets

void MainWindow::applyLayout(LayoutPreset preset) {
    for (QDockWidget* dock : docks_) {
        dock->setFloating(false);
        removeDockWidget(dock);
    }
    addDockWidget(Qt::LeftDockWidgetArea, sidebar_docks_.first());
    for (int i = 1; i < sidebar_docks_.size(); ++i) tabifyDockWidget(sidebar_docks_[i - 1], sidebar_docks_[i]);
    // Benchmark puts Serving (wide) on top; the others the map above the plots.
    QDockWidget* top = preset == LayoutPreset::benchmark ? plots_dock_ : kv_dock_;
    QDockWidget* bottom = preset == LayoutPreset::benchmark ? kv_dock_ : plots_dock_;
    addDockWidget(Qt::RightDockWidgetArea, top);
    addDockWidget(Qt::RightDockWidgetArea, bottom);
    tabifyDockWidget(plots_dock_, serving_dock_);
    addDockWidget(Qt::BottomDockWidgetArea, log_dock_);

    // Benchmark needs the width for Serving; the settings are one click (or Ctrl+B) away.
    for (QDockWidget* dock : std::as_const(sidebar_docks_)) dock->setVisible(preset != LayoutPreset::benchmark);
    for (QDockWidget* dock : std::as_const(inspector_docks_)) dock->setVisible(preset != LayoutPreset::chat);
    log_dock_->hide();  // warnings show in the status bar; View › Log opens it
    model_dock_->raise();
    (preset == LayoutPreset::benchmark ? serving_dock_ : plots_dock_)->raise();
    chat_->resetLayout();
    sizeDocks(preset);
    // Before the first show the window's size is not settled: size the docks again then.
    size_docks_on_show_ = !isVisible();
    pending_layout_ = preset;
    syncLayoutActions();
}

void MainWindow::sizeDocks(LayoutPreset preset) {
    const int w = width(), h = height();
    resizeDocks({model_dock_}, {std::clamp(w * kSidebarPercent / 100, kSidebarMinPx, kSidebarMaxPx)}, Qt::Horizontal);
    if (preset == LayoutPreset::chat) return;
    const bool benchmark = preset == LayoutPreset::benchmark;
    const int inspector = benchmark ? std::clamp(w * kBenchmarkPercent / 100, kBenchmarkMinPx, kBenchmarkMaxPx)
                                    : std::clamp(w * kInspectorPercent / 100, kInspectorMinPx, kInspectorMaxPx);
    resizeDocks({kv_dock_}, {inspector}, Qt::Horizontal);
    // The map needs less height than the plots; Serving needs the most.
    resizeDocks({kv_dock_, plots_dock_}, {h * (benchmark ? 25 : 42) / 100, h * (benchmark ? 75 : 58) / 100},
                Qt::Vertical);
}

void MainWindow::showEvent(QShowEvent* event) {
    QMainWindow::showEvent(event);
    if (!size_docks_on_show_) return;
    size_docks_on_show_ = false;
    sizeDocks(pending_layout_);
    chat_->resetLayout();
}

void MainWindow::setSidebarVisible(bool visible) {
    for (QDockWidget* dock : std::as_const(sidebar_docks_)) dock->setVisible(visible);
    if (visible) model_dock_->raise();
}

void MainWindow::setInspectorVisible(bool visible) {
    for (QDockWidget* dock : std::as_const(inspector_docks_)) dock->setVisible(visible);
    if (visible) plots_dock_->raise();
}

// The two toggles show whether any dock of theirs is open.
void MainWindow::syncLayoutActions() {
    if (!sidebar_action_) return;
    auto anyOpen = [](const QList<QDockWidget*>& docks) {
        return std::any_of(docks.begin(), docks.end(), [](QDockWidget* d) { return !d->isHidden(); });
    };
    const QSignalBlocker sidebar(sidebar_action_), inspector(inspector_action_);
    sidebar_action_->setChecked(anyOpen(sidebar_docks_));
    inspector_action_->setChecked(anyOpen(inspector_docks_));
}

// ------------------------------------------------------------------ View menu

void MainWindow::buildLayoutActions() {
    sidebar_action_ = new QAction(tr("&Settings Side Bar"), this);
    sidebar_action_->setIconText(tr("Settings"));
    sidebar_action_->setObjectName(QStringLiteral("actionToggleSidebar"));
    sidebar_action_->setToolTip(tr("Show or hide the Model, Sampling, Decoding and Quantization panels (Ctrl+B)"));
    sidebar_action_->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_B));
    inspector_action_ = new QAction(tr("&Inspector"), this);
    inspector_action_->setIconText(tr("Inspector"));
    inspector_action_->setObjectName(QStringLiteral("actionToggleInspector"));
    inspector_action_->setToolTip(tr("Show or hide the KV cache map, the performance plots and Serving (Ctrl+I)"));
    inspector_action_->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_I));
    for (QAction* toggle : {sidebar_action_, inspector_action_}) toggle->setCheckable(true);
    connect(sidebar_action_, &QAction::toggled, this, &MainWindow::setSidebarVisible);
    connect(inspector_action_, &QAction::toggled, this, &MainWindow::setInspectorVisible);

    const struct {
        LayoutPreset preset;
        QString text, iconText, tip;
        const char* name;
        Qt::Key key;
    } presets[] = {
        {LayoutPreset::chat, tr("&Chat Layout"), tr("Chat"), tr("Settings and the chat; the inspector hidden"),
         "actionLayoutChat", Qt::Key_1},
        {LayoutPreset::inspect, tr("I&nspect Layout"), tr("Inspect"),
         tr("Settings, the chat, the KV map and the performance plots"), "actionLayoutInspect", Qt::Key_2},
        {LayoutPreset::benchmark, tr("&Benchmark Layout"), tr("Benchmark"),
         tr("The chat beside a wide Serving panel and the KV map; the settings hidden"), "actionLayoutBenchmark",
         Qt::Key_3},
    };
    for (const auto& p : presets) {
        auto* action = new QAction(p.text, this);
        action->setIconText(p.iconText);
        action->setToolTip(
            QStringLiteral("%1 (%2)").arg(p.tip, QKeySequence(Qt::CTRL | p.key).toString(QKeySequence::NativeText)));
        action->setObjectName(QString::fromLatin1(p.name));
        action->setShortcut(QKeySequence(Qt::CTRL | p.key));
        const LayoutPreset preset = p.preset;
        connect(action, &QAction::triggered, this, [this, preset] { applyLayout(preset); });
        layout_actions_ << action;
    }
}

void MainWindow::buildViewMenu() {
    buildLayoutActions();
    QMenu* view = menuBar()->addMenu(tr("&View"));
    view->addAction(sidebar_action_);
    view->addAction(inspector_action_);
    view->addSeparator();
    for (QDockWidget* dock : std::as_const(docks_)) view->addAction(dock->toggleViewAction());
    log_dock_->toggleViewAction()->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_L));
    log_dock_->toggleViewAction()->setObjectName(QStringLiteral("actionShowLog"));
    view->addSeparator();
    view->addActions(layout_actions_);
    QAction* reset = view->addAction(tr("&Reset Layout"), this, [this] { applyLayout(kDefaultLayout); });
    reset->setObjectName(QStringLiteral("actionResetLayout"));
    reset->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_0));
    reset->setToolTip(tr("Every panel back to its place in the Inspect layout, docked, sized to the window"));

    // The same controls at the right of the menu bar, where they take no height.
    auto* corner = new QWidget(menuBar());
    corner->setObjectName(QStringLiteral("layoutButtons"));
    auto* row = new QHBoxLayout(corner);
    row->setContentsMargins(0, 0, 4, 0);
    row->setSpacing(2);
    for (QAction* action : QList<QAction*>{sidebar_action_, inspector_action_} + layout_actions_) {
        auto* button = new QToolButton(corner);
        button->setDefaultAction(action);
        button->setAutoRaise(true);
        button->setObjectName(action->objectName() + QStringLiteral("Button"));
        row->addWidget(button);
        if (action == inspector_action_) row->addSpacing(12);
    }
    menuBar()->setCornerWidget(corner, Qt::TopRightCorner);
    syncLayoutActions();
}

}  // namespace lumen::ui
