// The decoding panel: how replies are decoded when not by the sampling chain
// alone. Beam search takes a width, a length penalty and early stopping; after
// a beam-search reply the panel shows its hypotheses with their scores and the
// search as a tree of beams (each node a token, its beam's summed log-probability,
// dead ends where a beam was pruned, marks where a hypothesis finished).
#pragma once

#include <QWidget>

#include "worker/engine_events.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QSpinBox;
class QTreeWidget;

namespace lumen::ui {

class DecodingPanel : public QWidget {
    Q_OBJECT
public:
    explicit DecodingPanel(QWidget* parent = nullptr);

    // Width 0 unless beam search is chosen.
    BeamSettings beamSettings() const;
    void setBeamSettings(const BeamSettings& settings);

public Q_SLOTS:
    void showBeamSearch(const lumen::ui::BeamSearchData& search);

private:
    void persist();
    void updateEnabled();

    QComboBox* strategy_;
    QSpinBox* width_;
    QDoubleSpinBox* length_penalty_;
    QCheckBox* early_stopping_;
    QLabel* summary_;
    QTreeWidget* hypotheses_;
    QTreeWidget* tree_;
    bool applying_ = false;
};

}  // namespace lumen::ui
