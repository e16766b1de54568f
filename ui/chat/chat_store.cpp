// ChatStore: the SQLite schema, its migrations, and every read and write of
// conversations and messages. Timestamps are stored as INTEGER milliseconds
// since the Unix epoch (UTC), so they round-trip exactly to the millisecond.
#include "chat/chat_store.h"

#include <QDir>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSet>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QStandardPaths>
#include <QStringList>

#include <algorithm>
#include <atomic>
#include <iterator>

namespace lumen::ui {

namespace {

// Schema steps: kMigrations[i] takes the file from version i to i + 1. Each
// step runs in its own transaction together with its user_version bump.
const QStringList kMigrations[] = {
    {
        QStringLiteral("CREATE TABLE conversations ("
                       "id INTEGER PRIMARY KEY, title TEXT NOT NULL, mode TEXT NOT NULL, "
                       "model_path TEXT, created INTEGER NOT NULL, updated INTEGER NOT NULL)"),
        QStringLiteral("CREATE TABLE messages ("
                       "id INTEGER PRIMARY KEY, conversation_id INTEGER NOT NULL "
                       "REFERENCES conversations(id) ON DELETE CASCADE, "
                       "role TEXT NOT NULL, content TEXT NOT NULL, created INTEGER NOT NULL)"),
    },
    {
        QStringLiteral("ALTER TABLE messages ADD COLUMN stats_json TEXT"),
        QStringLiteral("ALTER TABLE messages ADD COLUMN sampling_json TEXT"),
        QStringLiteral("CREATE INDEX messages_conversation_id ON messages(conversation_id)"),
    },
};
static_assert(std::size(kMigrations) == ChatStore::kSchemaVersion);

QDateTime fromMs(const QVariant& v) {
    return QDateTime::fromMSecsSinceEpoch(v.toLongLong(), Qt::UTC);
}

QString isoUtc(const QDateTime& t) {
    return t.toUTC().toString(Qt::ISODateWithMs);
}

// SQL binds a null QString as NULL; NOT NULL text columns get "" instead.
QString notNull(const QString& s) {
    return s.isNull() ? QStringLiteral("") : s;
}

QVariant nullIfEmpty(const QString& s) {
    return s.isEmpty() ? QVariant() : QVariant(s);
}

bool isJsonObjectOrEmpty(const QString& text) {
    if (text.isEmpty()) return true;
    QJsonParseError err;
    const QJsonDocument doc = QJsonDocument::fromJson(text.toUtf8(), &err);
    return err.error == QJsonParseError::NoError && doc.isObject();
}

QJsonValue jsonObjectOrNull(const QString& text) {
    if (text.isEmpty()) return QJsonValue::Null;
    const QJsonDocument doc = QJsonDocument::fromJson(text.toUtf8());
    return doc.isObject() ? QJsonValue(doc.object()) : QJsonValue(QJsonValue::Null);
}

bool isAscii(const QString& s) {
    return std::all_of(s.begin(), s.end(), [](QChar c) { return c.unicode() < 0x80; });
}

QString likePattern(const QString& search) {
    QString escaped;
    for (QChar c : search) {
        if (c == u'\\' || c == u'%' || c == u'_') escaped += u'\\';
        escaped += c;
    }
    return u'%' + escaped + u'%';
}

QString roleLabel(const QString& role) {
    return role.left(1).toUpper() + role.mid(1);
}

QString statsLine(const QString& statsJson) {
    const QJsonValue v = jsonObjectOrNull(statsJson);
    if (!v.isObject()) return {};
    QStringList parts;
    const QJsonObject o = v.toObject();
    for (auto it = o.begin(); it != o.end(); ++it) {
        const QJsonValue x = it.value();
        QString text;
        if (x.isDouble()) {
            const double d = x.toDouble();
            text = d == double(qint64(d)) ? QString::number(qint64(d)) : QString::number(d, 'f', 2);
        } else if (x.isString() || x.isBool()) {
            text = x.toVariant().toString();
        } else {
            continue;  // nested values and nulls do not fit a short line
        }
        parts << it.key() + QStringLiteral(": ") + text;
    }
    return parts.isEmpty() ? QString() : u'*' + parts.join(QStringLiteral(" · ")) + u'*';
}

std::atomic<quint64> g_connection_counter{0};

}  // namespace

QString defaultChatDatabasePath() {
    const QString dir = QStandardPaths::writableLocation(QStandardPaths::AppDataLocation);
    QDir().mkpath(dir);
    return dir + QStringLiteral("/chats.sqlite3");
}

ChatStore::ChatStore() = default;

ChatStore::~ChatStore() {
    close();
}

QSqlDatabase ChatStore::db() const {
    return QSqlDatabase::database(connection_, false);
}

bool ChatStore::transaction(const char* what, const std::function<bool()>& body) {
    QSqlDatabase database = db();
    if (!database.transaction())
        return fail(QStringLiteral("%1 failed (%2): cannot begin a transaction: %3")
                        .arg(QLatin1String(what), path_, database.lastError().text()));
    if (!body()) {
        database.rollback();
        return false;
    }
    if (database.commit()) return true;
    const QString message = QStringLiteral("%1 failed (%2): cannot commit: %3")
                                .arg(QLatin1String(what), path_, database.lastError().text());
    database.rollback();
    return fail(message);
}

bool ChatStore::fail(const QString& message) const {
    last_error_ = message;
    return false;
}

bool ChatStore::checkOpen(const char* what) const {
    if (isOpen()) return true;
    return fail(QStringLiteral("%1 failed: the chat database is not open").arg(QLatin1String(what)));
}

bool ChatStore::exec(QSqlQuery& query, const QString& sql, const QVariantList& values, const char* what) const {
    bool ok = query.prepare(sql);
    if (ok) {
        for (const QVariant& v : values) query.addBindValue(v);
        ok = query.exec();
    }
    if (!ok)
        return fail(QStringLiteral("%1 failed (%2): %3").arg(QLatin1String(what), path_, query.lastError().text()));
    return true;
}

bool ChatStore::open(const QString& path, QString* error) {
    close();
    auto refuse = [&](const QString& message) {
        close();
        last_error_ = message;
        if (error) *error = message;
        return false;
    };
    if (path.isEmpty()) return refuse(QStringLiteral("Cannot open chat database: the path is empty"));
    const QString dir = QFileInfo(path).absolutePath();
    if (!QDir().mkpath(dir))
        return refuse(QStringLiteral("Cannot open chat database '%1': cannot create folder '%2'").arg(path, dir));

    connection_ = QStringLiteral("lumen_chat_store_%1").arg(g_connection_counter.fetch_add(1));
    path_ = path;
    {
        QSqlDatabase database = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), connection_);
        if (!database.isValid())
            return refuse(
                QStringLiteral("Cannot open chat database '%1': the QSQLITE driver is not available").arg(path));
        database.setDatabaseName(path);
        database.setConnectOptions(QStringLiteral("QSQLITE_BUSY_TIMEOUT=5000"));
        if (!database.open())
            return refuse(QStringLiteral("Cannot open chat database '%1': %2").arg(path, database.lastError().text()));
    }

    // Read the version before writing anything, so a newer file stays untouched.
    const int version = schemaVersion();
    if (version < 0) return refuse(QStringLiteral("Cannot read chat database '%1': %2").arg(path, last_error_));
    if (version > kSchemaVersion)
        return refuse(QStringLiteral("Chat database '%1' was written by a newer Lumen (schema %2, "
                                     "this build reads up to %3)")
                          .arg(path)
                          .arg(version)
                          .arg(kSchemaVersion));
    {
        QSqlQuery q(db());
        if (!exec(q, QStringLiteral("PRAGMA foreign_keys=ON"), {}, "enabling foreign keys") ||
            !exec(q, QStringLiteral("PRAGMA journal_mode=WAL"), {}, "enabling WAL journal"))
            return refuse(QStringLiteral("Cannot open chat database '%1': %2").arg(path, last_error_));
    }
    if (!migrate(version))
        return refuse(QStringLiteral("Cannot migrate chat database '%1': %2").arg(path, last_error_));
    return true;
}

