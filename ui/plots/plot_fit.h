// Keeps a QCustomPlot's text readable at any size. Before each replot it sets
// the tick counts from the room the axes have, so that tick labels never
// overlap, and elides the axis labels and titles that would not fit, so that
// none is cut off at the widget's edge. The full texts stay available
// (fullText()). Named ticks (categories) stand upright when they would overlap.
#pragma once

#include <QString>

class QCPAxis;
class QCustomPlot;
class QObject;

namespace lumen::ui {

// Call once, after the plot's axes and title are set up.
void fitPlotText(QCustomPlot* plot);
// Applies the fitting now (fitPlotText() does it before every replot).
void fitPlotTextNow(QCustomPlot* plot);
// Puts the full texts back, for an export at another size (the next replot fits them again).
void showFullPlotText(QCustomPlot* plot);
// The text an axis label or a title element was given, before any eliding.
QString fullText(const QObject* axisOrTitle);

}  // namespace lumen::ui
