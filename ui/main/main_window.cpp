// MainWindow: panels, menus and shortcuts, layout persistence, and the wiring
// between the GUI and the engine worker (queued both ways). The docks and the
// layout presets are in window_layout.cpp, the Help menu in help_menu.cpp.
#include "main/main_window.h"

#include <QAction>
#include <QCloseEvent>
#include <QDir>
#include <QDockWidget>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QLabel>
#include <QLocale>
#include <QMenuBar>
#include <QMessageBox>
#include <QPushButton>
#include <QScreen>
#include <QSettings>
#include <QStatusBar>
#include <QToolButton>

#include "chat/chat_panel.h"
#include "chat/chat_store.h"
#include "common/elided_label.h"
#include "decoding/decoding_panel.h"
#include "kvcache/kv_map_view.h"
#include "log/engine_log.h"
#include "log/log_panel.h"
#include "model/model_panel.h"
#include "plots/performance_plots.h"
#include "quantization/quantization_panel.h"
#include "sampling/sampling_panel.h"
#include "serving/serving_panel.h"

#include <algorithm>

namespace lumen::ui {

QString default_model_path() {
    const QString env = qEnvironmentVariable("LUMEN_MODEL_PATH");
    if (!env.isEmpty()) return env;
    QString dir = qEnvironmentVariable("LUMEN_MODEL_DIR");
    if (dir.isEmpty() && !qEnvironmentVariable("XDG_CACHE_HOME").isEmpty())
        dir = qEnvironmentVariable("XDG_CACHE_HOME") + QStringLiteral("/lumen/models");
    if (dir.isEmpty()) dir = QDir::homePath() + QStringLiteral("/.cache/lumen/models");
    return dir + QStringLiteral("/SmolLM2-135M-Instruct.Q4_1.gguf");
}

MainWindow::MainWindow(const MainWindowOptions& options, QWidget* parent) : QMainWindow(parent) {
    setObjectName(QStringLiteral("mainWindow"));
    setWindowTitle(QStringLiteral("Lumen"));
    register_engine_types();
    // First, so that the messages of everything below (the load at start) reach the log.
    engine_log_ = new EngineLog(lumen::LogLevel::info, this);

    store_ = new ChatStore;
    const QString dbPath = options.databasePath.isEmpty() ? defaultChatDatabasePath() : options.databasePath;
    if (!store_->open(dbPath, &store_error_)) store_error_ = tr("Chat history is unavailable: %1").arg(store_error_);

    buildPanels();
    worker_ = new EngineWorker;
    worker_->moveToThread(&worker_thread_);
    worker_thread_.setObjectName(QStringLiteral("lumen-engine"));
    worker_thread_.start();

    buildDocks();
    buildMenus();
    buildStatusBar();
    connectModelSignals();
    connectChatSignals();
    connectToolSignals();
    connectEngineLog();

    // A first start fills most of a small screen and stays comfortable on a large one.
    const QSize screen = this->screen() ? this->screen()->availableGeometry().size() : QSize(1280, 720);
    resize(std::min(1440, screen.width() - 40), std::min(900, screen.height() - 40));
    QSettings settings;
    restoreGeometry(settings.value(QStringLiteral("window/geometry")).toByteArray());
    // Every dock gets its default place first, so that a saved state without some of them leaves none stray.
    applyLayout(kDefaultLayout);
    if (restoreState(settings.value(QStringLiteral("window/state")).toByteArray())) size_docks_on_show_ = false;

    if (options.loadModelOnStart) {
        QString path = options.modelPath;
        if (path.isEmpty()) path = settings.value(QStringLiteral("model/last")).toString();
        if (path.isEmpty() || !QFileInfo::exists(path)) path = default_model_path();
        openModel(path);
    }
}

MainWindow::~MainWindow() {
    // ~QWidget hides the docks after this class's members are gone: their visibility
    // signals must not reach syncLayoutActions() then.
    for (QDockWidget* dock : findChildren<QDockWidget*>()) disconnect(dock, nullptr, this, nullptr);
    worker_->requestStop();
    worker_->requestLoadCancel();
    worker_->requestServeBenchStop();
    worker_thread_.quit();
    worker_thread_.wait();
    delete worker_;
    delete engine_log_;  // uninstalls the engine log callback before the panels go
    delete chat_;        // its models hold the store
    delete store_;
}

// ------------------------------------------------------------------ layout

void MainWindow::buildPanels() {
    sampling_ = new SamplingPanel(this);
    chat_ = new ChatPanel(store_, sampling_, this);
    decoding_ = new DecodingPanel(this);
    chat_->setDecodingPanel(decoding_);
    chat_->setConfirmDeletes(true);
    model_ = new ModelPanel(this);
    kv_model_ = new KvMapModel(this);
    kv_panel_ = new KvMapPanel(kv_model_, this);
    plots_ = new PerformancePlots(this);
    serving_ = new ServingPanel(this);
    quantization_ = new QuantizationPanel(this);
    log_panel_ = new LogPanel(this);
    setCentralWidget(chat_);
}

void MainWindow::buildStatusBar() {
    status_model_ = new ElidedLabel(this);  // a long model name must not widen the window
    status_model_->setText(tr("No model"));
    status_model_->setObjectName(QStringLiteral("statusModelLabel"));
    status_speed_ = new QLabel(this);
    status_warnings_ = new QToolButton(this);
    status_warnings_->setObjectName(QStringLiteral("logWarningsButton"));
    status_warnings_->setAutoRaise(true);
    status_warnings_->setToolTip(tr("Engine warnings since the log was last opened: click to open the log."));
    status_warnings_->hide();
    connect(status_warnings_, &QToolButton::clicked, this, &MainWindow::showLog);
    // All permanent, on the right: messages (engine warnings, load errors) take the left
    // and never cover them.
    statusBar()->addPermanentWidget(status_warnings_);
    statusBar()->addPermanentWidget(status_model_);
    statusBar()->addPermanentWidget(status_speed_);
    if (!store_error_.isEmpty()) statusBar()->showMessage(store_error_);
}

void MainWindow::showLog() {
    log_dock_->show();
    log_dock_->raise();
    unseen_warnings_ = 0;
    status_warnings_->hide();
}

void MainWindow::buildMenus() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    QAction* open = file->addAction(tr("&Open Model…"), model_, &ModelPanel::openFileDialog);
    open->setShortcut(QKeySequence::Open);
    open->setObjectName(QStringLiteral("actionOpenModel"));
    recent_menu_ = file->addMenu(tr("Recent Models"));
    rebuildRecentMenu();
    file->addAction(tr("&Unload Model"), model_, &ModelPanel::unloadRequested)
        ->setObjectName(QStringLiteral("actionUnloadModel"));
    file->addSeparator();
    file->addAction(tr("Export Conversation as &Markdown…"), this,
                    [this] { exportConversation(QStringLiteral("md")); });
    file->addAction(tr("Export Conversation as &JSON…"), this, [this] { exportConversation(QStringLiteral("json")); });
    file->addSeparator();
    QAction* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
    quit->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Q));  // QKeySequence::Quit is empty on some platforms
    quit->setObjectName(QStringLiteral("actionQuit"));

    QMenu* conv = menuBar()->addMenu(tr("&Conversation"));
    QAction* newConv = conv->addAction(tr("&New"), chat_, &ChatPanel::newConversation);
    newConv->setShortcut(QKeySequence::New);
    newConv->setObjectName(QStringLiteral("actionNewConversation"));
    conv->addAction(tr("&Rename"), chat_, &ChatPanel::renameCurrent)->setShortcut(Qt::Key_F2);
    conv->addAction(tr("&Delete"), chat_, &ChatPanel::deleteCurrent)
        ->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Delete));
    conv->addSeparator();
    QAction* send = conv->addAction(tr("&Send"), chat_, &ChatPanel::send);
    send->setShortcuts({QKeySequence(Qt::CTRL | Qt::Key_Return), QKeySequence(Qt::CTRL | Qt::Key_Enter)});
    send->setObjectName(QStringLiteral("actionSend"));
    QAction* stop = conv->addAction(tr("S&top"), chat_, &ChatPanel::stop);
    stop->setShortcut(Qt::Key_Escape);
    stop->setObjectName(QStringLiteral("actionStop"));
    QAction* regenerate = conv->addAction(tr("Re&generate"), chat_, &ChatPanel::regenerate);
    regenerate->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_R));
    regenerate->setObjectName(QStringLiteral("actionRegenerate"));

    buildViewMenu();
    buildHelpMenu();
}

