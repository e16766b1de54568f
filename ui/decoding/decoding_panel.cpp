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

#include "common/spin_boxes.h"

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
const char* kSpeculationKey = "decoding/speculation";
const char* kDraftTokensKey = "decoding/draftTokens";
const char* kDraftPathKey = "decoding/draftPath";
const char* kExitEntropyKey = "decoding/exitEntropy";
const char* kExitFirstLayerKey = "decoding/exitFirstLayer";
const char* kExitEveryKey = "decoding/exitEvery";
enum Strategy { kSampling = 0, kBeamSearch = 1, kContrastive = 2, kEarlyExit = 3 };
enum AmateurKind { kFirstLayers = 0, kModelFile = 1 };


// A line edit for a model path with a browse button beside it.
QHBoxLayout* pathRow(QWidget* parent, QLineEdit* edit, const QString& title) {
    auto* browse = new QPushButton(QObject::tr("…"), parent);
    browse->setToolTip(title);
    QObject::connect(browse, &QPushButton::clicked, parent, [parent, edit, title] {
        const QString path = QFileDialog::getOpenFileName(parent, title, edit->text(),
                                                          QObject::tr("Models (*.gguf *.bin);;All files (*)"));
        if (!path.isEmpty()) edit->setText(path);
    });
    auto* row = new QHBoxLayout;
    row->addWidget(edit, 1);
    row->addWidget(browse);
    return row;
}

}  // namespace

