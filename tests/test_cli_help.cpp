// lumen-cli's declared command tree against what the binary prints and accepts: every
// subcommand's --help lists every option that subcommand accepts (walked from the real
// CLI11 tree), the options the docs name exist, both --x=1 and --x 1 parse, declared
// conflicts and dependencies are enforced, and exit codes separate usage errors (2)
// from runtime errors (1).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cli/commands.h"
#include "test_support.h"

namespace {

using lumen::cli::CommandLine;
using lumen::cli::make_command_line;

struct CliRun {
    int exit_code = 0;
    std::string out, err;
};

std::string quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

CliRun cli(const std::vector<std::string>& args) {
    std::string cmd = quote(lumen::test::cli_path());
    for (const auto& a : args) cmd += " " + quote(a);
    const std::string err_path = ::testing::TempDir() + "lumen-cli-help-stderr.txt";
    CliRun r;
    r.exit_code = lumen::test::run_command(cmd + " 2>" + quote(err_path), &r.out);
    r.err = lumen::test::read_text_file(err_path);
    return r;
}

// Parses a command line with the real tree; returns the parse error's text, or "".
std::string parse(CommandLine& cl, std::vector<std::string> args) {
    args.insert(args.begin(), "lumen-cli");
    std::vector<const char*> argv;
    for (const auto& a : args) argv.push_back(a.c_str());
    try {
        cl.root->parse(int(argv.size()), argv.data());
    } catch (const CLI::ParseError& e) {
        return e.what();
    }
    return "";
}

CLI::App* command(CommandLine& cl, const std::string& name) {
    for (const auto& c : cl.commands)
        if (c.app->get_name() == name) return c.app;
    return nullptr;
}

}  // namespace

TEST(CliHelp, EverySubcommandListsEveryOptionItAccepts) {
    CommandLine cl = make_command_line();
    ASSERT_GE(cl.commands.size(), 11u);
    for (const auto& c : cl.commands) {
        const std::string name = c.app->get_name();
        const CliRun r = cli({name, "--help"});
        ASSERT_EQ(r.exit_code, 0) << name << ": " << r.err;
        int checked = 0;
        for (const CLI::Option* opt : c.app->get_options()) {
            for (const std::string& l : opt->get_lnames()) {
                EXPECT_NE(r.out.find("--" + l), std::string::npos) << name << " --help omits --" << l;
                ++checked;
            }
            for (const std::string& s : opt->get_snames())
                EXPECT_NE(r.out.find("-" + s), std::string::npos) << name << " --help omits -" << s;
        }
        EXPECT_GE(checked, 3) << name;
    }
}

TEST(CliHelp, RootHelpListsEveryCommandAndVersionPrints) {
    CommandLine cl = make_command_line();
    const CliRun help = cli({"--help"});
    ASSERT_EQ(help.exit_code, 0) << help.err;
    for (const auto& c : cl.commands) EXPECT_NE(help.out.find(c.app->get_name()), std::string::npos);
    const CliRun version = cli({"--version"});
    EXPECT_EQ(version.exit_code, 0);
    EXPECT_EQ(version.out.rfind("lumen-cli ", 0), 0u) << version.out;
}

// The options of every decoding strategy and quantization scheme are documented.
TEST(CliHelp, GenerateDocumentsEveryStrategysOptions) {
    const CliRun r = cli({"generate", "--help"});
    ASSERT_EQ(r.exit_code, 0);
    for (const char* option :
         {"--contrastive-amateur", "--contrastive-layers", "--contrastive-alpha", "--contrastive-lambda",
          "--amateur-temperature", "--early-exit-entropy", "--early-exit-first-layer", "--early-exit-every",
          "--outlier-threshold", "--repeat-last-n", "--no-repeat-ngram", "--beams", "--lookup-draft", "--draft-model",
          "--weights-mix", "--gptq", "--kv", "--device", "--stop"})
        EXPECT_NE(r.out.find(option), std::string::npos) << option;
    EXPECT_NE(r.out.find("int8-w8a8"), std::string::npos);
    EXPECT_NE(r.out.find("fp8-e4m3"), std::string::npos);
}

// The shared groups are declared once and so appear identically wherever a model runs.
TEST(CliHelp, ModelRunningCommandsShareTheEngineOptions) {
    CommandLine cl = make_command_line();
    for (const char* name : {"generate", "chat", "bench", "serve-bench", "eval"}) {
        CLI::App* app = command(cl, name);
        ASSERT_NE(app, nullptr) << name;
        for (const char* option : {"--model", "--threads", "--kv", "--kv-type", "--device", "--weights", "--gptq"})
            EXPECT_NE(app->get_option_no_throw(option), nullptr) << name << " lacks " << option;
    }
}

