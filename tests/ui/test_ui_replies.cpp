// What a new user meets around replies, on the real main window (offscreen):
// the sampling preset box names the preset the settings equal ("Custom" after
// an edit) and keeps it across a restart; each reply draws a new seed, shown
// in its sampling line, and a fixed seed repeats a reply; "Load a model"
// hints and an old error in the status bar go once a model loads; a failed
// beam search clears the old tree; the conversation list does not reorder
// while replies stream; the decode rate of speculative steps adds up to the
// reply's tokens; the Serving panel exports its plots and summary; quitting
// during a reply asks first.
#include <QAction>
#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStandardPaths>
#include <QStatusBar>
#include <QTemporaryDir>
#include <QTest>
#include <QTextBrowser>
#include <QTimer>
#include <QTreeWidget>
#include <cmath>
#include <cstdio>
#include <memory>

#include "chat/chat_panel.h"
#include "chat/chat_store.h"
#include "chat/conversation_list_model.h"
#include "decoding/decoding_panel.h"
#include "main/main_window.h"
#include "model/model_panel.h"
#include "quantization/quantization_panel.h"
#include "sampling/sampling_panel.h"
#include "sampling/sampling_preset_model.h"
#include "serving/serving_panel.h"

using namespace lumen::ui;

namespace {

constexpr int kLoadTimeoutMs = 120000;
constexpr int kReplyTimeoutMs = 300000;

template <typename T>
T* child(QWidget* root, const char* name) {
    T* w = root->findChild<T*>(QString::fromLatin1(name));
    if (!w) qWarning() << "no widget named" << name;
    return w;
}

}  // namespace

class RepliesTest : public QObject {
    Q_OBJECT

private:
    std::unique_ptr<MainWindow> openWindow(bool loadModel) {
        MainWindowOptions options;
        options.databasePath = dir_.filePath(QStringLiteral("chats.sqlite3"));
        options.modelPath = default_model_path();
        options.loadModelOnStart = loadModel;
        auto w = std::make_unique<MainWindow>(options);
        w->chatPanel()->setConfirmDeletes(false);
        w->resize(1280, 720);
        w->show();
        return w;
    }

    void loadModel() {
        window_->openModel(default_model_path());
        QTRY_VERIFY_WITH_TIMEOUT(window_->modelPanel()->isLoaded(), kLoadTimeoutMs);
    }

    void send(const QString& text) {
        auto* input = child<QPlainTextEdit>(window_.get(), "promptInput");
        input->setPlainText(text);
        QTest::mouseClick(child<QPushButton>(window_.get(), "sendButton"), Qt::LeftButton);
    }

    bool waitForReplies() {
        return QTest::qWaitFor([this] { return window_->chatPanel()->generatingCount() == 0; }, kReplyTimeoutMs);
    }

    // The last stored reply of the current conversation: its text and sampling settings.
    MessageRecord lastReply() {
        const auto messages = window_->chatStore()->messages(window_->chatPanel()->currentConversation());
        return messages.isEmpty() ? MessageRecord{} : messages.last();
    }

    static QString seedOf(const MessageRecord& m) {
        return QJsonDocument::fromJson(m.samplingJson.toUtf8()).object().value("seed").toString();
    }

    // Answers the next quit question with `button` once it shows.
    void answerQuitQuestion(QMessageBox::StandardButton button) {
        QTimer::singleShot(0, this, [this, button] {
            QTRY_VERIFY(QApplication::activeModalWidget());
            auto* box = qobject_cast<QMessageBox*>(QApplication::activeModalWidget());
            QVERIFY(box && box->objectName() == QStringLiteral("quitConfirmation"));
            asked_ = box->text();
            box->button(button)->click();
        });
    }

