// Spin boxes as the panels build them: an object name (tests find controls by it),
// a range, a step and a tooltip in one call.
#pragma once

#include <QString>

class QDoubleSpinBox;
class QSpinBox;
class QWidget;

namespace lumen::ui {

QSpinBox* intSpin(QWidget* parent, const char* name, int lo, int hi, const QString& tip);
QDoubleSpinBox* doubleSpin(QWidget* parent, const char* name, double lo, double hi, double step, int decimals,
                           const QString& tip);

}  // namespace lumen::ui
