// ModelPanel: file choice, recent list, metadata tree, memory estimate and
// the load / cancel / unload controls.
#include "model/model_panel.h"

#include <QCheckBox>
#include <QComboBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QLocale>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QTreeWidget>
#include <QVBoxLayout>

#include "kv/block_pool.h"
#include "quant/calibration.h"

namespace lumen::ui {

namespace {

const char* kRecentKey = "model/recent";
constexpr int kMaxRecent = 10;

QString mib(qint64 bytes) {
    return QLocale().toString(double(bytes) / 1048576.0, 'f', 1) + QStringLiteral(" MiB");
}

}  // namespace

qint64 estimate_kv_bytes(const ModelSummary& m, int contextTokens, int batch, const QString& kvType) {
    // The engine's own layout arithmetic, so the estimate is what the pool allocates.
    KVCacheLayout layout;
    layout.n_layers = m.layers;
    layout.n_kv_heads = m.kvHeads;
    layout.head_dim = m.headDim;
    layout.type = dtype_from_name(kvType.toStdString()).value_or(DType::F16);
    if (m.headDim > 0 && !check_kv_cache_type(layout.type, m.headDim).is_ok()) return 0;
    return qint64(layout.bytes_per_token()) * contextTokens * batch;
}

// ------------------------------------------------------------------ building

ModelPanel::ModelPanel(QWidget* parent) : QWidget(parent) {
    setObjectName(QStringLiteral("modelPanel"));
    QLayout* fileRow = buildFileRow();  // created in display order, which is the tab order
    auto* form = new QFormLayout;
    addMemoryRows(form);
    addWeightsRows(form);
    addDeviceRows(form);
    metadata_ = new QTreeWidget(this);
    metadata_->setObjectName(QStringLiteral("metadataTree"));
    metadata_->setColumnCount(2);
    metadata_->setHeaderLabels({tr("Property"), tr("Value")});
    metadata_->header()->setSectionResizeMode(0, QHeaderView::ResizeToContents);
    estimate_ = new QLabel(this);
    estimate_->setObjectName(QStringLiteral("memoryEstimateLabel"));
    estimate_->setWordWrap(true);

    auto* layout = new QVBoxLayout(this);
    layout->addLayout(fileRow);
    layout->addWidget(new QLabel(tr("Recent models"), this));
    layout->addWidget(recent_);
    layout->addLayout(form);
    layout->addWidget(metadata_, 1);
    layout->addWidget(estimate_);
    addLoadControls(layout);
    updateButtons();

    connect(path_, &QLineEdit::returnPressed, this, [this] { selectModel(path_->text()); });
    connect(recent_, &QListWidget::itemActivated, this, [this](QListWidgetItem* item) { selectModel(item->text()); });
    connect(context_, &QSpinBox::valueChanged, this, &ModelPanel::updateEstimate);
    connect(batch_, &QSpinBox::valueChanged, this, &ModelPanel::updateEstimate);
    connect(kv_type_, &QComboBox::currentTextChanged, this, &ModelPanel::updateEstimate);
    connect(weights_, &QComboBox::currentIndexChanged, this, &ModelPanel::updateEstimate);
    connect(mix_type_, &QComboBox::currentIndexChanged, this, &ModelPanel::updateEstimate);
}

QLayout* ModelPanel::buildFileRow() {
    path_ = new QLineEdit(this);
    path_->setObjectName(QStringLiteral("modelPathEdit"));
    path_->setPlaceholderText(tr("Path to a .gguf or llama2.c .bin file"));
    auto* browse = new QPushButton(tr("Open…"), this);
    browse->setObjectName(QStringLiteral("openModelButton"));
    connect(browse, &QPushButton::clicked, this, &ModelPanel::openFileDialog);
    recent_ = new QListWidget(this);
    recent_->setObjectName(QStringLiteral("recentModelsList"));
    recent_->setMaximumHeight(90);
    // Long paths elide in the middle (the file name stays) instead of widening the panel.
    recent_->setTextElideMode(Qt::ElideMiddle);
    recent_->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    recent_->setUniformItemSizes(true);
    recent_->addItems(recentModels());
    for (int i = 0; i < recent_->count(); ++i) recent_->item(i)->setToolTip(recent_->item(i)->text());
    auto* row = new QHBoxLayout;
    row->addWidget(path_, 1);
    row->addWidget(browse);
    return row;
}

// The KV pool: its capacity, the batch of the estimate, its element type.
void ModelPanel::addMemoryRows(QFormLayout* form) {
    context_ = new QSpinBox(this);
    context_->setObjectName(QStringLiteral("contextSpin"));
    context_->setRange(16, 1 << 20);
    context_->setSingleStep(256);
    context_->setValue(4096);
    context_->setToolTip(tr("KV cache capacity in tokens, shared by all conversations."));
    batch_ = new QSpinBox(this);
    batch_->setObjectName(QStringLiteral("batchSpin"));
    batch_->setRange(1, 256);
    batch_->setToolTip(tr("Sequences held at full context, for the memory estimate."));
    kv_type_ = new QComboBox(this);
    kv_type_->setObjectName(QStringLiteral("kvTypeCombo"));
    for (DType t : kv_cache_types()) kv_type_->addItem(QString::fromLatin1(dtype_name(t)));
    kv_type_->setToolTip(
        tr("Element type of the KV cache. f16 halves f32's memory; q8_0 and fp8 halve it again, "
           "q4_0 quarters it. f32 is exact; the others cost some quality (Quantization panel)."));
    form->addRow(tr("Context (tokens)"), context_);
    form->addRow(tr("Batch (sequences)"), batch_);
    form->addRow(tr("KV type"), kv_type_);
}

// Load-time quantization: the format, the tensors kept at a higher precision, GPTQ.
void ModelPanel::addWeightsRows(QFormLayout* form) {
    weights_ = new QComboBox(this);
    weights_->setObjectName(QStringLiteral("weightsCombo"));
    weights_->addItem(tr("as stored"), QString());
    for (QuantScheme scheme : load_time_schemes())
        weights_->addItem(QString::fromLatin1(quant_scheme_name(scheme)),
                          QString::fromLatin1(quant_scheme_name(scheme)));
    weights_->setToolTip(
        tr("Load-time quantization: the weights are re-encoded in this format as the model loads, "
           "so an F32/F16 file runs quantized without a separate file. The GGUF formats are byte "
           "for byte what lumen-cli quantize writes; int8-ch (per channel), int4-gN (groups of N, "
           "-asym with a zero point) and fp8-e4m3 are Lumen's in-memory formats. Norms stay f32; "
           "q4_k_m mixes q4_k and q6_k as llama.cpp does."));
    form->addRow(tr("Weights"), weights_);
    form->addRow(tr("Keep higher"), buildMixRow());
    form->addRow(tr("Calibrated"), buildCalibrationRow());
}

QLayout* ModelPanel::buildMixRow() {
    mix_type_ = new QComboBox(this);
    mix_type_->setObjectName(QStringLiteral("weightsMixTypeCombo"));
    mix_type_->addItem(tr("no"), QString());
    for (const char* t : {"f16", "bf16", "q8_0", "int8-ch", "q6_k"})
        mix_type_->addItem(QString::fromLatin1(t), QString::fromLatin1(t));
    mix_type_->setToolTip(
        tr("Mixed precision: the tensors ticked beside stay in this format while the rest take "
           "the Weights format (the sensitive ends of the model, as Q4_K_M does)."));
    // The format, then the tensors two by two: one row of five would set the side bar's width.
    auto* grid = new QGridLayout;
    grid->setContentsMargins(0, 0, 0, 0);
    grid->addWidget(mix_type_, 0, 0, 1, 2);
    int index = 0;
    for (const auto& [key, label] : {std::pair{"embd", tr("embeddings")}, std::pair{"output", tr("output")},
                                     std::pair{"first", tr("first layer")}, std::pair{"last", tr("last layer")}}) {
        auto* box = new QCheckBox(label, this);
        box->setObjectName(QStringLiteral("weightsMix_%1").arg(QLatin1String(key)));
        box->setProperty("mixKey", QString::fromLatin1(key));
        box->setChecked(true);
        grid->addWidget(box, 1 + index / 2, index % 2);
        ++index;
        mix_boxes_.push_back(box);
        connect(box, &QCheckBox::toggled, this, &ModelPanel::updateEstimate);
    }
    return grid;
}

QLayout* ModelPanel::buildCalibrationRow() {
    gptq_ = new QCheckBox(tr("GPTQ"), this);
    gptq_->setObjectName(QStringLiteral("gptqCheck"));
    gptq_->setToolTip(
        tr("Calibrated quantization: the calibration text runs through the model first, then every "
           "layer's matrices are quantized with GPTQ (error compensation against the layer's inputs) "
           "instead of round-to-nearest. For the int*, q4_0, q4_1 and q8_0 formats; slower to load. "
           "The Quantization panel shows each matrix's error with and without it."));
    calibration_text_ = new QLineEdit(QString::fromStdString(CalibrationOptions{}.text_path), this);
    calibration_text_->setObjectName(QStringLiteral("calibrationTextEdit"));
    calibration_text_->setToolTip(tr("Calibration text for GPTQ (plain text)."));
    calibration_samples_ = new QSpinBox(this);
    calibration_samples_->setObjectName(QStringLiteral("calibrationSamplesSpin"));
    calibration_samples_->setRange(1, 1024);
    calibration_samples_->setValue(CalibrationOptions{}.samples);
    calibration_samples_->setToolTip(
        tr("Calibration samples of %1 tokens each.").arg(CalibrationOptions{}.sample_tokens));
    auto* row = new QHBoxLayout;
    row->addWidget(gptq_);
    row->addWidget(calibration_text_, 1);
    row->addWidget(calibration_samples_);
    return row;
}

void ModelPanel::addDeviceRows(QFormLayout* form) {
    threads_ = new QSpinBox(this);
    threads_->setObjectName(QStringLiteral("threadsSpin"));
    threads_->setRange(0, 1024);
    threads_->setSpecialValueText(tr("all cores"));
    device_ = new QComboBox(this);
    device_->setObjectName(QStringLiteral("deviceCombo"));
    device_->addItem(tr("CPU"), QStringLiteral("cpu"));
    device_->addItem(tr("CUDA GPU"), QStringLiteral("cuda"));
    device_->addItem(tr("Auto (GPU when usable)"), QStringLiteral("auto"));
    device_->setToolTip(
        tr("Where the model runs. Without a usable NVIDIA GPU (or in a build without CUDA) the CPU "
           "runs it and the engine says why in the status bar and the Log (View → Log); the status "
           "line after loading names the backend in use."));
    form->addRow(tr("Threads"), threads_);
    form->addRow(tr("Device"), device_);
}

// Load, Cancel and Unload, the progress bar, the status line and the error line.
void ModelPanel::addLoadControls(QVBoxLayout* layout) {
    load_ = new QPushButton(tr("Load"), this);
    load_->setObjectName(QStringLiteral("loadModelButton"));
    cancel_ = new QPushButton(tr("Cancel"), this);
    cancel_->setObjectName(QStringLiteral("cancelLoadButton"));
    unload_ = new QPushButton(tr("Unload"), this);
    unload_->setObjectName(QStringLiteral("unloadModelButton"));
    connect(load_, &QPushButton::clicked, this, [this] { requestLoad(loadSettings()); });
    connect(cancel_, &QPushButton::clicked, this, &ModelPanel::cancelLoadRequested);
    connect(unload_, &QPushButton::clicked, this, &ModelPanel::unloadRequested);
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(load_);
    buttons->addWidget(cancel_);
    buttons->addWidget(unload_);
    progress_ = new QProgressBar(this);
    progress_->setObjectName(QStringLiteral("loadProgress"));
    progress_->setRange(0, 100);
    status_ = new QLabel(tr("No model loaded."), this);
    status_->setObjectName(QStringLiteral("modelStatusLabel"));
    status_->setWordWrap(true);
    error_ = new QLabel(this);
    error_->setObjectName(QStringLiteral("modelErrorLabel"));
    error_->setWordWrap(true);
    error_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    error_->setStyleSheet(QStringLiteral("color: #b00020;"));
    error_->hide();
    layout->addLayout(buttons);
    layout->addWidget(progress_);
    layout->addWidget(status_);
    layout->addWidget(error_);
}

// ------------------------------------------------------------------ settings and state

LoadSettings ModelPanel::loadSettings() const {
    LoadSettings s;
    s.path = path_->text().trimmed();
    s.contextTokens = context_->value();
    s.kvType = kv_type_->currentText();
    s.weights = weights_->currentData().toString();
    s.weightsMix = s.weights.isEmpty() ? QString() : weightsMix();
    s.gptq = gptq_->isChecked() && !s.weights.isEmpty();
    s.calibrationText = calibration_text_->text().trimmed();
    s.calibrationSamples = calibration_samples_->value();
    s.threads = threads_->value();
    s.device = device_->currentData().toString();
    return s;
}

QString ModelPanel::weightsMix() const {
    const QString type = mix_type_->currentData().toString();
    QStringList keys;
    for (QCheckBox* box : mix_boxes_)
        if (box->isChecked()) keys << box->property("mixKey").toString();
    if (type.isEmpty() || keys.isEmpty()) return QString();
    return type + QLatin1Char(':') + keys.join(QLatin1Char(','));
}

QString ModelPanel::errorText() const {
    return error_->isHidden() ? QString() : error_->text();
}
QString ModelPanel::estimateText() const {
    return estimate_->text();
}

QStringList ModelPanel::recentModels() const {
    return QSettings().value(kRecentKey).toStringList();
}

void ModelPanel::requestLoad(const LoadSettings& settings) {
    setError({});
    loading_ = true;
    progress_->setValue(0);
    updateButtons();
    Q_EMIT loadRequested(settings);
}

void ModelPanel::selectModel(const QString& path) {
    path_->setText(path);
    setError({});
    have_summary_ = false;
    metadata_->clear();
    estimate_->clear();
    Q_EMIT inspectRequested(path);
}

void ModelPanel::openFileDialog() {
    const QString start = path_->text().isEmpty() ? QString() : QFileInfo(path_->text()).absolutePath();
    const QString path =
        QFileDialog::getOpenFileName(this, tr("Open model"), start, tr("Models (*.gguf *.bin);;All files (*)"));
    if (!path.isEmpty()) selectModel(path);
}

void ModelPanel::showSummary(const ModelSummary& s) {
    if (s.path != path_->text().trimmed() && !path_->text().isEmpty()) return;  // an older inspection
    showMetadata(s);
    context_->setValue(std::min(s.contextLength > 0 ? s.contextLength : 4096, 4096));
    updateEstimate();
}

void ModelPanel::showMetadata(const ModelSummary& s) {
    summary_ = s;
    have_summary_ = true;
    metadata_->clear();
    auto add = [this](QTreeWidgetItem* parent, const QString& key, const QString& value) {
        auto* item = parent ? new QTreeWidgetItem(parent) : new QTreeWidgetItem(metadata_);
        item->setText(0, key);
        item->setText(1, value);
        item->setToolTip(1, value);
        return item;
    };
    add(nullptr, tr("Name"), s.name.isEmpty() ? QFileInfo(s.path).fileName() : s.name);
    add(nullptr, tr("Architecture"), s.architecture);
    add(nullptr, tr("Format"), s.format);
    add(nullptr, tr("Parameters"), QLocale().toString(double(s.parameters) / 1e6, 'f', 1) + QStringLiteral(" M"));
    add(nullptr, tr("Layers"), QString::number(s.layers));
    add(nullptr, tr("Heads / KV heads"), QStringLiteral("%1 / %2").arg(s.heads).arg(s.kvHeads));
    add(nullptr, tr("Head dim / width / FFN"), QStringLiteral("%1 / %2 / %3").arg(s.headDim).arg(s.dim).arg(s.ffnDim));
    add(nullptr, tr("Vocabulary"), QString::number(s.vocabSize));
    add(nullptr, tr("Context length"), QString::number(s.contextLength));
    add(nullptr, tr("Chat template"), s.chatTemplate.isEmpty() ? tr("none: completion mode") : s.chatTemplate);
    add(nullptr, tr("Tensor types"), s.tensorTypes.join(QStringLiteral(", ")));
    if (!s.metadata.isEmpty()) {
        auto* meta = add(nullptr, tr("GGUF metadata"), tr("%1 keys").arg(s.metadata.size()));
        for (const auto& [key, value] : s.metadata) add(meta, key, value);
    }
    updateEstimate();
}

void ModelPanel::showInspectError(const QString& path, const QString& message) {
    have_summary_ = false;
    setError(tr("Cannot open %1: %2").arg(path, message));
}

void ModelPanel::showLoadProgress(const QString& stage, double fraction) {
    progress_->setValue(int(fraction * 100));
    status_->setText(tr("Loading: %1…").arg(stage));
}

void ModelPanel::showLoaded(const ModelSummary& s, double loadMs) {
    loaded_ = true;
    loading_ = false;
    path_->setText(s.path);
    showMetadata(s);  // keeps the context the model was loaded with
    progress_->setValue(100);
    status_->setText(tr("Loaded %1 in %2 ms, on the %3 backend.")
                         .arg(s.name.isEmpty() ? QFileInfo(s.path).fileName() : s.name)
                         .arg(QLocale().toString(loadMs, 'f', 0))
                         .arg(s.backend.toUpper()));
    rememberRecent(s.path);
    updateButtons();
}

void ModelPanel::showLoadFailed(const QString& path, const QString& message) {
    loaded_ = false;
    loading_ = false;
    progress_->setValue(0);
    status_->setText(tr("No model loaded."));
    setError(tr("Loading %1 failed: %2").arg(path, message));
    updateButtons();
}

void ModelPanel::showUnloaded() {
    loaded_ = false;
    if (!loading_) {  // a load that replaces the model unloads it first: keep showing that load
        progress_->setValue(0);
        status_->setText(tr("No model loaded."));
    }
    updateButtons();
}

void ModelPanel::updateButtons() {
    load_->setEnabled(!loading_);
    cancel_->setEnabled(loading_);
    unload_->setEnabled(!loading_ && loaded_);
}

void ModelPanel::setError(const QString& message) {
    error_->setText(message);
    error_->setVisible(!message.isEmpty());
}

void ModelPanel::updateEstimate() {
    if (!have_summary_) {
        estimate_->clear();
        return;
    }
    const qint64 kv = estimate_kv_bytes(summary_, context_->value(), batch_->value(), kv_type_->currentText());
    // The weights in the chosen load-time format, as predicted from the tensors' shapes.
    qint64 weights = summary_.weightBytes;
    const QString format = weights_->currentData().toString();
    QString format_label = format.isEmpty() ? QString() : QStringLiteral(" (%1)").arg(format);
    if (auto scheme = quant_scheme_from_name(format.toStdString())) {
        auto mix = parse_quant_mix(weightsMix().toStdString());
        weights = predicted_weight_bytes(summary_.weightShapes, *scheme, mix ? mix.value() : QuantMix{});
        if (mix && mix.value().type) format_label = QStringLiteral(" (%1, %2)").arg(format, weightsMix());
    }
    QString text = tr("Memory estimate: weights %1%2 + KV %3 (%4, %5 tokens × %6) = %7")
                       .arg(mib(weights), format_label, mib(kv), kv_type_->currentText())
                       .arg(context_->value())
                       .arg(batch_->value())
                       .arg(mib(weights + kv));
    QStringList formats;
    for (const auto& [name, bytes] : summary_.weightBytesByFormat)
        formats << QStringLiteral("%1 %2").arg(name, mib(bytes));
    if (!formats.isEmpty()) text += tr("\nWeights by format: %1").arg(formats.join(QStringLiteral(" · ")));
    if (auto kv_type = dtype_from_name(kv_type_->currentText().toStdString()); kv_type && summary_.headDim > 0)
        if (Status fits = check_kv_cache_type(*kv_type, summary_.headDim); !fits)
            text += QStringLiteral("\n") + QString::fromStdString(fits.message());
    estimate_->setText(text);
}

void ModelPanel::rememberRecent(const QString& path) {
    QStringList recent = recentModels();
    recent.removeAll(path);
    recent.prepend(path);
    while (recent.size() > kMaxRecent) recent.removeLast();
    QSettings().setValue(kRecentKey, recent);
    recent_->clear();
    recent_->addItems(recent);
    for (int i = 0; i < recent_->count(); ++i) recent_->item(i)->setToolTip(recent_->item(i)->text());
}

}  // namespace lumen::ui
