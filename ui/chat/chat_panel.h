// The chat panel: the conversation list (new, rename, delete, search), the
// message view with streamed tokens and per-reply stats, and the input with
// Send, Stop and Regenerate. Chat mode renders the model's chat template;
// completion mode continues the conversation's text as one document. Every
// message is written to the ChatStore when it is complete.
#pragma once

#include <QWidget>

#include "worker/engine_worker.h"

class QLabel;
class QLineEdit;
class QListView;
class QPlainTextEdit;
class QPushButton;
class QTextBrowser;

namespace lumen::ui {

class ChatStore;
class ConversationListModel;
class SamplingPanel;

class ChatPanel : public QWidget {
    Q_OBJECT
public:
    ChatPanel(ChatStore* store, SamplingPanel* sampling, QWidget* parent = nullptr);

    ConversationListModel* conversationModel() const { return conversations_; }
    qint64 currentConversation() const { return current_; }
    bool isGenerating() const { return active_request_ != 0; }
    QString streamedText() const { return streamed_; }  // the reply being (or last) streamed
    QString statusText() const;
    // Whether deleting asks for confirmation (off in tests).
    void setConfirmDeletes(bool confirm) { confirm_deletes_ = confirm; }

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
    void onGenerationStarted(qint64 requestId);
    void onToken(const lumen::ui::TokenEventData& token);
    void onReplyFinished(const lumen::ui::ReplyStats& stats, const QString& text);
    void onGenerationFailed(qint64 requestId, const QString& message);

Q_SIGNALS:
    void generateRequested(const lumen::ui::GenerationJob& job);
    void stopRequested();
    void conversationDeleted(qint64 id);
    void replyStored(const lumen::ui::ReplyStats& stats);

private:
    void startJob();
    void renderConversation();
    void updateControls();
    void setStatus(const QString& text, bool error = false);
    QString modeOf(qint64 conversation) const;

    ChatStore* store_;
    SamplingPanel* sampling_;
    ConversationListModel* conversations_;
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
    qint64 current_ = 0;
    qint64 next_request_ = 0;
    qint64 active_request_ = 0;
    qint64 active_conversation_ = 0;
    QString streamed_;
    bool confirm_deletes_ = true;
};

}  // namespace lumen::ui
