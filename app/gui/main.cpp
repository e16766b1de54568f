// lumen: the workstation. `lumen [MODEL]` opens the main window on MODEL, or
// on the last model used, or on the default model.
#include <QApplication>
#include <QCommandLineParser>
#include <QIcon>

#include "main/main_window.h"

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("Lumen"));
    QApplication::setApplicationName(QStringLiteral("Lumen"));
    QApplication::setApplicationVersion(QStringLiteral(LUMEN_VERSION));
    QApplication::setDesktopFileName(QStringLiteral("lumen"));
    QApplication::setWindowIcon(QIcon(QStringLiteral(":/lumen/lumen.svg")));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("Lumen LLM inference workstation"));
    parser.addHelpOption();
    parser.addVersionOption();
    parser.addPositionalArgument(QStringLiteral("model"), QStringLiteral("GGUF or llama2.c model to open"), QStringLiteral("[model]"));
    QCommandLineOption database(QStringLiteral("database"), QStringLiteral("Chat history file (SQLite)."), QStringLiteral("path"));
    parser.addOption(database);
    parser.process(app);

    lumen::ui::MainWindowOptions options;
    if (!parser.positionalArguments().isEmpty()) options.modelPath = parser.positionalArguments().first();
    options.databasePath = parser.value(database);
    lumen::ui::MainWindow window(options);
    window.show();
    return app.exec();
}
