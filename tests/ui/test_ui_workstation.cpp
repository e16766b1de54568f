// Drives the real main window by object names on the offscreen platform:
// the default model loads, a greedy reply streams and equals lumen-cli's,
// Stop halts a reply, the conversation survives a restart, the KV map follows
// the engine's pool, a broken model file shows an error and the app stays
// usable, a base model opens in completion mode. It also measures event-loop
// latency while generating and saves a screenshot of each panel.
#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QDockWidget>
#include <QDoubleSpinBox>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QPlainTextEdit>
#include <QProcess>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>
#include <QTextBrowser>
#include <QTimer>
#include <QTreeWidget>
#include <cstdio>
#include <functional>
#include <memory>

#include "chat/chat_panel.h"
#ifdef LUMEN_HAVE_CUDA
#include "device_probe.cuh"
#endif
#include "chat/chat_store.h"
#include "chat/conversation_list_model.h"
#include "decoding/decoding_panel.h"
#include "kvcache/kv_map_model.h"
#include "kvcache/kv_map_view.h"
#include "main/main_window.h"
#include "model/model_panel.h"
#include "plots/performance_plots.h"
#include "quantization/quantization_panel.h"
#include "sampling/sampling_panel.h"
#include "serving/serving_panel.h"

using namespace lumen::ui;

namespace {

constexpr int kLoadTimeoutMs = 120000;
constexpr int kReplyTimeoutMs = 300000;
const QString kPrompt = QStringLiteral("What is the capital of France?");
constexpr int kMaxTokens = 40;

QString stories15MPath() {
    return QStringLiteral(LUMEN_SHARED_DIR "/testdata/stories15M/stories15M.bin");
}

// lumen-cli generate --json for the same request; returns its "text".
QString cliGreedyText(const QStringList& args) {
    QProcess p;
    p.start(QStringLiteral(LUMEN_CLI_PATH),
            args + QStringList{QStringLiteral("--temperature"), QStringLiteral("0"), QStringLiteral("--json")});
    if (!p.waitForFinished(kReplyTimeoutMs) || p.exitCode() != 0) {
        qWarning() << "lumen-cli failed:" << p.readAllStandardError();
        return QStringLiteral("<lumen-cli failed>");
    }
    return QJsonDocument::fromJson(p.readAllStandardOutput()).object().value("text").toString();
}

template <typename T>
T* child(QWidget* root, const char* name) {
    T* w = root->findChild<T*>(QString::fromLatin1(name));
    if (!w) qWarning() << "no widget named" << name;
    return w;
}

}  // namespace

class WorkstationTest : public QObject {
    Q_OBJECT
public:
    explicit WorkstationTest(QString modelPath) : model_path_(std::move(modelPath)) {}

private:
    std::unique_ptr<MainWindow> openWindow(bool loadModel) {
        MainWindowOptions options;
        options.databasePath = dir_.filePath(QStringLiteral("chats.sqlite3"));
        options.modelPath = model_path_;
        options.loadModelOnStart = loadModel;
        auto w = std::make_unique<MainWindow>(options);
        w->chatPanel()->setConfirmDeletes(false);
        w->resize(1280, 820);  // the offscreen screen is 800×600; the screenshots show a desktop window
        w->show();
        return w;
    }

    void setGreedy(int maxTokens) {
        child<QDoubleSpinBox>(window_.get(), "temperatureSpin")->setValue(0.0);
        child<QDoubleSpinBox>(window_.get(), "repeatPenaltySpin")->setValue(1.0);
        child<QDoubleSpinBox>(window_.get(), "presencePenaltySpin")->setValue(0.0);
        child<QDoubleSpinBox>(window_.get(), "frequencyPenaltySpin")->setValue(0.0);
        child<QSpinBox>(window_.get(), "maxTokensSpin")->setValue(maxTokens);
    }

    void typeAndSend(const QString& text) {
        auto* input = child<QPlainTextEdit>(window_.get(), "promptInput");
        input->clear();
        QTest::keyClicks(input, text);
        QTest::mouseClick(child<QPushButton>(window_.get(), "sendButton"), Qt::LeftButton);
    }

    bool waitForReply() {
        return QTest::qWaitFor([this] { return !window_->chatPanel()->isGenerating(); }, kReplyTimeoutMs);
    }

    QJsonObject lastReplyStats() {
        const auto messages = window_->chatStore()->messages(window_->chatPanel()->currentConversation());
        if (messages.isEmpty() || messages.last().role != QLatin1String("assistant")) return {};
        return QJsonDocument::fromJson(messages.last().statsJson.toUtf8()).object();
    }

    // The KV map model holds exactly the blocks of `snap`.
    static void verifyMapEquals(const KvMapModel& model, const KvSnapshotData& snap) {
        QCOMPARE(model.rowCount(), int(snap.blocks.size()));
        for (int b = 0; b < snap.blocks.size(); ++b) {
            const QModelIndex i = model.index(b);
            QCOMPARE(model.data(i, KvMapModel::RefcountRole).toInt(), snap.blocks[b].refcount);
            QCOMPARE(model.data(i, KvMapModel::TokensRole).toInt(), snap.blocks[b].tokens);
            QCOMPARE(model.data(i, KvMapModel::OwnersRole).toList().size(), snap.blocks[b].owners.size());
        }
    }

    // The pool as the worker sees it once everything queued before has run, and
    // the map model after it has applied that snapshot. (The test blocks on the
    // worker here; the application never does.)
    KvSnapshotData freshSnapshot() {
        QSignalSpy spy(window_->worker(), &EngineWorker::kvSnapshotReady);
        QMetaObject::invokeMethod(window_->worker(), &EngineWorker::publishKvSnapshot, Qt::BlockingQueuedConnection);
        if (spy.isEmpty()) return {};
        const KvSnapshotData snap = spy.last().at(0).value<KvSnapshotData>();
        if (!QTest::qWaitFor([&] { return window_->kvModel()->snapshot().wallTimeSec == snap.wallTimeSec; }, 10000))
            return {};
        return snap;
    }

    QString screenshotDir() const { return QStringLiteral(LUMEN_SCREENSHOT_DIR); }

