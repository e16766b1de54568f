// lumen-cli subcommands. Each takes the arguments after its name and returns
// the process exit code; errors are printed as one line on stderr.
#pragma once

#include <string>
#include <vector>

namespace lumen::cli {

int cmd_generate(const std::vector<std::string>& args);
int cmd_tokenize(const std::vector<std::string>& args);
int cmd_info(const std::vector<std::string>& args);
int cmd_convert(const std::vector<std::string>& args);
int cmd_chat(const std::vector<std::string>& args);
int cmd_quantize(const std::vector<std::string>& args);
int cmd_synth(const std::vector<std::string>& args);
int cmd_bench(const std::vector<std::string>& args);
int cmd_serve_bench(const std::vector<std::string>& args);
int cmd_eval(const std::vector<std::string>& args);
int cmd_calibrate(const std::vector<std::string>& args);

// Prints "lumen-cli: <message>" to stderr and returns 1.
int fail(const std::string& message);

}  // namespace lumen::cli
