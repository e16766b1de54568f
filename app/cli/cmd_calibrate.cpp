// lumen-cli calibrate: loads a model with GPTQ load-time quantization (or, with --rtn,
// round-to-nearest) and reports, per matrix, the reconstruction error
// ||X W^T - X Wq^T||^2 / ||X W^T||^2 on the calibration activations for round-to-nearest
// and for GPTQ, and the kept weights' error through the CPU kernels (activation
// quantization included; for int8-w8a8 also without the outlier split).
#include <cstdio>

#include "cli/commands.h"
#include "cli/options.h"

namespace lumen::cli {

nlohmann::json calibration_report_json(const CalibrationReport& report) {
    nlohmann::json matrices = nlohmann::json::array();
    int gptq_better = 0, with_grid = 0;
    double rtn_sum = 0, gptq_sum = 0;
    for (const MatrixQuantError& m : report.matrices) {
        nlohmann::json row = {{"name", m.name}, {"type", dtype_name(m.type)}, {"rtn", m.rtn}, {"kernel", m.kernel}};
        if (m.kernel_no_outliers >= 0) row["kernel_no_outliers"] = m.kernel_no_outliers;
        if (m.gptq >= 0) {
            row["gptq"] = m.gptq;
            ++with_grid;
            gptq_better += m.gptq < m.rtn;
            rtn_sum += m.rtn;
            gptq_sum += m.gptq;
        }
        matrices.push_back(row);
    }
    return {{"calibration_tokens", report.calibration_tokens},
            {"seconds", report.seconds},
            {"matrices", matrices},
            {"gptq_better", gptq_better},
            {"with_grid", with_grid},
            {"mean_rtn", with_grid ? rtn_sum / with_grid : 0.0},
            {"mean_gptq", with_grid ? gptq_sum / with_grid : 0.0}};
}

namespace {

struct CalibrateArgs {
    ModelArgs model;
    EngineArgs engine;
    bool rtn = false;
    bool json = false;
};

int run_calibrate(const CalibrateArgs& a) {
    auto options = a.engine.to_engine_options();
    if (!options) return usage_error(options.status().message());
    EngineOptions engine_options = options.value();
    engine_options.weights_gptq = true;
    engine_options.calibration.apply_gptq = !a.rtn;
    if (engine_options.kv_tokens == 0)
        engine_options.kv_tokens = std::max(512, engine_options.calibration.sample_tokens);
    auto engine = Engine::load(a.model.model, a.model.load_options(), engine_options);
    if (!engine) return fail(engine.status().message());
    const CalibrationReport& report = engine.value()->calibration_report();
    const nlohmann::json j = calibration_report_json(report);
    if (a.json) {
        std::puts(j.dump(2).c_str());
        return 0;
    }
    std::printf("%-28s %-16s %13s %13s %9s %13s %13s\n", "matrix", "type", "RTN", "GPTQ", "GPTQ/RTN", "kernels",
                "no outliers");
    for (const MatrixQuantError& m : report.matrices) {
        char gptq[32] = "(no grid)", ratio[32] = "", no_outliers[32] = "";
        if (m.gptq >= 0) {
            std::snprintf(gptq, sizeof gptq, "%.4e", m.gptq);
            std::snprintf(ratio, sizeof ratio, "%.3f", m.rtn > 0 ? m.gptq / m.rtn : 1.0);
        }
        if (m.kernel_no_outliers >= 0) std::snprintf(no_outliers, sizeof no_outliers, "%.4e", m.kernel_no_outliers);
        std::printf("%-28s %-16s %13.4e %13s %9s %13.4e %13s\n", m.name.c_str(), dtype_name(m.type), m.rtn, gptq, ratio,
                    m.kernel, no_outliers);
    }
    std::printf(
        "%lld calibration tokens from %s, %.1f s; GPTQ below RTN on %d of %d matrices "
        "(mean relative error %.4e vs %.4e)\n",
        (long long)report.calibration_tokens, engine_options.calibration.text_path.c_str(), report.seconds,
        j["gptq_better"].get<int>(), j["with_grid"].get<int>(), j["mean_gptq"].get<double>(),
        j["mean_rtn"].get<double>());
    return 0;
}

}  // namespace

Command add_calibrate_command(CLI::App& root) {
    auto args = std::make_shared<CalibrateArgs>();
    CLI::App* app = root.add_subcommand(
        "calibrate", "per-matrix error of round-to-nearest and GPTQ quantization on calibration text");
    add_model_options(*app, args->model);
    add_engine_options(*app, args->engine);
    add_quantization_options(*app, args->engine, /*gptq_flag=*/false);
    app->get_option("--weights")->required();
    app->add_flag("--rtn", args->rtn, "keep round-to-nearest weights (report GPTQ's error only)");
    app->add_flag("--json", args->json, "print one JSON object");
    return {app, [args] { return run_calibrate(*args); }};
}

}  // namespace lumen::cli