    void saveScreenshot(QWidget* widget, const QString& name) {
        QDir().mkpath(screenshotDir());
        const QString path = screenshotDir() + QLatin1Char('/') + name + QStringLiteral(".png");
        const QPixmap shot = widget->grab();
        QVERIFY2(!shot.isNull() && shot.width() > 50 && shot.height() > 50, qPrintable(name));
        QVERIFY2(shot.save(path), qPrintable(path));
        // A panel that rendered has more than one colour.
        const QImage img = shot.toImage();
        const QRgb first = img.pixel(0, 0);
        bool varied = false;
        for (int y = 0; y < img.height() && !varied; y += 7)
            for (int x = 0; x < img.width() && !varied; x += 7) varied = img.pixel(x, y) != first;
        QVERIFY2(varied, qPrintable(name + QStringLiteral(" is blank")));
    }

    QString model_path_;
    QTemporaryDir dir_;
    std::unique_ptr<MainWindow> window_;
    QString cli_text_;
    qint64 first_conversation_ = 0;
    QString first_reply_;

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        QSettings().clear();
        cli_text_ = cliGreedyText({QStringLiteral("generate"), QStringLiteral("--model"), model_path_,
                                   QStringLiteral("--chat"), QStringLiteral("--prompt"), kPrompt,
                                   QStringLiteral("--max-tokens"), QString::number(kMaxTokens)});
        QVERIFY(!cli_text_.isEmpty());
        QVERIFY(cli_text_ != QStringLiteral("<lumen-cli failed>"));
    }

    void defaultModelLoadsInChatMode() {
        window_ = openWindow(true);
        QTRY_VERIFY_WITH_TIMEOUT(window_->modelPanel()->isLoaded(), kLoadTimeoutMs);
        QVERIFY(window_->modelPanel()->errorText().isEmpty());
        const ModelSummary& s = window_->modelPanel()->summary();
        QCOMPARE(s.chatTemplate, QStringLiteral("chatml"));
        QVERIFY(s.layers > 0 && s.kvHeads > 0 && s.headDim > 0);
        // The estimate shown uses 2 · layers · kv_heads · head_dim · bytes per token.
        const int ctx = child<QSpinBox>(window_.get(), "contextSpin")->value();
        const qint64 kv = qint64(2) * s.layers * s.kvHeads * s.headDim * 2 * ctx;
        QCOMPARE(estimate_kv_bytes(s, ctx, 1, QStringLiteral("f16")), kv);
        QVERIFY2(window_->modelPanel()->estimateText().contains(QStringLiteral("Memory estimate")),
                 qPrintable(window_->modelPanel()->estimateText()));
        QVERIFY(child<QTreeWidget>(window_.get(), "metadataTree")->topLevelItemCount() >= 10);
        // The KV map shows the whole pool, all free.
        QTRY_COMPARE_WITH_TIMEOUT(window_->kvModel()->rowCount(), (ctx + 15) / 16, 10000);
        QCOMPARE(window_->kvModel()->totals().usedBlocks, 0);
        QVERIFY(child<QPushButton>(window_.get(), "sendButton")->isEnabled());
    }

    void greedyReplyStreamsAndEqualsCli() {
        setGreedy(kMaxTokens);
        QSignalSpy tokens(window_->worker(), &EngineWorker::tokenGenerated);
        int snapshotsChecked = 0;
        auto conn = connect(window_->worker(), &EngineWorker::kvSnapshotReady, this, [&](const KvSnapshotData& snap) {
            // The map was updated from this snapshot before us (connected first).
            verifyMapEquals(*window_->kvModel(), snap);
            ++snapshotsChecked;
        });
        // Event-loop latency: the largest gap between 5 ms timer ticks while generating.
        QElapsedTimer clock;
        double maxGapMs = 0;
        int ticks = 0;
        qint64 last = 0;
        QTimer ticker;
        ticker.setInterval(5);
        connect(&ticker, &QTimer::timeout, this, [&] {
            const qint64 now = clock.nsecsElapsed();
            if (ticks++ > 0) maxGapMs = std::max(maxGapMs, double(now - last) / 1e6);
            last = now;
        });
        clock.start();
        ticker.start();
        typeAndSend(kPrompt);
        QVERIFY(window_->chatPanel()->isGenerating());
        QVERIFY(waitForReply());
        ticker.stop();
        disconnect(conn);
        const double seconds = double(clock.nsecsElapsed()) / 1e9;

        QCOMPARE(window_->chatPanel()->streamedText(), cli_text_);
        QString concatenated;
        for (const auto& args : tokens) concatenated += args.at(0).value<TokenEventData>().text;
        QCOMPARE(concatenated, cli_text_);
        QVERIFY2(child<QTextBrowser>(window_.get(), "messageView")->toPlainText().contains(cli_text_.left(20)),
                 qPrintable(child<QTextBrowser>(window_.get(), "messageView")->toPlainText()));
        const QJsonObject stats = lastReplyStats();
        QCOMPARE(stats.value("generated_tokens").toInt(), tokens.size());
        QVERIFY(stats.value("prompt_tokens").toInt() > 5);
        QVERIFY(stats.value("ttft_ms").toDouble() > 0);
        QVERIFY(snapshotsChecked >= 1);

        // After the reply its full blocks stay in the prefix cache for the next turn (the partial
        // last block is freed): the map equals a fresh pool snapshot.
        const KvSnapshotData snap = freshSnapshot();
        verifyMapEquals(*window_->kvModel(), snap);
        const int held = stats.value("prompt_tokens").toInt() + stats.value("generated_tokens").toInt() - 1;
        QCOMPARE(window_->kvModel()->totals().usedBlocks, held / 16);
        QCOMPARE(window_->kvModel()->totals().cachedOnlyBlocks, held / 16);
        first_conversation_ = window_->chatPanel()->currentConversation();
        first_reply_ = cli_text_;

        // A measurement, reported, not asserted against a threshold; the GUI thread
        // must have kept ticking while the engine worked.
        QVERIFY2(ticks > 3, "the GUI event loop did not run during generation");
        const QString report =
            QStringLiteral("event-loop latency while generating: max gap %1 ms over %2 ticks in %3 s")
                .arg(maxGapMs, 0, 'f', 1)
                .arg(ticks)
                .arg(seconds, 0, 'f', 2);
        qInfo().noquote() << report;
        QDir().mkpath(screenshotDir());
        QFile f(screenshotDir() + QStringLiteral("/event_loop_latency.txt"));
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(report.toUtf8() + '\n');
    }

    void secondTurnReusesTheConversationKv() {
        const QJsonObject first = lastReplyStats();
        typeAndSend(QStringLiteral("And of Germany?"));
        QVERIFY(waitForReply());
        const QJsonObject stats = lastReplyStats();
        QVERIFY(stats.value("generated_tokens").toInt() > 0);
        // The first turn's whole blocks (its prompt and reply, as the template renders
        // them again) came from the prefix cache.
        const int firstHeld = first.value("prompt_tokens").toInt() + first.value("generated_tokens").toInt() - 1;
        QVERIFY(firstHeld >= 16);
        QCOMPARE(stats.value("cached_prompt_tokens").toInt(), firstHeld / 16 * 16);
    }

    void regenerateReplacesTheLastReply() {
        const qint64 id = window_->chatPanel()->currentConversation();
        const auto before = window_->chatStore()->messages(id);
        QVERIFY(before.size() >= 2);
        QTest::mouseClick(child<QPushButton>(window_.get(), "regenerateButton"), Qt::LeftButton);
        QVERIFY(window_->chatPanel()->isGenerating());
        QVERIFY(waitForReply());
        const auto after = window_->chatStore()->messages(id);
        QCOMPARE(after.size(), before.size());
        QVERIFY(after.last().created > before.last().created);               // a new reply replaced the old one
        QCOMPARE(after[after.size() - 2].id, before[before.size() - 2].id);  // the user's turn stays
        QCOMPARE(after.last().content, before.last().content);               // greedy: the same text again
        // The prompt's whole blocks were still in the prefix cache.
        const QJsonObject stats = lastReplyStats();
        QVERIFY2(stats.value("cached_prompt_tokens").toInt() >= stats.value("prompt_tokens").toInt() - 16,
                 qPrintable(QString::fromUtf8(QJsonDocument(stats).toJson())));
    }

    void stopHaltsMidReply() {
        QVERIFY(window_->chatPanel()->newConversation() > 0);
        setGreedy(1000);
        QSignalSpy tokens(window_->worker(), &EngineWorker::tokenGenerated);
        typeAndSend(QStringLiteral("Write a very long story about a dragon who learns to paint."));
        QTRY_VERIFY_WITH_TIMEOUT(tokens.size() >= 5, kReplyTimeoutMs);
        const int atStop = tokens.size();
        QTest::mouseClick(child<QPushButton>(window_.get(), "stopButton"), Qt::LeftButton);
        QVERIFY(waitForReply());
        const QJsonObject stats = lastReplyStats();
        QCOMPARE(stats.value("stop_reason").toString(), QStringLiteral("cancelled"));
        // Within one step: only tokens already in flight when Stop was clicked arrive after it.
        QVERIFY2(
            stats.value("generated_tokens").toInt() <= atStop + 4,
            qPrintable(
                QStringLiteral("%1 tokens after stop at %2").arg(stats.value("generated_tokens").toInt()).arg(atStop)));
        QVERIFY(child<QPushButton>(window_.get(), "sendButton")->isEnabled());
        QVERIFY(!child<QPushButton>(window_.get(), "stopButton")->isEnabled());
    }

    void conversationSurvivesRestart() {
        window_->findChild<QDockWidget*>(QStringLiteral("kvDock"))->hide();  // the layout persists too
        window_->close();
        window_.reset();
        window_ = openWindow(false);
        ChatPanel* chat = window_->chatPanel();
        const int row = chat->conversationModel()->rowOf(first_conversation_);
        QVERIFY(row >= 0);
        auto* list = child<QListView>(window_.get(), "conversationList");
        list->setCurrentIndex(chat->conversationModel()->index(row));
        QCOMPARE(chat->currentConversation(), first_conversation_);
        QVERIFY(window_->findChild<QDockWidget*>(QStringLiteral("kvDock"))->isHidden());
        QVERIFY(!window_->findChild<QDockWidget*>(QStringLiteral("plotsDock"))->isHidden());
        window_->findChild<QDockWidget*>(QStringLiteral("kvDock"))->show();  // for the screenshots
        const QString shown = child<QTextBrowser>(window_.get(), "messageView")->toPlainText();
        QVERIFY2(shown.contains(kPrompt), qPrintable(shown));
        QVERIFY2(shown.contains(first_reply_.left(20)), qPrintable(shown));
        QVERIFY2(shown.contains(QStringLiteral("TTFT")), qPrintable(shown));  // the stats line
        const auto messages = window_->chatStore()->messages(first_conversation_);
        QCOMPARE(messages.size(), 4);
        QCOMPARE(messages[1].content, first_reply_);
        QVERIFY(!messages[1].samplingJson.isEmpty());
        // Load the model again for the following tests.
        window_->openModel(model_path_);
        QTRY_VERIFY_WITH_TIMEOUT(window_->modelPanel()->isLoaded(), kLoadTimeoutMs);
    }

    void twoConversationsGenerateAtOnceAndShareThePool() {
        setGreedy(64);
        // Room for the map in the screenshots.
        auto* kvDock = window_->findChild<QDockWidget*>(QStringLiteral("kvDock"));
        auto* plotsDock = window_->findChild<QDockWidget*>(QStringLiteral("plotsDock"));
        window_->resizeDocks({kvDock, plotsDock}, {420, 380}, Qt::Vertical);
        QSet<qint64> seenTogether;
        auto conn = connect(window_->worker(), &EngineWorker::kvSnapshotReady, this, [&](const KvSnapshotData& snap) {
            verifyMapEquals(*window_->kvModel(), snap);
            QSet<qint64> owners;
            for (int i = 0; i < window_->kvModel()->rowCount(); ++i) {
                const qint64 c =
                    window_->kvModel()->data(window_->kvModel()->index(i), KvMapModel::ConversationRole).toLongLong();
                if (c >= 0) owners.insert(c);
            }
            if (owners.size() == 2 && seenTogether.isEmpty()) {
                seenTogether = owners;
                // The screenshots of the map and the window, with both conversations in the pool.
                saveScreenshot(window_->kvPanel(), QStringLiteral("kv_map_panel"));
                saveScreenshot(window_.get(), QStringLiteral("main_window"));
            }
        });
        QVERIFY(window_->chatPanel()->newConversation() > 0);
        const qint64 a = window_->chatPanel()->currentConversation();
        typeAndSend(QStringLiteral("Write a story about a cat and a boat."));
        QVERIFY(window_->chatPanel()->newConversation() > 0);
        const qint64 b = window_->chatPanel()->currentConversation();
        typeAndSend(QStringLiteral("Write a story about a dog and a train."));
        QCOMPARE(window_->chatPanel()->generatingCount(), 2);
        QVERIFY(window_->chatPanel()->isGenerating(a));
        QVERIFY(QTest::qWaitFor([this] { return window_->chatPanel()->generatingCount() == 0; }, kReplyTimeoutMs));
        disconnect(conn);
        // While both generated, the map showed blocks of both conversations.
        QCOMPARE(seenTogether, (QSet<qint64>{a, b}));
        QCOMPARE(window_->chatStore()->messages(a).size(), 2);
        QCOMPARE(window_->chatStore()->messages(b).size(), 2);
        KvSnapshotData snap = freshSnapshot();
        verifyMapEquals(*window_->kvModel(), snap);

        // Screenshots of the other panels, with data in the plots.
        window_->plots()->replotNow();
        for (QDockWidget* dock : window_->findChildren<QDockWidget*>()) {
            dock->show();
            dock->raise();
        }
        QApplication::processEvents();
        saveScreenshot(window_->chatPanel(), QStringLiteral("chat_panel"));
        saveScreenshot(window_->modelPanel(), QStringLiteral("model_panel"));
        saveScreenshot(window_->samplingPanel(), QStringLiteral("sampling_panel"));
        saveScreenshot(window_->plots(), QStringLiteral("performance_plots"));
        for (const QString& name : window_->plots()->plotNames())
            QVERIFY(window_->plots()->exportPng(
                name, screenshotDir() + QStringLiteral("/plot_") + name + QStringLiteral(".png"), nullptr));

        // Deleting every conversation returns every block, in the engine and in the map.
        QSignalSpy deleted(window_->chatPanel(), &ChatPanel::conversationDeleted);
        while (window_->chatPanel()->currentConversation() != 0) {
            const int before = deleted.size();
            QTest::mouseClick(child<QPushButton>(window_.get(), "deleteConversationButton"), Qt::LeftButton);
            QCOMPARE(deleted.size(), before + 1);
        }
        QCOMPARE(window_->chatPanel()->conversationModel()->rowCount(), 0);
        snap = freshSnapshot();
        verifyMapEquals(*window_->kvModel(), snap);
        QCOMPARE(window_->kvModel()->totals().usedBlocks, 0);
        for (const KvBlockData& block : snap.blocks) QCOMPARE(block.refcount, 0);
    }

    void servingPanelRunsAWorkload() {
        ServingPanel* panel = window_->servingPanel();
        ServeBenchSettings settings;
        settings.requests = 8;
        settings.inputLen = 64;
        settings.outputLen = 8;
        settings.lenJitter = 0;
        settings.sharedPrefix = 0.5;
        settings.maxConcurrency = 2;  // later requests arrive after the shared prefix is cached
        panel->setSettings(settings);
        window_->applyLayout(LayoutPreset::benchmark);  // Serving wide, for the screenshot
        QSignalSpy steps(window_->worker(), &EngineWorker::serveBenchStep);
        QTest::mouseClick(child<QPushButton>(window_.get(), "serveRunButton"), Qt::LeftButton);
        QVERIFY(panel->isRunning());
        QVERIFY(QTest::qWaitFor([panel] { return !panel->isRunning(); }, kReplyTimeoutMs));
        const ServeBenchSummary& summary = panel->lastSummary();
        QCOMPARE(summary.completed, 8);
        QVERIFY(summary.requestThroughput > 0);
        QVERIFY(summary.prefixHitRate > 0);  // later requests reuse the shared 32-token prefix's blocks
        QVERIFY(steps.size() > 0);
        panel->replotNow();
        QCOMPARE(panel->plot(QStringLiteral("serve_queue"))->graph(0)->dataCount(), steps.size());
        // The TTFT histogram counts every request once.
        auto* ttft = static_cast<QCPBars*>(panel->plot(QStringLiteral("serve_ttft_hist"))->plottable(0));
        double requests = 0;
        for (auto it = ttft->data()->constBegin(); it != ttft->data()->constEnd(); ++it) requests += it->value;
        QCOMPARE(requests, 8.0);
        QVERIFY(child<QTextBrowser>(window_.get(), "serveSummary")->toPlainText().contains(QStringLiteral("TTFT")));
        QTest::qWait(100);  // the panel's layout settles beside its plots
        saveScreenshot(panel, QStringLiteral("serving_panel"));
        window_->applyLayout(MainWindow::kDefaultLayout);
        // The chat still works afterwards.
        QVERIFY(child<QPushButton>(window_.get(), "sendButton")->isEnabled());
    }

    // Beam search from the Decoding panel: the reply is lumen-cli's best hypothesis for the
    // same request, the panel lists the hypotheses and the tree of beams, and every beam's
    // sequence is freed afterwards.
    void beamSearchReplyEqualsCliAndShowsTheTree() {
        window_->chatPanel()->newConversation();
        setGreedy(kMaxTokens);
        window_->findChild<QDockWidget*>(QStringLiteral("decodingDock"))->raise();
        child<QComboBox>(window_.get(), "strategyCombo")->setCurrentIndex(1);
        child<QSpinBox>(window_.get(), "beamWidthSpin")->setValue(3);
        child<QDoubleSpinBox>(window_.get(), "lengthPenaltySpin")->setValue(1.0);
        QSignalSpy searches(window_->worker(), &EngineWorker::beamSearchFinished);
        typeAndSend(kPrompt);
        QVERIFY(waitForReply());
        QCOMPARE(searches.size(), 1);
        const BeamSearchData search = searches.at(0).at(0).value<BeamSearchData>();

        QProcess cli;
        cli.start(QStringLiteral(LUMEN_CLI_PATH),
                  {QStringLiteral("generate"), QStringLiteral("--model"), model_path_, QStringLiteral("--chat"),
                   QStringLiteral("--prompt"), kPrompt, QStringLiteral("--max-tokens"), QString::number(kMaxTokens),
                   QStringLiteral("--beams"), QStringLiteral("3"), QStringLiteral("--beam-return"), QStringLiteral("3"),
                   QStringLiteral("--json")});
        QVERIFY(cli.waitForFinished(kReplyTimeoutMs));
        QCOMPARE(cli.exitCode(), 0);
        const QJsonObject expected = QJsonDocument::fromJson(cli.readAllStandardOutput()).object();
        const QString bestText = expected.value("hypotheses").toArray().at(0).toObject().value("text").toString();
        const auto messages = window_->chatStore()->messages(window_->chatPanel()->currentConversation());
        QVERIFY(!messages.isEmpty());
        QCOMPARE(messages.last().content, bestText);
        QVERIFY(messages.last().samplingJson.contains(QStringLiteral("beam_width")));
        QCOMPARE(search.hypotheses.size(), 3);
        QCOMPARE(search.hypotheses.at(0).text, bestText);
        QCOMPARE(search.steps, expected.value("stats").toObject().value("steps").toInt());

        auto* hypotheses = child<QTreeWidget>(window_.get(), "beamHypotheses");
        QCOMPARE(hypotheses->topLevelItemCount(), 3);
        auto* tree = child<QTreeWidget>(window_.get(), "beamTree");
        int nodes = 0;
        for (const auto& step : search.tree) nodes += int(step.size());
        int items = 0;
        for (QTreeWidgetItemIterator it(tree); *it; ++it) ++items;
        QCOMPARE(items, nodes + 1);  // the prompt, then one item per beam per step
        QVERIFY(child<QLabel>(window_.get(), "beamSummaryLabel")->text().contains(QStringLiteral("forks")));
        // No sequence outlives the search.
        const KvSnapshotData snap = freshSnapshot();
        for (const KvBlockData& b : snap.blocks) QVERIFY(b.owners.isEmpty());
        saveScreenshot(window_->decodingPanel(), QStringLiteral("decoding_panel"));

        window_->decodingPanel()->setBeamSettings({});  // back to sampling for the other tests
        QCOMPARE(window_->decodingPanel()->beamSettings().width, 0);
    }

    // Contrastive decoding with an early-exit amateur: the reply is lumen-cli's for the same
    // settings, and the panel lists every token with both models' probabilities.
    void contrastiveReplyEqualsCliAndShowsTheTrace() {
        window_->chatPanel()->newConversation();
        setGreedy(kMaxTokens);
        window_->findChild<QDockWidget*>(QStringLiteral("decodingDock"))->raise();
        child<QComboBox>(window_.get(), "strategyCombo")->setCurrentIndex(2);
        child<QComboBox>(window_.get(), "amateurKindCombo")->setCurrentIndex(0);
        child<QSpinBox>(window_.get(), "amateurLayersSpin")->setValue(8);
        child<QDoubleSpinBox>(window_.get(), "contrastiveAlphaSpin")->setValue(0.1);
        child<QDoubleSpinBox>(window_.get(), "contrastiveLambdaSpin")->setValue(1.0);
        QSignalSpy results(window_->worker(), &EngineWorker::contrastiveFinished);
        typeAndSend(kPrompt);
        QVERIFY(waitForReply());
        QCOMPARE(results.size(), 1);
        const ContrastiveData data = results.at(0).at(0).value<ContrastiveData>();

        QProcess cli;
        cli.start(QStringLiteral(LUMEN_CLI_PATH),
                  {QStringLiteral("generate"), QStringLiteral("--model"), model_path_, QStringLiteral("--chat"),
                   QStringLiteral("--prompt"), kPrompt, QStringLiteral("--max-tokens"), QString::number(kMaxTokens),
                   QStringLiteral("--contrastive-layers"), QStringLiteral("8"), QStringLiteral("--json")});
        QVERIFY(cli.waitForFinished(kReplyTimeoutMs));
        QCOMPARE(cli.exitCode(), 0);
        const QJsonObject expected = QJsonDocument::fromJson(cli.readAllStandardOutput()).object();
        const auto messages = window_->chatStore()->messages(window_->chatPanel()->currentConversation());
        QVERIFY(!messages.isEmpty());
        QCOMPARE(messages.last().content, expected.value("text").toString());
        QVERIFY(messages.last().samplingJson.contains(QStringLiteral("contrastive_amateur")));
        QCOMPARE(data.tokens.size(), expected.value("ids").toArray().size());
        QCOMPARE(data.differs, expected.value("contrastive").toObject().value("differs_from_greedy").toInt());
        auto* trace = child<QTreeWidget>(window_.get(), "contrastiveTrace");
        QCOMPARE(trace->topLevelItemCount(), data.tokens.size());
        QVERIFY(trace->topLevelItem(0)->childCount() >= 1);  // the candidates under each token
        QVERIFY(
            child<QLabel>(window_.get(), "contrastiveSummaryLabel")->text().contains(QStringLiteral("first 8 layers")));
        const KvSnapshotData snap = freshSnapshot();
        for (const KvBlockData& b : snap.blocks) QVERIFY(b.owners.isEmpty());
        saveScreenshot(window_->decodingPanel(), QStringLiteral("decoding_contrastive"));
        child<QComboBox>(window_.get(), "strategyCombo")->setCurrentIndex(0);  // back to sampling
        QVERIFY(!window_->decodingPanel()->contrastiveSettings().enabled);
    }

    // Speculative decoding with the sampling chain (greedy): prompt lookup in the serving
    // core and a draft model (the model itself) give lumen-cli's plain greedy reply, and the
    // panel and the reply's stats show the acceptance.
    void speculativeRepliesEqualGreedyAndShowAcceptance() {
        const QString prompt = QStringLiteral("Repeat this line three times: the cat sat on the mat by the door.");
        const QString expected = cliGreedyText({QStringLiteral("generate"), QStringLiteral("--model"), model_path_,
                                                QStringLiteral("--chat"), QStringLiteral("--prompt"), prompt,
                                                QStringLiteral("--max-tokens"), QString::number(kMaxTokens)});
        window_->findChild<QDockWidget*>(QStringLiteral("decodingDock"))->raise();
        child<QComboBox>(window_.get(), "strategyCombo")->setCurrentIndex(0);
        child<QSpinBox>(window_.get(), "draftTokensSpin")->setValue(4);
        child<QLineEdit>(window_.get(), "draftPathEdit")->setText(model_path_);
        for (int mode : {1, 2}) {  // prompt lookup, then a draft model
            window_->chatPanel()->newConversation();
            setGreedy(kMaxTokens);
            child<QComboBox>(window_.get(), "speculationCombo")->setCurrentIndex(mode);
            QSignalSpy details(window_->worker(), &EngineWorker::decodingStatsReady);
            typeAndSend(prompt);
            QVERIFY(waitForReply());
            QCOMPARE(window_->chatPanel()->streamedText(), expected);
            QCOMPARE(details.size(), 1);
            const DecodingStatsData d = details.at(0).at(0).value<DecodingStatsData>();
            QVERIFY2(d.drafted > 0 && d.accepted > 0, qPrintable(d.mode));
            QVERIFY2(d.mode.contains(QStringLiteral("in the serving core")), qPrintable(d.mode));  // both draft sources
            int accepted_by_position = 0;
            for (int n : d.acceptedAtPosition) accepted_by_position += n;
            QCOMPARE(accepted_by_position, d.accepted);
            if (mode == 2) QVERIFY(d.draftMs > 0);
            const QJsonObject stats = lastReplyStats();
            QCOMPARE(stats.value("drafted").toInt(), d.drafted);
            QVERIFY(
                child<QLabel>(window_.get(), "speculationSummaryLabel")->text().contains(QStringLiteral("accepted")));
        }
        // Both replies' acceptance reached the Decoding plot.
        const QString plotCsv = window_->plots()->csv(QStringLiteral("decoding"));
        QVERIFY2(plotCsv.count(QLatin1Char('\n')) >= 3, qPrintable(plotCsv));
        saveScreenshot(window_->decodingPanel(), QStringLiteral("decoding_speculation"));
        child<QComboBox>(window_.get(), "speculationCombo")->setCurrentIndex(0);
        QCOMPARE(window_->decodingPanel()->speculationSettings().mode, int(SpeculationSettings::off));
    }

    // Early exit (lossy) forced at layer 10: the reply equals lumen-cli's with the same rule,
    // and the panel counts every decode step at 10 layers.
    void earlyExitReplyShowsTheLayersRun() {
        window_->chatPanel()->newConversation();
        setGreedy(kMaxTokens);
        window_->findChild<QDockWidget*>(QStringLiteral("decodingDock"))->raise();
        child<QComboBox>(window_.get(), "strategyCombo")->setCurrentIndex(3);
        child<QDoubleSpinBox>(window_.get(), "exitEntropySpin")->setValue(20.0);
        child<QSpinBox>(window_.get(), "exitFirstLayerSpin")->setValue(10);
        child<QSpinBox>(window_.get(), "exitEverySpin")->setValue(1);
        typeAndSend(kPrompt);
        QVERIFY(waitForReply());
        const QString expected = cliGreedyText(
            {QStringLiteral("generate"), QStringLiteral("--model"), model_path_, QStringLiteral("--chat"),
             QStringLiteral("--prompt"), kPrompt, QStringLiteral("--max-tokens"), QString::number(kMaxTokens),
             QStringLiteral("--early-exit-entropy"), QStringLiteral("20"), QStringLiteral("--early-exit-first-layer"),
             QStringLiteral("10"), QStringLiteral("--early-exit-every"), QStringLiteral("1")});
        QCOMPARE(window_->chatPanel()->streamedText(), expected);
        auto* table = child<QTreeWidget>(window_.get(), "exitLayersTable");
        QCOMPARE(table->topLevelItemCount(), 1);
        QCOMPARE(table->topLevelItem(0)->text(0), QStringLiteral("10"));
        QCOMPARE(table->topLevelItem(0)->text(1).toInt(), lastReplyStats().value("generated_tokens").toInt() - 1);
        QVERIFY(child<QLabel>(window_.get(), "exitSummaryLabel")->text().contains(QStringLiteral("lossy")));
        saveScreenshot(window_->decodingPanel(), QStringLiteral("decoding_early_exit"));
        child<QComboBox>(window_.get(), "strategyCombo")->setCurrentIndex(0);
        QVERIFY(!window_->decodingPanel()->earlyExitSettings().enabled);
    }

    // Load-time quantization from the Model panel: the estimate names the format and
    // predicts the loaded weights' size exactly, and the reply equals lumen-cli's with
    // --weights for the same format. Then the model is loaded as stored again.
    void modelPanelLoadsWithQuantizedWeights() {
        auto* weights = child<QComboBox>(window_.get(), "weightsCombo");
        weights->setCurrentIndex(weights->findData(QStringLiteral("q8_0")));
        QVERIFY(window_->modelPanel()->estimateText().contains(QStringLiteral("(q8_0)")));
        qint64 predicted = 0;
        for (const auto& [name, bytes] : window_->modelPanel()->summary().weightBytesByFormat)
            if (name == QLatin1String("q8_0")) predicted = bytes;
        QVERIFY(predicted > window_->modelPanel()->summary().weightBytes);  // the file is Q4_1
        QSignalSpy loaded(window_->worker(), &EngineWorker::modelLoaded);
        QTest::mouseClick(child<QPushButton>(window_.get(), "loadModelButton"), Qt::LeftButton);
        QVERIFY(loaded.wait(kLoadTimeoutMs));
        QCOMPARE(loaded.at(0).at(0).value<ModelSummary>().weightBytes, predicted);
        window_->chatPanel()->newConversation();
        setGreedy(kMaxTokens);
        typeAndSend(kPrompt);
        QVERIFY(waitForReply());
        const QString expected =
            cliGreedyText({QStringLiteral("generate"), QStringLiteral("--model"), model_path_, QStringLiteral("--chat"),
                           QStringLiteral("--prompt"), kPrompt, QStringLiteral("--max-tokens"),
                           QString::number(kMaxTokens), QStringLiteral("--weights"), QStringLiteral("q8_0")});
        QCOMPARE(window_->chatPanel()->streamedText(), expected);

        // The Quantization panel's quick evaluation: against the file's own (Q4_1) weights.
        window_->findChild<QDockWidget*>(QStringLiteral("quantizationDock"))->raise();
        child<QSpinBox>(window_.get(), "evalContextSpin")->setValue(128);
        child<QSpinBox>(window_.get(), "evalChunksSpin")->setValue(2);
        child<QLineEdit>(window_.get(), "evalTextEdit")
            ->setText(QStringLiteral(LUMEN_TEST_DATA_DIR "/eval/cc0-1.0.txt"));
        QSignalSpy evaluated(window_->worker(), &EngineWorker::quantEvalFinished);
        QTest::mouseClick(child<QPushButton>(window_.get(), "evaluateButton"), Qt::LeftButton);
        QVERIFY(evaluated.wait(kReplyTimeoutMs));
        const QuantEvalData q8 = evaluated.at(0).at(0).value<QuantEvalData>();
        QCOMPARE(q8.format, QStringLiteral("q8_0, KV f16"));
        QVERIFY(q8.hasReference);
        QVERIFY(q8.kldMean > 0 && q8.top1 > 0.5);
        QVERIFY(q8.perplexity > 1);
        // Memory: the backend holds at least the predicted weights and KV pool; the process more.
        QVERIFY(q8.predictedBytes > q8.weightBytes);
        QVERIFY2(q8.backendBytes >= q8.predictedBytes,
                 qPrintable(QStringLiteral("%1 < %2").arg(q8.backendBytes).arg(q8.predictedBytes)));
        QVERIFY(q8.processRssBytes > 0);
        QVERIFY(!q8.tensors.isEmpty());
        for (const TensorErrorData& t : q8.tensors) {
            QCOMPARE(t.type, QStringLiteral("q8_0"));
            if (t.originalType == t.type)
                QCOMPARE(t.nmse, 0.0);  // already q8_0 in the file (the embedding): kept as it was
            else
                QVERIFY2(t.nmse > 0 && t.nmse < 0.05, qPrintable(t.name));
        }
        QCOMPARE(child<QTreeWidget>(window_.get(), "tensorErrorTable")->topLevelItemCount(), q8.tensors.size());
        QVERIFY(child<QCustomPlot>(window_.get(), "tensorErrorHistogram")->plottable(0)->interface1D()->dataCount() >
                0);
        saveScreenshot(window_->quantizationPanel(), QStringLiteral("quantization_panel"));

        weights->setCurrentIndex(0);  // as stored, for the tests after this one
        // Device "auto": the GPU when one is usable, else the CPU; the status names the one in use.
        auto* device = child<QComboBox>(window_.get(), "deviceCombo");
        device->setCurrentIndex(device->findData(QStringLiteral("auto")));
        QSignalSpy reloaded(window_->worker(), &EngineWorker::modelLoaded);
        QTest::mouseClick(child<QPushButton>(window_.get(), "loadModelButton"), Qt::LeftButton);
        QVERIFY(reloaded.wait(kLoadTimeoutMs));
#ifdef LUMEN_HAVE_CUDA
        const QString expected_backend =
            lumen::cuda::probe_devices().usable ? QStringLiteral("cuda") : QStringLiteral("cpu");
#else
        const QString expected_backend = QStringLiteral("cpu");
#endif
        QCOMPARE(reloaded.at(0).at(0).value<ModelSummary>().backend, expected_backend);
        QVERIFY(
            child<QLabel>(window_.get(), "modelStatusLabel")->text().contains(expected_backend.toUpper() + " backend"));
        device->setCurrentIndex(device->findData(QStringLiteral("cpu")));
        // As stored there is no reference: perplexity only, and a second row to compare.
        QSignalSpy again(window_->worker(), &EngineWorker::quantEvalFinished);
        QTest::mouseClick(child<QPushButton>(window_.get(), "evaluateButton"), Qt::LeftButton);
        QVERIFY(again.wait(kReplyTimeoutMs));
        const QuantEvalData stored = again.at(0).at(0).value<QuantEvalData>();
        QVERIFY(!stored.hasReference);
        QVERIFY(stored.format.startsWith(QStringLiteral("as stored")));
        QCOMPARE(child<QTreeWidget>(window_.get(), "quantComparisonTable")->topLevelItemCount(), 2);
    }

    // The calibrated, mixed-precision load with a quantized KV cache, all chosen in the
    // Model panel: the estimate predicts the weights exactly, GPTQ's per-matrix errors
    // reach the Quantization panel, and the evaluation compares against the file's
    // weights with an f16 KV cache. A KV format the heads cannot hold is a clear error.
    void modelPanelLoadsCalibratedMixedWeightsWithQuantizedKv() {
        auto* weights = child<QComboBox>(window_.get(), "weightsCombo");
        auto* mix_type = child<QComboBox>(window_.get(), "weightsMixTypeCombo");
        auto* kv = child<QComboBox>(window_.get(), "kvTypeCombo");
        // Whatever happens here, the tests after this one get the default settings back.
        struct Restore {
            std::function<void()> fn;
            ~Restore() { fn(); }
        } restore{[&] {
            weights->setCurrentIndex(0);
            mix_type->setCurrentIndex(0);
            child<QCheckBox>(window_.get(), "weightsMix_first")->setChecked(true);
            child<QCheckBox>(window_.get(), "gptqCheck")->setChecked(false);
            kv->setCurrentText(QStringLiteral("f16"));
        }};
        weights->setCurrentIndex(weights->findData(QStringLiteral("int4-g64")));
        mix_type->setCurrentIndex(mix_type->findData(QStringLiteral("q8_0")));
        child<QCheckBox>(window_.get(), "weightsMix_first")->setChecked(false);
        const QString mix = QStringLiteral("q8_0:embd,output,last");
        QVERIFY2(window_->modelPanel()->estimateText().contains(QStringLiteral("(int4-g64, %1)").arg(mix)),
                 qPrintable(window_->modelPanel()->estimateText()));
        const qint64 predicted =
            predicted_weight_bytes(window_->modelPanel()->summary().weightShapes, lumen::QuantScheme::int4_g64,
                                   lumen::parse_quant_mix(mix.toStdString()).value());
        kv->setCurrentText(QStringLiteral("q8_0"));
        child<QCheckBox>(window_.get(), "gptqCheck")->setChecked(true);
        child<QLineEdit>(window_.get(), "calibrationTextEdit")
            ->setText(QStringLiteral(LUMEN_TEST_DATA_DIR "/eval/cc0-1.0.txt"));
        child<QSpinBox>(window_.get(), "calibrationSamplesSpin")->setValue(1);
        const LoadSettings settings = window_->modelPanel()->loadSettings();
        QCOMPARE(settings.weightsMix, mix);
        QVERIFY(settings.gptq);
        QCOMPARE(settings.kvType, QStringLiteral("q8_0"));
        QSignalSpy loaded(window_->worker(), &EngineWorker::modelLoaded);
        QTest::mouseClick(child<QPushButton>(window_.get(), "loadModelButton"), Qt::LeftButton);
        QVERIFY(loaded.wait(3 * kLoadTimeoutMs));
        QCOMPARE(loaded.at(0).at(0).value<ModelSummary>().weightBytes, predicted);
        // The KV map (its snapshot arrives after the load): a q8_0 pool takes 34 bytes per 32
        // values against f16's 64.
        auto* kv_panel = window_->findChild<KvMapPanel*>();
        QTRY_VERIFY_WITH_TIMEOUT(kv_panel->totalsText().contains(QStringLiteral("KV format q8_0: saves")), 10000);
        QVERIFY2(kv_panel->totalsText().contains(QStringLiteral("(47 %)")), qPrintable(kv_panel->totalsText()));

        QSignalSpy evaluated(window_->worker(), &EngineWorker::quantEvalFinished);
        QTest::mouseClick(child<QPushButton>(window_.get(), "evaluateButton"), Qt::LeftButton);
        QVERIFY(evaluated.wait(kReplyTimeoutMs));
        const QuantEvalData r = evaluated.at(0).at(0).value<QuantEvalData>();
        QCOMPARE(r.format, QStringLiteral("int4-g64 + %1 GPTQ, KV q8_0").arg(mix));
        QVERIFY(r.hasReference);
        QVERIFY(r.kldMean > 0);
        int with_gptq = 0;
        for (const TensorErrorData& t : r.tensors)
            if (t.gptqOutputError >= 0) {
                ++with_gptq;
                QVERIFY2(t.gptqOutputError < t.rtnOutputError, qPrintable(t.name));
                QVERIFY2(t.kernelOutputError > 0, qPrintable(t.name));
            }
        QCOMPARE(with_gptq, 30 * 7);  // every layer matrix: the last layer's go to q8_0, also a grid
        auto* table = child<QTreeWidget>(window_.get(), "tensorErrorTable");
        bool shown = false;
        for (int i = 0; i < table->topLevelItemCount(); ++i) shown |= !table->topLevelItem(i)->text(5).isEmpty();
        QVERIFY(shown);
        saveScreenshot(window_->quantizationPanel(), QStringLiteral("quantization_gptq"));

        // Back to as stored with an f16 KV cache, for the tests after this one.
        restore.fn();
        QSignalSpy reloaded(window_->worker(), &EngineWorker::modelLoaded);
        QTest::mouseClick(child<QPushButton>(window_.get(), "loadModelButton"), Qt::LeftButton);
        QVERIFY(reloaded.wait(kLoadTimeoutMs));
    }

    void brokenModelShowsErrorAndAppStaysUsable() {
        QVERIFY(window_->modelPanel()->isLoaded());
        QFile good(model_path_);
        QVERIFY(good.open(QIODevice::ReadOnly));
        const QString broken = dir_.filePath(QStringLiteral("truncated.gguf"));
        QFile out(broken);
        QVERIFY(out.open(QIODevice::WriteOnly));
        out.write(good.read(100000));
        out.close();
        window_->openModel(broken);
        QTRY_VERIFY_WITH_TIMEOUT(!window_->modelPanel()->errorText().isEmpty(), kLoadTimeoutMs);
        QVERIFY2(window_->modelPanel()->errorText().contains(QStringLiteral("truncated.gguf")),
                 qPrintable(window_->modelPanel()->errorText()));
        QVERIFY(child<QLabel>(window_.get(), "modelErrorLabel")->isVisible());
        // The previous model is still loaded and the app still chats.
        setGreedy(8);
        QVERIFY(window_->chatPanel()->newConversation() > 0);
        // Sent with the keyboard this time: Ctrl+Return in the input box.
        window_->activateWindow();
        QVERIFY(QTest::qWaitForWindowActive(window_.get()));
        auto* input = child<QPlainTextEdit>(window_.get(), "promptInput");
        input->setFocus();
        QTest::keyClicks(input, QStringLiteral("Hello"));
        QTest::keyClick(input, Qt::Key_Return, Qt::ControlModifier);
        QVERIFY(window_->chatPanel()->isGenerating());
        QCOMPARE(input->toPlainText(), QString());
        QVERIFY(waitForReply());
        QVERIFY(lastReplyStats().value("generated_tokens").toInt() > 0);
        // Loading the truncated file itself (not just inspecting it) fails the same way.
        LoadSettings settings = window_->modelPanel()->loadSettings();
        settings.path = broken;
        QSignalSpy failed(window_->worker(), &EngineWorker::loadFailed);
        QMetaObject::invokeMethod(
            window_->worker(), [w = window_->worker(), settings] { w->loadModel(settings); }, Qt::QueuedConnection);
        QVERIFY(QTest::qWaitFor([&] { return !failed.isEmpty(); }, kLoadTimeoutMs));
        QVERIFY(!failed.last().at(1).toString().isEmpty());
        QTRY_VERIFY_WITH_TIMEOUT(!window_->modelPanel()->isLoaded(), 10000);
        QVERIFY(!child<QPushButton>(window_.get(), "sendButton")->isEnabled());
    }

    void baseModelOpensInCompletionMode() {
        if (!QFile::exists(stories15MPath())) QSKIP("../shared/testdata/stories15M is not present");
        window_->openModel(stories15MPath());
        QTRY_VERIFY_WITH_TIMEOUT(window_->modelPanel()->isLoaded(), kLoadTimeoutMs);
        QVERIFY(window_->modelPanel()->summary().chatTemplate.isEmpty());
        QVERIFY(window_->chatPanel()->newConversation() > 0);
        QVERIFY2(child<QLabel>(window_.get(), "modeLabel")->text().contains(QStringLiteral("Completion")),
                 qPrintable(child<QLabel>(window_.get(), "modeLabel")->text()));
        setGreedy(32);
        typeAndSend(QStringLiteral("Once upon a time"));
        QVERIFY(waitForReply());
        const QString expected = cliGreedyText({QStringLiteral("generate"), QStringLiteral("--model"), stories15MPath(),
                                                QStringLiteral("--prompt"), QStringLiteral("Once upon a time"),
                                                QStringLiteral("--max-tokens"), QStringLiteral("32")});
        QCOMPARE(window_->chatPanel()->streamedText(), expected);
    }

    void cleanupTestCase() {
        window_.reset();
    }
};

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    QStandardPaths::setTestModeEnabled(true);
    QApplication::setOrganizationName(QStringLiteral("LumenTest"));
    QApplication::setApplicationName(QStringLiteral("lumen-workstation-test"));
    const QString model = default_model_path();
    if (!QFile::exists(model)) {
        std::printf("SKIP: the default model is not at %s (run installer/fetch-model.sh or set LUMEN_MODEL_PATH)\n",
                    qPrintable(model));
        return 77;
    }
    WorkstationTest test(model);
    return QTest::qExec(&test, argc, argv);
}

#include "test_ui_workstation.moc"
