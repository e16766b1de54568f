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

#include <QWidget>

#include "worker/engine_events.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QSpinBox;
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

private:
    void persist();
    void updateEnabled();

    QComboBox* strategy_;
    QSpinBox* width_;
    QDoubleSpinBox* length_penalty_;
    QCheckBox* early_stopping_;
    QComboBox* amateur_kind_;
    QSpinBox* amateur_layers_;
    QLineEdit* amateur_path_;
    QDoubleSpinBox* alpha_;
    QDoubleSpinBox* lambda_;
    QComboBox* speculation_;
    QSpinBox* draft_tokens_;
    QLineEdit* draft_path_;
    QDoubleSpinBox* exit_entropy_;
    QSpinBox* exit_first_layer_;
    QSpinBox* exit_every_;
    QLabel* speculation_summary_;
    QLabel* exit_summary_;
    QTreeWidget* exit_layers_;
    QStackedWidget* views_;
    QLabel* summary_;
    QTreeWidget* hypotheses_;
    QTreeWidget* tree_;
    QLabel* contrastive_summary_;
    QTreeWidget* contrastive_trace_;
    bool applying_ = false;
};

}  // namespace lumen::ui