bool ChatStore::migrate(int from) {
    for (int version = from; version < kSchemaVersion; ++version) {
        const bool ok = transaction("schema migration", [&] {
            QSqlQuery q(db());
            for (const QString& sql : kMigrations[version])
                if (!exec(q, sql, {}, "schema migration")) return false;
            // PRAGMA takes no bound values; the number is our own constant.
            return exec(q, QStringLiteral("PRAGMA user_version = %1").arg(version + 1), {}, "schema version bump");
        });
        if (!ok) return fail(QStringLiteral("step to schema %1: %2").arg(version + 1).arg(last_error_));
    }
    return true;
}

void ChatStore::close() {
    if (connection_.isEmpty()) return;
    {
        QSqlDatabase database = db();
        if (database.isOpen()) database.close();
    }
    QSqlDatabase::removeDatabase(connection_);
    connection_.clear();
    path_.clear();
}

bool ChatStore::isOpen() const {
    return !connection_.isEmpty() && db().isOpen();
}

QString ChatStore::path() const {
    return path_;
}

int ChatStore::schemaVersion() const {
    if (!checkOpen("reading the schema version")) return -1;
    QSqlQuery q(db());
    if (!exec(q, QStringLiteral("PRAGMA user_version"), {}, "reading the schema version")) return -1;
    return q.next() ? q.value(0).toInt() : -1;
}

