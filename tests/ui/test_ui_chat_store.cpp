// Tests for chat persistence (ChatStore over SQLite) and ConversationListModel:
// CRUD, message round trips, reopening, search, schema migration and refusal,
// export formats, and the model's signals under QAbstractItemModelTester.
#include <QAbstractItemModelTester>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSignalSpy>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QTest>

#include "chat/chat_store.h"
#include "chat/conversation_list_model.h"

using namespace Qt::StringLiterals;
using lumen::ui::ChatStore;
using lumen::ui::ConversationListModel;
using lumen::ui::ConversationRecord;
using lumen::ui::MessageRecord;

namespace {

// A second, independent connection to a database file for raw SQL checks.
class RawDb {
public:
    explicit RawDb(const QString& path) : name_(u"raw_%1"_s.arg(++counter_)) {
        QSqlDatabase db = QSqlDatabase::addDatabase(u"QSQLITE"_s, name_);
        db.setDatabaseName(path);
        ok_ = db.open();
    }
    ~RawDb() {
        QSqlDatabase::database(name_, false).close();
        QSqlDatabase::removeDatabase(name_);
    }
    bool ok() const { return ok_; }
    bool exec(const QString& sql, const QVariantList& values = {}) { return run(sql, values).isActive(); }
    qint64 scalar(const QString& sql, const QVariantList& values = {}) {
        QSqlQuery q = run(sql, values);
        return q.next() ? q.value(0).toLongLong() : -1;
    }

private:
    QSqlQuery run(const QString& sql, const QVariantList& values) {
        QSqlQuery q(QSqlDatabase::database(name_, false));
        bool ok = q.prepare(sql);
        for (const QVariant& v : values) q.addBindValue(v);
        if (!ok || !q.exec()) qWarning() << "raw SQL failed:" << sql << q.lastError().text();
        return q;
    }
    static inline int counter_ = 0;
    QString name_;
    bool ok_ = false;
};

QDateTime utc(int y, int mo, int d, int h, int mi, int s, int ms) {
    return QDateTime(QDate(y, mo, d), QTime(h, mi, s, ms), Qt::UTC);
}

MessageRecord message(qint64 conversation, const QString& role, const QString& content, const QDateTime& created = {},
                      const QString& stats = {}, const QString& sampling = {}) {
    return {0, conversation, role, content, created, stats, sampling};
}

// Opens store on a fresh file; reports the error on failure.
bool openStore(ChatStore& store, const QString& path) {
    QString error;
    if (store.open(path, &error)) return true;
    qWarning() << error;
    return false;
}

template <class Record>
QVector<qint64> ids(const QVector<Record>& list) {
    QVector<qint64> out;
    for (const auto& r : list) out << r.id;
    return out;
}

template <class Record>
QStringList column(const QVector<Record>& list, QString Record::*field) {
    QStringList out;
    for (const auto& r : list) out << r.*field;
    return out;
}

QVector<qint64> modelIds(const ConversationListModel& model) {
    QVector<qint64> out;
    for (int r = 0; r < model.rowCount(); ++r) out << model.idAt(r);
    return out;
}

// The int arguments of one emission, e.g. first/last of rowsInserted.
QList<int> rowArgs(const QList<QVariant>& args, std::initializer_list<int> which) {
    QList<int> out;
    for (int i : which) out << args.at(i).toInt();
    return out;
}

}  // namespace

class TestUiChatStore : public QObject {
    Q_OBJECT
private:
    QTemporaryDir dir_;
    QString dbPath(const char* name) const { return dir_.filePath(QString::fromLatin1(name)); }

private Q_SLOTS:
    void initTestCase() { QVERIFY(dir_.isValid()); }

