// Engine diagnostics go through one callback that the host installs: the CLI
// prints them to stderr, the workstation shows them in its status bar and log
// view. The library itself never writes to stdout or stderr. Without a callback
// the messages are dropped.
#pragma once

#include <functional>
#include <string>

namespace lumen {

enum class LogLevel { debug, info, warning, error };

// "debug", "info", "warning", "error".
const char* log_level_name(LogLevel level);

// Receives every message at or above the installed minimum level. It may be
// called from any engine thread (a worker thread in the workstation), so it must
// be thread-safe; it must not call back into the engine.
using LogCallback = std::function<void(LogLevel level, const std::string& message)>;

// Installs `callback` (an empty function drops messages) and the lowest level it
// receives. Thread-safe; replaces any earlier callback.
void set_log_callback(LogCallback callback, LogLevel min_level = LogLevel::info);

// Sends one message (no trailing newline) to the installed callback.
void log_message(LogLevel level, const std::string& message);

inline void log_info(const std::string& message) {
    log_message(LogLevel::info, message);
}
inline void log_warning(const std::string& message) {
    log_message(LogLevel::warning, message);
}
inline void log_error(const std::string& message) {
    log_message(LogLevel::error, message);
}

}  // namespace lumen
