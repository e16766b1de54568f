// DecodingPanel: the strategy controls (persisted in QSettings) and the view of
// the last beam search.
#include "decoding/decoding_panel.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QHeaderView>
#include <QLabel>
#include <QSettings>
#include <QSpinBox>
#include <QSplitter>
#include <QTreeWidget>
#include <QVBoxLayout>

namespace lumen::ui {

namespace {
const char* kStrategyKey = "decoding/strategy";
const char* kWidthKey = "decoding/beamWidth";
const char* kLengthPenaltyKey = "decoding/lengthPenalty";
const char* kEarlyStoppingKey = "decoding/earlyStopping";
enum Strategy { kSampling = 0, kBeamSearch = 1 };
}  // namespace

DecodingPanel::DecodingPanel(QWidget* parent) : QWidget(parent) {
    setObjectName(QStringLiteral("decodingPanel"));
    strategy_ = new QComboBox(this);
    strategy_->setObjectName(QStringLiteral("strategyCombo"));
    strategy_->addItem(tr("Sampling chain"));
    strategy_->addItem(tr("Beam search"));
    strategy_->setToolTip(tr("Sampling draws each token through the chain on the Sampling panel. Beam search keeps "
                             "the most likely continuations and returns the best by length-normalized log-probability; "
                             "its beams share the prompt's KV blocks."));
    width_ = new QSpinBox(this);
    width_->setObjectName(QStringLiteral("beamWidthSpin"));
    width_->setRange(1, 16);
    width_->setToolTip(tr("Beams kept per step. Width 1 is greedy decoding."));
    length_penalty_ = new QDoubleSpinBox(this);
    length_penalty_->setObjectName(QStringLiteral("lengthPenaltySpin"));
    length_penalty_->setRange(-2.0, 5.0);
    length_penalty_->setSingleStep(0.1);
    length_penalty_->setDecimals(2);
    length_penalty_->setToolTip(tr("A hypothesis scores sum(log p) / length^penalty. Above 0 favours longer replies; "
                                   "0 ranks by total log-probability."));
    early_stopping_ = new QCheckBox(tr("Stop when as many hypotheses as beams are finished"), this);
    early_stopping_->setObjectName(QStringLiteral("earlyStoppingCheck"));
    early_stopping_->setToolTip(tr("Off: search on while the best live beam could still beat the worst finished "
                                   "hypothesis."));

    summary_ = new QLabel(tr("No beam search yet."), this);
    summary_->setObjectName(QStringLiteral("beamSummaryLabel"));
    summary_->setWordWrap(true);
    hypotheses_ = new QTreeWidget(this);
    hypotheses_->setObjectName(QStringLiteral("beamHypotheses"));
    hypotheses_->setHeaderLabels({tr("#"), tr("score"), tr("Σ log p"), tr("tokens"), tr("end"), tr("text")});
    hypotheses_->setRootIsDecorated(false);
    hypotheses_->setSortingEnabled(false);
    tree_ = new QTreeWidget(this);
    tree_->setObjectName(QStringLiteral("beamTree"));
    tree_->setHeaderLabels({tr("token"), tr("Σ log p"), tr("step")});
    tree_->setIndentation(12);
    tree_->setToolTip(tr("Each node is a token a beam took; its children are the beams that continued it. A node "
                         "without children was pruned; ✔ marks a finished hypothesis."));
    auto* views = new QSplitter(Qt::Vertical, this);
    views->addWidget(hypotheses_);
    views->addWidget(tree_);
    views->setStretchFactor(1, 2);

    auto* form = new QFormLayout;
    form->addRow(tr("Strategy"), strategy_);
    form->addRow(tr("Beam width"), width_);
    form->addRow(tr("Length penalty"), length_penalty_);
    form->addRow(QString(), early_stopping_);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(summary_);
    layout->addWidget(views, 1);

    const QSettings settings;
    applying_ = true;
    strategy_->setCurrentIndex(settings.value(kStrategyKey, kSampling).toInt() == kBeamSearch ? kBeamSearch : kSampling);
    width_->setValue(settings.value(kWidthKey, 4).toInt());
    length_penalty_->setValue(settings.value(kLengthPenaltyKey, 1.0).toDouble());
    early_stopping_->setChecked(settings.value(kEarlyStoppingKey, true).toBool());
    applying_ = false;
    updateEnabled();

    connect(strategy_, &QComboBox::currentIndexChanged, this, [this] {
        updateEnabled();
        persist();
    });
    connect(width_, &QSpinBox::valueChanged, this, &DecodingPanel::persist);
    connect(length_penalty_, &QDoubleSpinBox::valueChanged, this, &DecodingPanel::persist);
    connect(early_stopping_, &QCheckBox::toggled, this, &DecodingPanel::persist);
}

BeamSettings DecodingPanel::beamSettings() const {
    BeamSettings s;
    s.width = strategy_->currentIndex() == kBeamSearch ? width_->value() : 0;
    s.lengthPenalty = length_penalty_->value();
    s.earlyStopping = early_stopping_->isChecked();
    return s;
}

void DecodingPanel::setBeamSettings(const BeamSettings& settings) {
    applying_ = true;
    strategy_->setCurrentIndex(settings.width >= 1 ? kBeamSearch : kSampling);
    if (settings.width >= 1) width_->setValue(settings.width);
    length_penalty_->setValue(settings.lengthPenalty);
    early_stopping_->setChecked(settings.earlyStopping);
    applying_ = false;
    updateEnabled();
    persist();
}

void DecodingPanel::persist() {
    if (applying_) return;
    QSettings settings;
    settings.setValue(kStrategyKey, strategy_->currentIndex());
    settings.setValue(kWidthKey, width_->value());
    settings.setValue(kLengthPenaltyKey, length_penalty_->value());
    settings.setValue(kEarlyStoppingKey, early_stopping_->isChecked());
}

void DecodingPanel::updateEnabled() {
    const bool beam = strategy_->currentIndex() == kBeamSearch;
    for (QWidget* w : std::initializer_list<QWidget*>{width_, length_penalty_, early_stopping_}) w->setEnabled(beam);
}

void DecodingPanel::showBeamSearch(const BeamSearchData& search) {
    summary_->setText(tr("Width %1 · %2 steps · %3 forks · KV blocks: %4 for the prompt, %5 at the peak "
                         "(about %6 without sharing) · %7 ms")
                          .arg(search.width)
                          .arg(search.steps)
                          .arg(search.forks)
                          .arg(search.promptBlocks)
                          .arg(search.peakBlocks)
                          .arg(search.width * search.promptBlocks + (search.peakBlocks - search.promptBlocks))
                          .arg(search.elapsedMs, 0, 'f', 1));

    hypotheses_->clear();
    for (int i = 0; i < search.hypotheses.size(); ++i) {
        const BeamHypothesisData& h = search.hypotheses[i];
        auto* item = new QTreeWidgetItem(hypotheses_);
        item->setText(0, QString::number(i + 1));
        item->setText(1, QString::number(h.score, 'f', 4));
        item->setText(2, QString::number(h.sumLogprob, 'f', 3));
        item->setText(3, QString::number(h.tokens));
        item->setText(4, h.finishReason);
        item->setText(5, h.text.simplified());
        item->setToolTip(5, h.text);
    }
    for (int c = 0; c < 5; ++c) hypotheses_->resizeColumnToContents(c);

    // One item per node; a node's parent is the item of its parent beam one step earlier.
    tree_->clear();
    auto* root = new QTreeWidgetItem(tree_, {tr("(prompt)")});
    QVector<QTreeWidgetItem*> previous;
    for (const QVector<BeamNodeData>& step : search.tree) {
        QVector<QTreeWidgetItem*> current;
        for (const BeamNodeData& n : step) {
            QTreeWidgetItem* parent = n.parent >= 0 && n.parent < previous.size() ? previous[n.parent] : root;
            auto* item = new QTreeWidgetItem(parent);
            const QString token = QString(n.token).replace(QLatin1Char('\n'), QStringLiteral("⏎"));
            item->setText(0, n.finished ? QStringLiteral("✔ %1").arg(token) : token);
            item->setText(1, QString::number(n.sumLogprob, 'f', 3));
            item->setText(2, QString::number(n.step + 1));
            if (n.finished) {
                QFont f = item->font(0);
                f.setBold(true);
                item->setFont(0, f);
            }
            current.append(item);
        }
        previous = current;
    }
    tree_->expandAll();
    tree_->resizeColumnToContents(0);
}

}  // namespace lumen::ui