    void createListRenameDelete() {
        const QString path = dbPath("crud.sqlite3");
        ChatStore store;
        QVERIFY(!store.isOpen());
        QVERIFY(openStore(store, path));
        QVERIFY(store.isOpen());
        QCOMPARE(store.path(), path);
        QCOMPARE(store.schemaVersion(), ChatStore::kSchemaVersion);

        const auto a = store.createConversation(u"First"_s, u"chat"_s, u"/models/a.gguf"_s);
        const auto b = store.createConversation(u"Second"_s, u"completion"_s, {});
        QVERIFY(a && b && *a != *b);
        QVERIFY(!store.createConversation(u"Bad"_s, u"poem"_s, {}));
        QVERIFY(store.lastError().contains(u"poem"_s));

        auto list = store.conversations();
        QCOMPARE(ids(list), (QVector<qint64>{*b, *a}));  // most recently updated first
        QCOMPARE(column(list, &ConversationRecord::title), (QStringList{u"Second"_s, u"First"_s}));
        QCOMPARE(column(list, &ConversationRecord::mode), (QStringList{u"completion"_s, u"chat"_s}));
        QCOMPARE(column(list, &ConversationRecord::modelPath), (QStringList{{}, u"/models/a.gguf"_s}));
        QVERIFY(list[1].created.isValid() && list[1].created == list[1].updated);
        QVERIFY(list[0].updated > list[1].updated);

        QVERIFY(store.renameConversation(*a, u"Renamed"_s));
        QCOMPARE(store.conversation(*a)->title, u"Renamed"_s);
        QCOMPARE(store.conversation(*a)->updated, list[1].updated);  // rename is not activity
        QVERIFY(!store.renameConversation(999, u"x"_s));
        QVERIFY(store.lastError().contains(u"999"_s));
        QVERIFY(!store.conversation(999));

        QVERIFY(store.addMessage(message(*a, u"user"_s, u"one"_s)));
        QVERIFY(store.addMessage(message(*a, u"assistant"_s, u"two"_s)));
        QVERIFY(store.addMessage(message(*b, u"user"_s, u"keep"_s)));
        QCOMPARE(store.messages(*a).size(), 2);

        QVERIFY(store.deleteConversation(*a));
        QVERIFY(!store.conversation(*a) && store.messages(*a).isEmpty());
        QCOMPARE(ids(store.conversations()), QVector<qint64>{*b});
        QCOMPARE(store.messages(*b).size(), 1);
        QVERIFY(!store.deleteConversation(*a));

        RawDb raw(path);
        QVERIFY(raw.ok());
        QCOMPARE(raw.scalar(u"SELECT COUNT(*) FROM messages WHERE conversation_id = ?"_s, {*a}), 0);
        QCOMPARE(raw.scalar(u"SELECT COUNT(*) FROM messages"_s), 1);
        QCOMPARE(raw.scalar(u"SELECT COUNT(*) FROM conversations"_s), 1);
    }

