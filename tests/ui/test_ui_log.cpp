// The engine log in the workstation: a warning sent from a non-GUI thread
// reaches the status bar and the Log panel on the GUI thread; the panel keeps
// the newest entries, copies and clears; the window can be destroyed while an engine
// thread is logging; and loading a model with Device "cuda" on a machine
// without a usable GPU shows the engine's fallback warning. Saves a screenshot
// of the main window with the Log open.
#include <QAction>
#include <QApplication>
#include <QClipboard>
#include <QComboBox>
#include <QDir>
#include <QDockWidget>
#include <QFile>
#include <QLabel>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QStatusBar>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>
#include <QToolButton>
#include <QTreeWidget>
#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include "core/log.h"
#ifdef LUMEN_HAVE_CUDA
#include "device_probe.cuh"
#endif
#include "log/engine_log.h"
#include "log/log_panel.h"
#include "main/main_window.h"
#include "model/model_panel.h"

using namespace lumen::ui;

namespace {

constexpr int kLoadTimeoutMs = 120000;

// The default model (as in the other screenshots), else the small stories15M.
QString modelPath() {
    const QString model = default_model_path();
    return QFile::exists(model) ? model : QStringLiteral(LUMEN_SHARED_DIR "/testdata/stories15M/stories15M.bin");
}

LogEntry entry(lumen::LogLevel level, const QString& message) {
    return {QDateTime::currentDateTime(), level, message};
}

}  // namespace

class LogTest : public QObject {
    Q_OBJECT

private:
    std::unique_ptr<MainWindow> openWindow() {
        MainWindowOptions options;
        options.databasePath = dir_.filePath(QStringLiteral("chats.sqlite3"));
        options.loadModelOnStart = false;
        auto window = std::make_unique<MainWindow>(options);
        window->show();
        return window;
    }

