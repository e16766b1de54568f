// The decoding panel: how replies are decoded when not by the sampling chain
// alone. Beam search takes a width, a length penalty and early stopping; after
// a beam-search reply the panel shows its hypotheses with their scores and the
// search as a tree of beams (each node a token, its beam's summed log-probability,
// dead ends where a beam was pruned, marks where a hypothesis finished).
// Contrastive decoding takes an amateur (the model's first K layers, or another
// model file), the plausibility alpha and the weight lambda; after a reply the
// panel lists every token with the expert's and the amateur's probabilities of
// its best candidates. With the sampling chain, speculative decoding (prompt
// lookup in the serving core, or a draft model) shows its acceptance after each
// reply; early exit (lossy) shows how many layers the decode steps ran.
#pragma once

#include <QHash>
#include <QVariant>
#include <QVector>
#include <QWidget>

#include "worker/engine_events.h"

class QLabel;
class QLayout;
class QStackedWidget;
class QTreeWidget;

namespace lumen::ui {

class DecodingPanel : public QWidget {
    Q_OBJECT
public:
    explicit DecodingPanel(QWidget* parent = nullptr);

    // Width 0 unless beam search is chosen.
    BeamSettings beamSettings() const;
    void setBeamSettings(const BeamSettings& settings);
    // enabled == false unless contrastive decoding is chosen.
    ContrastiveSettings contrastiveSettings() const;
    void setContrastiveSettings(const ContrastiveSettings& settings);
    // Off unless the sampling chain is chosen with speculation.
    SpeculationSettings speculationSettings() const;
    // Enabled only for the early-exit strategy.
    EarlyExitSettings earlyExitSettings() const;

public Q_SLOTS:
    void showBeamSearch(const lumen::ui::BeamSearchData& search);
    void showContrastive(const lumen::ui::ContrastiveData& result);
    void showDecodingStats(const lumen::ui::DecodingStatsData& stats);
    // A reply was sent with the strategy chosen now: a beam search or contrastive
    // reply clears that strategy's view, so no earlier result passes for its own.
    void replyStarted(qint64 requestId);
    // A reply failed: a beam search or contrastive view says so instead of showing
    // an older search.
    void replyFailed(qint64 requestId, const QString& message);

private:
    // The settings' controls come from one table (kSettings in decoding_panel.cpp);
    // `setting` is a row of it.
    QVariant value(int setting) const;
    void setValue(int setting, const QVariant& value);
    bool applies(int setting) const;      // enabled for the chosen strategy and options
    QWidget* createControl(int setting);  // the control, or for a path its row with a browse button
    QLayout* buildSettingsForm();
    QWidget* buildBeamPage();
    QWidget* buildContrastivePage();
    QWidget* buildEarlyExitPage();
    void restoreSettings();
    void persist();
    void updateEnabled();
    void clearResults(int strategy, const QString& summary);

    QVector<QWidget*> controls_;  // one per setting, in table order
    QStackedWidget* views_;       // the result view of each strategy
    QLabel* speculation_summary_;
    QLabel* exit_summary_;
    QTreeWidget* exit_layers_;
    QLabel* beam_summary_;
    QTreeWidget* hypotheses_;
    QTreeWidget* beam_tree_;
    QLabel* contrastive_summary_;
    QTreeWidget* contrastive_trace_;
    QHash<qint64, int> running_;  // beam search and contrastive replies in flight -> their strategy
    bool applying_ = false;
};

}  // namespace lumen::ui
