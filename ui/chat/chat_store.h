// Chat persistence: conversations and their messages in one SQLite file,
// through Qt Sql (QSQLITE), with versioned schema migrations and Markdown/JSON
// export. One ChatStore owns one QSqlDatabase connection; use it from the
// thread that opened it. Timestamps are stored as INTEGER milliseconds since
// the epoch and come back as UTC QDateTimes. A conversation's `updated` is
// strictly increasing across writes (max(now, newest + 1 ms)), so the
// conversation written last always lists first.
#pragma once

#include <QByteArray>
#include <QDateTime>
#include <QString>
#include <QVariantList>
#include <QVector>

#include <functional>
#include <optional>

class QSqlDatabase;
class QSqlQuery;

namespace lumen::ui {

struct ConversationRecord {
    qint64 id = 0;
    QString title;
    QString mode;  // "chat" or "completion"
    QString modelPath;
    QDateTime created;  // UTC
    QDateTime updated;  // UTC
};

struct MessageRecord {
    qint64 id = 0;
    qint64 conversationId = 0;
    QString role;  // "system", "user", "assistant"
    QString content;
    QDateTime created;     // UTC; an invalid value means "now" in addMessage
    QString statsJson;     // JSON object text or empty
    QString samplingJson;  // JSON object text or empty
};

// Default database file: QStandardPaths::writableLocation(AppDataLocation) +
// "/chats.sqlite3" (creates the folder).
QString defaultChatDatabasePath();

class ChatStore {
public:
    ChatStore();
    ~ChatStore();  // closes and removes its own QSqlDatabase connection
    ChatStore(const ChatStore&) = delete;
    ChatStore& operator=(const ChatStore&) = delete;

    static constexpr int kSchemaVersion = 2;

    // Opens (creating if needed) the SQLite file and migrates it to
    // kSchemaVersion. On failure returns false and *error (if given) names the
    // file and what went wrong. Opening again closes the previous file first.
    bool open(const QString& path, QString* error);
    void close();
    bool isOpen() const;
    QString path() const;
    int schemaVersion() const;  // version stored in the file, -1 when closed
    QString lastError() const;  // message of the last failed call

    // mode must be "chat" or "completion".
    std::optional<qint64> createConversation(const QString& title, const QString& mode, const QString& modelPath);
    bool renameConversation(qint64 id, const QString& title);  // does not bump `updated`
    // mode must be "chat" or "completion"; does not bump `updated`.
    bool setConversationMode(qint64 id, const QString& mode, const QString& modelPath);
    bool deleteConversation(qint64 id);  // and its messages, in one transaction

    // Most recently updated first (ties: newest id first). A non-empty search
    // matches (case-insensitively) the title or any message's content.
    QVector<ConversationRecord> conversations(const QString& search = {}) const;
    std::optional<ConversationRecord> conversation(qint64 id) const;
    // Whether conversation id would be listed by conversations(search).
    bool matchesSearch(qint64 id, const QString& search) const;

    // Each message write is one transaction and also bumps the conversation's
    // `updated`. Fails (nothing written) for an unknown conversation, a role
    // other than system/user/assistant, or stats/sampling text that is neither
    // empty nor a JSON object.
    std::optional<qint64> addMessage(const MessageRecord& message);
    bool updateMessage(qint64 id, const QString& content, const QString& statsJson, const QString& samplingJson);
    bool deleteMessage(qint64 id);
    QVector<MessageRecord> messages(qint64 conversationId) const;  // in insertion order

    // "# title", then "**User:**"/"**Assistant:**"/"**System:**" sections;
    // assistant stats (if any) as a short italic line. Empty on failure.
    QString exportMarkdown(qint64 conversationId) const;
    // {"title","mode","model","created","updated","messages":[{"role","content",
    // "created","stats":{...}|null,"sampling":{...}|null}]}, indented; times
    // are ISO-8601 UTC with milliseconds. Empty on failure.
    QByteArray exportJson(qint64 conversationId) const;

private:
    // Runs body in one transaction: commits if it returns true, else rolls back.
    bool transaction(const char* what, const std::function<bool()>& body);
    QSqlDatabase db() const;
    bool fail(const QString& message) const;
    bool checkOpen(const char* what) const;
    // Prepares sql, binds values positionally and executes it; on failure
    // sets lastError() to "<what> failed (<path>): <driver message>".
    bool exec(QSqlQuery& query, const QString& sql, const QVariantList& values, const char* what) const;
    bool migrate(int from);
    std::optional<qint64> nextUpdateStamp(const char* what);
    bool touchConversation(qint64 conversationId, const char* what);
    bool checkJson(const QString& statsJson, const QString& samplingJson, const char* what) const;
    std::optional<qint64> conversationOfMessage(qint64 id, const char* what) const;
    // One message write plus the conversation's `updated` bump, in one transaction.
    bool writeMessage(qint64 conversationId, const QString& sql, const QVariantList& values, const char* what,
                      qint64* insertedId = nullptr);
    QVector<ConversationRecord> select(const QString& search, qint64 onlyId) const;

    QString connection_;
    QString path_;
    mutable QString last_error_;
};

}  // namespace lumen::ui
