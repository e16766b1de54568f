// DecodingPanel: the strategy controls (persisted in QSettings) and the view of
// the last beam search.
#include "decoding/decoding_panel.h"

#include <algorithm>

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QHeaderView>
#include <QLabel>
#include <QSettings>
#include <QSpinBox>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QLineEdit>
#include <QPushButton>
#include <QSplitter>
#include <QStackedWidget>
#include <QTreeWidget>
#include <QVBoxLayout>

namespace lumen::ui {

namespace {
const char* kStrategyKey = "decoding/strategy";
const char* kWidthKey = "decoding/beamWidth";
const char* kLengthPenaltyKey = "decoding/lengthPenalty";
const char* kEarlyStoppingKey = "decoding/earlyStopping";
const char* kAmateurKindKey = "decoding/amateurKind";
const char* kAmateurLayersKey = "decoding/amateurLayers";
const char* kAmateurPathKey = "decoding/amateurPath";
const char* kAlphaKey = "decoding/contrastiveAlpha";
const char* kLambdaKey = "decoding/contrastiveLambda";
enum Strategy { kSampling = 0, kBeamSearch = 1, kContrastive = 2 };
enum AmateurKind { kEarlyExit = 0, kModelFile = 1 };

QDoubleSpinBox* spin(QWidget* parent, const char* name, double lo, double hi, double step, const QString& tip) {
    auto* s = new QDoubleSpinBox(parent);
    s->setObjectName(QString::fromLatin1(name));
    s->setRange(lo, hi);
    s->setSingleStep(step);
    s->setDecimals(2);
    s->setToolTip(tip);
    return s;
}
}  // namespace

DecodingPanel::DecodingPanel(QWidget* parent) : QWidget(parent) {
    setObjectName(QStringLiteral("decodingPanel"));
    strategy_ = new QComboBox(this);
    strategy_->setObjectName(QStringLiteral("strategyCombo"));
    strategy_->addItem(tr("Sampling chain"));
    strategy_->addItem(tr("Beam search"));
    strategy_->addItem(tr("Contrastive decoding"));
    strategy_->setToolTip(tr("Sampling draws each token through the chain on the Sampling panel. Beam search keeps "
                             "the most likely continuations and returns the best by length-normalized log-probability; "
                             "its beams share the prompt's KV blocks. Contrastive decoding picks the token that the "
                             "model likes much more than a weaker amateur does."));
    width_ = new QSpinBox(this);
    width_->setObjectName(QStringLiteral("beamWidthSpin"));
    width_->setRange(1, 16);
    width_->setToolTip(tr("Beams kept per step. Width 1 is greedy decoding."));
    length_penalty_ = spin(this, "lengthPenaltySpin", -2.0, 5.0, 0.1,
                           tr("A hypothesis scores sum(log p) / length^penalty. Above 0 favours longer replies; "
                              "0 ranks by total log-probability."));
    early_stopping_ = new QCheckBox(tr("Stop when as many hypotheses as beams are finished"), this);
    early_stopping_->setObjectName(QStringLiteral("earlyStoppingCheck"));
    early_stopping_->setToolTip(tr("Off: search on while the best live beam could still beat the worst finished "
                                   "hypothesis."));

    amateur_kind_ = new QComboBox(this);
    amateur_kind_->setObjectName(QStringLiteral("amateurKindCombo"));
    amateur_kind_->addItem(tr("The model's first layers (early exit)"));
    amateur_kind_->addItem(tr("Another model file"));
    amateur_kind_->setToolTip(tr("The early-exit amateur reads the hidden state after the first K layers through the "
                                 "final norm and output head: it costs one more output product per token. Another "
                                 "model must have the same vocabulary."));
    amateur_layers_ = new QSpinBox(this);
    amateur_layers_->setObjectName(QStringLiteral("amateurLayersSpin"));
    amateur_layers_->setRange(1, 255);
    amateur_layers_->setToolTip(tr("Layers the early-exit amateur keeps (fewer than the model has)."));
    amateur_path_ = new QLineEdit(this);
    amateur_path_->setObjectName(QStringLiteral("amateurPathEdit"));
    amateur_path_->setPlaceholderText(tr("amateur model (.gguf)"));
    auto* browse = new QPushButton(tr("…"), this);
    browse->setToolTip(tr("Choose the amateur model file"));
    auto* pathRow = new QHBoxLayout;
    pathRow->addWidget(amateur_path_, 1);
    pathRow->addWidget(browse);
    alpha_ = spin(this, "contrastiveAlphaSpin", 0.0, 1.0, 0.05,
                  tr("Plausibility: only tokens with p_expert ≥ α · max p_expert are candidates."));
    lambda_ = spin(this, "contrastiveLambdaSpin", 0.0, 10.0, 0.1,
                   tr("Score = log p_expert − λ · log p_amateur. 0 is the expert's greedy choice."));

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
    auto* beamPage = new QWidget(this);
    auto* beamLayout = new QVBoxLayout(beamPage);
    beamLayout->setContentsMargins(0, 0, 0, 0);
    auto* beamViews = new QSplitter(Qt::Vertical, beamPage);
    beamViews->addWidget(hypotheses_);
    beamViews->addWidget(tree_);
    beamViews->setStretchFactor(1, 2);
    beamLayout->addWidget(summary_);
    beamLayout->addWidget(beamViews, 1);

    contrastive_summary_ = new QLabel(tr("No contrastive reply yet."), this);
    contrastive_summary_->setObjectName(QStringLiteral("contrastiveSummaryLabel"));
    contrastive_summary_->setWordWrap(true);
    contrastive_trace_ = new QTreeWidget(this);
    contrastive_trace_->setObjectName(QStringLiteral("contrastiveTrace"));
    contrastive_trace_->setHeaderLabels({tr("#"), tr("token"), tr("p expert"), tr("p amateur"), tr("score"),
                                         tr("expert alone")});
    contrastive_trace_->setToolTip(tr("Each reply token, with the best-scoring plausible candidates below it. "
                                      "'expert alone' is what greedy decoding would have picked."));
    auto* contrastivePage = new QWidget(this);
    auto* contrastiveLayout = new QVBoxLayout(contrastivePage);
    contrastiveLayout->setContentsMargins(0, 0, 0, 0);
    contrastiveLayout->addWidget(contrastive_summary_);
    contrastiveLayout->addWidget(contrastive_trace_, 1);

    views_ = new QStackedWidget(this);
    views_->addWidget(new QLabel(tr("Replies are drawn through the sampling chain (Sampling panel)."), this));
    views_->addWidget(beamPage);
    views_->addWidget(contrastivePage);

    auto* form = new QFormLayout;
    form->addRow(tr("Strategy"), strategy_);
    form->addRow(tr("Beam width"), width_);
    form->addRow(tr("Length penalty"), length_penalty_);
    form->addRow(QString(), early_stopping_);
    form->addRow(tr("Amateur"), amateur_kind_);
    form->addRow(tr("Amateur layers"), amateur_layers_);
    form->addRow(tr("Amateur model"), pathRow);
    form->addRow(tr("Plausibility α"), alpha_);
    form->addRow(tr("Amateur weight λ"), lambda_);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(views_, 1);

    const QSettings settings;
    applying_ = true;
    strategy_->setCurrentIndex(std::clamp(settings.value(kStrategyKey, kSampling).toInt(), 0, int(kContrastive)));
    amateur_kind_->setCurrentIndex(settings.value(kAmateurKindKey, kEarlyExit).toInt() == kModelFile ? kModelFile : kEarlyExit);
    amateur_layers_->setValue(settings.value(kAmateurLayersKey, 8).toInt());
    amateur_path_->setText(settings.value(kAmateurPathKey).toString());
    alpha_->setValue(settings.value(kAlphaKey, 0.1).toDouble());
    lambda_->setValue(settings.value(kLambdaKey, 1.0).toDouble());
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
    connect(amateur_kind_, &QComboBox::currentIndexChanged, this, [this] {
        updateEnabled();
        persist();
    });
    connect(amateur_layers_, &QSpinBox::valueChanged, this, &DecodingPanel::persist);
    connect(amateur_path_, &QLineEdit::textChanged, this, &DecodingPanel::persist);
    connect(alpha_, &QDoubleSpinBox::valueChanged, this, &DecodingPanel::persist);
    connect(lambda_, &QDoubleSpinBox::valueChanged, this, &DecodingPanel::persist);
    connect(browse, &QPushButton::clicked, this, [this] {
        const QString path = QFileDialog::getOpenFileName(this, tr("Amateur model"), amateur_path_->text(),
                                                          tr("Models (*.gguf *.bin);;All files (*)"));
        if (!path.isEmpty()) amateur_path_->setText(path);
    });
}

ContrastiveSettings DecodingPanel::contrastiveSettings() const {
    ContrastiveSettings c;
    c.enabled = strategy_->currentIndex() == kContrastive;
    const bool earlyExit = amateur_kind_->currentIndex() == kEarlyExit;
    c.amateurLayers = earlyExit ? amateur_layers_->value() : 0;
    c.amateurPath = earlyExit ? QString() : amateur_path_->text();
    c.alpha = alpha_->value();
    c.lambda = lambda_->value();
    return c;
}

void DecodingPanel::setContrastiveSettings(const ContrastiveSettings& c) {
    applying_ = true;
    if (c.enabled) strategy_->setCurrentIndex(kContrastive);
    amateur_kind_->setCurrentIndex(c.amateurLayers > 0 ? kEarlyExit : kModelFile);
    if (c.amateurLayers > 0) amateur_layers_->setValue(c.amateurLayers);
    if (!c.amateurPath.isEmpty()) amateur_path_->setText(c.amateurPath);
    alpha_->setValue(c.alpha);
    lambda_->setValue(c.lambda);
    applying_ = false;
    updateEnabled();
    persist();
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
    settings.setValue(kAmateurKindKey, amateur_kind_->currentIndex());
    settings.setValue(kAmateurLayersKey, amateur_layers_->value());
    settings.setValue(kAmateurPathKey, amateur_path_->text());
    settings.setValue(kAlphaKey, alpha_->value());
    settings.setValue(kLambdaKey, lambda_->value());
}

void DecodingPanel::updateEnabled() {
    const int strategy = strategy_->currentIndex();
    for (QWidget* w : std::initializer_list<QWidget*>{width_, length_penalty_, early_stopping_})
        w->setEnabled(strategy == kBeamSearch);
    const bool contrastive = strategy == kContrastive, earlyExit = amateur_kind_->currentIndex() == kEarlyExit;
    for (QWidget* w : std::initializer_list<QWidget*>{amateur_kind_, alpha_, lambda_}) w->setEnabled(contrastive);
    amateur_layers_->setEnabled(contrastive && earlyExit);
    amateur_path_->setEnabled(contrastive && !earlyExit);
    views_->setCurrentIndex(strategy);
}

void DecodingPanel::showContrastive(const ContrastiveData& result) {
    contrastive_summary_->setText(tr("Amateur: %1 · α %2 · λ %3 · %4 tokens, %5 differ from the expert's greedy "
                                     "choice · %6 ms")
                                      .arg(result.amateur)
                                      .arg(result.alpha)
                                      .arg(result.lambda)
                                      .arg(result.tokens.size())
                                      .arg(result.differs)
                                      .arg(result.elapsedMs, 0, 'f', 1));
    contrastive_trace_->clear();
    auto shown = [](QString t) { return t.replace(QLatin1Char('\n'), QStringLiteral("⏎")); };
    for (int i = 0; i < result.tokens.size(); ++i) {
        const ContrastiveTokenData& t = result.tokens[i];
        auto* item = new QTreeWidgetItem(contrastive_trace_);
        item->setText(0, QString::number(i + 1));
        item->setText(1, shown(t.token));
        if (!t.candidates.isEmpty()) {
            item->setText(2, QString::number(t.candidates[0].pExpert, 'f', 3));
            item->setText(3, QString::number(t.candidates[0].pAmateur, 'g', 3));
            item->setText(4, QString::number(t.candidates[0].score, 'f', 3));
        }
        item->setText(5, t.expertGreedy == t.token ? QStringLiteral("=") : shown(t.expertGreedy));
        if (t.expertGreedy != t.token) {
            QFont f = item->font(1);
            f.setBold(true);
            item->setFont(1, f);
        }
        item->setToolTip(0, tr("%n plausible token(s)", nullptr, t.plausible));
        for (const ContrastiveCandidateData& k : t.candidates) {
            auto* child = new QTreeWidgetItem(item);
            child->setText(1, shown(k.token));
            child->setText(2, QString::number(k.pExpert, 'f', 3));
            child->setText(3, QString::number(k.pAmateur, 'g', 3));
            child->setText(4, QString::number(k.score, 'f', 3));
        }
    }
    for (int c = 0; c < 6; ++c) contrastive_trace_->resizeColumnToContents(c);
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
