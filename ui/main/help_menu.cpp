// MainWindow's Help menu: the user guide (docs/USER_GUIDE.md with its
// screenshots, built into the program), the keyboard shortcuts, read from the
// menus so that the list cannot go stale, and About.
#include <QApplication>
#include <QDialog>
#include <QDialogButtonBox>
#include <QFile>
#include <QHeaderView>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QTextBrowser>
#include <QTreeWidget>
#include <QVBoxLayout>

#include "main/main_window.h"

// The guide's resources are in the static library lumen_ui, whose unreferenced
// objects the linker drops: this reference keeps them (outside any namespace, as
// Q_INIT_RESOURCE requires).
static void initUserGuideResources() {
    Q_INIT_RESOURCE(lumen_user_guide);
}

namespace lumen::ui {

namespace {

const char* kGuideUrl = "qrc:/lumen/guide/USER_GUIDE.md";
constexpr int kGuideImageWidth = 760;  // screenshots shrink to a readable column

// A browser that shows the guide's screenshots at most kGuideImageWidth wide.
class GuideBrowser : public QTextBrowser {
public:
    using QTextBrowser::QTextBrowser;
    QVariant loadResource(int type, const QUrl& name) override {
        const QVariant data = QTextBrowser::loadResource(type, name);
        if (type != QTextDocument::ImageResource) return data;
        QImage image = data.typeId() == QMetaType::QImage ? data.value<QImage>() : QImage::fromData(data.toByteArray());
        if (image.width() > kGuideImageWidth) image = image.scaledToWidth(kGuideImageWidth, Qt::SmoothTransformation);
        return image;
    }
};

QDialog* makeDialog(QWidget* parent, const char* name, const QString& title, QWidget* content, QSize size) {
    auto* dialog = new QDialog(parent);
    dialog->setObjectName(QString::fromLatin1(name));
    dialog->setWindowTitle(title);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close, dialog);
    QObject::connect(buttons, &QDialogButtonBox::rejected, dialog, &QDialog::close);
    auto* layout = new QVBoxLayout(dialog);
    layout->addWidget(content, 1);
    layout->addWidget(buttons);
    dialog->resize(size);
    return dialog;
}

// Every action with a shortcut, under the path of menus that holds it.
void addShortcuts(QTreeWidget* table, QMenu* menu, const QString& path) {
    for (QAction* action : menu->actions()) {
        const QString text = QString(action->text()).remove(QLatin1Char('&'));
        if (action->menu()) {
            addShortcuts(table, action->menu(), path + text + QStringLiteral(" › "));
            continue;
        }
        QStringList keys;
        for (const QKeySequence& key : action->shortcuts()) keys << key.toString(QKeySequence::NativeText);
        if (keys.isEmpty()) continue;
        auto* item = new QTreeWidgetItem(table, {path + text, keys.join(QStringLiteral(", "))});
        item->setToolTip(0, action->toolTip());
    }
}

}  // namespace

void MainWindow::buildHelpMenu() {
    QMenu* help = menuBar()->addMenu(tr("&Help"));
    QAction* guide = help->addAction(tr("&User Guide"), this, &MainWindow::showUserGuide);
    guide->setShortcut(QKeySequence::HelpContents);
    guide->setObjectName(QStringLiteral("actionUserGuide"));
    QAction* keys = help->addAction(tr("&Keyboard Shortcuts"), this, &MainWindow::showShortcuts);
    keys->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Slash));
    keys->setObjectName(QStringLiteral("actionShortcuts"));
    help->addSeparator();
    help->addAction(tr("&About Lumen"), this, [this] {
        QMessageBox::about(this, tr("About Lumen"),
                           tr("<b>Lumen</b> %1<br>An LLM inference workstation: run a model and watch the engine "
                              "work — tokens, KV blocks, latency and throughput.")
                               .arg(QApplication::applicationVersion()));
    });
}

void MainWindow::showUserGuide() {
    if (!user_guide_) {
        initUserGuideResources();
        auto* browser = new GuideBrowser;
        browser->setObjectName(QStringLiteral("userGuideBrowser"));
        browser->setOpenExternalLinks(true);
        if (QFile::exists(QStringLiteral(":/lumen/guide/USER_GUIDE.md")))
            browser->setSource(QUrl(QString::fromLatin1(kGuideUrl)), QTextDocument::MarkdownResource);
        else
            browser->setPlainText(tr("The user guide is not built into this program: see docs/USER_GUIDE.md."));
        user_guide_ = makeDialog(this, "userGuideDialog", tr("Lumen user guide"), browser, {880, 680});
    }
    user_guide_->show();
    user_guide_->raise();
}

void MainWindow::showShortcuts() {
    if (!shortcuts_) {
        auto* table = new QTreeWidget;
        table->setObjectName(QStringLiteral("shortcutsTable"));
        table->setHeaderLabels({tr("Command"), tr("Shortcut")});
        table->setRootIsDecorated(false);
        for (QAction* top : menuBar()->actions())
            if (top->menu())
                addShortcuts(table, top->menu(), QString(top->text()).remove(QLatin1Char('&')) + QStringLiteral(" › "));
        table->header()->setSectionResizeMode(0, QHeaderView::ResizeToContents);
        shortcuts_ = makeDialog(this, "shortcutsDialog", tr("Keyboard shortcuts"), table, {520, 560});
    }
    shortcuts_->show();
    shortcuts_->raise();
}

}  // namespace lumen::ui
