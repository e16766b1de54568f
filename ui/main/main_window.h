// The workstation's main window: the chat in the centre; a settings side bar
// (model, sampling, decoding, quantization) on the left and an inspector (KV-cache
// map, performance plots, serving) on the right, each of which collapses; the
// engine log below, closed by default. Every panel is a dock widget, arranged
// by the layout presets (Chat, Inspect, Benchmark) and saved between runs. The
// window fits 1280×720: side-bar panels scroll rather than set its minimum size.
// It owns the ChatStore, the engine worker's thread and the engine log callback
// (EngineLog), and wires the worker's queued signals to the panels. Engine
// warnings and errors also show in the status bar.
#pragma once

#include <QMainWindow>
#include <QThread>

#include "worker/engine_worker.h"

class QAction;
class QDialog;
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

// How the docks are arranged. Inspect is the default and what Reset Layout restores.
enum class LayoutPreset {
    chat,       // settings side bar and the chat; the inspector hidden
    inspect,    // settings, chat, and the KV map above the performance plots
    benchmark,  // the chat, and a wide Serving panel above the KV map; the settings hidden
};

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
    static constexpr LayoutPreset kDefaultLayout = LayoutPreset::inspect;
    QList<QDockWidget*> sidebarDocks() const { return sidebar_docks_; }
    QList<QDockWidget*> inspectorDocks() const { return inspector_docks_; }
    // Puts every dock in its place for `preset`, docked, sized to the window.
    void applyLayout(LayoutPreset preset);

public Q_SLOTS:
    void openModel(const QString& path);             // inspect, then load with the panel's settings
    void exportConversation(const QString& format);  // "md" or "json", asks for a file
    void setSidebarVisible(bool visible);
    void setInspectorVisible(bool visible);
    void showUserGuide();
    void showShortcuts();

protected:
    void closeEvent(QCloseEvent* event) override;
    void showEvent(QShowEvent* event) override;

private:
    void buildPanels();
    void buildDocks();
    QDockWidget* addPanelDock(QWidget* panel, const QString& title, const char* name, bool scrolls);
    void sizeDocks(LayoutPreset preset);
    void buildMenus();
    void buildViewMenu();
    void buildLayoutActions();
    void buildHelpMenu();
    void syncLayoutActions();
    bool confirmQuit();
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
    QDockWidget* model_dock_ = nullptr;
    QDockWidget* kv_dock_ = nullptr;
    QDockWidget* plots_dock_ = nullptr;
    QDockWidget* serving_dock_ = nullptr;
    QList<QDockWidget*> docks_;
    QList<QDockWidget*> sidebar_docks_;    // model, sampling, decoding, quantization
    QList<QDockWidget*> inspector_docks_;  // KV map, performance plots, serving
    QAction* sidebar_action_ = nullptr;
    QAction* inspector_action_ = nullptr;
    QList<QAction*> layout_actions_;   // Chat, Inspect, Benchmark
    bool size_docks_on_show_ = false;  // a layout applied before the window had its size
    LayoutPreset pending_layout_ = kDefaultLayout;
    QDialog* user_guide_ = nullptr;
    QDialog* shortcuts_ = nullptr;
    QMenu* recent_menu_ = nullptr;
    QLabel* status_model_ = nullptr;
    QLabel* status_speed_ = nullptr;
    QToolButton* status_warnings_ = nullptr;  // warnings and errors since the log was last opened
    int unseen_warnings_ = 0;
    QString pending_load_path_;  // opened with openModel: load it once its inspection arrives
};

}  // namespace lumen::ui
