// The main window's layout on the offscreen platform: it fits 1280×720 in every
// layout preset (no dock forces a wider or taller window, the Send button and
// every panel are inside it, the chat is the widest area); long texts elide
// instead of widening the window; the presets and Reset Layout put every dock
// back; the side bar and the inspector collapse; the plots' tick labels never
// overlap and their axis labels are never cut off; Help has the user guide and
// the shortcuts; `lumen --help` and `--version` answer without a display. Saves
// the window at 1280×720 and 1920×1080, with a reply and a KV map, for
// docs/USER_GUIDE.md.
#include <QAction>
#include <QApplication>
#include <QDialog>
#include <QDir>
#include <QDockWidget>
#include <QFile>
#include <QLabel>
#include <QPlainTextEdit>
#include <QProcess>
#include <QPushButton>
#include <QScrollArea>
#include <QScrollBar>
#include <QSettings>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QTest>
#include <QTextBrowser>
#include <QToolButton>
#include <QTreeWidget>
#include <memory>

#include "chat/chat_panel.h"
#include "common/elided_label.h"
#include "main/main_window.h"
#include "model/model_panel.h"
#include "plots/performance_plots.h"
#include "plots/plot_fit.h"
#include "sampling/sampling_panel.h"
#include "serving/serving_panel.h"

using namespace lumen::ui;

namespace {

constexpr int kLoadTimeoutMs = 120000;
constexpr int kReplyTimeoutMs = 300000;
const QSize kSmallScreen(1280, 720);
const QSize kLargeScreen(1920, 1080);

QString screenshotDir() {
    return QStringLiteral(LUMEN_SCREENSHOT_DIR);
}

// A widget's rectangle in the window's coordinates.
QRect rectInWindow(QWidget* widget, QWidget* window) {
    return QRect(widget->mapTo(window, QPoint(0, 0)), widget->size());
}

QString describe(const QSize& s) {
    return QStringLiteral("%1×%2").arg(s.width()).arg(s.height());
}

// Every pair of neighbouring tick labels of `axis` has room between them.
bool tickLabelsApart(QCPAxis* axis, QString* why) {
    const QFontMetrics fm(axis->tickLabelFont());
    const QVector<double> ticks = axis->tickVector();
    const QVector<QString> labels = axis->tickVectorLabels();
    double previousRight = -1e9;
    for (int i = 0; i < ticks.size(); ++i) {
        if (!axis->range().contains(ticks[i])) continue;
        const double centre = axis->coordToPixel(ticks[i]);
        const double half = fm.horizontalAdvance(labels.value(i)) / 2.0;
        if (centre - half < previousRight) {
            *why = QStringLiteral("'%1' overlaps the label before it (%2 ticks on %3 px)")
                       .arg(labels.value(i))
                       .arg(ticks.size())
                       .arg(axis->axisRect()->width());
            return false;
        }
        previousRight = centre + half;
    }
    return true;
}

// The axis labels and the title fit the plot as drawn.
bool textsFit(QCustomPlot* plot, QString* why) {
    QCPAxisRect* rect = plot->axisRect();
    const int xLabel = QFontMetrics(plot->xAxis->labelFont()).horizontalAdvance(plot->xAxis->label());
    const int yLabel = QFontMetrics(plot->yAxis->labelFont()).horizontalAdvance(plot->yAxis->label());
    if (xLabel > rect->width() + 1 || yLabel > rect->height() + 1) {
        *why = QStringLiteral("%1: labels %2 px and %3 px on an axis rect of %4×%5")
                   .arg(plot->objectName())
                   .arg(xLabel)
                   .arg(yLabel)
                   .arg(rect->width())
                   .arg(rect->height());
        return false;
    }
    return true;
}

}  // namespace

class LayoutTest : public QObject {
    Q_OBJECT

private:
    std::unique_ptr<MainWindow> openWindow(bool loadModel, QSize size = kSmallScreen) {
        MainWindowOptions options;
        options.databasePath = dir_.filePath(QStringLiteral("chats.sqlite3"));
        options.modelPath = default_model_path();
        options.loadModelOnStart = loadModel;
        auto w = std::make_unique<MainWindow>(options);
        w->resize(size);
        w->show();
        QApplication::processEvents();
        return w;
    }

