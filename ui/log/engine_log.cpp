// EngineLog: the engine callback posts to the GUI thread through a relay that
// the destructor disconnects under a mutex, so no engine thread can post to an
// object that is being destroyed.
#include "log/engine_log.h"

#include <mutex>

namespace lumen::ui {

namespace {
// The EngineLog whose callback is installed: only it uninstalls the callback,
// so a second one replacing it is not cut off when the first goes away. Touched
// only on the thread that creates and destroys EngineLogs (the GUI thread).
EngineLog* installed = nullptr;
}  // namespace

QString log_level_text(lumen::LogLevel level) {
    return QString::fromLatin1(lumen::log_level_name(level));
}

struct EngineLog::Relay {
    std::mutex mutex;
    EngineLog* target = nullptr;  // null once the EngineLog is destroyed
};

EngineLog::EngineLog(lumen::LogLevel minLevel, QObject* parent) : QObject(parent), relay_(std::make_shared<Relay>()) {
    qRegisterMetaType<LogEntry>();
    relay_->target = this;
    lumen::set_log_callback(
        [relay = relay_](lumen::LogLevel level, const std::string& message) {
            LogEntry entry{QDateTime::currentDateTime(), level, QString::fromStdString(message)};
            // Posting under the lock: the destructor cannot finish while an event is
            // being posted, and Qt drops the events still queued for a destroyed object.
            std::lock_guard<std::mutex> lock(relay->mutex);
            if (!relay->target) return;
            QMetaObject::invokeMethod(
                relay->target, [target = relay->target, entry] { Q_EMIT target->messageLogged(entry); },
                Qt::QueuedConnection);
        },
        minLevel);
    installed = this;
}

EngineLog::~EngineLog() {
    if (installed == this) {
        lumen::set_log_callback({});
        installed = nullptr;
    }
    std::lock_guard<std::mutex> lock(relay_->mutex);
    relay_->target = nullptr;
}

}  // namespace lumen::ui