void MainWindow::rebuildRecentMenu() {
    recent_menu_->clear();
    const QStringList recent = model_->recentModels();
    for (const QString& path : recent) recent_menu_->addAction(path, this, [this, path] { openModel(path); });
    recent_menu_->setEnabled(!recent.isEmpty());
}

// ------------------------------------------------------------------ worker wiring

void MainWindow::connectModelSignals() {
    // GUI -> worker: queued invocations; the GUI thread never waits.
    connect(model_, &ModelPanel::inspectRequested, worker_, &EngineWorker::inspectModel);
    connect(model_, &ModelPanel::loadRequested, this, [this] { worker_->clearLoadCancel(); });
    connect(model_, &ModelPanel::loadRequested, worker_, &EngineWorker::loadModel);
    connect(model_, &ModelPanel::unloadRequested, worker_, &EngineWorker::unloadModel);
    connect(model_, &ModelPanel::cancelLoadRequested, this, [this] { worker_->requestLoadCancel(); });

    // worker -> GUI.
    connect(worker_, &EngineWorker::modelInspected, model_, &ModelPanel::showSummary);
    connect(worker_, &EngineWorker::modelInspected, this, [this](const ModelSummary& s) {
        if (pending_load_path_.isEmpty() || s.path != pending_load_path_) return;
        pending_load_path_.clear();
        LoadSettings settings = model_->loadSettings();
        settings.path = s.path;
        model_->requestLoad(settings);
    });
    connect(worker_, &EngineWorker::inspectFailed, model_, &ModelPanel::showInspectError);
    connect(worker_, &EngineWorker::inspectFailed, this, [this](const QString& path, const QString& message) {
        if (path == pending_load_path_) pending_load_path_.clear();
        statusBar()->showMessage(tr("Cannot open the model: %1").arg(message));
    });
    connect(worker_, &EngineWorker::loadProgress, model_, &ModelPanel::showLoadProgress);
    connect(worker_, &EngineWorker::modelLoaded, model_, &ModelPanel::showLoaded);
    connect(worker_, &EngineWorker::modelLoaded, this, [this](const ModelSummary& s) {
        QSettings().setValue(QStringLiteral("model/last"), s.path);
        const QString name = s.name.isEmpty() ? QFileInfo(s.path).fileName() : s.name;
        status_model_->setText(
            tr("%1 · %2 · %3").arg(name, s.architecture, s.chatTemplate.isEmpty() ? tr("completion") : s.chatTemplate));
        // Replaces an earlier failure's message, which would otherwise stay as if it were current.
        statusBar()->showMessage(tr("Loaded %1.").arg(name), kStatusMessageMs);
        rebuildRecentMenu();
        plots_->clear();
    });
    connect(worker_, &EngineWorker::loadFailed, model_, &ModelPanel::showLoadFailed);
    connect(worker_, &EngineWorker::loadFailed, this, [this](const QString&, const QString& message) {
        chat_->clearModel();
        status_model_->setText(tr("No model"));
        statusBar()->showMessage(tr("Loading failed: %1").arg(message));
    });
    connect(worker_, &EngineWorker::modelUnloaded, model_, &ModelPanel::showUnloaded);
    connect(worker_, &EngineWorker::modelUnloaded, this, [this] { status_model_->setText(tr("No model")); });
}

