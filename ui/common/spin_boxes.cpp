// The panels' spin-box constructors.
#include "common/spin_boxes.h"

#include <QDoubleSpinBox>
#include <QSpinBox>

namespace lumen::ui {

QSpinBox* intSpin(QWidget* parent, const char* name, int lo, int hi, const QString& tip) {
    auto* s = new QSpinBox(parent);
    s->setObjectName(QString::fromLatin1(name));
    s->setRange(lo, hi);
    s->setToolTip(tip);
    return s;
}

QDoubleSpinBox* doubleSpin(QWidget* parent, const char* name, double lo, double hi, double step, int decimals,
                           const QString& tip) {
    auto* s = new QDoubleSpinBox(parent);
    s->setObjectName(QString::fromLatin1(name));
    s->setRange(lo, hi);
    s->setSingleStep(step);
    s->setDecimals(decimals);
    s->setToolTip(tip);
    return s;
}

}  // namespace lumen::ui
