// DecodingPanel: the strategy settings, described once in a table (kSettings)
// from which the panel builds its controls, restores and persists them in
// QSettings and enables them; and the views of the last reply's search.
#include "decoding/decoding_panel.h"

#include <algorithm>
#include <iterator>

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QSettings>
#include <QSpinBox>
#include <QSplitter>
#include <QStackedWidget>
#include <QToolButton>
#include <QTreeWidget>
#include <QVBoxLayout>

#include "common/spin_boxes.h"

namespace lumen::ui {

namespace {

enum Strategy { kSampling = 0, kBeamSearch = 1, kContrastive = 2, kEarlyExit = 3 };
enum AmateurKind { kFirstLayers = 0, kModelFile = 1 };
enum Speculation { kNoSpeculation = 0, kPromptLookup = 1, kDraftModel = 2 };
constexpr int kAnyStrategy = -1;

// The rows of kSettings, in order.
enum Setting {
    kStrategy,
    kBeamWidth,
    kLengthPenalty,
    kEarlyStopping,
    kAmateurKind,
    kAmateurLayers,
    kAmateurPath,
    kAlpha,
    kLambda,
    kSpeculation,
    kDraftTokens,
    kDraftPath,
    kExitEntropy,
    kExitFirstLayer,
    kExitEvery,
    kSettingCount
};

enum class Control { combo, intSpin, doubleSpin, check, path };

constexpr const char* kStrategyItems[] = {"Sampling chain", "Beam search", "Contrastive decoding", "Early exit (lossy)",
                                          nullptr};
constexpr const char* kAmateurItems[] = {"The model's first layers (early exit)", "Another model file", nullptr};
constexpr const char* kSpeculationItems[] = {"Off", "Prompt lookup", "Draft model", nullptr};

// One decoding setting: its control, where it is saved, and when it applies. The
// label, items, placeholder and tooltip go through tr() when the control is built.
struct SettingSpec {
    Setting id;
    const char* key;         // QSettings key
    const char* objectName;  // the control's (tests find it by this)
    const char* label;       // the form row's; a check box's own text
    Control control;
    double fallback = 0;              // default: value, combo index or check state; paths default to empty
    double lo = 0, hi = 0, step = 1;  // spin boxes
    int decimals = 2;
    const char* const* items = nullptr;  // combo entries, null-terminated
    const char* placeholder = nullptr;   // path
    const char* tooltip = nullptr;
    int strategy = kAnyStrategy;  // enabled only with this strategy
    int parent = -1;              // and only while combo `parent`...
    unsigned parentIndices = 0;   // ...has one of these indices (bit i: index i)
};

constexpr SettingSpec kSettings[] = {
    {.id = kStrategy,
     .key = "decoding/strategy",
     .objectName = "strategyCombo",
     .label = "Strategy",
     .control = Control::combo,
     .fallback = kSampling,
     .items = kStrategyItems,
     .tooltip = "Sampling draws each token through the chain on the Sampling panel. Beam search keeps the most "
                "likely continuations and returns the best by length-normalized log-probability; its beams share "
                "the prompt's KV blocks. Contrastive decoding picks the token that the model likes much more than "
                "a weaker amateur does."},
    // Beam search.
    {.id = kBeamWidth,
     .key = "decoding/beamWidth",
     .objectName = "beamWidthSpin",
     .label = "Beam width",
     .control = Control::intSpin,
     .fallback = 4,
     .lo = 1,
     .hi = 16,
     .tooltip = "Beams kept per step. Width 1 is greedy decoding.",
     .strategy = kBeamSearch},
    {.id = kLengthPenalty,
     .key = "decoding/lengthPenalty",
     .objectName = "lengthPenaltySpin",
     .label = "Length penalty",
     .control = Control::doubleSpin,
     .fallback = 1.0,
     .lo = -2.0,
     .hi = 5.0,
     .step = 0.1,
     .tooltip = "A hypothesis scores sum(log p) / length^penalty. Above 0 favours longer replies; 0 ranks by total "
                "log-probability.",
     .strategy = kBeamSearch},
    {.id = kEarlyStopping,
     .key = "decoding/earlyStopping",
     .objectName = "earlyStoppingCheck",
     .label = "Early stopping",
     .control = Control::check,
     .fallback = 1,
     .tooltip = "On: stop when as many hypotheses as beams are finished. Off: search on while the best live beam "
                "could still beat the worst finished hypothesis.",
     .strategy = kBeamSearch},
    // Contrastive decoding.
    {.id = kAmateurKind,
     .key = "decoding/amateurKind",
     .objectName = "amateurKindCombo",
     .label = "Amateur",
     .control = Control::combo,
     .fallback = kFirstLayers,
     .items = kAmateurItems,
     .tooltip = "The early-exit amateur reads the hidden state after the first K layers through the final norm "
                "and output head: it costs one more output product per token. Another model must have the same "
                "vocabulary.",
     .strategy = kContrastive},
    {.id = kAmateurLayers,
     .key = "decoding/amateurLayers",
     .objectName = "amateurLayersSpin",
     .label = "Amateur layers",
     .control = Control::intSpin,
     .fallback = 8,
     .lo = 1,
     .hi = 255,
     .tooltip = "Layers the early-exit amateur keeps (fewer than the model has).",
     .strategy = kContrastive,
     .parent = kAmateurKind,
     .parentIndices = 1u << kFirstLayers},
    {.id = kAmateurPath,
     .key = "decoding/amateurPath",
     .objectName = "amateurPathEdit",
     .label = "Amateur model",
     .control = Control::path,
     .placeholder = "amateur model (.gguf)",
     .tooltip = "The amateur model file.",
     .strategy = kContrastive,
     .parent = kAmateurKind,
     .parentIndices = 1u << kModelFile},
    {.id = kAlpha,
     .key = "decoding/contrastiveAlpha",
     .objectName = "contrastiveAlphaSpin",
     .label = "Plausibility α",
     .control = Control::doubleSpin,
     .fallback = 0.1,
     .lo = 0.0,
     .hi = 1.0,
     .step = 0.05,
     .tooltip = "Plausibility: only tokens with p_expert ≥ α · max p_expert are candidates.",
     .strategy = kContrastive},
    {.id = kLambda,
     .key = "decoding/contrastiveLambda",
     .objectName = "contrastiveLambdaSpin",
     .label = "Amateur weight λ",
     .control = Control::doubleSpin,
     .fallback = 1.0,
     .lo = 0.0,
     .hi = 10.0,
     .step = 0.1,
     .tooltip = "Score = log p_expert − λ · log p_amateur. 0 is the expert's greedy choice.",
     .strategy = kContrastive},
    // Speculative decoding, with the sampling chain.
    {.id = kSpeculation,
     .key = "decoding/speculation",
     .objectName = "speculationCombo",
     .label = "Speculation",
     .control = Control::combo,
     .fallback = kNoSpeculation,
     .items = kSpeculationItems,
     .tooltip = "Speculative decoding with the sampling chain: drafts are verified in one step by rejection "
                "sampling, so replies are distributed exactly as without it. Prompt lookup drafts from the "
                "conversation itself; a draft model must share the vocabulary.",
     .strategy = kSampling},
    {.id = kDraftTokens,
     .key = "decoding/draftTokens",
     .objectName = "draftTokensSpin",
     .label = "Draft tokens",
     .control = Control::intSpin,
     .fallback = 4,
     .lo = 1,
     .hi = 16,
     .tooltip = "Draft tokens per step (k).",
     .strategy = kSampling,
     .parent = kSpeculation,
     .parentIndices = (1u << kPromptLookup) | (1u << kDraftModel)},
    {.id = kDraftPath,
     .key = "decoding/draftPath",
     .objectName = "draftPathEdit",
     .label = "Draft model",
     .control = Control::path,
     .placeholder = "draft model (.gguf)",
     .tooltip = "The draft model file.",
     .strategy = kSampling,
     .parent = kSpeculation,
     .parentIndices = 1u << kDraftModel},
    // Early exit (lossy).
    {.id = kExitEntropy,
     .key = "decoding/exitEntropy",
     .objectName = "exitEntropySpin",
     .label = "Exit entropy",
     .control = Control::doubleSpin,
     .fallback = 1.0,
     .lo = 0.01,
     .hi = 20.0,
     .step = 0.1,
     .tooltip = "A decode step stops at the first checked layer whose intermediate logits have an entropy below "
                "this (nats). Lossy.",
     .strategy = kEarlyExit},
    {.id = kExitFirstLayer,
     .key = "decoding/exitFirstLayer",
     .objectName = "exitFirstLayerSpin",
     .label = "First exit layer",
     .control = Control::intSpin,
     .fallback = 16,
     .lo = 1,
     .hi = 255,
     .tooltip = "The first layer checked.",
     .strategy = kEarlyExit},
    {.id = kExitEvery,
     .key = "decoding/exitEvery",
     .objectName = "exitEverySpin",
     .label = "Check every",
     .control = Control::intSpin,
     .fallback = 4,
     .lo = 1,
     .hi = 64,
     .tooltip = "Check every this many layers after the first. Each check costs an output-head product.",
     .strategy = kEarlyExit},
};
static_assert(int(std::size(kSettings)) == kSettingCount);

// Each row's id is its index, so kSettings[id] finds the row.
constexpr bool rowsInOrder() {
    for (int i = 0; i < kSettingCount; ++i)
        if (kSettings[i].id != i) return false;
    return true;
}
static_assert(rowsInOrder());

// A line edit for a model path with a browse button beside it, in one row widget.
QWidget* pathRow(QWidget* parent, QLineEdit* edit, const QString& title) {
    auto* row = new QWidget(parent);
    edit->setParent(row);
    auto* browse = new QToolButton(row);  // small: the path gets the width
    browse->setText(QObject::tr("…"));
    browse->setToolTip(title);
    QObject::connect(browse, &QToolButton::clicked, parent, [parent, edit, title] {
        const QString path = QFileDialog::getOpenFileName(parent, title, edit->text(),
                                                          QObject::tr("Models (*.gguf *.bin);;All files (*)"));
        if (!path.isEmpty()) edit->setText(path);
    });
    auto* layout = new QHBoxLayout(row);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(edit, 1);
    layout->addWidget(browse);
    return row;
}

QTreeWidget* resultTree(QWidget* parent, const char* name, const QStringList& headers) {
    auto* tree = new QTreeWidget(parent);
    tree->setObjectName(QString::fromLatin1(name));
    tree->setHeaderLabels(headers);
    return tree;
}

QLabel* summaryLabel(QWidget* parent, const char* name, const QString& text) {
    auto* label = new QLabel(text, parent);
    label->setObjectName(QString::fromLatin1(name));
    label->setWordWrap(true);
    return label;
}

// A page of the result views: a summary line above a view.
QWidget* resultPage(QWidget* parent, QLabel* summary, QWidget* view) {
    auto* page = new QWidget(parent);
    auto* layout = new QVBoxLayout(page);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(summary);
    layout->addWidget(view, 1);
    return page;
}

}  // namespace

// ------------------------------------------------------------------ building

DecodingPanel::DecodingPanel(QWidget* parent) : QWidget(parent) {
    setObjectName(QStringLiteral("decodingPanel"));
    QLayout* form = buildSettingsForm();
    speculation_summary_ = summaryLabel(this, "speculationSummaryLabel",
                                        tr("Replies are drawn through the sampling chain (Sampling panel)."));
    speculation_summary_->setAlignment(Qt::AlignTop | Qt::AlignLeft);
    views_ = new QStackedWidget(this);  // one page per strategy, in Strategy order
    views_->addWidget(speculation_summary_);
    views_->addWidget(buildBeamPage());
    views_->addWidget(buildContrastivePage());
    views_->addWidget(buildEarlyExitPage());
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(views_, 1);

    restoreSettings();
    updateEnabled();
    auto changed = [this] {
        updateEnabled();
        persist();
    };
    for (int id = 0; id < kSettingCount; ++id) {
        QWidget* w = controls_[id];
        switch (kSettings[id].control) {
            case Control::combo:
                connect(static_cast<QComboBox*>(w), &QComboBox::currentIndexChanged, this, changed);
                break;
            case Control::intSpin: connect(static_cast<QSpinBox*>(w), &QSpinBox::valueChanged, this, changed); break;
            case Control::doubleSpin:
                connect(static_cast<QDoubleSpinBox*>(w), &QDoubleSpinBox::valueChanged, this, changed);
                break;
            case Control::check: connect(static_cast<QCheckBox*>(w), &QCheckBox::toggled, this, changed); break;
            case Control::path: connect(static_cast<QLineEdit*>(w), &QLineEdit::textChanged, this, changed); break;
        }
    }
}

QWidget* DecodingPanel::createControl(int id) {
    const SettingSpec& spec = kSettings[id];
    const QString tip = tr(spec.tooltip);
    switch (spec.control) {
        case Control::combo: {
            auto* combo = new QComboBox(this);
            combo->setObjectName(QString::fromLatin1(spec.objectName));
            for (const char* const* item = spec.items; *item; ++item) combo->addItem(tr(*item));
            combo->setToolTip(tip);
            controls_[id] = combo;
            return combo;
        }
        case Control::intSpin:
            controls_[id] = intSpin(this, spec.objectName, int(spec.lo), int(spec.hi), tip);
            return controls_[id];
        case Control::doubleSpin:
            controls_[id] = doubleSpin(this, spec.objectName, spec.lo, spec.hi, spec.step, spec.decimals, tip);
            return controls_[id];
        case Control::check: {
            auto* check = new QCheckBox(tr(spec.label), this);
            check->setObjectName(QString::fromLatin1(spec.objectName));
            check->setToolTip(tip);
            controls_[id] = check;
            return check;
        }
        case Control::path: {
            auto* edit = new QLineEdit(this);
            edit->setObjectName(QString::fromLatin1(spec.objectName));
            edit->setPlaceholderText(tr(spec.placeholder));
            edit->setToolTip(tip);
            controls_[id] = edit;
            return pathRow(this, edit, tr(spec.label));
        }
    }
    return nullptr;
}

QLayout* DecodingPanel::buildSettingsForm() {
    controls_.fill(nullptr, kSettingCount);
    auto* form = new QFormLayout;
    for (int id = 0; id < kSettingCount; ++id) {
        QWidget* field = createControl(id);
        form->addRow(kSettings[id].control == Control::check ? QString() : tr(kSettings[id].label), field);
    }
    return form;
}

QWidget* DecodingPanel::buildBeamPage() {
    beam_summary_ = summaryLabel(this, "beamSummaryLabel", tr("No beam search yet."));
    hypotheses_ =
        resultTree(this, "beamHypotheses", {tr("#"), tr("score"), tr("Σ log p"), tr("tokens"), tr("end"), tr("text")});
    hypotheses_->setRootIsDecorated(false);
    hypotheses_->setSortingEnabled(false);
    beam_tree_ = resultTree(this, "beamTree", {tr("token"), tr("Σ log p"), tr("step")});
    beam_tree_->setIndentation(12);
    beam_tree_->setToolTip(
        tr("Each node is a token a beam took; its children are the beams that continued it. A node "
           "without children was pruned; ✔ marks a finished hypothesis."));
    auto* views = new QSplitter(Qt::Vertical, this);
    views->addWidget(hypotheses_);
    views->addWidget(beam_tree_);
    views->setStretchFactor(1, 2);
    return resultPage(this, beam_summary_, views);
}

QWidget* DecodingPanel::buildContrastivePage() {
    contrastive_summary_ = summaryLabel(this, "contrastiveSummaryLabel", tr("No contrastive reply yet."));
    contrastive_trace_ =
        resultTree(this, "contrastiveTrace",
                   {tr("#"), tr("token"), tr("p expert"), tr("p amateur"), tr("score"), tr("expert alone")});
    contrastive_trace_->setToolTip(
        tr("Each reply token, with the best-scoring plausible candidates below it. "
           "'expert alone' is what greedy decoding would have picked."));
    return resultPage(this, contrastive_summary_, contrastive_trace_);
}

QWidget* DecodingPanel::buildEarlyExitPage() {
    exit_summary_ = summaryLabel(this, "exitSummaryLabel",
                                 tr("No early-exit reply yet. Early exit is lossy: it changes the text."));
    exit_layers_ = resultTree(this, "exitLayersTable", {tr("layers run"), tr("decode steps"), tr("share")});
    exit_layers_->setRootIsDecorated(false);
    return resultPage(this, exit_summary_, exit_layers_);
}

// ------------------------------------------------------------------ settings

QVariant DecodingPanel::value(int id) const {
    QWidget* w = controls_[id];
    switch (kSettings[id].control) {
        case Control::combo: return static_cast<QComboBox*>(w)->currentIndex();
        case Control::intSpin: return static_cast<QSpinBox*>(w)->value();
        case Control::doubleSpin: return static_cast<QDoubleSpinBox*>(w)->value();
        case Control::check: return static_cast<QCheckBox*>(w)->isChecked();
        case Control::path: return static_cast<QLineEdit*>(w)->text();
    }
    return {};
}

void DecodingPanel::setValue(int id, const QVariant& v) {
    QWidget* w = controls_[id];
    switch (kSettings[id].control) {
        case Control::combo: {
            auto* combo = static_cast<QComboBox*>(w);
            combo->setCurrentIndex(std::clamp(v.toInt(), 0, combo->count() - 1));  // a stale index stays valid
            break;
        }
        case Control::intSpin: static_cast<QSpinBox*>(w)->setValue(v.toInt()); break;
        case Control::doubleSpin: static_cast<QDoubleSpinBox*>(w)->setValue(v.toDouble()); break;
        case Control::check: static_cast<QCheckBox*>(w)->setChecked(v.toBool()); break;
        case Control::path: static_cast<QLineEdit*>(w)->setText(v.toString()); break;
    }
}

bool DecodingPanel::applies(int id) const {
    const SettingSpec& spec = kSettings[id];
    if (spec.strategy != kAnyStrategy && spec.strategy != value(kStrategy).toInt()) return false;
    return spec.parent < 0 || ((spec.parentIndices >> value(spec.parent).toInt()) & 1u);
}

void DecodingPanel::restoreSettings() {
    const QSettings settings;
    applying_ = true;
    for (const SettingSpec& spec : kSettings) {
        const QVariant fallback = spec.control == Control::path    ? QVariant(QString())
                                  : spec.control == Control::check ? QVariant(spec.fallback != 0)
                                                                   : QVariant(spec.fallback);
        setValue(spec.id, settings.value(QString::fromLatin1(spec.key), fallback));
    }
    applying_ = false;
}

void DecodingPanel::persist() {
    if (applying_) return;
    QSettings settings;
    for (const SettingSpec& spec : kSettings) settings.setValue(QString::fromLatin1(spec.key), value(spec.id));
}

void DecodingPanel::updateEnabled() {
    for (int id = 0; id < kSettingCount; ++id) {
        // A path's row holds its browse button too.
        QWidget* field = kSettings[id].control == Control::path ? controls_[id]->parentWidget() : controls_[id];
        field->setEnabled(applies(id));
    }
    views_->setCurrentIndex(value(kStrategy).toInt());
}

BeamSettings DecodingPanel::beamSettings() const {
    BeamSettings s;
    s.width = value(kStrategy).toInt() == kBeamSearch ? value(kBeamWidth).toInt() : 0;
    s.lengthPenalty = value(kLengthPenalty).toDouble();
    s.earlyStopping = value(kEarlyStopping).toBool();
    return s;
}

void DecodingPanel::setBeamSettings(const BeamSettings& settings) {
    applying_ = true;
    setValue(kStrategy, int(settings.width >= 1 ? kBeamSearch : kSampling));
    if (settings.width >= 1) setValue(kBeamWidth, settings.width);
    setValue(kLengthPenalty, settings.lengthPenalty);
    setValue(kEarlyStopping, settings.earlyStopping);
    applying_ = false;
    updateEnabled();
    persist();
}

ContrastiveSettings DecodingPanel::contrastiveSettings() const {
    ContrastiveSettings c;
    c.enabled = value(kStrategy).toInt() == kContrastive;
    const bool firstLayers = value(kAmateurKind).toInt() == kFirstLayers;
    c.amateurLayers = firstLayers ? value(kAmateurLayers).toInt() : 0;
    c.amateurPath = firstLayers ? QString() : value(kAmateurPath).toString();
    c.alpha = value(kAlpha).toDouble();
    c.lambda = value(kLambda).toDouble();
    return c;
}

void DecodingPanel::setContrastiveSettings(const ContrastiveSettings& c) {
    applying_ = true;
    if (c.enabled) setValue(kStrategy, int(kContrastive));
    setValue(kAmateurKind, int(c.amateurLayers > 0 ? kFirstLayers : kModelFile));
    if (c.amateurLayers > 0) setValue(kAmateurLayers, c.amateurLayers);
    if (!c.amateurPath.isEmpty()) setValue(kAmateurPath, c.amateurPath);
    setValue(kAlpha, c.alpha);
    setValue(kLambda, c.lambda);
    applying_ = false;
    updateEnabled();
    persist();
}

SpeculationSettings DecodingPanel::speculationSettings() const {
    SpeculationSettings sp;
    if (value(kStrategy).toInt() == kSampling) sp.mode = value(kSpeculation).toInt();
    sp.draftTokens = value(kDraftTokens).toInt();
    sp.draftPath = value(kDraftPath).toString();
    return sp;
}

EarlyExitSettings DecodingPanel::earlyExitSettings() const {
    EarlyExitSettings e;
    e.enabled = value(kStrategy).toInt() == kEarlyExit;
    e.maxEntropy = value(kExitEntropy).toDouble();
    e.firstLayer = value(kExitFirstLayer).toInt();
    e.every = value(kExitEvery).toInt();
    return e;
}

// ------------------------------------------------------------------ result views

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
            item->setText(2,
                          QStringLiteral("%1 %").arg(100.0 * d.stepsByLayersRun[l] / std::max(1.0, steps), 0, 'f', 1));
        }
        return;
    }
    QStringList positions;
    for (int p = 0; p < d.acceptedAtPosition.size(); ++p) positions << QString::number(d.acceptedAtPosition[p]);
    QString text =
        tr("%1: %2 of %3 drafts accepted (%4 %) over %5 verify steps, %6 accepted per step · decode %7 tok/s")
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