    QTemporaryDir dir_;
    std::unique_ptr<MainWindow> window_;
    QString asked_;

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        QSettings().clear();
    }

    // A fresh start shows the preset the settings are (Balanced: temperature 0.8), not the first one.
    void presetBoxNamesTheSettings() {
        window_ = openWindow(false);
        SamplingPanel* sampling = window_->samplingPanel();
        auto* combo = child<QComboBox>(window_.get(), "presetCombo");
        QCOMPARE(child<QDoubleSpinBox>(window_.get(), "temperatureSpin")->value(), 0.8);
        QCOMPARE(sampling->presetName(), QStringLiteral("Balanced"));
        QCOMPARE(combo->currentText(), QStringLiteral("Balanced"));
        // An edit makes them nobody's preset.
        child<QDoubleSpinBox>(window_.get(), "topPSpin")->setValue(0.5);
        QCOMPARE(sampling->presetName(), SamplingPanel::customPresetName());
        QCOMPARE(combo->currentIndex(), -1);
        QCOMPARE(combo->placeholderText(), QStringLiteral("Custom"));
        // Choosing a preset in the box applies it and names it.
        const int greedy = sampling->presetModel()->rowOf(QStringLiteral("Greedy"));
        combo->setCurrentIndex(greedy);
        Q_EMIT combo->activated(greedy);
        QCOMPARE(child<QDoubleSpinBox>(window_.get(), "temperatureSpin")->value(), 0.0);
        QCOMPARE(combo->currentText(), QStringLiteral("Greedy"));
        // A user preset equal to Greedy, chosen last, is the one named after a restart.
        QString error;
        QVERIFY(sampling->saveCurrentAsPreset(QStringLiteral("My greedy"), &error));
        QCOMPARE(sampling->presetName(), QStringLiteral("My greedy"));
        window_->close();
        window_.reset();
        window_ = openWindow(false);
        QCOMPARE(window_->samplingPanel()->presetName(), QStringLiteral("My greedy"));
        QCOMPARE(child<QComboBox>(window_.get(), "presetCombo")->currentText(), QStringLiteral("My greedy"));
        QCOMPARE(child<QDoubleSpinBox>(window_.get(), "temperatureSpin")->value(), 0.0);
        window_->samplingPanel()->applyPreset(
            window_->samplingPanel()->presetModel()->rowOf(QStringLiteral("Balanced")));
    }

    // Before a model: hints. After a failed open and a good load: no hint, no old error.
    void staleMessagesGoOnceAModelLoads() {
        QCOMPARE(window_->chatPanel()->statusText(), QStringLiteral("Load a model to chat."));
        QVERIFY(window_->servingPanel()->statusText().startsWith(QStringLiteral("Load a model")));
        QVERIFY(window_->quantizationPanel()->statusText().startsWith(QStringLiteral("Load a model")));
        window_->openModel(dir_.filePath(QStringLiteral("missing.gguf")));
        QTRY_VERIFY(window_->statusBar()->currentMessage().startsWith(QStringLiteral("Cannot open the model")));
        loadModel();
        QTRY_VERIFY2(!window_->statusBar()->currentMessage().contains(QStringLiteral("Cannot open")),
                     qPrintable(window_->statusBar()->currentMessage()));
        QVERIFY2(!window_->chatPanel()->statusText().contains(QStringLiteral("Load a model")),
                 qPrintable(window_->chatPanel()->statusText()));
        QVERIFY2(!window_->servingPanel()->statusText().contains(QStringLiteral("Load a model")),
                 qPrintable(window_->servingPanel()->statusText()));
        QVERIFY2(!window_->quantizationPanel()->statusText().contains(QStringLiteral("Load a model")),
                 qPrintable(window_->quantizationPanel()->statusText()));
        QVERIFY(child<QPushButton>(window_.get(), "serveRunButton")->isEnabled());
        QVERIFY(child<QPushButton>(window_.get(), "evaluateButton")->isEnabled());
    }

    // Regenerate draws a new seed; with Fixed ticked it repeats the reply of that seed.
    void eachReplyDrawsANewSeed() {
        SamplingPanel* sampling = window_->samplingPanel();
        QVERIFY(!child<QCheckBox>(window_.get(), "fixedSeedCheck")->isChecked());  // the default
        child<QSpinBox>(window_.get(), "maxTokensSpin")->setValue(24);
        QVERIFY(window_->chatPanel()->newConversation() > 0);
        send(QStringLiteral("Tell me about the sea."));
        QVERIFY(waitForReplies());
        const MessageRecord first = lastReply();
        QCOMPARE(first.role, QStringLiteral("assistant"));
        QTest::mouseClick(child<QPushButton>(window_.get(), "regenerateButton"), Qt::LeftButton);
        QVERIFY(waitForReplies());
        const MessageRecord second = lastReply();
        QVERIFY(!seedOf(first).isEmpty() && !seedOf(second).isEmpty());
        QVERIFY2(seedOf(first) != seedOf(second), qPrintable(seedOf(first)));
        // The seed is in the reply's sampling line, and in the seed field to be fixed.
        const QString shown = child<QTextBrowser>(window_.get(), "messageView")->toPlainText();
        QVERIFY2(shown.contains(QStringLiteral("seed ") + seedOf(second)), qPrintable(shown));
        QCOMPARE(child<QLineEdit>(window_.get(), "seedEdit")->text(), seedOf(second));
        // Fixed: the same seed gives the same reply.
        child<QCheckBox>(window_.get(), "fixedSeedCheck")->setChecked(true);
        QTest::mouseClick(child<QPushButton>(window_.get(), "regenerateButton"), Qt::LeftButton);
        QVERIFY(waitForReplies());
        const MessageRecord third = lastReply();
        QCOMPARE(seedOf(third), seedOf(second));
        QCOMPARE(third.content, second.content);
        QCOMPARE(sampling->params().seed, seedOf(second).toULongLong());
        child<QCheckBox>(window_.get(), "fixedSeedCheck")->setChecked(false);
    }

    // Replies that end do not move rows: the list keeps its order until the user sends.
    void conversationListStaysPutWhileStreaming() {
        ConversationListModel* list = window_->chatPanel()->conversationModel();
        child<QSpinBox>(window_.get(), "maxTokensSpin")->setValue(32);
        const qint64 a = window_->chatPanel()->newConversation();
        send(QStringLiteral("Write a short poem about rain."));
        const qint64 b = window_->chatPanel()->newConversation();
        send(QStringLiteral("Write a short poem about snow."));
        QCOMPARE(window_->chatPanel()->generatingCount(), 2);
        const QList<qint64> order{list->idAt(0), list->idAt(1)};
        QCOMPARE(order, (QList<qint64>{b, a}));
        QSignalSpy moved(list, &QAbstractItemModel::rowsMoved);
        QSignalSpy reset(list, &QAbstractItemModel::modelReset);
        QSignalSpy layout(list, &QAbstractItemModel::layoutChanged);
        QVERIFY(waitForReplies());
        QCOMPARE(moved.size() + reset.size() + layout.size(), 0);
        QCOMPARE((QList<qint64>{list->idAt(0), list->idAt(1)}), order);
        QCOMPARE(window_->chatStore()->messages(a).size(), 2);  // both replies stored
        QCOMPARE(window_->chatStore()->messages(b).size(), 2);
    }

    // A beam search that fails leaves no earlier search in the panel.
    void failedBeamSearchClearsTheOldTree() {
        DecodingPanel* decoding = window_->decodingPanel();
        auto* strategy = child<QComboBox>(window_.get(), "strategyCombo");
        strategy->setCurrentIndex(1);  // beam search
        BeamSearchData old;
        old.requestId = 9001;
        old.width = 2;
        old.tree = {{{0, -1, QStringLiteral("Hello"), -0.5, false}}};
        old.hypotheses = {{QStringLiteral("Hello"), -0.5, -0.5, 1, QStringLiteral("eos")}};
        decoding->showBeamSearch(old);
        QCOMPARE(child<QTreeWidget>(window_.get(), "beamHypotheses")->topLevelItemCount(), 1);
        decoding->replyStarted(9002);
        Q_EMIT window_->worker()->generationFailed(9002, QStringLiteral("the pool is full"));
        QCOMPARE(child<QTreeWidget>(window_.get(), "beamHypotheses")->topLevelItemCount(), 0);
        QCOMPARE(child<QTreeWidget>(window_.get(), "beamTree")->topLevelItemCount(), 0);
        const QString summary = child<QLabel>(window_.get(), "beamSummaryLabel")->text();
        QVERIFY2(summary.contains(QStringLiteral("failed")) && summary.contains(QStringLiteral("the pool is full")),
                 qPrintable(summary));
        strategy->setCurrentIndex(0);
    }

    // With prompt-lookup drafts a step decodes several tokens: the plotted rates count them,
    // so rate × step time over the reply's steps is the reply's decoded tokens.
    void speculativeStepRatesAddUpToTheReply() {
        child<QComboBox>(window_.get(), "speculationCombo")->setCurrentIndex(1);  // prompt lookup
        window_->samplingPanel()->applyPreset(window_->samplingPanel()->presetModel()->rowOf(QStringLiteral("Greedy")));
        child<QSpinBox>(window_.get(), "maxTokensSpin")->setValue(48);
        QVERIFY(window_->chatPanel()->newConversation() > 0);
        QSignalSpy steps(window_->worker(), &EngineWorker::stepFinished);
        QSignalSpy replies(window_->worker(), &EngineWorker::replyFinished);
        send(QStringLiteral(
            "Repeat this list exactly three times: red, green, blue, yellow, red, green, blue, yellow."));
        QVERIFY(waitForReplies());
        child<QComboBox>(window_.get(), "speculationCombo")->setCurrentIndex(0);
        QCOMPARE(replies.size(), 1);
        const auto stats = replies.first().at(0).value<ReplyStats>();
        double decoded = 0, most = 0;
        for (const QList<QVariant>& s : steps) {
            const auto step = s.at(0).value<StepStatsData>();
            const double tokens = std::round(step.decodeTps * step.stepMs / 1000.0);
            decoded += tokens;
            most = std::max(most, tokens);
        }
        QCOMPARE(int(decoded), stats.generatedTokens - 1);  // the first token comes from the prompt's step
        if (stats.draftAccepted > 0) QVERIFY2(most > 1, "no step counted its accepted drafts");
    }

    // The workload's plots and summary export like the other plots.
    void servingResultsExport() {
        ServingPanel* serving = window_->servingPanel();
        ServeBenchSettings settings;
        settings.requests = 4;
        settings.inputLen = 24;
        settings.outputLen = 4;
        settings.lenJitter = 0;
        serving->setSettings(settings);
        QTest::mouseClick(child<QPushButton>(window_.get(), "serveRunButton"), Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(!serving->isRunning(), kReplyTimeoutMs);
        QCOMPARE(serving->lastSummary().completed, 4);
        const QStringList headers{
            QStringLiteral("time_s,decode_tokens_per_s,prefill_tokens_per_s"), QStringLiteral("time_s,running,waiting"),
            QStringLiteral("bin_start_ms,bin_end_ms,count"), QStringLiteral("bin_start_ms,bin_end_ms,count")};
        for (int i = 0; i < serving->plotNames().size(); ++i) {
            const QString name = serving->plotNames()[i];
            QVERIFY2(serving->findChild<QAction*>(QStringLiteral("exportPng_") + name), qPrintable(name));
            QVERIFY2(serving->findChild<QAction*>(QStringLiteral("exportCsv_") + name), qPrintable(name));
            const QString csvPath = dir_.filePath(name + QStringLiteral(".csv"));
            const QString pngPath = dir_.filePath(name + QStringLiteral(".png"));
            QString error;
            QVERIFY2(serving->exportCsv(name, csvPath, &error), qPrintable(error));
            QVERIFY2(serving->exportPng(name, pngPath, &error), qPrintable(error));
            QFile csv(csvPath);
            QVERIFY(csv.open(QIODevice::ReadOnly));
            const QStringList lines = QString::fromUtf8(csv.readAll()).split(QLatin1Char('\n'), Qt::SkipEmptyParts);
            QCOMPARE(lines.first(), headers[i]);
            QVERIFY2(lines.size() >= 2, qPrintable(name));
            QCOMPARE(QImage(pngPath).width(), 800);
        }
        const QString summaryPath = dir_.filePath(QStringLiteral("summary.csv"));
        QString error;
        QVERIFY2(serving->exportCsv(QStringLiteral("serve_summary"), summaryPath, &error), qPrintable(error));
        QFile summary(summaryPath);
        QVERIFY(summary.open(QIODevice::ReadOnly));
        const QString text = QString::fromUtf8(summary.readAll());
        QVERIFY2(text.startsWith(QStringLiteral("figure,value\nrequests,4\n")), qPrintable(text));
        QVERIFY(text.contains(QStringLiteral("ttft_p99_ms,")));
        QVERIFY(!serving->exportCsv(QStringLiteral("no_such_plot"), summaryPath, &error));
        QVERIFY(error.contains(QStringLiteral("no_such_plot")));
    }

    // Quitting while a reply streams asks; "Keep Running" keeps it, "Quit" quits.
    void quittingDuringAReplyAsksFirst() {
        window_->samplingPanel()->applyPreset(window_->samplingPanel()->presetModel()->rowOf(QStringLiteral("Greedy")));
        child<QSpinBox>(window_.get(), "maxTokensSpin")->setValue(2000);
        QVERIFY(window_->chatPanel()->newConversation() > 0);
        QSignalSpy tokens(window_->worker(), &EngineWorker::tokenGenerated);
        send(QStringLiteral("Write a very long story about a lighthouse keeper."));
        QTRY_VERIFY_WITH_TIMEOUT(tokens.size() >= 3, kReplyTimeoutMs);
        answerQuitQuestion(QMessageBox::No);
        QVERIFY(!window_->close());
        QVERIFY(asked_.contains(QStringLiteral("reply")));
        QVERIFY(window_->isVisible());
        QVERIFY(window_->chatPanel()->isGenerating());
        answerQuitQuestion(QMessageBox::Yes);
        QVERIFY(window_->close());
        QVERIFY(!window_->isVisible());
    }

    void cleanupTestCase() { window_.reset(); }
};

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    QStandardPaths::setTestModeEnabled(true);
    QApplication::setOrganizationName(QStringLiteral("LumenTest"));
    QApplication::setApplicationName(QStringLiteral("lumen-replies-test"));
    if (!QFile::exists(default_model_path())) {
        std::printf("SKIP: the default model is not at %s (run installer/fetch-model.sh or set LUMEN_MODEL_PATH)\n",
                    qPrintable(default_model_path()));
        return 77;
    }
    RepliesTest test;
    return QTest::qExec(&test, argc, argv);
}

#include "test_ui_replies.moc"