    void messagesRoundTrip() {
        ChatStore store;
        QVERIFY(openStore(store, dbPath("messages.sqlite3")));
        const qint64 c = *store.createConversation(u"Msgs"_s, u"chat"_s, {});
        const QDateTime before = store.conversation(c)->updated;

        const QString unicode = u"Grüße, 世界! 🚀\nline two\r\n\ttabbed \"quoted\" 'single'"_s;
        const QDateTime t1 = utc(2024, 2, 29, 13, 14, 15, 678);
        const QDateTime t2 = QDateTime(QDate(2023, 7, 1), QTime(1, 2, 3, 4), Qt::LocalTime);
        const QString stats = u"{\"generated_tokens\":42,\"decode_tps\":31.25}"_s;
        const QString sampling = u"{\"temperature\":0.7,\"top_k\":40}"_s;

        const auto m1 = store.addMessage(message(c, u"system"_s, u"sys"_s, t1));
        const auto m2 = store.addMessage(message(c, u"user"_s, unicode, t2));
        const auto m3 = store.addMessage(message(c, u"assistant"_s, QString(), t1, stats, sampling));
        QVERIFY(m1 && m2 && m3);
        QVERIFY(store.conversation(c)->updated > before);

        auto msgs = store.messages(c);
        QCOMPARE(ids(msgs), (QVector<qint64>{*m1, *m2, *m3}));
        QCOMPARE(column(msgs, &MessageRecord::role), (QStringList{u"system"_s, u"user"_s, u"assistant"_s}));
        QCOMPARE(column(msgs, &MessageRecord::content), (QStringList{u"sys"_s, unicode, QString()}));
        QCOMPARE(column(msgs, &MessageRecord::statsJson), (QStringList{{}, {}, stats}));
        QCOMPARE(column(msgs, &MessageRecord::samplingJson), (QStringList{{}, {}, sampling}));
        QCOMPARE(msgs[1].conversationId, c);
        QCOMPARE(msgs[0].created, t1);
        QCOMPARE(msgs[0].created.toMSecsSinceEpoch(), t1.toMSecsSinceEpoch());
        QCOMPARE(msgs[1].created.toMSecsSinceEpoch(), t2.toMSecsSinceEpoch());

        // A message without a timestamp gets "now".
        const qint64 now = QDateTime::currentMSecsSinceEpoch();
        const auto m4 = store.addMessage(message(c, u"user"_s, u"now"_s));
        QVERIFY(m4);
        QVERIFY(qAbs(store.messages(c).last().created.toMSecsSinceEpoch() - now) < 60000);

        // Invalid role / JSON are rejected without writing.
        QVERIFY(!store.addMessage(message(c, u"robot"_s, u"x"_s)));
        QVERIFY(store.lastError().contains(u"robot"_s));
        QVERIFY(!store.addMessage(message(c, u"user"_s, u"x"_s, {}, u"[1]"_s)));
        QCOMPARE(store.messages(c).size(), 4);

        // Update and delete bump the conversation.
        const QDateTime beforeUpdate = store.conversation(c)->updated;
        QVERIFY(store.updateMessage(*m3, u"final answer"_s, stats, {}));
        msgs = store.messages(c);
        QCOMPARE((QStringList{msgs[2].content, msgs[2].statsJson, msgs[2].samplingJson}),
                 (QStringList{u"final answer"_s, stats, {}}));
        QCOMPARE(msgs[2].created, t1);
        QVERIFY(store.conversation(c)->updated > beforeUpdate);
        QVERIFY(!store.updateMessage(12345, u"x"_s, {}, {}));
        QVERIFY(store.lastError().contains(u"12345"_s));
        QVERIFY(!store.updateMessage(*m3, u"x"_s, u"not json"_s, {}));
        QCOMPARE(store.messages(c)[2].content, u"final answer"_s);

        const QDateTime beforeDelete = store.conversation(c)->updated;
        QVERIFY(store.deleteMessage(*m2));
        QCOMPARE(ids(store.messages(c)), (QVector<qint64>{*m1, *m3, *m4}));
        QVERIFY(store.conversation(c)->updated > beforeDelete);
        QVERIFY(!store.deleteMessage(*m2));
    }

    void persistsAcrossReopen() {
        const QString path = dbPath("reopen.sqlite3");
        const QDateTime t = utc(2025, 1, 2, 3, 4, 5, 999);
        qint64 c = 0;
        ConversationRecord saved;
        {
            ChatStore store;
            QVERIFY(openStore(store, path));
            c = *store.createConversation(u"Keep me ✓"_s, u"chat"_s, u"/m.gguf"_s);
            QVERIFY(store.addMessage(message(c, u"user"_s, u"héllo\nworld"_s, t)));
            QVERIFY(store.addMessage(message(c, u"assistant"_s, u"hi"_s, t, u"{\"a\":1}"_s, u"{\"b\":2}"_s)));
            saved = *store.conversation(c);
        }
        ChatStore store;
        QVERIFY(openStore(store, path));
        QCOMPARE(store.schemaVersion(), 2);
        const auto conv = store.conversation(c);
        QVERIFY(conv);
        QCOMPARE((QStringList{conv->title, conv->modelPath}), (QStringList{u"Keep me ✓"_s, u"/m.gguf"_s}));
        QCOMPARE((QList<QDateTime>{conv->created, conv->updated}), (QList<QDateTime>{saved.created, saved.updated}));
        const auto msgs = store.messages(c);
        QCOMPARE(column(msgs, &MessageRecord::content), (QStringList{u"héllo\nworld"_s, u"hi"_s}));
        QCOMPARE(msgs[0].created, t);
        QCOMPARE(column(msgs, &MessageRecord::statsJson), (QStringList{{}, u"{\"a\":1}"_s}));
        QCOMPARE(column(msgs, &MessageRecord::samplingJson), (QStringList{{}, u"{\"b\":2}"_s}));
    }

