// lumen: the workstation. `lumen [MODEL]` opens the main window on MODEL, or
// on the last model used, or on the default model. `lumen --help` and
// `lumen --version` print and exit before any window system is touched, so
// they work without a display.
#include <QApplication>
#include <QCommandLineParser>
#include <QCoreApplication>
#include <QIcon>
#include <QStringList>

#include "main/main_window.h"

namespace {

// The command line, declared once: the options and their help text.
struct CommandLine {
    QCommandLineParser parser;
    QCommandLineOption help = parser.addHelpOption();
    QCommandLineOption version = parser.addVersionOption();
    QCommandLineOption database{QStringLiteral("database"), QStringLiteral("Chat history file (SQLite)."),
                                QStringLiteral("path")};

    CommandLine() {
        parser.setApplicationDescription(QStringLiteral("Lumen LLM inference workstation"));
        parser.addPositionalArgument(QStringLiteral("model"), QStringLiteral("GGUF or llama2.c model to open"),
                                     QStringLiteral("[model]"));
        parser.addOption(database);
    }
};

// Help and the version need no window: a core application prints them and exits 0.
void answerWithoutWindow(int argc, char** argv, CommandLine& cli) {
    QCoreApplication core(argc, argv);
    cli.parser.process(core);
}

}  // namespace

int main(int argc, char** argv) {
    // Static: QCoreApplication reads them for --version and the help text.
    QCoreApplication::setOrganizationName(QStringLiteral("Lumen"));
    QCoreApplication::setApplicationName(QStringLiteral("Lumen"));
    QCoreApplication::setApplicationVersion(QStringLiteral(LUMEN_VERSION));

    CommandLine cli;
    QStringList args;
    for (int i = 0; i < argc; ++i) args << QString::fromLocal8Bit(argv[i]);
    (void)cli.parser.parse(args);  // only to see whether help or the version is asked for
    if (cli.parser.isSet(cli.help) || cli.parser.isSet(cli.version)) answerWithoutWindow(argc, argv, cli);

    QApplication app(argc, argv);  // takes Qt's own options (-platform, -style, …) out of its arguments
    QApplication::setDesktopFileName(QStringLiteral("lumen"));
    QApplication::setWindowIcon(QIcon(QStringLiteral(":/lumen/lumen.svg")));
    cli.parser.process(app);

    lumen::ui::MainWindowOptions options;
    if (!cli.parser.positionalArguments().isEmpty()) options.modelPath = cli.parser.positionalArguments().first();
    options.databasePath = cli.parser.value(cli.database);
    lumen::ui::MainWindow window(options);
    window.show();
    return app.exec();
}
