// The engine's log sink: one callback behind a mutex, copied out before the call
// so a slow host never holds the lock while it formats or draws.
#include "core/log.h"

#include <memory>
#include <mutex>

namespace lumen {

namespace {

struct LogSink {
    std::mutex mutex;
    std::shared_ptr<const LogCallback> callback;
    LogLevel min_level = LogLevel::info;
};

LogSink& sink() {
    static LogSink s;
    return s;
}

}  // namespace

const char* log_level_name(LogLevel level) {
    switch (level) {
        case LogLevel::debug: return "debug";
        case LogLevel::info: return "info";
        case LogLevel::warning: return "warning";
        case LogLevel::error: return "error";
    }
    return "unknown";
}

void set_log_callback(LogCallback callback, LogLevel min_level) {
    LogSink& s = sink();
    std::lock_guard<std::mutex> lock(s.mutex);
    s.callback = callback ? std::make_shared<const LogCallback>(std::move(callback)) : nullptr;
    s.min_level = min_level;
}

void log_message(LogLevel level, const std::string& message) {
    std::shared_ptr<const LogCallback> callback;
    {
        LogSink& s = sink();
        std::lock_guard<std::mutex> lock(s.mutex);
        if (level < s.min_level) return;
        callback = s.callback;
    }
    if (callback) (*callback)(level, message);
}

}  // namespace lumen