    void searchMatchesTitlesAndContent() {
        ChatStore store;
        QVERIFY(openStore(store, dbPath("search.sqlite3")));
        const qint64 a = *store.createConversation(u"Rust Ownership"_s, u"chat"_s, {});
        const qint64 b = *store.createConversation(u"Cooking"_s, u"chat"_s, {});
        const qint64 c = *store.createConversation(u"Other"_s, u"chat"_s, {});
        QVERIFY(store.addMessage(message(b, u"user"_s, u"How do I make ÄPFELSTRUDEL?"_s)));
        QVERIFY(store.addMessage(message(c, u"user"_s, u"I am 100% sure"_s)));
        QVERIFY(store.addMessage(message(a, u"assistant"_s, u"Borrowing rules"_s)));

        QCOMPARE(ids(store.conversations()), (QVector<qint64>{a, c, b}));
        QCOMPARE(ids(store.conversations(u"rust"_s)), QVector<qint64>{a});
        QCOMPARE(ids(store.conversations(u"OWNER"_s)), QVector<qint64>{a});
        QCOMPARE(ids(store.conversations(u"bOrRoWiNg"_s)), QVector<qint64>{a});
        QCOMPARE(ids(store.conversations(u"make"_s)), QVector<qint64>{b});
        QCOMPARE(ids(store.conversations(u"äpfelstrudel"_s)), QVector<qint64>{b});
        QCOMPARE(ids(store.conversations(u"0%"_s)), QVector<qint64>{c});
        QVERIFY(store.conversations(u"_"_s).isEmpty());  // wildcards are literal
        QVERIFY(store.conversations(u"zzz"_s).isEmpty());
        QCOMPARE(ids(store.conversations(u"o"_s)), (QVector<qint64>{a, c, b}));
        QVERIFY(store.matchesSearch(b, u"STRUDEL"_s));
        QVERIFY(!store.matchesSearch(a, u"STRUDEL"_s));
        QVERIFY(!store.matchesSearch(a, u"ä"_s));
    }