void MainWindow::connectChatSignals() {
    connect(chat_, &ChatPanel::generateRequested, worker_, &EngineWorker::generate);
    connect(chat_, &ChatPanel::conversationDeleted, worker_, &EngineWorker::releaseConversation);
    connect(worker_, &EngineWorker::modelLoaded, chat_, &ChatPanel::setModel);
    connect(worker_, &EngineWorker::modelUnloaded, chat_, &ChatPanel::clearModel);
    connect(worker_, &EngineWorker::tokenGenerated, chat_, &ChatPanel::onToken);
    connect(worker_, &EngineWorker::tokenGenerated, plots_, &PerformancePlots::addToken);
    connect(worker_, &EngineWorker::stepFinished, plots_, &PerformancePlots::addStep);
    connect(worker_, &EngineWorker::stepFinished, this, [this](const StepStatsData& s) {
        if (!s.prefill) status_speed_->setText(tr("%1 tok/s").arg(QLocale().toString(s.decodeTps, 'f', 1)));
    });
    connect(worker_, &EngineWorker::kvSnapshotReady, kv_model_, &KvMapModel::setSnapshot);
    connect(worker_, &EngineWorker::replyFinished, chat_, &ChatPanel::onReplyFinished);
    connect(worker_, &EngineWorker::replyFinished, plots_, &PerformancePlots::addReply);
    connect(worker_, &EngineWorker::generationFailed, chat_, &ChatPanel::onGenerationFailed);
}