DecodingPanel::DecodingPanel(QWidget* parent) : QWidget(parent) {
    setObjectName(QStringLiteral("decodingPanel"));
    strategy_ = new QComboBox(this);
    strategy_->setObjectName(QStringLiteral("strategyCombo"));
    strategy_->addItem(tr("Sampling chain"));
    strategy_->addItem(tr("Beam search"));
    strategy_->addItem(tr("Contrastive decoding"));
    strategy_->addItem(tr("Early exit (lossy)"));
    strategy_->setToolTip(tr("Sampling draws each token through the chain on the Sampling panel. Beam search keeps "
                             "the most likely continuations and returns the best by length-normalized log-probability; "
                             "its beams share the prompt's KV blocks. Contrastive decoding picks the token that the "
                             "model likes much more than a weaker amateur does."));
    width_ = new QSpinBox(this);
    width_->setObjectName(QStringLiteral("beamWidthSpin"));
    width_->setRange(1, 16);
    width_->setToolTip(tr("Beams kept per step. Width 1 is greedy decoding."));
    length_penalty_ = doubleSpin(this, "lengthPenaltySpin", -2.0, 5.0, 0.1, 2,
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
    QHBoxLayout* amateurRow = pathRow(this, amateur_path_, tr("Amateur model"));
    speculation_ = new QComboBox(this);
    speculation_->setObjectName(QStringLiteral("speculationCombo"));
    speculation_->addItems({tr("Off"), tr("Prompt lookup"), tr("Draft model")});
    speculation_->setToolTip(tr("Speculative decoding with the sampling chain: drafts are verified in one step by "
                                "rejection sampling, so replies are distributed exactly as without it. Prompt lookup "
                                "drafts from the conversation itself; a draft model must share the vocabulary."));
    draft_tokens_ = intSpin(this, "draftTokensSpin", 1, 16, tr("Draft tokens per step (k)."));
    draft_path_ = new QLineEdit(this);
    draft_path_->setObjectName(QStringLiteral("draftPathEdit"));
    draft_path_->setPlaceholderText(tr("draft model (.gguf)"));
    QHBoxLayout* draftRow = pathRow(this, draft_path_, tr("Draft model"));
    exit_entropy_ = doubleSpin(this, "exitEntropySpin", 0.01, 20.0, 0.1, 2,
                         tr("A decode step stops at the first checked layer whose intermediate logits have an "
                            "entropy below this (nats). Lossy."));
    exit_first_layer_ = intSpin(this, "exitFirstLayerSpin", 1, 255, tr("The first layer checked."));
    exit_every_ = intSpin(this, "exitEverySpin", 1, 64,
                          tr("Check every this many layers after the first. Each check costs an output-head product."));
    alpha_ = doubleSpin(this, "contrastiveAlphaSpin", 0.0, 1.0, 0.05, 2,
                  tr("Plausibility: only tokens with p_expert ≥ α · max p_expert are candidates."));
    lambda_ = doubleSpin(this, "contrastiveLambdaSpin", 0.0, 10.0, 0.1, 2,
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

    speculation_summary_ = new QLabel(tr("Replies are drawn through the sampling chain (Sampling panel)."), this);
    speculation_summary_->setObjectName(QStringLiteral("speculationSummaryLabel"));
    speculation_summary_->setWordWrap(true);
    speculation_summary_->setAlignment(Qt::AlignTop | Qt::AlignLeft);
    exit_summary_ = new QLabel(tr("No early-exit reply yet. Early exit is lossy: it changes the text."), this);
    exit_summary_->setObjectName(QStringLiteral("exitSummaryLabel"));
    exit_summary_->setWordWrap(true);
    exit_layers_ = new QTreeWidget(this);
    exit_layers_->setObjectName(QStringLiteral("exitLayersTable"));
    exit_layers_->setHeaderLabels({tr("layers run"), tr("decode steps"), tr("share")});
    exit_layers_->setRootIsDecorated(false);
    auto* exitPage = new QWidget(this);
    auto* exitLayout = new QVBoxLayout(exitPage);
    exitLayout->setContentsMargins(0, 0, 0, 0);
    exitLayout->addWidget(exit_summary_);
    exitLayout->addWidget(exit_layers_, 1);

    views_ = new QStackedWidget(this);
    views_->addWidget(speculation_summary_);
    views_->addWidget(beamPage);
    views_->addWidget(contrastivePage);
    views_->addWidget(exitPage);

    auto* form = new QFormLayout;
    form->addRow(tr("Strategy"), strategy_);
    form->addRow(tr("Beam width"), width_);
    form->addRow(tr("Length penalty"), length_penalty_);
    form->addRow(QString(), early_stopping_);
    form->addRow(tr("Amateur"), amateur_kind_);
    form->addRow(tr("Amateur layers"), amateur_layers_);
    form->addRow(tr("Amateur model"), amateurRow);
    form->addRow(tr("Plausibility α"), alpha_);
    form->addRow(tr("Amateur weight λ"), lambda_);
    form->addRow(tr("Speculation"), speculation_);
    form->addRow(tr("Draft tokens"), draft_tokens_);
    form->addRow(tr("Draft model"), draftRow);
    form->addRow(tr("Exit entropy"), exit_entropy_);
    form->addRow(tr("First exit layer"), exit_first_layer_);
    form->addRow(tr("Check every"), exit_every_);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(views_, 1);

    const QSettings settings;
    applying_ = true;
    strategy_->setCurrentIndex(std::clamp(settings.value(kStrategyKey, kSampling).toInt(), 0, int(kEarlyExit)));
    speculation_->setCurrentIndex(std::clamp(settings.value(kSpeculationKey, 0).toInt(), 0, 2));
    draft_tokens_->setValue(settings.value(kDraftTokensKey, 4).toInt());
    draft_path_->setText(settings.value(kDraftPathKey).toString());
    exit_entropy_->setValue(settings.value(kExitEntropyKey, 1.0).toDouble());
    exit_first_layer_->setValue(settings.value(kExitFirstLayerKey, 16).toInt());
    exit_every_->setValue(settings.value(kExitEveryKey, 4).toInt());
    amateur_kind_->setCurrentIndex(settings.value(kAmateurKindKey, kFirstLayers).toInt() == kModelFile ? kModelFile : kFirstLayers);
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
    connect(speculation_, &QComboBox::currentIndexChanged, this, [this] {
        updateEnabled();
        persist();
    });
    connect(draft_tokens_, &QSpinBox::valueChanged, this, &DecodingPanel::persist);
    connect(draft_path_, &QLineEdit::textChanged, this, &DecodingPanel::persist);
    connect(exit_entropy_, &QDoubleSpinBox::valueChanged, this, &DecodingPanel::persist);
    connect(exit_first_layer_, &QSpinBox::valueChanged, this, &DecodingPanel::persist);
    connect(exit_every_, &QSpinBox::valueChanged, this, &DecodingPanel::persist);
}

SpeculationSettings DecodingPanel::speculationSettings() const {
    SpeculationSettings sp;
    if (strategy_->currentIndex() == kSampling) sp.mode = speculation_->currentIndex();
    sp.draftTokens = draft_tokens_->value();
    sp.draftPath = draft_path_->text();
    return sp;
}

EarlyExitSettings DecodingPanel::earlyExitSettings() const {
    EarlyExitSettings e;
    e.enabled = strategy_->currentIndex() == kEarlyExit;
    e.maxEntropy = exit_entropy_->value();
    e.firstLayer = exit_first_layer_->value();
    e.every = exit_every_->value();
    return e;
}

void DecodingPanel::showDecodingStats(const DecodingStatsData& d) {
    if (!d.stepsByLayersRun.isEmpty()) {
        double steps = 0;
        for (int count : d.stepsByLayersRun) steps += count;
        exit_summary_->setText(tr("Early exit (lossy): decode steps ran %1 of %2 layers on average · %3 tok/s")
                                   .arg(d.meanLayersRun, 0, 'f', 1)
                                   .arg(d.stepsByLayersRun.size() - 1)
                                   .arg(d.decodeTps, 0, 'f', 1));
        exit_layers_->clear();
        for (int l = 1; l < d.stepsByLayersRun.size(); ++l) {
            if (d.stepsByLayersRun[l] == 0) continue;
            auto* item = new QTreeWidgetItem(exit_layers_);
            item->setText(0, QString::number(l));
            item->setText(1, QString::number(d.stepsByLayersRun[l]));
            item->setText(2, QStringLiteral("%1 %").arg(100.0 * d.stepsByLayersRun[l] / std::max(1.0, steps), 0, 'f', 1));
        }
        return;
    }
    QStringList positions;
    for (int p = 0; p < d.acceptedAtPosition.size(); ++p) positions << QString::number(d.acceptedAtPosition[p]);
    QString text = tr("%1: %2 of %3 drafts accepted (%4 %) over %5 verify steps, %6 accepted per step · decode %7 tok/s")
                       .arg(d.mode)
                       .arg(d.accepted)
                       .arg(d.drafted)
                       .arg(d.drafted ? 100.0 * d.accepted / d.drafted : 0.0, 0, 'f', 1)
                       .arg(d.verifySteps)
                       .arg(d.verifySteps ? double(d.accepted) / d.verifySteps : 0.0, 0, 'f', 2)
                       .arg(d.decodeTps, 0, 'f', 1);
    if (!positions.isEmpty()) text += tr("\nAccepted by draft position: %1").arg(positions.join(QStringLiteral(", ")));
    if (d.draftMs > 0) text += tr("\nTime in the draft model: %1 ms").arg(d.draftMs, 0, 'f', 1);
    speculation_summary_->setText(text);
}

ContrastiveSettings DecodingPanel::contrastiveSettings() const {
    ContrastiveSettings c;
    c.enabled = strategy_->currentIndex() == kContrastive;
    const bool firstLayers = amateur_kind_->currentIndex() == kFirstLayers;
    c.amateurLayers = firstLayers ? amateur_layers_->value() : 0;
    c.amateurPath = firstLayers ? QString() : amateur_path_->text();
    c.alpha = alpha_->value();
    c.lambda = lambda_->value();
    return c;
}

void DecodingPanel::setContrastiveSettings(const ContrastiveSettings& c) {
    applying_ = true;
    if (c.enabled) strategy_->setCurrentIndex(kContrastive);
    amateur_kind_->setCurrentIndex(c.amateurLayers > 0 ? kFirstLayers : kModelFile);
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
    settings.setValue(kSpeculationKey, speculation_->currentIndex());
    settings.setValue(kDraftTokensKey, draft_tokens_->value());
    settings.setValue(kDraftPathKey, draft_path_->text());
    settings.setValue(kExitEntropyKey, exit_entropy_->value());
    settings.setValue(kExitFirstLayerKey, exit_first_layer_->value());
    settings.setValue(kExitEveryKey, exit_every_->value());
}

void DecodingPanel::updateEnabled() {
    const int strategy = strategy_->currentIndex();
    for (QWidget* w : std::initializer_list<QWidget*>{width_, length_penalty_, early_stopping_})
        w->setEnabled(strategy == kBeamSearch);
    const bool contrastive = strategy == kContrastive, firstLayers = amateur_kind_->currentIndex() == kFirstLayers;
    for (QWidget* w : std::initializer_list<QWidget*>{amateur_kind_, alpha_, lambda_}) w->setEnabled(contrastive);
    amateur_layers_->setEnabled(contrastive && firstLayers);
    amateur_path_->setEnabled(contrastive && !firstLayers);
    const bool sampling = strategy == kSampling;
    speculation_->setEnabled(sampling);
    draft_tokens_->setEnabled(sampling && speculation_->currentIndex() != 0);
    draft_path_->setEnabled(sampling && speculation_->currentIndex() == 2);
    for (QWidget* w : std::initializer_list<QWidget*>{exit_entropy_, exit_first_layer_, exit_every_})
        w->setEnabled(strategy == kEarlyExit);
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