QString ChatStore::lastError() const {
    return last_error_;
}

// The next `updated` stamp: now, but strictly after every stored one, so the
// conversation written last is always listed first.
std::optional<qint64> ChatStore::nextUpdateStamp(const char* what) {
    QSqlQuery q(db());
    if (!exec(q, QStringLiteral("SELECT COALESCE(MAX(updated), 0) FROM conversations"), {}, what) || !q.next())
        return std::nullopt;
    return std::max(QDateTime::currentMSecsSinceEpoch(), q.value(0).toLongLong() + 1);
}

bool ChatStore::touchConversation(qint64 conversationId, const char* what) {
    const auto stamp = nextUpdateStamp(what);
    if (!stamp) return false;
    QSqlQuery q(db());
    return exec(q, QStringLiteral("UPDATE conversations SET updated = ? WHERE id = ?"), {*stamp, conversationId}, what);
}

std::optional<qint64> ChatStore::createConversation(const QString& title, const QString& mode,
                                                    const QString& modelPath) {
    if (!checkOpen("creating a conversation")) return std::nullopt;
    if (mode != u"chat" && mode != u"completion") {
        fail(QStringLiteral("creating a conversation failed: mode '%1' is not \"chat\" or \"completion\"").arg(mode));
        return std::nullopt;
    }
    const auto stamp = nextUpdateStamp("creating a conversation");
    if (!stamp) return std::nullopt;
    QSqlQuery q(db());
    if (!exec(q,
              QStringLiteral("INSERT INTO conversations (title, mode, model_path, created, updated) "
                             "VALUES (?, ?, ?, ?, ?)"),
              {notNull(title), mode, nullIfEmpty(modelPath), *stamp, *stamp}, "creating a conversation"))
        return std::nullopt;
    return q.lastInsertId().toLongLong();
}

bool ChatStore::renameConversation(qint64 id, const QString& title) {
    if (!checkOpen("renaming a conversation")) return false;
    QSqlQuery q(db());
    if (!exec(q, QStringLiteral("UPDATE conversations SET title = ? WHERE id = ?"), {notNull(title), id},
              "renaming a conversation"))
        return false;
    if (q.numRowsAffected() < 1)
        return fail(QStringLiteral("renaming a conversation failed: no conversation with id %1").arg(id));
    return true;
}

bool ChatStore::setConversationMode(qint64 id, const QString& mode, const QString& modelPath) {
    if (!checkOpen("changing a conversation's mode")) return false;
    if (mode != QLatin1String("chat") && mode != QLatin1String("completion"))
        return fail(QStringLiteral("conversation mode '%1' is invalid; expected chat or completion").arg(mode));
    QSqlQuery q(db());
    if (!exec(q, QStringLiteral("UPDATE conversations SET mode = ?, model_path = ? WHERE id = ?"),
              {mode, nullIfEmpty(modelPath), id}, "changing a conversation's mode"))
        return false;
    if (q.numRowsAffected() < 1)
        return fail(QStringLiteral("changing a conversation's mode failed: no conversation with id %1").arg(id));
    return true;
}

bool ChatStore::deleteConversation(qint64 id) {
    const char* what = "deleting a conversation";
    return checkOpen(what) && transaction(what, [&] {
               QSqlQuery q(db());
               if (!exec(q, QStringLiteral("DELETE FROM messages WHERE conversation_id = ?"), {id}, what) ||
                   !exec(q, QStringLiteral("DELETE FROM conversations WHERE id = ?"), {id}, what))
                   return false;
               if (q.numRowsAffected() > 0) return true;
               return fail(QStringLiteral("deleting a conversation failed: no conversation with id %1").arg(id));
           });
}