TEST(CliHelp, EqualsAndSpaceFormsBothParse) {
    for (const bool equals : {false, true}) {
        CommandLine cl = make_command_line();
        const std::vector<std::string> args =
            equals
                ? std::vector<std::string>{"generate", "--model=m.gguf", "--prompt=hi", "--max-tokens=7", "--top-p=0.5"}
                : std::vector<std::string>{"generate",     "--model", "m.gguf",  "--prompt", "hi",
                                           "--max-tokens", "7",       "--top-p", "0.5"};
        ASSERT_EQ(parse(cl, args), "");
        CLI::App* generate = command(cl, "generate");
        EXPECT_EQ(generate->get_option("--max-tokens")->as<int>(), 7);
        EXPECT_EQ(generate->get_option("--top-p")->as<double>(), 0.5);
        EXPECT_EQ(generate->get_option("--model")->as<std::string>(), "m.gguf");
    }
}

TEST(CliHelp, DeclaredConflictsAndDependenciesAreEnforced) {
    const std::vector<std::string> base = {"generate", "--model", "m.gguf", "--prompt", "x"};
    auto with = [&](std::vector<std::string> extra) {
        std::vector<std::string> args = base;
        args.insert(args.end(), extra.begin(), extra.end());
        CommandLine cl = make_command_line();
        return parse(cl, args);
    };
    EXPECT_NE(with({"--beams", "2", "--lookup-draft", "3"}).find("excludes"), std::string::npos);
    EXPECT_NE(with({"--draft-model", "d.gguf", "--lookup-draft", "3"}).find("excludes"), std::string::npos);
    EXPECT_NE(with({"--contrastive-layers", "1", "--contrastive-amateur", "a.gguf"}).find("excludes"),
              std::string::npos);
    EXPECT_NE(with({"--early-exit-entropy", "1", "--beams", "2"}).find("excludes"), std::string::npos);
    EXPECT_NE(with({"--draft-tokens", "3"}).find("--draft-model"), std::string::npos);
    EXPECT_NE(with({"--beam-return", "2"}).find("--beams"), std::string::npos);
    EXPECT_NE(with({"--early-exit-every", "2"}).find("--early-exit-entropy"), std::string::npos);
    EXPECT_NE(with({"--weights-mix", "f16:embd"}).find("--weights"), std::string::npos);
    EXPECT_NE(with({"--gptq"}).find("--weights"), std::string::npos);
    EXPECT_NE(with({"--weights", "q4_0", "--calib-samples", "4"}).find("--gptq"), std::string::npos);
    EXPECT_NE(with({"--top-p", "1.5"}).find("expected a number in 0..1"), std::string::npos);
    EXPECT_NE(with({"--device", "tpu"}).find("--device"), std::string::npos);
    EXPECT_NE(with({"--weights", "q3_x"}).find("q3_x"), std::string::npos);
    EXPECT_EQ(with({"--beams", "2", "--beam-return", "2", "--length-penalty", "0.5"}), "");
    EXPECT_EQ(with({"--weights", "q4_0", "--gptq", "--calib-samples", "4"}), "");
}

TEST(CliHelp, UsageErrorsExitTwoRuntimeErrorsExitOne) {
    const CliRun usage = cli({"generate", "--model", "m.gguf", "--prompt", "x", "--top-k", "many"});
    EXPECT_EQ(usage.exit_code, 2);
    EXPECT_EQ(usage.err.rfind("lumen-cli: --top-k: 'many' is not an integer; expected an integer in", 0), 0u)
        << usage.err;
    const CliRun unknown = cli({"frobnicate"});
    EXPECT_EQ(unknown.exit_code, 2);
    EXPECT_NE(unknown.err.find("'frobnicate'"), std::string::npos) << unknown.err;
    const CliRun missing = cli({"generate", "--model", "/nonexistent/m.gguf", "--prompt", "x"});
    EXPECT_EQ(missing.exit_code, 1);
    EXPECT_EQ(missing.err.rfind("lumen-cli: /nonexistent/m.gguf", 0), 0u) << missing.err;
    EXPECT_EQ(std::count(missing.err.begin(), missing.err.end(), '\n'), 1);
}
