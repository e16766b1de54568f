// lumen-cli info: metadata, tensors, parameter count and the memory estimate
// (weights + KV at a context and batch: 2 · layers · kv_heads · head_dim · bytes per token).
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/options.h"
#include "gguf/gguf_file.h"
#include "kv/block_pool.h"
#include "model/model.h"

namespace lumen::cli {

namespace {

struct InfoArgs {
    ModelArgs model;
    int ctx = 0;  // 0: the model's context length
    int batch = 1;
    std::string kv = "f16";
    bool json = false;
};

int run_info(const InfoArgs& a);

}  // namespace

Command add_info_command(CLI::App& root) {
    auto args = std::make_shared<InfoArgs>();
    CLI::App* app = root.add_subcommand("info", "metadata, tensors, parameters and the memory a load would take");
    add_model_options(*app, args->model);
    app->add_option("--ctx", args->ctx, "context per sequence for the KV estimate (default: the model's)")
        ->check(in_range(1, 1 << 24));
    app->add_option("--batch", args->batch, "sequences for the KV estimate")
        ->check(in_range(1, 1 << 16))
        ->capture_default_str();
    app->add_option("--kv,--kv-type", args->kv, "the KV cache's format, as the engine's --kv (default f16, as a load)")
        ->check(engine_check("FMT", [](const std::string& v) { return parse_kv_cache_type(v); }))
        ->capture_default_str();
    app->add_flag("--json", args->json, "print one JSON object");
    return {app, [args] { return run_info(*args); }};
}

namespace {

int run_info(const InfoArgs& a) {
    auto loaded = load_model(a.model.model, a.model.load_options());
    if (!loaded) return fail(loaded.status().message());
    const Model& m = *loaded.value();
    const ModelConfig& c = m.config;
    const int64_t ctx = a.ctx > 0 ? a.ctx : c.context_length;
    const int64_t batch = a.batch;
    auto kv_type = parse_kv_cache_type(a.kv);
    if (!kv_type) return usage_error("option --kv: " + kv_type.status().message());
    if (Status fits = check_kv_cache_type(kv_type.value(), c.head_dim); !fits) return fail(fits.message());
    KVCacheLayout layout;  // the engine's own arithmetic: what the pool would allocate
    layout.n_layers = c.n_layers;
    layout.n_kv_heads = c.n_kv_heads;
    layout.head_dim = c.head_dim;
    layout.type = kv_type.value();
    const int64_t kv_per_token = layout.bytes_per_token();
    const int64_t kv_total = kv_per_token * ctx * batch;
    const int64_t weights = m.weight_bytes();

    nlohmann::json j;
    j["path"] = m.path;
    j["format"] = m.format;
    j["architecture"] = c.architecture;
    j["name"] = c.name;
    j["parameters"] = m.n_parameters();
    j["config"] = {{"dim", c.dim},
                   {"n_layers", c.n_layers},
                   {"n_heads", c.n_heads},
                   {"n_kv_heads", c.n_kv_heads},
                   {"head_dim", c.head_dim},
                   {"ffn_dim", c.ffn_dim},
                   {"vocab_size", c.vocab_size},
                   {"context_length", c.context_length},
                   {"rms_eps", c.rms_eps},
                   {"rope_theta", c.rope_theta},
                   {"rope_scale", c.rope_scale},
                   {"tied_output", c.tied_output}};
    j["tensor_types"] = m.tensor_type_counts();
    j["tokenizer"] = {{"kind", m.tokenizer->vocab().kind == VocabKind::spm ? "spm" : "bpe"},
                      {"pre", m.tokenizer->vocab().pre},
                      {"tokens", m.tokenizer->vocab().size()},
                      {"bos", m.tokenizer->vocab().bos_id},
                      {"eos", m.tokenizer->vocab().eos_id},
                      {"eot", m.tokenizer->vocab().eot_id},
                      {"has_chat_template", !m.tokenizer->vocab().chat_template.empty()}};
    j["memory"] = {{"weights_bytes", weights},
                   {"kv_type", dtype_name(kv_type.value())},
                   {"kv_bytes_per_token", kv_per_token},
                   {"context", ctx},
                   {"batch", batch},
                   {"kv_bytes", kv_total},
                   {"total_bytes", weights + kv_total}};
    nlohmann::json tensors = nlohmann::json::array();
    nlohmann::json metadata = nlohmann::json::object();
    if (m.gguf) {
        for (const auto& t : m.gguf->tensors())
            tensors.push_back(
                {{"name", t.name}, {"type", dtype_name(t.type)}, {"shape", t.dims}, {"bytes", t.n_bytes}});
        for (const auto& key : m.gguf->metadata_order()) metadata[key] = m.gguf->find(key)->to_display_string();
    }
    j["metadata"] = metadata;
    j["tensors"] = tensors;
    if (a.json) {
        std::puts(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
        return 0;
    }
    std::printf("%s (%s, %s)\n", m.path.c_str(), m.format.c_str(), c.architecture.c_str());
    std::printf("  parameters   %.2f M\n", double(m.n_parameters()) / 1e6);
    std::printf("  dim %d, layers %d, heads %d, kv heads %d, head dim %d, ffn %d, vocab %d, context %d\n", c.dim,
                c.n_layers, c.n_heads, c.n_kv_heads, c.head_dim, c.ffn_dim, c.vocab_size, c.context_length);
    std::printf("  tensor types");
    for (const auto& [name, count] : m.tensor_type_counts()) std::printf(" %s:%d", name.c_str(), count);
    std::printf(
        "\n  memory       weights %.1f MiB + KV %.1f MiB (%s, %lld tokens x %lld sequences, %lld bytes/token) = %.1f "
        "MiB\n",
        weights / 1048576.0, kv_total / 1048576.0, dtype_name(kv_type.value()), (long long)ctx, (long long)batch,
        (long long)kv_per_token, (weights + kv_total) / 1048576.0);
    if (m.gguf) {
        std::printf("metadata:\n");
        for (const auto& key : m.gguf->metadata_order())
            std::printf("  %-40s %s\n", key.c_str(), m.gguf->find(key)->to_display_string(4).c_str());
        std::printf("tensors (%zu):\n", m.gguf->tensors().size());
        for (const auto& t : m.gguf->tensors())
            std::printf("  %-32s %-6s %s\n", t.name.c_str(), dtype_name(t.type), t.shape_string().c_str());
    }
    return 0;
}

}  // namespace

}  // namespace lumen::cli