    void trigger(const char* action) {
        auto* a = window_->findChild<QAction*>(QString::fromLatin1(action));
        QVERIFY2(a, action);
        a->trigger();
        QApplication::processEvents();
    }

    QDockWidget* dock(const char* name) { return window_->findChild<QDockWidget*>(QString::fromLatin1(name)); }

    // The window can be as small as the screen and everything the user needs is inside it.
    void verifyFits(const QString& preset, bool chatWidest) {
        const QSize minimum = window_->minimumSizeHint().expandedTo(window_->minimumSize());
        QVERIFY2(minimum.width() <= kSmallScreen.width() && minimum.height() <= kSmallScreen.height(),
                 qPrintable(preset + QStringLiteral(": the window needs at least ") + describe(minimum)));
        window_->resize(kSmallScreen);
        QApplication::processEvents();
        QCOMPARE(window_->size(), kSmallScreen);
        const QRect inside = window_->rect();
        auto* send = window_->findChild<QPushButton*>(QStringLiteral("sendButton"));
        QVERIFY2(inside.contains(rectInWindow(send, window_.get())), qPrintable(preset));
        const int chatWidth = window_->chatPanel()->width();
        for (QDockWidget* d : window_->findChildren<QDockWidget*>()) {
            // A dock behind another's tab is moved out of sight.
            if (!d->isVisible() || d->isFloating() || d->visibleRegion().isEmpty()) continue;
            QVERIFY2(inside.contains(rectInWindow(d, window_.get())),
                     qPrintable(preset + QLatin1Char(' ') + d->objectName()));
            if (chatWidest)
                QVERIFY2(d->width() < chatWidth, qPrintable(QStringLiteral("%1: %2 is %3 px, the chat %4 px")
                                                                .arg(preset, d->objectName())
                                                                .arg(d->width())
                                                                .arg(chatWidth)));
        }
    }

    bool waitForReply() {
        return QTest::qWaitFor([this] { return !window_->chatPanel()->isGenerating(); }, kReplyTimeoutMs);
    }

    void saveScreenshot(const QString& name) {
        QTest::qWait(100);  // layouts that changed direction or size settle over a few events
        QDir().mkpath(screenshotDir());
        const QString path = screenshotDir() + QLatin1Char('/') + name + QStringLiteral(".png");
        const QPixmap shot = window_->grab();
        QCOMPARE(shot.size() / shot.devicePixelRatio(), window_->size());
        QVERIFY2(shot.save(path), qPrintable(path));
    }

