"""Application assembly: QApplication, settings, the engine thread, the main window; ordered shutdown.

Order at exit (MainWindow.shutdown): cancel the generation, stop audio, stop the worker threads (engine,
checks, text, background), keep the project's unsaved work in its autosave, write the settings. It runs from closeEvent and again (idempotently) from
aboutToQuit so that a quit from anywhere takes the same path, Ctrl+C in the terminal included.

Names the desktop sees: resources/timbre.desktop is the desktop file ("timbre", also the Wayland
app id); on X11 the window's WM_CLASS is (instance, class) = ("timbre", "Timbre"), and the
desktop file's StartupWMClass names that class, so docks group the window under the menu entry.
"""
from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from . import engine_bridge as bridge
from .resources import icon_path
from .settings import APP_NAME, Settings, data_dir
from .theme import apply_theme

log = logging.getLogger(__name__)

# The desktop file's name without ".desktop"; also the X11 instance name (Qt takes that from argv[0],
# which would otherwise be "__main__.py", "timbre-app" or "Timbre" depending on how we were started).
DESKTOP_FILE_NAME = "timbre"
# Qt uses the application name as the X11 window class; StartupWMClass in the desktop file matches it.
WINDOW_CLASS = APP_NAME
SIGINT_POLL_MS = 200


def make_qapp(argv: list[str] | None = None) -> QApplication:
    """The QApplication with Timbre's names and icon. argv[0] is replaced (see DESKTOP_FILE_NAME)."""
    app = QApplication.instance() or QApplication([DESKTOP_FILE_NAME, *(argv or [])[1:]])
    app.setApplicationName(WINDOW_CLASS)
    app.setOrganizationName(APP_NAME)
    app.setDesktopFileName(DESKTOP_FILE_NAME)
    app.setWindowIcon(QIcon(str(icon_path())))
    return app  # type: ignore[return-value]


def create_main_window(settings: Settings | None = None, voices_dir: Path | None = None):
    """Build the main window with its engine thread and voice library (not shown, engine not loaded)."""
    from .widgets.main_window import MainWindow

    settings = settings or Settings.load()
    apply_theme(settings.theme)
    library = bridge.voice_library(voices_dir or data_dir() / "voices")
    window = MainWindow(settings, library)
    QApplication.instance().aboutToQuit.connect(window.shutdown)
    return window


def open_window(files: Sequence[str | os.PathLike[str]] = (), settings: Settings | None = None,
                voices_dir: Path | None = None):
    """What ``timbre-app [FILE...]`` does once the QApplication exists: build and show the window, load the
    model, and open the first file (the desktop's "Open with Timbre"): a ``.timbre`` project as File ▸ Open does,
    an audio file as the reference, as Import… does (the analysis is shown, a bad file gets the usual error)."""
    window = create_main_window(settings, voices_dir)
    window.show()
    window.start_engine()
    if files:
        first = Path(files[0])
        if len(files) > 1:
            log.info("opening %s; %d other file(s) ignored", first, len(files) - 1)
        # After the window is on screen (and any first-run dialog is open), so an error box has a parent
        # to sit on and the user sees the project or the clip arrive.
        if first.suffix.lower() == bridge.PROJECT_SUFFIX:
            QTimer.singleShot(0, window, lambda: window.files.open_path(first))
        else:
            QTimer.singleShot(0, window, lambda: window.reference.import_file(first))
    return window


def close_on_sigint(app: QApplication, get_window: Callable[[], object | None]) -> None:
    """Ctrl+C in the terminal closes the window through the normal ordered shutdown.

    Python runs signal handlers only when the interpreter has control, and Qt's event loop is C++;
    without help, Ctrl+C waited for the next Python slot and surfaced there as a KeyboardInterrupt
    that Qt swallowed. So a timer hands the interpreter control a few times a second, and the handler
    only queues the close: it may run in the middle of any slot, which must not be torn down under
    itself. It is installed before the window is built: a Ctrl+C that came while the window was being
    shown used to raise inside a Qt callback, get swallowed, and leave the app running. A Ctrl+C before
    the event loop runs is queued and handled as soon as it starts. A second Ctrl+C (a shutdown that hangs)
    gets the default action and ends the process.
    """
    def close_and_quit() -> None:
        window = get_window()
        if window is not None:
            window.close()
        QApplication.quit()

    def on_sigint(_signum: int, _frame: object) -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        log.info("Ctrl+C: closing Timbre")
        QTimer.singleShot(0, close_and_quit)

    signal.signal(signal.SIGINT, on_sigint)
    wake = QTimer(app)
    wake.setInterval(SIGINT_POLL_MS)
    wake.timeout.connect(lambda: None)
    wake.start()


def run(argv: list[str] | None = None, files: Sequence[str | os.PathLike[str]] = ()) -> int:
    app = make_qapp(argv)
    windows: list = []
    close_on_sigint(app, lambda: windows[0] if windows else None)
    windows.append(open_window(files))
    log.info("Timbre is running (Ctrl+C here closes it)")
    return app.exec()