void MainWindow::connectToolSignals() {
    connect(chat_, &ChatPanel::generateRequested, decoding_,
            [this](const GenerationJob& job) { decoding_->replyStarted(job.requestId); });
    connect(worker_, &EngineWorker::generationFailed, decoding_, &DecodingPanel::replyFailed);
    connect(worker_, &EngineWorker::beamSearchFinished, decoding_, &DecodingPanel::showBeamSearch);
    connect(worker_, &EngineWorker::contrastiveFinished, decoding_, &DecodingPanel::showContrastive);
    connect(worker_, &EngineWorker::decodingStatsReady, decoding_, &DecodingPanel::showDecodingStats);
    connect(worker_, &EngineWorker::decodingStatsReady, plots_, &PerformancePlots::addDecodingStats);

    connect(quantization_, &QuantizationPanel::evaluateRequested, worker_, &EngineWorker::evaluateQuantization);
    connect(worker_, &EngineWorker::quantEvalFinished, quantization_, &QuantizationPanel::showResult);
    connect(worker_, &EngineWorker::quantEvalFailed, quantization_, &QuantizationPanel::showFailure);
    connect(worker_, &EngineWorker::modelLoaded, quantization_, [this] { quantization_->setModelLoaded(true); });
    connect(worker_, &EngineWorker::modelUnloaded, quantization_, [this] { quantization_->setModelLoaded(false); });

    connect(serving_, &ServingPanel::runRequested, worker_, &EngineWorker::runServeBench);
    connect(serving_, &ServingPanel::stopRequested, this, [this] { worker_->requestServeBenchStop(); });
    connect(worker_, &EngineWorker::serveBenchStep, serving_, &ServingPanel::onStep);
    connect(worker_, &EngineWorker::serveBenchStep, plots_, &PerformancePlots::addStep);
    connect(worker_, &EngineWorker::serveBenchRequestDone, serving_, &ServingPanel::onRequestDone);
    connect(worker_, &EngineWorker::serveBenchFinished, serving_, &ServingPanel::onFinished);
    connect(worker_, &EngineWorker::serveBenchFailed, serving_, &ServingPanel::onFailed);
    connect(worker_, &EngineWorker::modelLoaded, serving_, [this] { serving_->setModelLoaded(true); });
    connect(worker_, &EngineWorker::modelUnloaded, serving_, [this] { serving_->setModelLoaded(false); });
    connect(worker_, &EngineWorker::loadFailed, serving_, [this] { serving_->setModelLoaded(false); });
}

