// fitPlotText: tick counts from the axes' room, elided axis labels and titles.
#include "plots/plot_fit.h"

#include <QEvent>
#include <QFontMetrics>
#include <algorithm>
#include <cmath>

#include "plots/performance_plots.h"  // <qcustomplot.h> under QT_NO_KEYWORDS

namespace lumen::ui {

namespace {

const char* kFullText = "lumenFullText";
const char* kShownText = "lumenShownText";
constexpr int kMinTicks = 2;
constexpr int kMaxTicks = 8;
// QCPAxisTicker rounds the step to 1, 2, 2.5 or 5 times a power of ten, which
// can give up to 1.5 times the ticks asked for: leave that much room.
constexpr double kTickSlack = 1.6;
constexpr int kLabelGapPx = 10;
constexpr int kDefaultMarginPx = 60;  // before the first layout has measured the margins

// The widest tick label the axis can show over its range, as QCPAxisTicker formats them.
int widestTickLabel(const QCPAxis* axis) {
    const QFontMetrics fm(axis->tickLabelFont());
    const QCPRange range = axis->range();
    const QChar format = axis->numberFormat().isEmpty() ? QLatin1Char('g') : axis->numberFormat().at(0);
    int widest = fm.horizontalAdvance(QStringLiteral("0"));
    for (double v : {range.lower, range.upper, (range.lower + range.upper) / 2})
        widest = std::max(widest, fm.horizontalAdvance(axis->parentPlot()->locale().toString(v, format.toLatin1(),
                                                                                             axis->numberPrecision())));
    return widest;
}

// Named ticks (one per category) are all shown: when they would overlap side by
// side they stand upright, one line of height each.
void fitTextTicks(QCPAxis* axis, QCPAxisTickerText& ticker, int width) {
    const QFontMetrics fm(axis->tickLabelFont());
    int shown = 0, widest = 0;
    for (auto it = ticker.ticks().constBegin(); it != ticker.ticks().constEnd(); ++it)
        if (axis->range().contains(it.key())) {
            ++shown;
            widest = std::max(widest, fm.horizontalAdvance(it.value()));
        }
    const bool fit = shown == 0 || widest + kLabelGapPx <= width / shown;
    axis->setTickLabelRotation(fit ? 0 : 90);
}

// Replots its plot when it is shown.
class ShowReplotter : public QObject {
public:
    explicit ShowReplotter(QCustomPlot* plot) : QObject(plot), plot_(plot) {}
    bool eventFilter(QObject* watched, QEvent* event) override {
        if (watched == plot_ && event->type() == QEvent::Show) plot_->replot(QCustomPlot::rpQueuedReplot);
        return false;
    }

private:
    QCustomPlot* plot_;
};

// The text to show for `full` in `room` pixels, remembering both on `owner`.
QString fitted(QObject* owner, const QString& current, const QFont& font, int room) {
    // A text set since the last fit (not the one we showed) is the new full text.
    if (current != owner->property(kShownText).toString()) owner->setProperty(kFullText, current);
    const QString full = owner->property(kFullText).toString();
    const QString shown = QFontMetrics(font).elidedText(full, Qt::ElideRight, std::max(room, 0));
    owner->setProperty(kShownText, shown);
    return shown;
}

}  // namespace

QString fullText(const QObject* axisOrTitle) {
    const QVariant full = axisOrTitle->property(kFullText);
    if (full.isValid()) return full.toString();
    if (auto* axis = qobject_cast<const QCPAxis*>(axisOrTitle)) return axis->label();
    if (auto* title = qobject_cast<const QCPTextElement*>(axisOrTitle)) return title->text();
    return {};
}

// Tick counts and texts for an axis rect of width × height; returns whether anything changed.
bool fitTo(QCustomPlot* plot, int width, int height) {
    QCPAxis* x = plot->xAxis;
    QCPAxis* y = plot->yAxis;
    const int xTicks = x->ticker()->tickCount(), yTicks = y->ticker()->tickCount();
    const QString xLabel = x->label(), yLabel = y->label();
    const double xRotation = x->tickLabelRotation();
    if (auto text = qSharedPointerDynamicCast<QCPAxisTickerText>(x->ticker()))
        fitTextTicks(x, *text, width);
    else
        x->ticker()->setTickCount(
            std::clamp(int(width / (kTickSlack * (widestTickLabel(x) + kLabelGapPx))), kMinTicks, kMaxTicks));
    const int lineHeight = QFontMetrics(y->tickLabelFont()).height();
    y->ticker()->setTickCount(
        std::clamp(int(height / (kTickSlack * (lineHeight + kLabelGapPx))), kMinTicks, kMaxTicks));
    x->setLabel(fitted(x, x->label(), x->labelFont(), width));
    y->setLabel(fitted(y, y->label(), y->labelFont(), height));
    for (int i = 0; i < plot->plotLayout()->elementCount(); ++i)
        if (auto* title = qobject_cast<QCPTextElement*>(plot->plotLayout()->elementAt(i)))
            title->setText(fitted(title, title->text(), title->font(), plot->viewport().width() - 8));
    return x->ticker()->tickCount() != xTicks || y->ticker()->tickCount() != yTicks || x->label() != xLabel ||
           y->label() != yLabel || x->tickLabelRotation() != xRotation;
}

void fitPlotTextNow(QCustomPlot* plot) {
    QCPAxisRect* rect = plot->axisRect();
    // A plot not on screen has no size of its own yet: fitting it would shorten every text.
    if (!rect || !plot->isVisible()) return;
    // The axis rect as the coming layout will make it: the widget less the margins the last layout measured.
    const QMargins m = rect->margins();
    const bool measured = rect->width() > 0;
    const int horizontal = measured ? m.left() + m.right() : kDefaultMarginPx;
    const int vertical = measured ? plot->viewport().height() - rect->height() : kDefaultMarginPx;
    fitTo(plot, std::max(plot->viewport().width() - horizontal, 1), std::max(plot->viewport().height() - vertical, 1));
}

void showFullPlotText(QCustomPlot* plot) {
    plot->xAxis->setLabel(fullText(plot->xAxis));
    plot->yAxis->setLabel(fullText(plot->yAxis));
    for (int i = 0; i < plot->plotLayout()->elementCount(); ++i)
        if (auto* title = qobject_cast<QCPTextElement*>(plot->plotLayout()->elementAt(i)))
            title->setText(fullText(title));
}

void fitPlotText(QCustomPlot* plot) {
    QObject::connect(plot, &QCustomPlot::beforeReplot, plot, [plot] { fitPlotTextNow(plot); });
    // The margins can change with the texts (longer tick labels, a label elided away): when
    // the laid-out axis rect asks for other counts or texts, draw once more with them.
    // A plot behind a tab was not fitted while hidden: fit it when it shows.
    plot->installEventFilter(new ShowReplotter(plot));
    QObject::connect(plot, &QCustomPlot::afterLayout, plot, [plot] {
        QCPAxisRect* rect = plot->axisRect();
        if (rect && plot->isVisible() && fitTo(plot, rect->width(), rect->height()))
            plot->replot(QCustomPlot::rpQueuedReplot);
    });
}

}  // namespace lumen::ui