QVector<ConversationRecord> ChatStore::select(const QString& search, qint64 onlyId) const {
    QVector<ConversationRecord> out;
    if (!checkOpen("listing conversations")) return out;
    const bool sqlSearch = !search.isEmpty() && isAscii(search);
    QString sql = QStringLiteral(
        "SELECT c.id, c.title, c.mode, c.model_path, c.created, c.updated "
        "FROM conversations c WHERE 1 = 1");
    QVariantList values;
    if (onlyId != 0) {
        sql += QStringLiteral(" AND c.id = ?");
        values << onlyId;
    }
    if (sqlSearch) {
        // LIKE is case-insensitive for ASCII, which covers an ASCII needle.
        sql += QStringLiteral(
            " AND (c.title LIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM messages m "
            "WHERE m.conversation_id = c.id AND m.content LIKE ? ESCAPE '\\'))");
        values << likePattern(search) << likePattern(search);
    }
    sql += QStringLiteral(" ORDER BY c.updated DESC, c.id DESC");
    QSqlQuery q(db());
    q.setForwardOnly(true);
    if (!exec(q, sql, values, "listing conversations")) return out;
    while (q.next())
        out.push_back({q.value(0).toLongLong(), q.value(1).toString(), q.value(2).toString(), q.value(3).toString(),
                       fromMs(q.value(4)), fromMs(q.value(5))});
    if (search.isEmpty() || sqlSearch) return out;

    // Non-ASCII needle: fold case with Qt, which knows Unicode.
    QSet<qint64> inMessages;
    QSqlQuery m(db());
    m.setForwardOnly(true);
    const QString msql = onlyId != 0
                             ? QStringLiteral("SELECT conversation_id, content FROM messages WHERE conversation_id = ?")
                             : QStringLiteral("SELECT conversation_id, content FROM messages");
    if (!exec(m, msql, onlyId != 0 ? QVariantList{onlyId} : QVariantList{}, "searching messages")) return {};
    while (m.next())
        if (m.value(1).toString().contains(search, Qt::CaseInsensitive)) inMessages << m.value(0).toLongLong();
    QVector<ConversationRecord> matching;
    for (const ConversationRecord& c : out)
        if (c.title.contains(search, Qt::CaseInsensitive) || inMessages.contains(c.id)) matching << c;
    return matching;
}

QVector<ConversationRecord> ChatStore::conversations(const QString& search) const {
    return select(search, 0);
}

std::optional<ConversationRecord> ChatStore::conversation(qint64 id) const {
    if (!checkOpen("reading a conversation")) return std::nullopt;
    const QString previousError = last_error_;
    last_error_.clear();
    const QVector<ConversationRecord> found = select({}, id);
    if (found.isEmpty()) {
        if (last_error_.isEmpty())  // no SQL error: the id is unknown
            fail(QStringLiteral("reading a conversation failed: no conversation with id %1").arg(id));
        return std::nullopt;
    }
    last_error_ = previousError;
    return found.front();
}

bool ChatStore::matchesSearch(qint64 id, const QString& search) const {
    return id != 0 && !select(search, id).isEmpty();
}

bool ChatStore::checkJson(const QString& statsJson, const QString& samplingJson, const char* what) const {
    if (isJsonObjectOrEmpty(statsJson) && isJsonObjectOrEmpty(samplingJson)) return true;
    return fail(QStringLiteral("%1 failed: stats/sampling text is not a JSON object").arg(QLatin1String(what)));
}

std::optional<qint64> ChatStore::conversationOfMessage(qint64 id, const char* what) const {
    QSqlQuery q(db());
    if (!exec(q, QStringLiteral("SELECT conversation_id FROM messages WHERE id = ?"), {id}, what)) return std::nullopt;
    if (!q.next()) {
        fail(QStringLiteral("%1 failed: no message with id %2").arg(QLatin1String(what)).arg(id));
        return std::nullopt;
    }
    return q.value(0).toLongLong();
}

bool ChatStore::writeMessage(qint64 conversationId, const QString& sql, const QVariantList& values, const char* what,
                             qint64* insertedId) {
    return transaction(what, [&] {
        {
            QSqlQuery q(db());
            if (!exec(q, sql, values, what)) return false;
            if (insertedId) *insertedId = q.lastInsertId().toLongLong();
        }
        return touchConversation(conversationId, what);
    });
}

