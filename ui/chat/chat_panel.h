// The chat panel: the conversation list (new, rename, delete, search), the
// message view with streamed tokens and per-reply stats, and the input with
// Send, Stop and Regenerate. Chat mode renders the model's chat template;
// completion mode continues the conversation's text as one document. Several
// conversations can generate at once (each reply is a request of the same
// engine); switching conversations never stops one. Every message is written
// to the ChatStore when it is complete.
#pragma once

#include <QHash>
#include <QWidget>
#include <atomic>
#include <memory>

#include "worker/engine_worker.h"

class QLabel;
class QLineEdit;
class QListView;
class QPlainTextEdit;
class QPushButton;
class QSplitter;
class QTextBrowser;

namespace lumen::ui {

class ChatStore;
class ConversationListModel;
class SamplingPanel;
class DecodingPanel;

class ChatPanel : public QWidget {
    Q_OBJECT
public:
    ChatPanel(ChatStore* store, SamplingPanel* sampling, QWidget* parent = nullptr);
    // Where replies take their decoding strategy (beam search); without one they sample.
    void setDecodingPanel(DecodingPanel* decoding) { decoding_ = decoding; }

    ConversationListModel* conversationModel() const { return conversations_; }
    qint64 currentConversation() const { return current_; }
    bool isGenerating() const { return active_.contains(current_); }  // the current conversation
    bool isGenerating(qint64 conversation) const { return active_.contains(conversation); }
    int generatingCount() const { return int(active_.size()); }
    // The current conversation's reply being (or last) streamed.
    QString streamedText() const { return streamed_.value(current_); }
    QString statusText() const;
    // Whether deleting asks for confirmation (off in tests).
    void setConfirmDeletes(bool confirm) { confirm_deletes_ = confirm; }
    // The conversation list back to its default width beside the messages (again at
    // the next resize, when the panel is about to get its size).
    void resetLayout();

public Q_SLOTS:
    void setModel(const lumen::ui::ModelSummary& summary);
    void clearModel();
    void selectConversation(qint64 id);
    qint64 newConversation();
    void renameCurrent();
    void deleteCurrent();
    void send();
    void stop();
    void regenerate();
    void onToken(const lumen::ui::TokenEventData& token);
    void onReplyFinished(const lumen::ui::ReplyStats& stats, const QString& text);
    void onGenerationFailed(qint64 requestId, const QString& message);

Q_SIGNALS:
    void generateRequested(const lumen::ui::GenerationJob& job);
    void conversationDeleted(qint64 id);
    void replyStored(const lumen::ui::ReplyStats& stats);

protected:
    void resizeEvent(QResizeEvent* event) override;

private:
    QWidget* buildConversationList();
    QWidget* buildMessageArea();
    void startJob(qint64 replacesMessage = 0);
    void renderConversation();
    void updateControls();
    void setStatus(const QString& text, bool error = false);
    QString modeOf(qint64 conversation) const;

    ChatStore* store_;
    SamplingPanel* sampling_;
    DecodingPanel* decoding_ = nullptr;
    ConversationListModel* conversations_;
    QSplitter* splitter_;
    QLineEdit* search_;
    QListView* list_;
    QTextBrowser* view_;
    QPlainTextEdit* input_;
    QPushButton* send_;
    QPushButton* stop_;
    QPushButton* regenerate_;
    QLabel* mode_;
    QLabel* status_;

    bool model_loaded_ = false;
    QString model_path_;
    QString chat_template_;
    struct ActiveReply {
        qint64 requestId = 0;
        std::shared_ptr<std::atomic<bool>> cancel;
        qint64 replacesMessage = 0;  // Regenerate: the reply this one replaces once it is done
    };
    qint64 current_ = 0;
    qint64 next_request_ = 0;
    QHash<qint64, ActiveReply> active_;      // conversation -> its reply in flight
    QHash<qint64, qint64> conversation_of_;  // request -> conversation
    QHash<qint64, QString> streamed_;        // conversation -> text of its latest reply
    bool confirm_deletes_ = true;
    bool reset_layout_on_resize_ = false;
};

}  // namespace lumen::ui
