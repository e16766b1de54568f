// The step batch's helpers and the choice of backend.
#include "backend/backend.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "backend/cpu/cpu_backend.h"
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
        std::fprintf(stderr, "lumen: no usable CUDA GPU (%s); using the CPU backend\n", cuda.status().message().c_str());
#else
        std::fprintf(stderr, "lumen: built without CUDA; using the CPU backend\n");
#endif
    }
    return std::unique_ptr<Backend>(std::make_unique<CpuBackend>(threads));
}

}  // namespace lumen
