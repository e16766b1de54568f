// The engine's log, brought to the GUI thread. EngineLog installs the engine's
// log callback (core/log.h) for as long as it lives; the callback may run on the
// worker or any engine thread, so it only posts each message to this object's
// thread, where messageLogged is emitted. Destroying the EngineLog uninstalls
// the callback, and a message already on its way is dropped, never delivered
// to a destroyed object.
#pragma once

#include <QDateTime>
#include <QMetaType>
#include <QObject>
#include <QString>
#include <memory>

#include "core/log.h"

namespace lumen::ui {

struct LogEntry {
    QDateTime time;  // when the engine sent it (local time)
    lumen::LogLevel level = lumen::LogLevel::info;
    QString message;  // one line, no trailing newline
};

// "debug", "info", "warning", "error", as the engine names them.
QString log_level_text(lumen::LogLevel level);

class EngineLog : public QObject {
    Q_OBJECT
public:
    // Installs the engine log callback for messages at `minLevel` and above.
    explicit EngineLog(lumen::LogLevel minLevel = lumen::LogLevel::info, QObject* parent = nullptr);
    ~EngineLog() override;

Q_SIGNALS:
    void messageLogged(const lumen::ui::LogEntry& entry);

private:
    struct Relay;  // shared with the callback; cleared when this object goes away
    std::shared_ptr<Relay> relay_;
};

}  // namespace lumen::ui

Q_DECLARE_METATYPE(lumen::ui::LogEntry)
