// A label that never widens its panel: when its text does not fit, it is drawn
// elided (with "…") and the whole text goes to the tooltip. text() stays the
// whole text. For one-line labels whose text comes from outside (model names,
// paths, template names), which would otherwise set the panel's minimum width.
#pragma once

#include <QLabel>

namespace lumen::ui {

class ElidedLabel : public QLabel {
    Q_OBJECT
public:
    explicit ElidedLabel(QWidget* parent = nullptr, Qt::TextElideMode mode = Qt::ElideRight);

    QSize minimumSizeHint() const override;
    // Whether the text is drawn shortened at the current width.
    bool isElided() const;
    // The text as drawn at the current width.
    QString shownText() const;

protected:
    void paintEvent(QPaintEvent* event) override;
    bool event(QEvent* event) override;  // the tooltip: the whole text while it is elided

private:
    Qt::TextElideMode mode_;
};

}  // namespace lumen::ui
