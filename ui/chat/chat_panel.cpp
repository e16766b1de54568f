// ChatPanel: conversation management, message rendering and the send /
// stream / store cycle of one reply.
#include "chat/chat_panel.h"

#include <QHBoxLayout>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QLocale>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QScrollBar>
#include <QSplitter>
#include <QTextBrowser>
#include <QVBoxLayout>
#include <algorithm>

#include "chat/chat_store.h"
#include "chat/conversation_list_model.h"
#include "common/elided_label.h"
#include "common/narrow_panels.h"
#include "decoding/decoding_panel.h"
#include "sampling/sampling_panel.h"

namespace lumen::ui {

namespace {

QString statsToJson(const ReplyStats& s) {
    const QJsonObject o{{"prompt_tokens", s.promptTokens},
                        {"generated_tokens", s.generatedTokens},
                        {"cached_prompt_tokens", s.cachedPromptTokens},
                        {"ttft_ms", s.ttftMs},
                        {"prefill_tps", s.prefillTps},
                        {"decode_tps", s.decodeTps},
                        {"stop_reason", s.stopReason},
                        {"drafted", s.drafted},
                        {"draft_accepted", s.draftAccepted}};
    return QString::fromUtf8(QJsonDocument(o).toJson(QJsonDocument::Compact));
}

QString statsLine(const QString& statsJson) {
    const QJsonObject o = QJsonDocument::fromJson(statsJson.toUtf8()).object();
    if (o.isEmpty()) return {};
    const QLocale l;
    return QObject::tr("%1 prompt tokens (%2 cached) · %3 generated · TTFT %4 ms · %5 tok/s · stop: %6")
               .arg(o.value("prompt_tokens").toInt())
               .arg(o.value("cached_prompt_tokens").toInt())
               .arg(o.value("generated_tokens").toInt())
               .arg(l.toString(o.value("ttft_ms").toDouble(), 'f', 1))
               .arg(l.toString(o.value("decode_tps").toDouble(), 'f', 1))
               .arg(o.value("stop_reason").toString()) +
           (o.value("drafted").toInt() > 0 ? QObject::tr(" · drafts: %1 of %2 accepted")
                                                 .arg(o.value("draft_accepted").toInt())
                                                 .arg(o.value("drafted").toInt())
                                           : QString());
}

QString samplingLine(const QString& samplingJson) {
    const QJsonObject o = QJsonDocument::fromJson(samplingJson.toUtf8()).object();
    if (o.isEmpty()) return {};
    if (o.contains(QLatin1String("contrastive_amateur")))
        return QObject::tr("contrastive decoding: amateur %1, α %2, λ %3")
            .arg(o.value("contrastive_amateur").toString())
            .arg(o.value("contrastive_alpha").toDouble())
            .arg(o.value("contrastive_lambda").toDouble());
    if (o.contains(QLatin1String("beam_width")))
        return QObject::tr("beam search: width %1, length penalty %2, early stopping %3")
            .arg(o.value("beam_width").toInt())
            .arg(o.value("length_penalty").toDouble())
            .arg(o.value("early_stopping").toBool() ? QObject::tr("on") : QObject::tr("off"));
    return QObject::tr("temperature %1, top-k %2, top-p %3, min-p %4, repeat %5, seed %6")
        .arg(o.value("temperature").toDouble())
        .arg(o.value("top_k").toInt())
        .arg(o.value("top_p").toDouble())
        .arg(o.value("min_p").toDouble())
        .arg(o.value("repeat_penalty").toDouble())
        .arg(o.value("seed").toString());
}

QString htmlBlock(const QString& role, const QString& content) {
    const QString color = role == QLatin1String("user") ? QStringLiteral("#1a5fb4") : QStringLiteral("#26a269");
    return QStringLiteral(
               "<p style='margin-top:10px;margin-bottom:2px;'><b style='color:%1'>%2</b></p>"
               "<p style='white-space:pre-wrap;margin-top:0px;'>%3</p>")
        .arg(color, role.isEmpty() ? QString() : role.left(1).toUpper() + role.mid(1), content.toHtmlEscaped());
}

}  // namespace

// ------------------------------------------------------------------ building

ChatPanel::ChatPanel(ChatStore* store, SamplingPanel* sampling, QWidget* parent)
    : QWidget(parent), store_(store), sampling_(sampling) {
    setObjectName(QStringLiteral("chatPanel"));
    conversations_ = new ConversationListModel(store_, this);
    splitter_ = new QSplitter(this);
    splitter_->setObjectName(QStringLiteral("chatSplitter"));
    splitter_->addWidget(buildConversationList());
    splitter_->addWidget(buildMessageArea());
    splitter_->setStretchFactor(1, 3);
    splitter_->setCollapsible(1, false);  // the list can be dragged away; the messages stay
    resetLayout();
    auto* layout = new QHBoxLayout(this);
    layout->addWidget(splitter_);

    if (conversations_->rowCount() > 0) selectConversation(conversations_->idAt(0));
    updateControls();
}

void ChatPanel::resetLayout() {
    // The list takes a fifth of the panel, between 150 and 240 px; the messages the rest.
    const int total = std::max(width(), 600);
    const int list = std::clamp(total / 5, 150, 240);
    splitter_->setSizes({list, total - list});
    reset_layout_on_resize_ = true;
}

void ChatPanel::resizeEvent(QResizeEvent* event) {
    QWidget::resizeEvent(event);
    if (!reset_layout_on_resize_) return;
    resetLayout();
    reset_layout_on_resize_ = false;
}

// The search box, the conversation list and New, Rename, Delete.
QWidget* ChatPanel::buildConversationList() {
    search_ = new QLineEdit(this);
    search_->setObjectName(QStringLiteral("conversationSearch"));
    search_->setPlaceholderText(tr("Search conversations"));
    search_->setClearButtonEnabled(true);
    list_ = new QListView(this);
    list_->setObjectName(QStringLiteral("conversationList"));
    list_->setModel(conversations_);
    list_->setEditTriggers(QAbstractItemView::EditKeyPressed | QAbstractItemView::SelectedClicked);
    // Long titles elide (the tooltip has them whole) instead of scrolling sideways.
    list_->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    list_->setUniformItemSizes(true);
    connect(search_, &QLineEdit::textChanged, conversations_, &ConversationListModel::setSearch);
    connect(list_->selectionModel(), &QItemSelectionModel::currentChanged, this, [this](const QModelIndex& index) {
        if (index.isValid()) selectConversation(conversations_->idAt(index.row()));
    });
    connect(conversations_, &QAbstractItemModel::modelReset, this, [this] {
        const int row = conversations_->rowOf(current_);
        if (row >= 0) list_->setCurrentIndex(conversations_->index(row));
    });
    auto button = [this](const char* name, const QString& text) {
        auto* b = new QPushButton(text, this);
        b->setObjectName(QString::fromLatin1(name));
        return b;
    };
    QPushButton* newButton = button("newConversationButton", tr("New"));
    QPushButton* renameButton = button("renameConversationButton", tr("Rename"));
    QPushButton* deleteButton = button("deleteConversationButton", tr("Delete"));
    connect(newButton, &QPushButton::clicked, this, &ChatPanel::newConversation);
    connect(renameButton, &QPushButton::clicked, this, &ChatPanel::renameCurrent);
    connect(deleteButton, &QPushButton::clicked, this, &ChatPanel::deleteCurrent);
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(newButton);
    buttons->addWidget(renameButton);
    buttons->addWidget(deleteButton);
    auto* left = new QWidget(this);
    auto* layout = new QVBoxLayout(left);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(search_);
    layout->addWidget(list_, 1);
    layout->addLayout(buttons);
    letButtonsShrink(left);  // the list may be narrow; its buttons must not hold it wide
    return left;
}

// The mode line, the messages, the input, the status line and Regenerate, Stop, Send.
QWidget* ChatPanel::buildMessageArea() {
    mode_ = new ElidedLabel(this);  // a long template name must not widen the window
    mode_->setObjectName(QStringLiteral("modeLabel"));
    view_ = new QTextBrowser(this);
    view_->setObjectName(QStringLiteral("messageView"));
    view_->setOpenExternalLinks(false);
    input_ = new QPlainTextEdit(this);
    input_->setObjectName(QStringLiteral("promptInput"));
    input_->setPlaceholderText(tr("Type a message; Ctrl+Return sends"));
    input_->setMaximumHeight(110);
    // Send first: creation order is the tab order, and Tab goes from the input to Send.
    send_ = new QPushButton(tr("Send"), this);
    send_->setObjectName(QStringLiteral("sendButton"));
    stop_ = new QPushButton(tr("Stop"), this);
    stop_->setObjectName(QStringLiteral("stopButton"));
    regenerate_ = new QPushButton(tr("Regenerate"), this);
    regenerate_->setObjectName(QStringLiteral("regenerateButton"));
    status_ = new QLabel(this);
    status_->setObjectName(QStringLiteral("chatStatusLabel"));
    status_->setWordWrap(true);
    status_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    connect(send_, &QPushButton::clicked, this, &ChatPanel::send);
    connect(stop_, &QPushButton::clicked, this, &ChatPanel::stop);
    connect(regenerate_, &QPushButton::clicked, this, &ChatPanel::regenerate);
    auto* buttons = new QHBoxLayout;
    buttons->addStretch(1);
    buttons->addWidget(regenerate_);
    buttons->addWidget(stop_);
    buttons->addWidget(send_);
    auto* right = new QWidget(this);
    auto* layout = new QVBoxLayout(right);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(mode_);
    layout->addWidget(view_, 1);
    layout->addWidget(input_);
    layout->addWidget(status_);
    layout->addLayout(buttons);
    return right;
}

QString ChatPanel::statusText() const {
    return status_->text();
}

QString ChatPanel::modeOf(qint64 conversation) const {
    const auto record = store_->conversation(conversation);
    return record ? record->mode : QString();
}

// ------------------------------------------------------------------ model

void ChatPanel::setModel(const ModelSummary& summary) {
    model_loaded_ = true;
    model_path_ = summary.path;
    chat_template_ = summary.chatTemplate;
    // An empty conversation follows the model: chat with a template, else completion.
    if (current_ && store_->messages(current_).isEmpty()) {
        store_->setConversationMode(
            current_, chat_template_.isEmpty() ? QStringLiteral("completion") : QStringLiteral("chat"), model_path_);
        conversations_->touch(current_);
    }
    if (status_->text() == tr("Load a model to chat.")) setStatus({});  // it can chat now
    renderConversation();
    updateControls();
}

void ChatPanel::clearModel() {
    model_loaded_ = false;
    updateControls();
}

// ------------------------------------------------------------------ conversations

void ChatPanel::selectConversation(qint64 id) {
    if (id == current_) return;
    current_ = id;
    const int row = conversations_->rowOf(id);
    if (row >= 0 && list_->currentIndex().row() != row) list_->setCurrentIndex(conversations_->index(row));
    setStatus(isGenerating() ? tr("Generating…") : QString());
    renderConversation();
    updateControls();
}

qint64 ChatPanel::newConversation() {
    const QString mode =
        chat_template_.isEmpty() && model_loaded_ ? QStringLiteral("completion") : QStringLiteral("chat");
    const QModelIndex index = conversations_->addConversation(tr("New conversation"), mode, model_path_);
    if (!index.isValid()) {
        setStatus(tr("Could not create a conversation: %1").arg(store_->lastError()), true);
        return 0;
    }
    const qint64 id = conversations_->idAt(index.row());
    selectConversation(id);
    list_->setCurrentIndex(index);
    input_->setFocus();
    return id;
}

void ChatPanel::renameCurrent() {
    const int row = conversations_->rowOf(current_);
    if (row >= 0) list_->edit(conversations_->index(row));
}

void ChatPanel::deleteCurrent() {
    if (!current_) return;
    const auto record = store_->conversation(current_);
    if (confirm_deletes_ &&
        QMessageBox::question(this, tr("Delete conversation"),
                              tr("Delete “%1” and all its messages?").arg(record ? record->title : QString())) !=
            QMessageBox::Yes)
        return;
    const qint64 id = current_;
    if (!conversations_->removeConversation(id)) {
        setStatus(tr("Could not delete the conversation: %1").arg(store_->lastError()), true);
        return;
    }
    // A reply in flight ends with it (the worker cancels it and drops its KV).
    if (active_.contains(id)) {
        active_[id].cancel->store(true);
        conversation_of_.remove(active_[id].requestId);
        active_.remove(id);
    }
    streamed_.remove(id);
    current_ = 0;
    Q_EMIT conversationDeleted(id);
    if (conversations_->rowCount() > 0) selectConversation(conversations_->idAt(0));
    renderConversation();
    updateControls();
}

// ------------------------------------------------------------------ generation

void ChatPanel::send() {
    const QString text = input_->toPlainText();
    if (isGenerating() || !model_loaded_ || text.trimmed().isEmpty()) return;
    if (!current_ && !newConversation()) return;
    if (store_->messages(current_).isEmpty())  // the first message fixes the mode to the loaded model's
        store_->setConversationMode(
            current_, chat_template_.isEmpty() ? QStringLiteral("completion") : QStringLiteral("chat"), model_path_);
    MessageRecord message;
    message.conversationId = current_;
    message.role = QStringLiteral("user");
    message.content = text;
    if (!store_->addMessage(message)) {
        setStatus(tr("Could not save the message: %1").arg(store_->lastError()), true);
        return;
    }
    // The first message names the conversation.
    const auto record = store_->conversation(current_);
    if (record && record->title == tr("New conversation"))
        store_->renameConversation(current_, text.simplified().left(48));
    conversations_->touch(current_);
    input_->clear();
    startJob();
}

void ChatPanel::regenerate() {
    if (isGenerating() || !model_loaded_ || !current_) return;
    const auto messages = store_->messages(current_);
    if (messages.isEmpty()) return;
    // The old reply stays until the new one is complete, so a failure loses nothing.
    startJob(messages.last().role == QLatin1String("assistant") ? messages.last().id : 0);
}

void ChatPanel::startJob(qint64 replacesMessage) {
    GenerationJob job;
    job.requestId = ++next_request_;
    job.cancel = std::make_shared<std::atomic<bool>>(false);
    job.conversationId = current_;
    job.chatMode = modeOf(current_) == QLatin1String("chat");
    for (const MessageRecord& m : store_->messages(current_))
        if (m.id != replacesMessage) job.turns.append({m.role, m.content});
    if (job.turns.isEmpty() || job.turns.last().role != QLatin1String("user")) {
        if (!job.chatMode && !job.turns.isEmpty()) {
            // Completion continues the document whatever its last part was.
        } else {
            setStatus(tr("Nothing to reply to: send a message first."), true);
            return;
        }
    }
    job.maxTokens = sampling_->maxTokens();
    job.sampling = sampling_->paramsForReply();  // a new seed per reply unless it is fixed
    if (decoding_) {
        job.beam = decoding_->beamSettings();
        job.contrastive = decoding_->contrastiveSettings();
        job.speculation = decoding_->speculationSettings();
        job.earlyExit = decoding_->earlyExitSettings();
    }
    active_.insert(current_, {job.requestId, job.cancel, replacesMessage});
    conversation_of_.insert(job.requestId, current_);
    streamed_[current_].clear();
    renderConversation();
    setStatus(tr("Generating…"));
    updateControls();
    Q_EMIT generateRequested(job);
}

void ChatPanel::stop() {
    if (isGenerating()) active_[current_].cancel->store(true);  // the worker sees it before its next step
}

void ChatPanel::onToken(const TokenEventData& token) {
    const qint64 conversation = conversation_of_.value(token.requestId, 0);
    if (!conversation || token.text.isEmpty()) return;
    streamed_[conversation] += token.text;
    if (conversation != current_) return;
    QTextCursor cursor(view_->document());
    cursor.movePosition(QTextCursor::End);
    cursor.insertText(token.text);
    QScrollBar* bar = view_->verticalScrollBar();
    bar->setValue(bar->maximum());
}

void ChatPanel::onReplyFinished(const ReplyStats& stats, const QString& text) {
    const qint64 conversation = conversation_of_.take(stats.requestId);
    if (!conversation) return;  // its conversation was deleted
    const ActiveReply finished = active_.take(conversation);
    streamed_[conversation] = text;
    if (text.isEmpty() && stats.stopReason == QLatin1String("cancelled")) {
        // Stopped before any text: nothing to keep (and nothing to feed back into the next turn).
        if (conversation == current_) {
            renderConversation();
            setStatus(tr("Stopped before the reply began."));
        }
        updateControls();
        return;
    }
    if (finished.replacesMessage && !store_->deleteMessage(finished.replacesMessage))
        setStatus(tr("Could not remove the previous reply: %1").arg(store_->lastError()), true);
    MessageRecord reply;
    reply.conversationId = conversation;
    reply.role = QStringLiteral("assistant");
    reply.content = text;
    reply.statsJson = statsToJson(stats);
    reply.samplingJson = stats.samplingJson;
    const bool stored = store_->addMessage(reply).has_value();
    // Updated in place: a reply that ends must not move rows under the pointer. The
    // conversation moves up when a message is next sent in it.
    conversations_->refresh(conversation);
    if (conversation == current_) {
        renderConversation();
        if (!stored)
            setStatus(tr("The reply could not be saved: %1").arg(store_->lastError()), true);
        else
            setStatus(statsLine(reply.statsJson));
    }
    updateControls();
    Q_EMIT replyStored(stats);
}

void ChatPanel::onGenerationFailed(qint64 requestId, const QString& message) {
    const qint64 conversation = conversation_of_.take(requestId);
    if (!conversation) return;
    active_.remove(conversation);
    if (conversation == current_) {
        renderConversation();
        setStatus(tr("Generation failed: %1").arg(message), true);
    }
    updateControls();
}

// ------------------------------------------------------------------ view

void ChatPanel::renderConversation() {
    view_->clear();
    if (!current_) {
        mode_->setText(tr("No conversation: press New or type a message."));
        return;
    }
    const QString mode = modeOf(current_);
    mode_->setText(mode == QLatin1String("chat")
                       ? tr("Chat mode (template: %1)").arg(chat_template_.isEmpty() ? tr("none") : chat_template_)
                       : tr("Completion mode: the model continues the text"));
    QString html;
    const qint64 replaced = active_.value(current_).replacesMessage;
    for (const MessageRecord& m : store_->messages(current_)) {
        if (replaced && m.id == replaced) continue;  // being regenerated
        html += htmlBlock(m.role, m.content);
        const QString stats = statsLine(m.statsJson), sampling = samplingLine(m.samplingJson);
        if (!stats.isEmpty())
            html += QStringLiteral("<p style='color:#777;font-size:small;margin-top:0px;'>%1<br>%2</p>")
                        .arg(stats.toHtmlEscaped(), sampling.toHtmlEscaped());
    }
    if (isGenerating()) html += htmlBlock(QStringLiteral("assistant"), streamed_.value(current_));
    view_->setHtml(html);
    QScrollBar* bar = view_->verticalScrollBar();
    bar->setValue(bar->maximum());
}

void ChatPanel::updateControls() {
    const bool busy = isGenerating();
    send_->setEnabled(!busy && model_loaded_);
    stop_->setEnabled(busy);
    regenerate_->setEnabled(!busy && model_loaded_ && current_ && !store_->messages(current_).isEmpty());
    if (!model_loaded_ && !busy && status_->text().isEmpty()) setStatus(tr("Load a model to chat."));
}

void ChatPanel::setStatus(const QString& text, bool error) {
    status_->setText(text);
    status_->setStyleSheet(error ? QStringLiteral("color: #b00020;") : QString());
}

}  // namespace lumen::ui
