// lumen-cli's subcommands. Each add_*_command declares one subcommand on the root
// App, with its options bound to state the returned Command owns, and returns the
// function that runs it after a successful parse. Runtime errors print one line on
// stderr and give exit code 1; usage errors give exit code 2.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "quant/calibration.h"

namespace lumen::cli {

struct Command {
    CLI::App* app = nullptr;   // the subcommand, owned by the root App
    std::function<int()> run;  // its body, called once the whole command line parsed
};

Command add_generate_command(CLI::App& root);
Command add_chat_command(CLI::App& root);
Command add_tokenize_command(CLI::App& root);
Command add_info_command(CLI::App& root);
Command add_convert_command(CLI::App& root);
Command add_quantize_command(CLI::App& root);
Command add_synth_command(CLI::App& root);
Command add_bench_command(CLI::App& root);
Command add_serve_bench_command(CLI::App& root);
Command add_eval_command(CLI::App& root);
Command add_calibrate_command(CLI::App& root);

// The whole command tree: the root App and every subcommand, in help order.
struct CommandLine {
    std::unique_ptr<CLI::App> root;
    std::vector<Command> commands;
};
CommandLine make_command_line();

// The per-matrix RTN/GPTQ errors of calibrated quantization with their summary
// (calibrate's and eval's JSON).
nlohmann::json calibration_report_json(const CalibrationReport& report);

// Parses argv and runs the chosen subcommand; returns the process exit code.
int run_command_line(int argc, const char* const* argv);

}  // namespace lumen::cli
