// Panels in a side bar must fit a narrow column: at 1280×720 the settings side
// bar gets about 290 px. fitNarrowColumn() lets a panel's combo boxes shrink
// below their longest item (they elide it; the popup still shows it whole),
// its push buttons shrink to their text, and moves a form row's field under its
// label when the row would not fit beside it.
#pragma once

class QWidget;

namespace lumen::ui {

// The width in characters below which a combo box does not shrink.
inline constexpr int kComboMinimumChars = 8;

void fitNarrowColumn(QWidget* panel);
// Only the push buttons: the style gives a text button at least 80 px, so three in a
// row would set a narrow panel's width; they may shrink to their text and padding.
void letButtonsShrink(QWidget* panel);

}  // namespace lumen::ui