    void migratesV1File() {
        const QString path = dbPath("v1.sqlite3");
        const QDateTime t0 = utc(2022, 5, 6, 7, 8, 9, 10);
        {
            RawDb raw(path);
            QVERIFY(raw.ok());
            QVERIFY(raw.exec(QStringLiteral(
                "CREATE TABLE conversations (id INTEGER PRIMARY KEY, title TEXT NOT NULL, mode TEXT NOT NULL, "
                "model_path TEXT, created INTEGER NOT NULL, updated INTEGER NOT NULL)")));
            QVERIFY(raw.exec(QStringLiteral(
                "CREATE TABLE messages (id INTEGER PRIMARY KEY, conversation_id INTEGER NOT NULL "
                "REFERENCES conversations(id) ON DELETE CASCADE, role TEXT NOT NULL, content TEXT NOT NULL, "
                "created INTEGER NOT NULL)")));
            QVERIFY(raw.exec(u"PRAGMA user_version = 1"_s));
            QVERIFY(raw.exec(u"INSERT INTO conversations VALUES (7, ?, 'chat', '/old.gguf', ?, ?)"_s,
                             {u"Old chat"_s, t0.toMSecsSinceEpoch(), t0.toMSecsSinceEpoch()}));
            QVERIFY(raw.exec(u"INSERT INTO messages VALUES (1, 7, 'user', ?, ?)"_s,
                             {u"old question"_s, t0.toMSecsSinceEpoch()}));
            QVERIFY(raw.exec(u"INSERT INTO messages VALUES (2, 7, 'assistant', ?, ?)"_s,
                             {u"old answer"_s, t0.addMSecs(1).toMSecsSinceEpoch()}));
            QCOMPARE(raw.scalar(u"PRAGMA user_version"_s), 1);
        }
        ChatStore store;
        QVERIFY(openStore(store, path));
        QCOMPARE(store.schemaVersion(), 2);
        const auto conv = store.conversation(7);
        QVERIFY(conv);
        QCOMPARE((QStringList{conv->title, conv->modelPath}), (QStringList{u"Old chat"_s, u"/old.gguf"_s}));
        QCOMPARE(conv->created, t0);
        auto msgs = store.messages(7);
        QCOMPARE(column(msgs, &MessageRecord::content), (QStringList{u"old question"_s, u"old answer"_s}));
        QCOMPARE(column(msgs, &MessageRecord::role), (QStringList{u"user"_s, u"assistant"_s}));
        QCOMPARE(msgs[1].created, t0.addMSecs(1));
        QCOMPARE(column(msgs, &MessageRecord::statsJson), (QStringList{{}, {}}));

        QVERIFY(store.updateMessage(2, u"old answer"_s, u"{\"n\":3}"_s, u"{\"temperature\":0.5}"_s));
        QVERIFY(store.addMessage(message(7, u"user"_s, u"new"_s, {}, {}, u"{\"seed\":\"1\"}"_s)));
        msgs = store.messages(7);
        QCOMPARE(column(msgs, &MessageRecord::statsJson), (QStringList{{}, u"{\"n\":3}"_s, {}}));
        QCOMPARE(column(msgs, &MessageRecord::samplingJson),
                 (QStringList{{}, u"{\"temperature\":0.5}"_s, u"{\"seed\":\"1\"}"_s}));

        RawDb raw(path);
        QCOMPARE(raw.scalar(u"PRAGMA user_version"_s), 2);
        QCOMPARE(raw.scalar(QStringLiteral("SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' "
                                           "AND tbl_name = 'messages' AND sql LIKE '%conversation_id%'")),
                 1);
    }

    void refusesNewerSchema() {
        const QString path = dbPath("future.sqlite3");
        {
            RawDb raw(path);
            QVERIFY(raw.ok());
            QVERIFY(raw.exec(u"CREATE TABLE future (x INTEGER)"_s));
            QVERIFY(raw.exec(u"PRAGMA user_version = 99"_s));
        }
        ChatStore store;
        QString error;
        QVERIFY(!store.open(path, &error));
        QVERIFY(!store.isOpen());
        QVERIFY2(error.contains(u"newer"_s) && error.contains(u"schema 99"_s) && error.contains(path),
                 qPrintable(error));
        QCOMPARE(store.lastError(), error);
        RawDb raw(path);
        QCOMPARE(raw.scalar(u"PRAGMA user_version"_s), 99);  // untouched
        QCOMPARE(raw.scalar(u"SELECT COUNT(*) FROM sqlite_master WHERE name = 'conversations'"_s), 0);
    }

    void failsOnUncreatablePath() {
        const QString file = dbPath("plain-file");
        QFile f(file);
        QVERIFY(f.open(QIODevice::WriteOnly) && f.write("not a folder") > 0);
        f.close();
        const QString path = file + u"/sub/chats.sqlite3"_s;
        ChatStore store;
        QString error;
        QVERIFY(!store.open(path, &error));
        QVERIFY(!store.isOpen());
        QVERIFY2(error.contains(path), qPrintable(error));
        QVERIFY(!store.createConversation(u"x"_s, u"chat"_s, {}));
        QVERIFY(store.lastError().contains(u"not open"_s));
        QVERIFY(store.conversations().isEmpty());

        // A file that is not SQLite is refused too.
        QVERIFY(!store.open(file, &error));
        QVERIFY2(error.contains(file), qPrintable(error));
    }

