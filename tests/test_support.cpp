// Test helpers: data locations, skip handling, small file and process utilities.
#include "test_support.h"

#include <gtest/gtest.h>

#include "runtime/engine.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

namespace lumen::test {

std::string shared_dir() {
    if (const char* env = std::getenv("LUMEN_SHARED_DIR")) return env;
    return LUMEN_SHARED_DIR;
}

std::string data_dir() {
    return LUMEN_TEST_DATA_DIR;
}

std::string default_model_path() {
    if (const char* env = std::getenv("LUMEN_MODEL_PATH")) return env;
    std::string dir;
    if (const char* env = std::getenv("LUMEN_MODEL_DIR"))
        dir = env;
    else if (const char* xdg = std::getenv("XDG_CACHE_HOME"))
        dir = std::string(xdg) + "/lumen/models";
    else if (const char* home = std::getenv("HOME"))
        dir = std::string(home) + "/.cache/lumen/models";
    else
        dir = LUMEN_DEFAULT_MODEL_CACHE;
    return dir + "/SmolLM2-135M-Instruct.Q4_1.gguf";
}

std::string cli_path() {
    return LUMEN_CLI_PATH;
}

bool file_exists(const std::string& path) {
    struct stat st {};
    return stat(path.c_str(), &st) == 0;
}

void skip_unless_exists(const std::string& path, const std::string& what) {
    if (file_exists(path)) return;
    skip_because(what + " not found at " + path);
}

void skip_because(const std::string& why) {
    std::printf("SKIPPED: %s\n", why.c_str());
    std::fflush(stdout);
    std::exit(77);
}

std::string read_text_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> lines;
    std::string line;
    std::istringstream in(text);
    while (std::getline(in, line)) lines.push_back(line);
    return lines;
}

int run_command(const std::string& command, std::string* out) {
    FILE* p = popen(command.c_str(), "r");
    if (!p) return -1;
    char buf[4096];
    size_t n;
    out->clear();
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out->append(buf, n);
    const int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::vector<int32_t> random_tokens(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int32_t> d(3, 31999);
    std::vector<int32_t> out(n);
    for (auto& t : out) t = d(rng);
    return out;
}

std::unique_ptr<Engine> load_engine(const std::string& path, int32_t kv_tokens) {
    EngineOptions o;
    o.kv_tokens = kv_tokens;
    o.backend.n_threads = 2;
    auto e = Engine::load(path, {}, o);
    EXPECT_TRUE(e.is_ok()) << e.status().message();
    return e.is_ok() ? std::move(e.value()) : nullptr;
}

}  // namespace lumen::test
