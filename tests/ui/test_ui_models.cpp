// The workstation's Qt models under QAbstractItemModelTester, with QSignalSpy
// checks: the KV-map model (snapshot diffing, totals, owners), the KV-map view
// geometry at 64 and 20,000 blocks, the sampling presets (built-in and user,
// persisted), the sampling panel, the decoding panel's settings table, and the
// model panel's memory estimate.
#include <QAbstractItemModelTester>
#include <QApplication>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QLabel>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTest>

#include "decoding/decoding_panel.h"
#include "kvcache/kv_map_model.h"
#include "kvcache/kv_map_view.h"
#include "model/model_panel.h"
#include "sampling/sampling_panel.h"
#include "sampling/sampling_preset_model.h"

using namespace lumen::ui;

namespace {

// A pool of n blocks of 16 tokens; `used` maps block -> (sequence, tokens).
KvSnapshotData pool(int n, const QMap<int, QPair<int, int>>& used, qint64 bytesPerBlock = 1024) {
    KvSnapshotData s;
    s.blockSize = 16;
    s.bytesPerBlock = bytesPerBlock;
    s.blocks.resize(n);
    for (auto it = used.begin(); it != used.end(); ++it) {
        s.blocks[it.key()].refcount = 1;
        s.blocks[it.key()].owners = {it.value().first};
        s.blocks[it.key()].tokens = it.value().second;
    }
    return s;
}

}  // namespace