    void addMessageToUnknownConversationWritesNothing() {
        const QString path = dbPath("unknown.sqlite3");
        ChatStore store;
        QVERIFY(openStore(store, path));
        const qint64 c = *store.createConversation(u"Real"_s, u"chat"_s, {});
        const QDateTime updated = store.conversation(c)->updated;
        QVERIFY(!store.addMessage(message(4242, u"user"_s, u"lost"_s)));
        QVERIFY2(store.lastError().contains(u"4242"_s), qPrintable(store.lastError()));
        QCOMPARE(store.conversation(c)->updated, updated);
        RawDb raw(path);
        QCOMPARE(raw.scalar(u"SELECT COUNT(*) FROM messages"_s), 0);
        QCOMPARE(raw.scalar(u"SELECT COUNT(*) FROM conversations"_s), 1);
    }

    void exportsMarkdownAndJson() {
        ChatStore store;
        QVERIFY(openStore(store, dbPath("export.sqlite3")));
        const qint64 c = *store.createConversation(u"Test Chat"_s, u"chat"_s, u"/models/tiny.gguf"_s);
        const QDateTime t = utc(2024, 3, 4, 5, 6, 7, 89);
        QVERIFY(store.addMessage(message(c, u"system"_s, u"Be brief."_s, t)));
        QVERIFY(store.addMessage(message(c, u"user"_s, u"Hi"_s, t.addMSecs(1))));
        QVERIFY(
            store.addMessage(message(c, u"assistant"_s, u"Hello!\n"_s, t.addMSecs(2),
                                     u"{\"generated_tokens\":12,\"decode_tps\":31.5}"_s, u"{\"temperature\":0.7}"_s)));

        const QString md = store.exportMarkdown(c);
        QCOMPARE(md, QStringLiteral("# Test Chat\n"
                                    "\n**System:**\n\nBe brief.\n"
                                    "\n**User:**\n\nHi\n"
                                    "\n**Assistant:**\n\nHello!\n"
                                    "\n*decode_tps: 31.50 · generated_tokens: 12*\n"));
        QVERIFY(store.exportMarkdown(777).isEmpty());
        QVERIFY(store.lastError().contains(u"777"_s));

        const QByteArray json = store.exportJson(c);
        QVERIFY(json.contains("\n    "));  // indented
        const QJsonDocument doc = QJsonDocument::fromJson(json);
        QVERIFY(doc.isObject());
        const QJsonObject root = doc.object();
        const auto conv = *store.conversation(c);
        QCOMPARE((QStringList{root.value("title").toString(), root.value("mode").toString(),
                              root.value("model").toString()}),
                 (QStringList{u"Test Chat"_s, u"chat"_s, u"/models/tiny.gguf"_s}));
        QCOMPARE(QDateTime::fromString(root.value("created").toString(), Qt::ISODateWithMs), conv.created);
        QCOMPARE(QDateTime::fromString(root.value("updated").toString(), Qt::ISODateWithMs), conv.updated);
        const QJsonArray msgs = root.value("messages").toArray();
        QCOMPARE(msgs.size(), 3);
        QCOMPARE(
            (QStringList{msgs[0].toObject().value("role").toString(), msgs[1].toObject().value("content").toString()}),
            (QStringList{u"system"_s, u"Hi"_s}));
        QCOMPARE(msgs[0].toObject().value("created").toString(), u"2024-03-04T05:06:07.089Z"_s);
        QVERIFY(msgs[0].toObject().value("stats").isNull() && msgs[0].toObject().value("sampling").isNull());
        const QJsonObject a = msgs[2].toObject();
        QCOMPARE((QStringList{a.value("role").toString(), a.value("content").toString()}),
                 (QStringList{u"assistant"_s, u"Hello!\n"_s}));
        QCOMPARE(a.value("stats").toObject().value("generated_tokens").toInt(), 12);
        QCOMPARE(a.value("stats").toObject().value("decode_tps").toDouble(), 31.5);
        QCOMPARE(a.value("sampling").toObject().value("temperature").toDouble(), 0.7);
        QCOMPARE(QDateTime::fromString(a.value("created").toString(), Qt::ISODateWithMs), t.addMSecs(2));
        QVERIFY(store.exportJson(777).isEmpty());
    }

