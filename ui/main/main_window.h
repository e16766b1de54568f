// The workstation's main window: the chat in the centre, and dockable,
// restorable panels for the model, sampling, the KV-cache map, the live
// performance plots and the engine log. It owns the ChatStore, the engine
// worker's thread and the engine log callback (EngineLog), and wires the
// worker's queued signals to the panels. Engine warnings and errors also show
// in the status bar.
#pragma once

#include <QMainWindow>
#include <QThread>

#include "worker/engine_worker.h"

class QDockWidget;
class QLabel;
class QMenu;
class QToolButton;

namespace lumen::ui {

class ChatPanel;
class ChatStore;
class KvMapModel;
class KvMapPanel;
class ModelPanel;
class PerformancePlots;
class SamplingPanel;
class DecodingPanel;
class QuantizationPanel;
class ServingPanel;
class EngineLog;
class LogPanel;
struct LogEntry;

struct MainWindowOptions {
    QString databasePath;  // empty: defaultChatDatabasePath()
    QString modelPath;     // model to open at start; empty: the last one, else the default model
    bool loadModelOnStart = true;
};

// The default model, where installer/fetch-model.sh puts it: $LUMEN_MODEL_PATH, else
// SmolLM2-135M-Instruct.Q4_1.gguf in $LUMEN_MODEL_DIR, $XDG_CACHE_HOME/lumen/models or ~/.cache/lumen/models.
QString default_model_path();

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    // How long an engine warning or error stays in the status bar (the Log keeps it).
    static constexpr int kStatusMessageMs = 8000;

    explicit MainWindow(const MainWindowOptions& options = {}, QWidget* parent = nullptr);
    ~MainWindow() override;

    ChatPanel* chatPanel() const { return chat_; }
    ModelPanel* modelPanel() const { return model_; }
    SamplingPanel* samplingPanel() const { return sampling_; }
    DecodingPanel* decodingPanel() const { return decoding_; }
    QuantizationPanel* quantizationPanel() const { return quantization_; }
    KvMapModel* kvModel() const { return kv_model_; }
    KvMapPanel* kvPanel() const { return kv_panel_; }
    PerformancePlots* plots() const { return plots_; }
    ServingPanel* servingPanel() const { return serving_; }
    LogPanel* logPanel() const { return log_panel_; }
    EngineWorker* worker() const { return worker_; }
    ChatStore* chatStore() const { return store_; }
    QString storeError() const { return store_error_; }

public Q_SLOTS:
    void openModel(const QString& path);             // inspect, then load with the panel's settings
    void exportConversation(const QString& format);  // "md" or "json", asks for a file

protected:
    void closeEvent(QCloseEvent* event) override;

private:
    void buildPanels();
    void buildDocks();
    void buildMenus();
    void buildStatusBar();
    void connectModelSignals();
    void connectChatSignals();
    void connectToolSignals();  // decoding, quantization, serving
    void connectEngineLog();
    void showEngineMessage(const LogEntry& entry);  // warnings and errors: status bar
    void showLog();
    void rebuildRecentMenu();
    void saveLayout();

    ChatStore* store_;
    QString store_error_;
    QThread worker_thread_;
    EngineWorker* worker_;
    ChatPanel* chat_;
    ModelPanel* model_;
    SamplingPanel* sampling_;
    DecodingPanel* decoding_;
    QuantizationPanel* quantization_;
    KvMapModel* kv_model_;
    KvMapPanel* kv_panel_;
    PerformancePlots* plots_;
    ServingPanel* serving_;
    EngineLog* engine_log_;
    LogPanel* log_panel_;
    QDockWidget* log_dock_ = nullptr;
    QList<QDockWidget*> docks_;
    QByteArray default_state_;
    QMenu* recent_menu_ = nullptr;
    QLabel* status_model_ = nullptr;
    QLabel* status_speed_ = nullptr;
    QToolButton* status_warnings_ = nullptr;  // warnings and errors since the log was last opened
    int unseen_warnings_ = 0;
    QString pending_load_path_;  // opened with openModel: load it once its inspection arrives
};

}  // namespace lumen::ui