class ModelsTest : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() { QSettings().clear(); }

    void kvMapResetsOnNewPoolAndDiffsUpdates() {
        KvMapModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        QSignalSpy reset(&model, &QAbstractItemModel::modelReset);
        QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
        QSignalSpy totals(&model, &KvMapModel::totalsChanged);

        model.setSnapshot(pool(64, {}));
        QCOMPARE(reset.size(), 1);
        QCOMPARE(model.rowCount(), 64);
        QCOMPARE(totals.size(), 1);

        // Blocks 3 and 9 change: one dataChanged covering exactly 3..9.
        KvSnapshotData s = pool(64, {{3, {0, 16}}, {9, {0, 5}}});
        s.sequenceIds = {0};
        s.sequenceConversation = {42};
        model.setSnapshot(s);
        QCOMPARE(reset.size(), 1);
        QCOMPARE(changed.size(), 1);
        QCOMPARE(changed[0][0].toModelIndex().row(), 0);  // the owner map changed: every row may read differently
        model.setSnapshot(s);
        QCOMPARE(changed.size(), 1);  // identical snapshot: nothing emitted

        KvSnapshotData s2 = s;
        s2.blocks[9].tokens = 6;
        s2.blocks[12].refcount = 2;
        s2.blocks[12].owners = {0, 1};
        s2.blocks[12].tokens = 16;
        model.setSnapshot(s2);
        QCOMPARE(changed.size(), 2);
        QCOMPARE(changed[1][0].toModelIndex().row(), 9);
        QCOMPARE(changed[1][1].toModelIndex().row(), 12);

        QCOMPARE(model.data(model.index(9), KvMapModel::TokensRole).toInt(), 6);
        QCOMPARE(model.data(model.index(3), KvMapModel::ConversationRole).toLongLong(), qint64(42));
        QCOMPARE(model.data(model.index(4), KvMapModel::ConversationRole).toLongLong(), qint64(-1));
        QCOMPARE(model.data(model.index(12), KvMapModel::SharedRole).toBool(), true);
        QCOMPARE(model.data(model.index(12), KvMapModel::OwnersRole).toList().size(), 2);
        const QString tip = model.data(model.index(3), Qt::ToolTipRole).toString();
        QVERIFY2(tip.contains(QStringLiteral("Block 3")) && tip.contains(QStringLiteral("conversation 42")) &&
                     tip.contains(QStringLiteral("16 of 16")) && tip.contains(QStringLiteral("refcount: 1")),
                 qPrintable(tip));
        QVERIFY(model.data(model.index(0), Qt::ToolTipRole).toString().contains(QStringLiteral("free")));

        // Totals: 3 used blocks of 64, one shared; 16 + 6 + 16 tokens in 48 slots.
        const KvTotals& t = model.totals();
        QCOMPARE(t.totalBlocks, 64);
        QCOMPARE(t.usedBlocks, 3);
        QCOMPARE(t.sharedBlocks, 1);
        QCOMPARE(t.tokensHeld, qint64(38));
        QCOMPARE(t.usedBytes, qint64(3 * 1024));
        QCOMPARE(t.freeBytes, qint64(61 * 1024));
        QCOMPARE(t.utilization, 3.0 / 64);
        QCOMPARE(t.fragmentation, 1.0 - 38.0 / 48);

        // A different pool size resets.
        model.setSnapshot(pool(20000, {}));
        QCOMPARE(reset.size(), 2);
        QCOMPARE(model.rowCount(), 20000);
    }

    void kvMapViewFitsSmallAndLargePools() {
        for (int n : {64, 20000}) {
            KvMapModel model;
            QMap<int, QPair<int, int>> used;
            for (int b = 0; b < n; b += 3) used.insert(b, {b % 5, 1 + b % 16});
            used[0] = {0, 16};  // full, so its whole cell has the owner's colour
            model.setSnapshot(pool(n, used));
            KvMapPanel panel(&model);
            panel.resize(400, 400);
            panel.show();
            QVERIFY(QTest::qWaitForWindowExposed(&panel));
            KvMapView* view = panel.view();
            const int side = view->cellSize();
            QVERIFY(side >= 1);
            const int cols = view->width() / side;
            // Every block has a cell inside the view, and the last one is found where it is drawn.
            QVERIFY2(qint64(cols) * (view->height() / side) >= n, qPrintable(QString::number(n)));
            const int last = n - 1;
            QCOMPARE(view->blockAt(QPoint((last % cols) * side, (last / cols) * side)), last);
            QCOMPARE(view->blockAt(QPoint(0, 0)), 0);
            QCOMPARE(view->blockAt(QPoint(-1, 5)), -1);
            if (n == 64) QVERIFY(side >= 20);  // small pools get large, readable cells
            const QImage shot = view->grab().toImage();
            // Block 0 is full (sequence 0, no conversation: its request colour), block 1 free (grey).
            QCOMPARE(shot.pixelColor(side / 2, side - 2).rgb(), KvMapView::sequenceColor(0).rgb());
            QCOMPARE(shot.pixelColor(side + side / 2, side / 2), QColor(0xd0, 0xd0, 0xd0));
            QVERIFY(panel.totalsText().contains(QStringLiteral("of %1 blocks").arg(n)));
        }
    }

    void presetsBuiltInAndUser() {
        QSettings().remove(QStringLiteral("test/presets"));
        SamplingPresetModel model(QStringLiteral("test/presets"));
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        QCOMPARE(model.rowCount(), 3);
        QCOMPARE(model.preset(model.rowOf(QStringLiteral("Greedy"))).params.temperature, 0.f);
        QVERIFY(model.preset(model.rowOf(QStringLiteral("Creative"))).params.temperature >
                model.preset(model.rowOf(QStringLiteral("Balanced"))).params.temperature);

        QSignalSpy inserted(&model, &QAbstractItemModel::rowsInserted);
        QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
        QSignalSpy removed(&model, &QAbstractItemModel::rowsRemoved);
        lumen::SamplingParams p;
        p.temperature = 0.33f;
        p.top_k = 7;
        p.seed = 18446744073709551557ull;  // needs all 64 bits
        p.no_repeat_ngram = 3;
        QString error;
        const int row = model.savePreset(QStringLiteral("Mine"), p, 99, &error);
        QCOMPARE(row, 3);
        QCOMPARE(inserted.size(), 1);
        p.top_k = 8;
        QCOMPARE(model.savePreset(QStringLiteral("mine"), p, 100, &error), 3);  // same name: replaced
        QCOMPARE(changed.size(), 1);
        QCOMPARE(model.rowCount(), 4);
        QCOMPARE(model.savePreset(QStringLiteral("Greedy"), p, 1, &error), -1);
        QVERIFY(error.contains(QStringLiteral("built-in")));
        QCOMPARE(model.savePreset(QStringLiteral("  "), p, 1, &error), -1);
        QVERIFY(!model.removePreset(0, &error));
        QCOMPARE(removed.size(), 0);

        // Persisted: a new model reads the user preset back, every field intact.
        SamplingPresetModel again(QStringLiteral("test/presets"));
        const int r = again.rowOf(QStringLiteral("Mine"));
        QCOMPARE(r, 3);
        QCOMPARE(again.preset(r).params.top_k, 8);
        QCOMPARE(again.preset(r).params.temperature, 0.33f);
        QCOMPARE(again.preset(r).params.seed, 18446744073709551557ull);
        QCOMPARE(again.preset(r).params.no_repeat_ngram, 3);
        QCOMPARE(again.preset(r).maxTokens, 100);
        QVERIFY(!again.preset(r).builtIn);

        QVERIFY(model.removePreset(3, &error));
        QCOMPARE(removed.size(), 1);
        SamplingPresetModel third(QStringLiteral("test/presets"));
        QCOMPARE(third.rowCount(), 3);
    }

    void samplingPanelShowsTheChainAndAppliesPresets() {
        SamplingPanel panel;
        auto* chain = panel.findChild<QLabel*>(QStringLiteral("chainOrderLabel"));
        QVERIFY(chain);
        QStringList stages;
        for (const auto& s : lumen::sampling_chain_order()) stages << QString::fromStdString(s);
        QVERIFY2(chain->text().contains(stages.join(QStringLiteral(" → "))), qPrintable(chain->text()));
        for (const char* name :
             {"temperatureSpin", "topKSpin", "topPSpin", "minPSpin", "repeatPenaltySpin", "presencePenaltySpin",
              "frequencyPenaltySpin", "penaltyLastNSpin", "noRepeatNgramSpin", "maxTokensSpin"}) {
            QWidget* w = panel.findChild<QWidget*>(QString::fromLatin1(name));
            QVERIFY2(w && !w->toolTip().isEmpty(), name);
        }
        QSignalSpy changed(&panel, &SamplingPanel::settingsChanged);
        panel.applyPreset(panel.presetModel()->rowOf(QStringLiteral("Creative")));
        QVERIFY(changed.size() >= 1);
        const auto creative = SamplingPresetModel::builtInPresets()[2].params;
        QCOMPARE(panel.params().temperature, creative.temperature);
        QCOMPARE(panel.params().top_k, creative.top_k);
        panel.findChild<QDoubleSpinBox*>(QStringLiteral("temperatureSpin"))->setValue(0.0);
        QVERIFY(panel.params().greedy());
        // The current settings persist: a new panel starts where this one stopped.
        SamplingPanel next;
        QVERIFY(next.params().greedy());
        QCOMPARE(next.params().top_k, creative.top_k);
    }

    // The Decoding panel builds its controls from one table: every setting has its control,
    // a tooltip, a default, is enabled only for its strategy and persists.
    void decodingPanelDefaultsEnablingAndPersistence() {
        QSettings settings;
        settings.remove(QStringLiteral("decoding"));
        DecodingPanel panel;
        auto* strategy = panel.findChild<QComboBox*>(QStringLiteral("strategyCombo"));
        auto* speculation = panel.findChild<QComboBox*>(QStringLiteral("speculationCombo"));
        auto* amateurKind = panel.findChild<QComboBox*>(QStringLiteral("amateurKindCombo"));
        QVERIFY(strategy && speculation && amateurKind);
        QCOMPARE(strategy->count(), 4);
        auto enabled = [&panel](const char* name) {
            QWidget* w = panel.findChild<QWidget*>(QString::fromLatin1(name));
            if (!w) qWarning() << "no control" << name;
            return w && w->isEnabledTo(&panel);
        };
        for (const char* name : {"strategyCombo", "beamWidthSpin", "lengthPenaltySpin", "earlyStoppingCheck",
                                 "amateurKindCombo", "amateurLayersSpin", "amateurPathEdit", "contrastiveAlphaSpin",
                                 "contrastiveLambdaSpin", "speculationCombo", "draftTokensSpin", "draftPathEdit",
                                 "exitEntropySpin", "exitFirstLayerSpin", "exitEverySpin"}) {
            QWidget* w = panel.findChild<QWidget*>(QString::fromLatin1(name));
            QVERIFY2(w && !w->toolTip().isEmpty(), name);
        }
        // Defaults: the sampling chain without speculation; each strategy's own defaults.
        QCOMPARE(strategy->currentIndex(), 0);
        QCOMPARE(panel.beamSettings().width, 0);
        QCOMPARE(panel.beamSettings().lengthPenalty, 1.0);
        QVERIFY(panel.beamSettings().earlyStopping);
        QVERIFY(!panel.contrastiveSettings().enabled);
        QCOMPARE(panel.contrastiveSettings().amateurLayers, 8);
        QCOMPARE(panel.contrastiveSettings().alpha, 0.1);
        QCOMPARE(panel.speculationSettings().mode, 0);
        QCOMPARE(panel.speculationSettings().draftTokens, 4);
        QVERIFY(!panel.earlyExitSettings().enabled);
        QCOMPARE(panel.earlyExitSettings().firstLayer, 16);
        QVERIFY(enabled("speculationCombo") && !enabled("draftTokensSpin") && !enabled("beamWidthSpin"));

        // Enabled by strategy, and by the option they depend on.
        speculation->setCurrentIndex(1);  // prompt lookup: k, but no draft model
        QVERIFY(enabled("draftTokensSpin") && !enabled("draftPathEdit"));
        speculation->setCurrentIndex(2);
        QVERIFY(enabled("draftPathEdit"));
        QCOMPARE(panel.speculationSettings().mode, 2);
        strategy->setCurrentIndex(2);  // contrastive: the first-layers amateur by default
        QVERIFY(!enabled("speculationCombo") && !enabled("draftTokensSpin"));
        QVERIFY(enabled("contrastiveAlphaSpin") && enabled("amateurLayersSpin") && !enabled("amateurPathEdit"));
        QCOMPARE(panel.speculationSettings().mode, 0);  // speculation only with the sampling chain
        amateurKind->setCurrentIndex(1);
        QVERIFY(!enabled("amateurLayersSpin") && enabled("amateurPathEdit"));
        strategy->setCurrentIndex(3);
        QVERIFY(panel.earlyExitSettings().enabled && enabled("exitEverySpin") && !enabled("contrastiveAlphaSpin"));

        // set*Settings and the controls agree, and everything persists.
        BeamSettings beam;
        beam.width = 5;
        beam.lengthPenalty = 0.5;
        beam.earlyStopping = false;
        panel.setBeamSettings(beam);
        QCOMPARE(strategy->currentIndex(), 1);
        QVERIFY(enabled("beamWidthSpin") && !enabled("exitEverySpin"));
        panel.findChild<QSpinBox*>(QStringLiteral("exitFirstLayerSpin"))->setValue(9);
        DecodingPanel next;
        QCOMPARE(next.beamSettings().width, 5);
        QCOMPARE(next.beamSettings().lengthPenalty, 0.5);
        QVERIFY(!next.beamSettings().earlyStopping);
        QCOMPARE(next.earlyExitSettings().firstLayer, 9);
        QCOMPARE(next.findChild<QComboBox*>(QStringLiteral("speculationCombo"))->currentIndex(), 2);
        QCOMPARE(next.findChild<QComboBox*>(QStringLiteral("amateurKindCombo"))->currentIndex(), 1);

        ContrastiveSettings contrastive;
        contrastive.enabled = true;
        contrastive.amateurLayers = 3;
        contrastive.alpha = 0.25;
        contrastive.lambda = 2.0;
        next.setContrastiveSettings(contrastive);
        QCOMPARE(next.contrastiveSettings().amateurLayers, 3);
        QCOMPARE(next.contrastiveSettings().alpha, 0.25);
        QCOMPARE(next.beamSettings().width, 0);
        // A stored value out of range (a stale or hand-edited file) comes back in range.
        settings.setValue(QStringLiteral("decoding/strategy"), 99);
        settings.setValue(QStringLiteral("decoding/beamWidth"), 1000);
        DecodingPanel clamped;
        QCOMPARE(clamped.findChild<QComboBox*>(QStringLiteral("strategyCombo"))->currentIndex(), 3);
        QCOMPARE(clamped.findChild<QSpinBox*>(QStringLiteral("beamWidthSpin"))->value(), 16);
        settings.remove(QStringLiteral("decoding"));
    }

    void memoryEstimateUsesTheSeedFormula() {
        ModelSummary m;
        m.layers = 30;
        m.kvHeads = 3;
        m.headDim = 64;
        QCOMPARE(estimate_kv_bytes(m, 4096, 1, QStringLiteral("f16")), qint64(2) * 30 * 3 * 64 * 2 * 4096);
        QCOMPARE(estimate_kv_bytes(m, 4096, 2, QStringLiteral("f32")), qint64(2) * 30 * 3 * 64 * 4 * 4096 * 2);
        QCOMPARE(estimate_kv_bytes(m, 32, 1, QStringLiteral("q8_0")), qint64(2 * 30 * 3 * 64 * 32 * 34 / 32));
        // Every KV format: the engine's layout arithmetic (what the pool allocates).
        QCOMPARE(estimate_kv_bytes(m, 32, 1, QStringLiteral("q4_0")), qint64(2 * 30 * 3 * 64 * 32 * 18 / 32));
        QCOMPARE(estimate_kv_bytes(m, 32, 1, QStringLiteral("fp8-e4m3")), qint64(2 * 30 * 3 * 64 * 32));
        QCOMPARE(estimate_kv_bytes(m, 32, 1, QStringLiteral("bf16")), qint64(2 * 30 * 3 * 64 * 32 * 2));
        m.headDim = 48;  // q8_0 cannot hold heads of 48: no estimate (loading says why)
        QCOMPARE(estimate_kv_bytes(m, 32, 1, QStringLiteral("q8_0")), qint64(0));
    }
};

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    QStandardPaths::setTestModeEnabled(true);
    QApplication::setOrganizationName(QStringLiteral("LumenTest"));
    QApplication::setApplicationName(QStringLiteral("lumen-models-test"));
    ModelsTest test;
    return QTest::qExec(&test, argc, argv);
}

#include "test_ui_models.moc"