    void modelAddRenameRemove() {
        ChatStore store;
        QVERIFY(openStore(store, dbPath("model-add.sqlite3")));
        const qint64 a = *store.createConversation(u"A"_s, u"chat"_s, {});
        const qint64 b = *store.createConversation(u"B"_s, u"completion"_s, {});
        ConversationListModel model(&store);
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        QCOMPARE(model.rowCount(), 2);
        QCOMPARE(modelIds(model), (QVector<qint64>{b, a}));

        QSignalSpy inserted(&model, &QAbstractItemModel::rowsInserted);
        const QModelIndex idx = model.addConversation(u"New"_s, u"chat"_s, u"/m.gguf"_s);
        QVERIFY(idx.isValid() && idx.row() == 0);
        QCOMPARE(inserted.count(), 1);
        QCOMPARE(rowArgs(inserted[0], {1, 2}), (QList<int>{0, 0}));
        const qint64 n = idx.data(ConversationListModel::IdRole).toLongLong();
        QVERIFY(store.conversation(n));
        QCOMPARE((QStringList{idx.data().toString(), idx.data(Qt::EditRole).toString(),
                              idx.data(ConversationListModel::ModeRole).toString(),
                              idx.data(ConversationListModel::ModelPathRole).toString()}),
                 (QStringList{u"New"_s, u"New"_s, u"chat"_s, u"/m.gguf"_s}));
        QCOMPARE(idx.data(ConversationListModel::UpdatedRole).toDateTime(), store.conversation(n)->updated);
        const QString tip = idx.data(Qt::ToolTipRole).toString();
        QVERIFY(tip.contains(u"New"_s) && tip.contains(u"chat"_s));
        QVERIFY(model.flags(idx) & Qt::ItemIsEditable);
        QCOMPARE(modelIds(model), ids(store.conversations()));
        QVERIFY(!model.addConversation(u"Bad"_s, u"nope"_s, {}).isValid());
        QCOMPARE(inserted.count(), 1);
        QCOMPARE(model.rowCount(), 3);

        // Renaming through setData trims and writes to the store; blank titles are rejected.
        QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
        const QModelIndex ia = model.index(model.rowOf(a));
        QVERIFY(model.setData(ia, u"  After  "_s, Qt::EditRole));
        QCOMPARE(changed.count(), 1);
        QCOMPARE(changed[0][0].toModelIndex(), ia);
        QCOMPARE(ia.data().toString(), u"After"_s);
        QCOMPARE(store.conversation(a)->title, u"After"_s);
        QVERIFY(!model.setData(ia, QString(), Qt::EditRole));
        QVERIFY(!model.setData(ia, u"   \t"_s, Qt::EditRole));
        QVERIFY(!model.setData(ia, u"Other role"_s, Qt::DisplayRole));
        QCOMPARE(changed.count(), 1);
        QCOMPARE(store.conversation(a)->title, u"After"_s);

        QSignalSpy removed(&model, &QAbstractItemModel::rowsRemoved);
        QCOMPARE(model.rowOf(b), 1);
        QVERIFY(model.removeConversation(b));
        QCOMPARE(removed.count(), 1);
        QCOMPARE(rowArgs(removed[0], {1, 2}), (QList<int>{1, 1}));
        QCOMPARE(modelIds(model), (QVector<qint64>{n, a}));
        QVERIFY(!store.conversation(b));
        QVERIFY(!model.removeConversation(b));
        QCOMPARE(removed.count(), 1);
        QCOMPARE(model.idAt(5), 0);
    }

