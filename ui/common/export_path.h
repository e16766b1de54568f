// The save dialog every plot export uses: a file name under the home folder named
// after the plot, with the format's suffix added when none is typed.
#pragma once

#include <QString>

class QWidget;

namespace lumen::ui {

// The chosen path for exporting `name` as PNG (png) or CSV; empty when cancelled.
QString askExportPath(QWidget* parent, const QString& name, bool png);

}  // namespace lumen::ui