// ------------------------------------------------------------------ engine log

void MainWindow::connectEngineLog() {
    connect(engine_log_, &EngineLog::messageLogged, log_panel_, &LogPanel::append);
    connect(engine_log_, &EngineLog::messageLogged, this, &MainWindow::showEngineMessage);
    connect(log_dock_, &QDockWidget::visibilityChanged, this, [this](bool visible) {
        if (visible) {
            unseen_warnings_ = 0;
            status_warnings_->hide();
        }
    });
}

void MainWindow::showEngineMessage(const LogEntry& entry) {
    if (entry.level < lumen::LogLevel::warning) return;
    const bool error = entry.level == lumen::LogLevel::error;
    statusBar()->showMessage((error ? tr("Engine error: %1") : tr("Engine warning: %1")).arg(entry.message),
                             kStatusMessageMs);
    if (log_dock_->isVisible()) return;
    ++unseen_warnings_;
    status_warnings_->setText(unseen_warnings_ == 1 ? tr("⚠ 1 warning") : tr("⚠ %1 warnings").arg(unseen_warnings_));
    status_warnings_->show();
}

void MainWindow::openModel(const QString& path) {
    pending_load_path_ = path;
    model_->selectModel(path);
}

// ------------------------------------------------------------------ export and close

void MainWindow::exportConversation(const QString& format) {
    const qint64 id = chat_->currentConversation();
    if (!id) {
        QMessageBox::information(this, tr("Export conversation"), tr("Select a conversation first."));
        return;
    }
    const bool markdown = format == QLatin1String("md");
    const QString path = QFileDialog::getSaveFileName(this, tr("Export conversation"), {},
                                                      markdown ? tr("Markdown (*.md)") : tr("JSON (*.json)"));
    if (path.isEmpty()) return;
    const QByteArray data = markdown ? store_->exportMarkdown(id).toUtf8() : store_->exportJson(id);
    QFile file(path);
    if (data.isEmpty() || !file.open(QIODevice::WriteOnly) || file.write(data) != data.size())
        QMessageBox::warning(
            this, tr("Export conversation"),
            tr("Could not write %1: %2").arg(path, data.isEmpty() ? store_->lastError() : file.errorString()));
}

void MainWindow::saveLayout() {
    QSettings settings;
    settings.setValue(QStringLiteral("window/geometry"), saveGeometry());
    settings.setValue(QStringLiteral("window/state"), saveState());
}

// Quitting ends replies, a workload or a load in progress: ask first.
bool MainWindow::confirmQuit() {
    QStringList busy;
    const int replies = chat_->generatingCount();
    if (replies > 0)
        busy << (replies == 1 ? tr("the reply being generated") : tr("%1 replies being generated").arg(replies));
    if (serving_->isRunning()) busy << tr("a serving workload");
    if (model_->isLoading()) busy << tr("a model loading");
    if (busy.isEmpty()) return true;
    QMessageBox box(QMessageBox::Question, tr("Quit Lumen"), tr("Quit and stop %1?").arg(busy.join(tr(" and "))),
                    QMessageBox::Yes | QMessageBox::No, this);
    box.setObjectName(QStringLiteral("quitConfirmation"));
    box.setDefaultButton(QMessageBox::No);
    box.button(QMessageBox::Yes)->setText(tr("Quit"));
    box.button(QMessageBox::No)->setText(tr("Keep Running"));
    return box.exec() == QMessageBox::Yes;
}

void MainWindow::closeEvent(QCloseEvent* event) {
    if (!confirmQuit()) {
        event->ignore();
        return;
    }
    saveLayout();
    worker_->requestStop();
    worker_->requestServeBenchStop();
    event->accept();
}

}  // namespace lumen::ui