    void modelTouchMovesToTop() {
        ChatStore store;
        QVERIFY(openStore(store, dbPath("model-touch.sqlite3")));
        const qint64 a = *store.createConversation(u"A"_s, u"chat"_s, {});
        const qint64 b = *store.createConversation(u"B"_s, u"chat"_s, {});
        const qint64 c = *store.createConversation(u"C"_s, u"chat"_s, {});
        ConversationListModel model(&store);
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        QCOMPARE(modelIds(model), (QVector<qint64>{c, b, a}));

        QSignalSpy moved(&model, &QAbstractItemModel::rowsMoved);
        QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
        QVERIFY(store.addMessage(message(a, u"user"_s, u"bump"_s)));
        model.touch(a);
        QCOMPARE(moved.count(), 1);
        QCOMPARE(rowArgs(moved[0], {1, 2, 4}), (QList<int>{2, 2, 0}));
        QCOMPARE(changed.count(), 1);
        QCOMPARE(changed[0][0].toModelIndex().row(), 0);
        QCOMPARE(modelIds(model), (QVector<qint64>{a, c, b}));
        QCOMPARE(modelIds(model), ids(store.conversations()));
        QCOMPARE(model.index(0).data(ConversationListModel::UpdatedRole).toDateTime(), store.conversation(a)->updated);

        // Touching the top row changes data only.
        QVERIFY(store.renameConversation(a, u"A2"_s));
        model.touch(a);
        QCOMPARE(moved.count(), 1);
        QCOMPARE(changed.count(), 2);
        QCOMPARE(model.index(0).data().toString(), u"A2"_s);

        // A conversation deleted behind the model's back disappears on touch.
        QSignalSpy removed(&model, &QAbstractItemModel::rowsRemoved);
        QVERIFY(store.deleteConversation(b));
        model.touch(b);
        QCOMPARE(removed.count(), 1);
        QCOMPARE(modelIds(model), (QVector<qint64>{a, c}));
    }

    void modelSearch() {
        ChatStore store;
        QVERIFY(openStore(store, dbPath("model-search.sqlite3")));
        const qint64 a = *store.createConversation(u"Alpha project"_s, u"chat"_s, {});
        const qint64 b = *store.createConversation(u"Beta"_s, u"chat"_s, {});
        const qint64 c = *store.createConversation(u"Gamma"_s, u"chat"_s, {});
        QVERIFY(store.addMessage(message(b, u"user"_s, u"about ALPHA too"_s)));
        ConversationListModel model(&store);
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        QCOMPARE(model.rowCount(), 3);

        QSignalSpy reset(&model, &QAbstractItemModel::modelReset);
        model.setSearch(u"alpha"_s);
        QCOMPARE(reset.count(), 1);
        QCOMPARE(model.search(), u"alpha"_s);
        QCOMPARE(modelIds(model), (QVector<qint64>{b, a}));

        // A hidden conversation that starts matching appears on touch; one
        // that does not match stays hidden.
        QSignalSpy inserted(&model, &QAbstractItemModel::rowsInserted);
        QVERIFY(store.addMessage(message(c, u"user"_s, u"nothing here"_s)));
        model.touch(c);
        QVERIFY(inserted.isEmpty() && model.rowOf(c) == -1);
        QVERIFY(store.addMessage(message(c, u"user"_s, u"now alpha"_s)));
        model.touch(c);
        QVERIFY(inserted.count() == 1 && model.rowOf(c) == 0);

        model.reload();
        QCOMPARE(reset.count(), 2);
        QCOMPARE(modelIds(model), (QVector<qint64>{c, b, a}));
        model.setSearch(u"no such text"_s);
        QCOMPARE(reset.count(), 3);
        QCOMPARE(model.rowCount(), 0);
        model.setSearch({});
        QCOMPARE(reset.count(), 4);
        QCOMPARE(model.rowCount(), 3);
    }
};

QTEST_MAIN(TestUiChatStore)
#include "test_ui_chat_store.moc"