    QTemporaryDir dir_;
    std::unique_ptr<MainWindow> window_;

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        QSettings().clear();
    }

    void everyPresetFits1280x720() {
        window_ = openWindow(false);
        verifyFits(QStringLiteral("first start (Inspect)"), true);
        trigger("actionLayoutChat");
        verifyFits(QStringLiteral("Chat"), true);
        trigger("actionLayoutBenchmark");
        verifyFits(QStringLiteral("Benchmark"), false);
        trigger("actionLayoutInspect");
        verifyFits(QStringLiteral("Inspect"), true);
        // Every dock open at once (the log too) still fits.
        for (QDockWidget* d : window_->findChildren<QDockWidget*>()) d->show();
        verifyFits(QStringLiteral("every dock open"), false);
        // The side-bar panels scroll rather than set the window's size, and only up and down.
        trigger("actionResetLayout");
        for (QDockWidget* d : window_->sidebarDocks() + QList<QDockWidget*>{dock("servingDock")}) {
            auto* area = qobject_cast<QScrollArea*>(d->widget());
            QVERIFY2(area, qPrintable(d->objectName()));
            d->raise();
            QApplication::processEvents();
            QVERIFY2(area->horizontalScrollBar()->maximum() == 0,
                     qPrintable(QStringLiteral("%1 scrolls sideways: %2 px of content in %3 px")
                                    .arg(d->objectName())
                                    .arg(area->widget()->minimumSizeHint().width())
                                    .arg(area->viewport()->width())));
        }
    }

    void longTextsElideInsteadOfWidening() {
        trigger("actionResetLayout");
        const int before = window_->minimumSizeHint().width();
        const QString longName = QStringLiteral("A model with a very long name ").repeated(12);
        auto* status = window_->findChild<QLabel*>(QStringLiteral("statusModelLabel"));
        auto* mode = window_->findChild<QLabel*>(QStringLiteral("modeLabel"));
        QVERIFY(status && mode);
        status->setText(longName);
        mode->setText(longName);
        QApplication::processEvents();
        QCOMPARE(window_->minimumSizeHint().width(), before);
        QCOMPARE(window_->width(), kSmallScreen.width());
        QCOMPARE(status->text(), longName);  // the whole text is kept: it is only drawn shorter
        QVERIFY(static_cast<ElidedLabel*>(status)->isElided());
        QVERIFY(static_cast<ElidedLabel*>(status)->shownText().endsWith(QChar(0x2026)));
    }

    void presetsAndResetLayoutPutEveryDockBack() {
        trigger("actionLayoutChat");
        for (QDockWidget* d : window_->inspectorDocks()) QVERIFY2(d->isHidden(), qPrintable(d->objectName()));
        for (QDockWidget* d : window_->sidebarDocks()) QVERIFY(!d->isHidden());
        QVERIFY(!window_->findChild<QAction*>(QStringLiteral("actionToggleInspector"))->isChecked());
        trigger("actionLayoutBenchmark");
        QVERIFY(dock("servingDock")->isVisible());  // raised in its tab group
        QCOMPARE(window_->dockWidgetArea(dock("servingDock")), Qt::RightDockWidgetArea);

        // Move things about: float the map, put the model on the right, close sampling, open the log.
        dock("kvDock")->setFloating(true);
        window_->addDockWidget(Qt::RightDockWidgetArea, dock("modelDock"));
        dock("samplingDock")->hide();
        dock("logDock")->show();
        trigger("actionResetLayout");
        for (QDockWidget* d : window_->sidebarDocks()) {
            QCOMPARE(window_->dockWidgetArea(d), Qt::LeftDockWidgetArea);
            QVERIFY(!d->isHidden() && !d->isFloating());
        }
        for (QDockWidget* d : window_->inspectorDocks()) {
            QCOMPARE(window_->dockWidgetArea(d), Qt::RightDockWidgetArea);
            QVERIFY(!d->isHidden() && !d->isFloating());
        }
        QVERIFY(dock("logDock")->isHidden());
        QVERIFY(dock("modelDock")->isVisible() && dock("plotsDock")->isVisible() && dock("kvDock")->isVisible());
        // The map sits above the plots.
        QVERIFY(rectInWindow(dock("kvDock"), window_.get()).bottom() <
                rectInWindow(dock("plotsDock"), window_.get()).top());
        verifyFits(QStringLiteral("after Reset Layout"), true);
    }

    void sideBarAndInspectorCollapse() {
        const int chatBefore = window_->chatPanel()->width();
        trigger("actionToggleSidebar");
        for (QDockWidget* d : window_->sidebarDocks()) QVERIFY(d->isHidden());
        trigger("actionToggleInspector");
        for (QDockWidget* d : window_->inspectorDocks()) QVERIFY(d->isHidden());
        QTRY_VERIFY(window_->chatPanel()->width() > chatBefore + 400);
        trigger("actionToggleSidebar");
        trigger("actionToggleInspector");
        for (QDockWidget* d : window_->sidebarDocks() + window_->inspectorDocks()) QVERIFY(!d->isHidden());
        QVERIFY(window_->findChild<QAction*>(QStringLiteral("actionToggleSidebar"))->isChecked());
        // The buttons at the right of the menu bar hold the same actions.
        auto* button = window_->findChild<QToolButton*>(QStringLiteral("actionLayoutBenchmarkButton"));
        QVERIFY(button && button->isVisible());
    }

    void helpHasTheGuideAndTheShortcuts() {
        trigger("actionUserGuide");
        auto* guide = window_->findChild<QTextBrowser*>(QStringLiteral("userGuideBrowser"));
        QVERIFY(guide && guide->isVisible());
        QVERIFY2(guide->toPlainText().contains(QStringLiteral("Lumen workstation: user guide")),
                 qPrintable(guide->toPlainText().left(200)));
        QVERIFY(guide->toPlainText().contains(QStringLiteral("Layout")));
        // The screenshots are built in too, shrunk to a readable column.
        const QImage shot = guide
                                ->loadResource(QTextDocument::ImageResource,
                                               QUrl(QStringLiteral("qrc:/lumen/guide/images/layout_1280x720.png")))
                                .value<QImage>();
        QVERIFY(!shot.isNull() && shot.width() <= 760);
        window_->findChild<QDialog*>(QStringLiteral("userGuideDialog"))->close();
        trigger("actionShortcuts");
        auto* table = window_->findChild<QTreeWidget*>(QStringLiteral("shortcutsTable"));
        QVERIFY(table && table->isVisible());
        QStringList rows;
        for (int i = 0; i < table->topLevelItemCount(); ++i)
            rows << table->topLevelItem(i)->text(0) + QStringLiteral(" = ") + table->topLevelItem(i)->text(1);
        const QString all = rows.join(QLatin1Char('\n'));
        const QString send = QKeySequence(Qt::CTRL | Qt::Key_Return).toString(QKeySequence::NativeText);
        QVERIFY2(all.contains(QStringLiteral("Conversation › Send = ") + send), qPrintable(all));
        QVERIFY2(all.contains(QStringLiteral("View › Reset Layout")), qPrintable(all));
        QVERIFY2(all.contains(QStringLiteral("Help › User Guide")), qPrintable(all));
        QVERIFY2(all.contains(QStringLiteral("File › Quit = ") +
                              QKeySequence(Qt::CTRL | Qt::Key_Q).toString(QKeySequence::NativeText)),
                 qPrintable(all));
        window_->findChild<QDialog*>(QStringLiteral("shortcutsDialog"))->close();
    }

    // Tick labels keep apart and axis labels fit, on a narrow plot and on every plot shown.
    void plotTextsFit() {
        PerformancePlots plots;
        plots.resize(300, 220);
        plots.show();
        QVector<double> itl;
        for (int i = 0; i < 400; ++i) {  // wide, long-labelled values: 0.001 … 123456.7
            TokenEventData t;
            t.requestId = 1;
            t.index = i + 1;
            t.sinceLastMs = i % 2 ? 0.001 * (i + 1) : 123456.7 * i / 399.0;
            t.wallTimeSec = 1000.123456 + i;
            plots.addToken(t);
        }
        plots.replotNow();
        QApplication::processEvents();
        QString why;
        auto* tabs = plots.findChild<QTabWidget*>(QStringLiteral("performance_tabs"));
        for (const char* name : {"itl_histogram", "itl_timeline"}) {
            QCustomPlot* p = plots.plot(QString::fromLatin1(name));
            tabs->setCurrentIndex(plots.plotNames().indexOf(QString::fromLatin1(name)));  // as a user would
            QApplication::processEvents();
            QVERIFY2(tickLabelsApart(p->xAxis, &why),
                     qPrintable(QString::fromLatin1(name) + QStringLiteral(": ") + why));
        }

        trigger("actionLayoutBenchmark");
        QList<QCustomPlot*> shown;
        for (QCustomPlot* p : window_->findChildren<QCustomPlot*>())
            if (p->isVisible()) shown << p;
        trigger("actionLayoutInspect");
        for (QCustomPlot* p : window_->findChildren<QCustomPlot*>())
            if (p->isVisible() && !shown.contains(p)) shown << p;
        QVERIFY(shown.size() >= 4);
        trigger("actionLayoutBenchmark");
        for (QCustomPlot* p : std::as_const(shown)) {
            if (!p->isVisible()) trigger("actionLayoutInspect");
            p->replot();
            QVERIFY2(textsFit(p, &why), qPrintable(why));
            QVERIFY2(tickLabelsApart(p->xAxis, &why), qPrintable(p->objectName() + QStringLiteral(": ") + why));
            // What was elided to fit is still the whole text underneath.
            QVERIFY(fullText(p->yAxis).size() >= p->yAxis->label().size() - 1);
        }
    }

    // A reply at each size, then the screenshots for the user guide.
    void screenshotsAt1280x720And1920x1080() {
        if (!QFile::exists(default_model_path()))
            QSKIP("the default model is not present (run installer/fetch-model.sh or set LUMEN_MODEL_PATH)");
        window_.reset();
        window_ = openWindow(true);
        QTRY_VERIFY_WITH_TIMEOUT(window_->modelPanel()->isLoaded(), kLoadTimeoutMs);
        trigger("actionResetLayout");
        window_->samplingPanel()->applyPreset(0);  // Greedy
        window_->findChild<QSpinBox*>(QStringLiteral("maxTokensSpin"))->setValue(48);
        QVERIFY(window_->chatPanel()->newConversation() > 0);
        auto* input = window_->findChild<QPlainTextEdit*>(QStringLiteral("promptInput"));
        input->setPlainText(QStringLiteral("Give me three tips for writing clear documentation."));
        QTest::mouseClick(window_->findChild<QPushButton*>(QStringLiteral("sendButton")), Qt::LeftButton);
        QVERIFY(waitForReply());
        window_->plots()->replotNow();
        QApplication::processEvents();
        verifyFits(QStringLiteral("with a model"), true);
        saveScreenshot(QStringLiteral("layout_1280x720"));
        trigger("actionLayoutChat");
        saveScreenshot(QStringLiteral("layout_chat_1280x720"));
        trigger("actionLayoutBenchmark");
        window_->findChild<QTabWidget*>(QStringLiteral("performance_tabs"))->setCurrentIndex(0);
        saveScreenshot(QStringLiteral("layout_benchmark_1280x720"));
        window_->resize(kLargeScreen);
        trigger("actionResetLayout");
        QTRY_COMPARE(window_->size(), kLargeScreen);
        window_->plots()->replotNow();
        QApplication::processEvents();
        QVERIFY(window_->chatPanel()->width() > 800);
        saveScreenshot(QStringLiteral("layout_1920x1080"));
    }

    // --help and --version print and exit 0 where no display can be opened.
    void helpAndVersionWithoutADisplay() {
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.remove(QStringLiteral("DISPLAY"));
        env.remove(QStringLiteral("WAYLAND_DISPLAY"));
        env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("xcb"));  // would fail: no display
        for (const QString& option : {QStringLiteral("--help"), QStringLiteral("--version")}) {
            QProcess lumen;
            lumen.setProcessEnvironment(env);
            lumen.start(QStringLiteral(LUMEN_GUI_PATH), {option});
            QVERIFY(lumen.waitForFinished(30000));
            const QString out = QString::fromUtf8(lumen.readAllStandardOutput());
            QVERIFY2(lumen.exitStatus() == QProcess::NormalExit && lumen.exitCode() == 0,
                     qPrintable(option + QStringLiteral(": ") + QString::fromUtf8(lumen.readAllStandardError())));
            if (option == QLatin1String("--help")) {
                QVERIFY2(out.contains(QStringLiteral("Usage:")) && out.contains(QStringLiteral("--database")),
                         qPrintable(out));
            } else {
                QVERIFY2(out.contains(QStringLiteral("Lumen ")), qPrintable(out));
            }
        }
    }

    void cleanupTestCase() { window_.reset(); }
};

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    QStandardPaths::setTestModeEnabled(true);
    QApplication::setOrganizationName(QStringLiteral("LumenTest"));
    QApplication::setApplicationName(QStringLiteral("lumen-layout-test"));
    LayoutTest test;
    return QTest::qExec(&test, argc, argv);
}

#include "test_ui_layout.moc"
