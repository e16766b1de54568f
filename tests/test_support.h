// Shared helpers for the test executables: where test data lives, and how a
// test that lacks its data reports "skipped" (exit code 77) to ctest.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace lumen {
class Engine;
}

namespace lumen::test {

// An engine on `path` with a KV pool of kv_tokens and 2 threads; nullptr (and a test
// failure naming the error) if it does not load.
std::unique_ptr<Engine> load_engine(const std::string& path, int32_t kv_tokens);

// ../shared beside the repository (CI has it; a user's clone may not).
std::string shared_dir();
// tests/data inside the repository.
std::string data_dir();
// The default model: $LUMEN_MODEL_PATH, else where installer/fetch-model.sh caches it.
std::string default_model_path();
std::string cli_path();

bool file_exists(const std::string& path);
// Prints "SKIPPED: <why>" and exits with 77 unless `path` exists.
void skip_unless_exists(const std::string& path, const std::string& what);
// Prints "SKIPPED: <why>" and exits with 77.
[[noreturn]] void skip_because(const std::string& why);

std::string read_text_file(const std::string& path);
std::vector<std::string> split_lines(const std::string& text);

// n token ids, uniform in [3, 31999] (the llama-spm test vocabulary without its control tokens), seeded.
std::vector<int32_t> random_tokens(size_t n, uint32_t seed);

// Runs a shell command; returns its exit code and puts stdout in *out.
int run_command(const std::string& command, std::string* out);

}  // namespace lumen::test
