// The plot export dialog shared by the Performance and Serving panels.
#include "common/export_path.h"

#include <QDir>
#include <QFileDialog>
#include <QFileInfo>

namespace lumen::ui {

QString askExportPath(QWidget* parent, const QString& name, bool png) {
    const QString suffix = png ? QStringLiteral("png") : QStringLiteral("csv");
    QString path =
        QFileDialog::getSaveFileName(parent, png ? QObject::tr("Export plot as PNG") : QObject::tr("Export as CSV"),
                                     QDir::home().filePath(QStringLiteral("lumen_%1.%2").arg(name, suffix)),
                                     png ? QObject::tr("PNG images (*.png)") : QObject::tr("CSV files (*.csv)"));
    if (!path.isEmpty() && QFileInfo(path).suffix().isEmpty()) path += QLatin1Char('.') + suffix;
    return path;
}

}  // namespace lumen::ui
