// The root of lumen-cli's command tree and the parse-then-run driver.
#include <cstdio>
#include <exception>
#include <string>

#include "cli/commands.h"
#include "cli/options.h"

#ifndef LUMEN_VERSION
#define LUMEN_VERSION "unknown"
#endif

namespace lumen::cli {

CommandLine make_command_line() {
    CommandLine cl;
    cl.root = std::make_unique<CLI::App>(
        "Lumen's engine from the command line: generation, chat, benchmarks, quantization and model tools.\n"
        "Run 'lumen-cli COMMAND --help' for a command's options.",
        "lumen-cli");
    CLI::App& root = *cl.root;
    root.set_version_flag("--version", std::string("lumen-cli ") + LUMEN_VERSION);
    root.require_subcommand(1);
    root.footer("Exit codes: 0 success, 1 runtime error (bad file, failed load), 2 usage error (bad option).");
    for (auto add : {add_generate_command, add_chat_command, add_tokenize_command, add_info_command,
                     add_convert_command, add_quantize_command, add_synth_command, add_bench_command,
                     add_serve_bench_command, add_eval_command, add_calibrate_command})
        cl.commands.push_back(add(root));
    return cl;
}

int run_command_line(int argc, const char* const* argv) {
    CommandLine cl = make_command_line();
    CLI::App& root = *cl.root;
    if (argc < 2) {
        std::fputs(root.help().c_str(), stderr);
        return 2;
    }
    if (argv[1][0] != '-') {
        std::string names;
        bool known = false;
        for (const Command& c : cl.commands) {
            names += (names.empty() ? "" : ", ") + c.app->get_name();
            known = known || c.app->get_name() == argv[1];
        }
        if (!known) return usage_error(std::string("unknown command '") + argv[1] + "'; expected one of " + names);
    }
    try {
        root.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
        // --help names the innermost subcommand that was parsed.
        const CLI::App* shown = &root;
        for (const Command& c : cl.commands)
            if (c.app->parsed()) shown = c.app;
        std::fputs(shown->help().c_str(), stdout);
        return 0;
    } catch (const CLI::CallForVersion&) {
        std::printf("%s\n", root.version().c_str());
        return 0;
    } catch (const CLI::ParseError& e) {
        std::string hint = "lumen-cli --help";
        for (const Command& c : cl.commands)
            if (c.app->parsed()) hint = "lumen-cli " + c.app->get_name() + " --help";
        return usage_error(std::string(e.what()) + " (see '" + hint + "')");
    }
    try {
        for (const Command& c : cl.commands)
            if (c.app->parsed()) return c.run();
    } catch (const std::exception& e) {
        return fail(std::string("internal error: ") + e.what());
    }
    return usage_error("no command given; expected one of the commands in 'lumen-cli --help'");
}

}  // namespace lumen::cli
