// EngineWorker::evaluateQuantization: the Quantization panel's quick evaluation of
// the loaded model, on the worker thread (replies wait for it).
#include <QFile>
#include <QFileInfo>

#include "quant/requantize.h"
#include "runtime/engine.h"
#include "runtime/evaluate.h"
#include "worker/engine_worker.h"

namespace lumen::ui {

namespace {
// VmRSS of this process (Linux), 0 when unknown.
qint64 resident_bytes() {
    QFile status(QStringLiteral("/proc/self/status"));
    if (!status.open(QIODevice::ReadOnly)) return 0;
    for (const QByteArray& line : status.readAll().split('\n'))
        if (line.startsWith("VmRSS:")) return line.mid(6).trimmed().split(' ').value(0).toLongLong() * 1024;
    return 0;
}

// How the loaded model holds its weights and KV cache: "q8_0 + q8_0:embd GPTQ, KV f16".
QString loaded_format(const Engine& engine, const LoadSettings& loaded) {
    QStringList types;
    for (const auto& [type, count] : engine.model().tensor_type_counts()) types << QString::fromStdString(type);
    QString format =
        loaded.weights.isEmpty() ? QObject::tr("as stored (%1)").arg(types.join(QStringLiteral(", "))) : loaded.weights;
    if (!loaded.weightsMix.isEmpty()) format += QStringLiteral(" + %1").arg(loaded.weightsMix);
    if (loaded.gptq) format += QStringLiteral(" GPTQ");
    return format + QStringLiteral(", KV %1").arg(QString::fromLatin1(dtype_name(engine.kv().layout().type)));
}

// The reference: the same file with its own weights and an f16 KV cache, when the
// weights were requantized at load or the KV cache is narrower than f16. Null when
// neither is the case, or when loading fails (then `error` says why).
std::unique_ptr<Engine> load_reference(const Engine& engine, const LoadSettings& loaded, int contextTokens,
                                       QString* error) {
    const DType kv_type = engine.kv().layout().type;
    const bool kv_quantized = kv_type != DType::F16 && kv_type != DType::F32;
    if (loaded.weights.isEmpty() && !kv_quantized) return nullptr;
    EngineOptions options = engine.options();
    options.weights_scheme.clear();
    options.weights_mix.clear();
    options.weights_gptq = false;
    if (kv_quantized) options.kv_type = DType::F16;
    options.on_load_progress = nullptr;
    options.kv_tokens = contextTokens;
    auto reference = Engine::load(engine.model().path, {}, options);
    if (!reference) {
        *error = QString::fromStdString(reference.status().message());
        return nullptr;
    }
    return std::move(reference.value());
}

// Each tensor's error against the reference's, with GPTQ's per-matrix output errors where
// the load was calibrated.
QVector<TensorErrorData> tensor_error_rows(const Engine& engine, const Engine& reference) {
    QVector<TensorErrorData> rows;
    for (const TensorError& e : tensor_errors(engine.model(), reference.model())) {
        TensorErrorData t{QString::fromStdString(e.name), QString::fromLatin1(dtype_name(e.type)),
                          QString::fromLatin1(dtype_name(e.original_type)), e.nmse};
        for (const MatrixQuantError& m : engine.calibration_report().matrices)
            if (m.name == e.name) t.rtnOutputError = m.rtn, t.gptqOutputError = m.gptq, t.kernelOutputError = m.kernel;
        rows.append(t);
    }
    return rows;
}

// Decode speed: a short greedy generation on a fresh sequence; 0 if it fails.
double decode_tps(Engine& engine, const std::vector<int32_t>& tokens) {
    GenerationRequest g;
    g.prompt_ids = std::vector<int32_t>(tokens.begin(), tokens.begin() + std::min<size_t>(tokens.size(), 16));
    g.max_tokens = 32;
    g.sampling.temperature = 0;
    g.stop_at_eos = false;
    auto gen = engine.generate(g);
    return gen ? gen->stats.decode_tps : 0.0;
}
}  // namespace

void EngineWorker::evaluateQuantization(const QuantEvalSettings& settings) {
    if (!engine_) {
        Q_EMIT quantEvalFailed(tr("no model is loaded; open a model first"));
        return;
    }
    QFile file(settings.textPath);
    if (!file.open(QIODevice::ReadOnly)) {
        Q_EMIT quantEvalFailed(
            tr("cannot read the evaluation text '%1': %2").arg(settings.textPath, file.errorString()));
        return;
    }
    const std::string text = file.readAll().toStdString();
    try {
        const Tokenizer& tok = engine_->tokenizer();
        const std::vector<int32_t> tokens = tok.encode(text, true, false);
        QuantEvalData data;
        data.weightBytes = engine_->model().weight_bytes();
        data.format = loaded_format(*engine_, loaded_);
        QString error;
        std::unique_ptr<Engine> reference = load_reference(*engine_, loaded_, settings.contextTokens, &error);
        if (!error.isEmpty()) {
            Q_EMIT quantEvalFailed(tr("reference model: %1").arg(error));
            return;
        }
        EvalOptions eval;
        eval.n_ctx = settings.contextTokens;
        eval.max_chunks = settings.chunks;
        auto r = evaluate_perplexity(*engine_, tokens, eval, reference.get());
        if (!r) {
            Q_EMIT quantEvalFailed(QString::fromStdString(r.status().message()));
            return;
        }
        data.perplexity = r->perplexity;
        data.perplexityError = r->perplexity_error;
        data.scored = int(r->n_scored);
        data.hasReference = r->has_reference;
        data.kldMean = r->kld_mean;
        data.kldP99 = r->kld_p99;
        data.kldMax = r->kld_max;
        data.top1 = r->top1_agreement;
        if (reference) data.tensors = tensor_error_rows(*engine_, *reference);
        reference.reset();
        data.decodeTps = decode_tps(*engine_, tokens);
        data.predictedBytes = data.weightBytes + engine_->kv().layout().total_bytes();
        const MemoryInfo mem = engine_->backend().memory_info();
        data.backendBytes = mem.weight_bytes + mem.kv_bytes + mem.scratch_bytes;
        data.processRssBytes = resident_bytes();
        publishKvSnapshot();
        Q_EMIT quantEvalFinished(data);
    } catch (const std::exception& e) {
        Q_EMIT quantEvalFailed(tr("internal error: %1").arg(QString::fromUtf8(e.what())));
    }
}

}  // namespace lumen::ui
