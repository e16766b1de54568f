// fitNarrowColumn: combo boxes and form layouts of a panel, made to fit a narrow column.
#include "common/narrow_panels.h"

#include <QComboBox>
#include <QFormLayout>
#include <QPushButton>
#include <QWidget>

namespace lumen::ui {

void fitNarrowColumn(QWidget* panel) {
    // A combo box asks for its longest item by default ("The model's first layers
    // (early exit)"), which alone would set the side bar's width.
    for (QComboBox* combo : panel->findChildren<QComboBox*>()) {
        combo->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
        combo->setMinimumContentsLength(kComboMinimumChars);
    }
    for (QFormLayout* form : panel->findChildren<QFormLayout*>()) form->setRowWrapPolicy(QFormLayout::WrapLongRows);
    letButtonsShrink(panel);
}

void letButtonsShrink(QWidget* panel) {
    constexpr int kPaddingPx = 20;
    for (QPushButton* button : panel->findChildren<QPushButton*>()) {
        if (button->text().isEmpty()) continue;
        button->setMinimumWidth(button->fontMetrics().horizontalAdvance(button->text()) + kPaddingPx);
        button->setSizePolicy(QSizePolicy::Preferred, button->sizePolicy().verticalPolicy());
    }
}

}  // namespace lumen::ui
