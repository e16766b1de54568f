// The step batch's helpers, the early-exit rule and the choice of backend.
#include "backend/backend.h"
#include "core/log.h"

#include <cstdlib>
#include <cstring>
#include <thread>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_ops.h"
#ifdef LUMEN_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

namespace lumen {

int32_t StepBatch::n_logit_rows() const {
    int32_t n = 0;
    for (uint8_t w : want_logits) n += w;
    return n;
}

void StepBatch::clear() {
    tokens.clear();
    positions.clear();
    sequence_index.clear();
    want_logits.clear();
    sequences.clear();
    exit_layer = 0;
    early_exit = {};
}

Status EarlyExitRule::validate(int32_t n_layers) const {
    if (first_layer >= 1 && first_layer < n_layers && every >= 1) return Status::ok();
    return Status::error("early exit checks from layer " + std::to_string(first_layer) + " every " +
                         std::to_string(every) + "; expected a first layer in 1.." + std::to_string(n_layers - 1) +
                         " (the model has " + std::to_string(n_layers) + " layers) and every >= 1");
}

bool EarlyExitRule::checks_after(int32_t layers_done, int32_t n_layers) const {
    return enabled() && layers_done < n_layers && layers_done >= first_layer &&
           (layers_done - first_layer) % every == 0;
}

bool EarlyExitRule::exits(const float* logits, int64_t vocab) const {
    return cpu::softmax_entropy(logits, vocab) < double(max_entropy);
}

Result<std::unique_ptr<Backend>> create_backend(const BackendOptions& options) {
    int threads = options.n_threads;
    if (threads <= 0) threads = int(std::max(1u, std::thread::hardware_concurrency()));
    if (options.device != "cpu" && options.device != "auto" && options.device != "cuda")
        return Status::error("device '" + options.device + "' is unknown, expected cpu, cuda or auto");
    if (options.device != "cpu") {
        // cuda and auto take the GPU when one is usable; otherwise one line says why,
        // and the CPU backend runs the model.
#ifdef LUMEN_HAVE_CUDA
        CudaBackendOptions cuda_options;
        const char* graphs = std::getenv("LUMEN_CUDA_GRAPHS");
        cuda_options.graphs = !(graphs && std::strcmp(graphs, "0") == 0);
        auto cuda = CudaBackend::create(cuda_options);
        if (cuda) return std::unique_ptr<Backend>(std::move(cuda.value()));
        log_warning("CUDA not usable (" + cuda.status().message() + "); using the CPU backend");
#else
        log_warning("this build has no CUDA backend; using the CPU backend");
#endif
    }
    return std::unique_ptr<Backend>(std::make_unique<CpuBackend>(threads));
}

}  // namespace lumen
