// lumen-cli: the engine from the command line, for scripts, benchmarks and chat.
#include <cstdio>

#include "cli/commands.h"
#include "core/log.h"

int main(int argc, char** argv) {
    // Engine warnings (a device fallback, a forced kernel level, ...) go to stderr.
    lumen::set_log_callback(
        [](lumen::LogLevel level, const std::string& message) {
            std::fprintf(stderr, "lumen: %s: %s\n", lumen::log_level_name(level), message.c_str());
        },
        lumen::LogLevel::warning);
    return lumen::cli::run_command_line(argc, argv);
}