    QTemporaryDir dir_;

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        QSettings().clear();
    }

    void panelKeepsTheNewestEntriesAndClears() {
        LogPanel panel;
        for (int i = 0; i < LogPanel::kMaxEntries + 5; ++i)
            panel.append(entry(lumen::LogLevel::info, QStringLiteral("message %1").arg(i)));
        QCOMPARE(panel.entryCount(), LogPanel::kMaxEntries);
        QVERIFY2(panel.entryText(0).endsWith(QStringLiteral("info message 5")), qPrintable(panel.entryText(0)));
        QVERIFY(panel.entryText(LogPanel::kMaxEntries - 1)
                    .endsWith(QStringLiteral("message %1").arg(LogPanel::kMaxEntries + 4)));
        QCOMPARE(panel.entryText(LogPanel::kMaxEntries), QString());
        auto* view = panel.findChild<QTreeWidget*>(QStringLiteral("logView"));
        QVERIFY(view);
        QCOMPARE(view->editTriggers(), QAbstractItemView::NoEditTriggers);
        QCOMPARE(view->topLevelItem(0)->text(1), QStringLiteral("info"));
        // Copy takes the selected rows, oldest first.
        view->topLevelItem(7)->setSelected(true);
        view->topLevelItem(3)->setSelected(true);
        panel.findChild<QAction*>(QStringLiteral("copyLogAction"))->trigger();
        QCOMPARE(QGuiApplication::clipboard()->text(), panel.entryText(3) + QLatin1Char('\n') + panel.entryText(7));
        QTest::mouseClick(panel.findChild<QPushButton*>(QStringLiteral("clearLogButton")), Qt::LeftButton);
        QCOMPARE(panel.entryCount(), 0);
    }

    void warningFromAnEngineThreadReachesStatusBarAndLog() {
        auto window = openWindow();
        auto* log = window->logPanel();
        auto* dock = window->findChild<QDockWidget*>(QStringLiteral("logDock"));
        auto* badge = window->findChild<QToolButton*>(QStringLiteral("logWarningsButton"));
        QVERIFY(log && dock && badge);
        QVERIFY(dock->isHidden());  // closed by default
        QVERIFY(badge->isHidden());
        // Delivered on the GUI thread whichever thread sent it.
        auto* engineLog = window->findChild<EngineLog*>();
        QVERIFY(engineLog);
        bool onGuiThread = true;
        connect(engineLog, &EngineLog::messageLogged, this,
                [&] { onGuiThread &= QThread::currentThread() == qApp->thread(); });

        std::thread engine([] {
            lumen::log_info("an info line from the engine thread");
            lumen::log_warning("a warning from the engine thread");
        });
        engine.join();
        QTRY_COMPARE(log->entryCount(), 2);
        QVERIFY(onGuiThread);
        QVERIFY2(log->entryText(0).contains(QStringLiteral(" info an info line from the engine thread")),
                 qPrintable(log->entryText(0)));
        QVERIFY2(log->entryText(1).contains(QStringLiteral(" warning a warning from the engine thread")),
                 qPrintable(log->entryText(1)));
        // Only warnings and errors go to the status bar.
        QCOMPARE(window->statusBar()->currentMessage(),
                 QStringLiteral("Engine warning: a warning from the engine thread"));
        QVERIFY(badge->isVisible());
        QVERIFY2(badge->text().contains(QStringLiteral("1 warning")), qPrintable(badge->text()));

        std::thread([] { lumen::log_error("an error from the engine thread"); }).join();
        QTRY_COMPARE(log->entryCount(), 3);
        QCOMPARE(window->statusBar()->currentMessage(),
                 QStringLiteral("Engine error: an error from the engine thread"));
        QVERIFY2(badge->text().contains(QStringLiteral("2 warnings")), qPrintable(badge->text()));

        // The badge opens the log; View → Log toggles it.
        QTest::mouseClick(badge, Qt::LeftButton);
        QVERIFY(dock->isVisible());
        QVERIFY(badge->isHidden());
        auto* action = window->findChild<QAction*>(QStringLiteral("actionShowLog"));
        QVERIFY(action && action->isChecked());
        action->trigger();
        QVERIFY(dock->isHidden());
    }

    void windowCanCloseWhileAnEngineThreadLogs() {
        auto window = openWindow();
        LogPanel* log = window->logPanel();
        std::atomic<bool> stop{false};
        std::atomic<int> sent{0};
        std::thread engine([&] {
            while (!stop.load()) {
                lumen::log_warning("busy engine");
                ++sent;
                std::this_thread::sleep_for(std::chrono::microseconds(50));
            }
        });
        QTRY_VERIFY(log->entryCount() > 10);
        window.reset();  // uninstalls the callback while messages are still arriving
        const int atClose = sent.load();
        QTRY_VERIFY(sent.load() > atClose + 200);  // the thread kept logging into nothing
        QCoreApplication::processEvents();         // no queued message reaches the destroyed window
        stop = true;
        engine.join();
        // A new window gets the messages again.
        window = openWindow();
        std::thread([] { lumen::log_warning("after the restart"); }).join();
        QTRY_COMPARE(window->logPanel()->entryCount(), 1);
        QVERIFY(window->logPanel()->entryText(0).endsWith(QStringLiteral("after the restart")));
    }

    void cudaDeviceWithoutAGpuShowsTheFallbackWarning() {
#ifdef LUMEN_HAVE_CUDA
        if (lumen::cuda::probe_devices().usable) QSKIP("a usable GPU: Device cuda loads on it without a warning");
#endif
        const QString model = modelPath();
        if (!QFile::exists(model)) QSKIP("no model: run installer/fetch-model.sh");
        auto window = openWindow();
        auto* device = window->findChild<QComboBox*>(QStringLiteral("deviceCombo"));
        QVERIFY(device);
        device->setCurrentIndex(device->findData(QStringLiteral("cuda")));
        QSignalSpy loaded(window->worker(), &EngineWorker::modelLoaded);
        window->openModel(model);
        // The engine says why in one line, before the weights load.
        QTRY_VERIFY_WITH_TIMEOUT(
            window->statusBar()->currentMessage().contains(QStringLiteral("using the CPU backend")), kLoadTimeoutMs);
        const QString shown = window->statusBar()->currentMessage();
        QVERIFY2(shown.startsWith(QStringLiteral("Engine warning: ")) && shown.contains(QStringLiteral("CUDA")),
                 qPrintable(shown));
        QTRY_VERIFY_WITH_TIMEOUT(!loaded.isEmpty(), kLoadTimeoutMs);  // it may have come during the wait above
        // The model line stays beside the message, not under it.
        auto* modelLine = window->findChild<QLabel*>(QStringLiteral("statusModelLabel"));
        QTRY_VERIFY(modelLine->text().contains(QStringLiteral("llama")));
        QVERIFY(modelLine->isVisible());
        QVERIFY(modelLine->geometry().left() > window->statusBar()->width() / 2);
        QCOMPARE(loaded.at(0).at(0).value<ModelSummary>().backend, QStringLiteral("cpu"));
        bool inLog = false;
        for (int i = 0; i < window->logPanel()->entryCount(); ++i)
            inLog |= window->logPanel()->entryText(i).contains(QStringLiteral(" warning ") + shown.mid(16));
        QVERIFY(inLog);

        // The screenshot: the main window with the Log open.
        window->findChild<QToolButton*>(QStringLiteral("logWarningsButton"))->click();
        window->statusBar()->showMessage(shown);  // keep it in the picture
        QApplication::processEvents();
        QDir().mkpath(QStringLiteral(LUMEN_SCREENSHOT_DIR));
        const QString path = QStringLiteral(LUMEN_SCREENSHOT_DIR "/main_window_log.png");
        const QPixmap shot = window->grab();
        QVERIFY(!shot.isNull() && shot.save(path));
        qInfo().noquote() << "screenshot:" << path;
        device->setCurrentIndex(device->findData(QStringLiteral("cpu")));
    }
};

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    QStandardPaths::setTestModeEnabled(true);
    QApplication::setOrganizationName(QStringLiteral("LumenTest"));
    QApplication::setApplicationName(QStringLiteral("lumen-log-test"));
    LogTest test;
    return QTest::qExec(&test, argc, argv);
}

#include "test_ui_log.moc"