std::optional<qint64> ChatStore::addMessage(const MessageRecord& m) {
    const char* what = "adding a message";
    if (!checkOpen(what) || !checkJson(m.statsJson, m.samplingJson, what)) return std::nullopt;
    if (m.role != u"system" && m.role != u"user" && m.role != u"assistant") {
        fail(QStringLiteral("adding a message failed: role '%1' is not system, user or assistant").arg(m.role));
        return std::nullopt;
    }
    {
        QSqlQuery q(db());
        if (!exec(q, QStringLiteral("SELECT COUNT(*) FROM conversations WHERE id = ?"), {m.conversationId}, what) ||
            !q.next())
            return std::nullopt;
        if (q.value(0).toLongLong() == 0) {
            fail(QStringLiteral("adding a message failed: no conversation with id %1").arg(m.conversationId));
            return std::nullopt;
        }
    }
    const qint64 created = m.created.isValid() ? m.created.toMSecsSinceEpoch() : QDateTime::currentMSecsSinceEpoch();
    qint64 id = 0;
    if (!writeMessage(m.conversationId,
                      QStringLiteral("INSERT INTO messages (conversation_id, role, content, created, "
                                     "stats_json, sampling_json) VALUES (?, ?, ?, ?, ?, ?)"),
                      {m.conversationId, m.role, notNull(m.content), created, nullIfEmpty(m.statsJson),
                       nullIfEmpty(m.samplingJson)},
                      what, &id))
        return std::nullopt;
    return id;
}

bool ChatStore::updateMessage(qint64 id, const QString& content, const QString& statsJson,
                              const QString& samplingJson) {
    const char* what = "updating a message";
    if (!checkOpen(what) || !checkJson(statsJson, samplingJson, what)) return false;
    const auto conversationId = conversationOfMessage(id, what);
    return conversationId &&
           writeMessage(*conversationId,
                        QStringLiteral("UPDATE messages SET content = ?, stats_json = ?, sampling_json = ? "
                                       "WHERE id = ?"),
                        {notNull(content), nullIfEmpty(statsJson), nullIfEmpty(samplingJson), id}, what);
}

bool ChatStore::deleteMessage(qint64 id) {
    const char* what = "deleting a message";
    if (!checkOpen(what)) return false;
    const auto conversationId = conversationOfMessage(id, what);
    return conversationId &&
           writeMessage(*conversationId, QStringLiteral("DELETE FROM messages WHERE id = ?"), {id}, what);
}

QVector<MessageRecord> ChatStore::messages(qint64 conversationId) const {
    QVector<MessageRecord> out;
    if (!checkOpen("reading messages")) return out;
    QSqlQuery q(db());
    q.setForwardOnly(true);
    if (!exec(q,
              QStringLiteral("SELECT id, conversation_id, role, content, created, stats_json, "
                             "sampling_json FROM messages WHERE conversation_id = ? ORDER BY id"),
              {conversationId}, "reading messages"))
        return out;
    while (q.next())
        out.push_back({q.value(0).toLongLong(), q.value(1).toLongLong(), q.value(2).toString(), q.value(3).toString(),
                       fromMs(q.value(4)), q.value(5).toString(), q.value(6).toString()});
    return out;
}

QString ChatStore::exportMarkdown(qint64 conversationId) const {
    const auto conv = conversation(conversationId);
    if (!conv) return {};
    QString md = QStringLiteral("# %1\n").arg(conv->title.simplified());
    for (const MessageRecord& m : messages(conversationId)) {
        md += QStringLiteral("\n**%1:**\n\n").arg(roleLabel(m.role));
        md += m.content;
        if (!m.content.endsWith(u'\n')) md += u'\n';
        if (m.role == u"assistant") {
            const QString stats = statsLine(m.statsJson);
            if (!stats.isEmpty()) md += u'\n' + stats + u'\n';
        }
    }
    return md;
}

QByteArray ChatStore::exportJson(qint64 conversationId) const {
    const auto conv = conversation(conversationId);
    if (!conv) return {};
    QJsonArray list;
    for (const MessageRecord& m : messages(conversationId))
        list.append(QJsonObject{{QStringLiteral("role"), m.role},
                                {QStringLiteral("content"), m.content},
                                {QStringLiteral("created"), isoUtc(m.created)},
                                {QStringLiteral("stats"), jsonObjectOrNull(m.statsJson)},
                                {QStringLiteral("sampling"), jsonObjectOrNull(m.samplingJson)}});
    const QJsonObject root{{QStringLiteral("title"), conv->title},
                           {QStringLiteral("mode"), conv->mode},
                           {QStringLiteral("model"), conv->modelPath},
                           {QStringLiteral("created"), isoUtc(conv->created)},
                           {QStringLiteral("updated"), isoUtc(conv->updated)},
                           {QStringLiteral("messages"), list}};
    return QJsonDocument(root).toJson(QJsonDocument::Indented);
}

}  // namespace lumen::ui