void DecodingPanel::replyStarted(qint64 requestId) {
    const int strategy = value(kStrategy).toInt();
    if (strategy == kBeamSearch) clearResults(strategy, tr("Beam search running…"));
    if (strategy == kContrastive) clearResults(strategy, tr("Contrastive decoding running…"));
    if (strategy == kBeamSearch || strategy == kContrastive) running_.insert(requestId, strategy);
}

void DecodingPanel::replyFailed(qint64 requestId, const QString& message) {
    const int strategy = running_.take(requestId);
    if (strategy == kBeamSearch) clearResults(strategy, tr("Beam search failed: %1").arg(message));
    if (strategy == kContrastive) clearResults(strategy, tr("Contrastive decoding failed: %1").arg(message));
}

void DecodingPanel::clearResults(int strategy, const QString& summary) {
    if (strategy == kBeamSearch) {
        hypotheses_->clear();
        beam_tree_->clear();
        beam_summary_->setText(summary);
    } else if (strategy == kContrastive) {
        contrastive_trace_->clear();
        contrastive_summary_->setText(summary);
    }
}

void DecodingPanel::showContrastive(const ContrastiveData& result) {
    running_.remove(result.requestId);
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
    running_.remove(search.requestId);
    beam_summary_->setText(tr("Width %1 · %2 steps · %3 forks · KV blocks: %4 for the prompt, %5 at the peak "
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
    beam_tree_->clear();
    auto* root = new QTreeWidgetItem(beam_tree_, {tr("(prompt)")});
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
    beam_tree_->expandAll();
    beam_tree_->resizeColumnToContents(0);
}

}  // namespace lumen::ui
