"""Application assembly: QApplication, settings, the engine thread, the main window; ordered shutdown.

Order at exit (MainWindow.shutdown): cancel the generation, stop audio, stop the worker threads,
write the autosave and the settings. It runs from closeEvent and again (idempotently) from
aboutToQuit so that a quit from anywhere takes the same path.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from . import engine_bridge as bridge
from .resources import icon_path
from .settings import APP_NAME, Settings, data_dir
from .theme import apply_theme

log = logging.getLogger(__name__)


def make_qapp(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv)
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    app.setDesktopFileName("timbre")
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


def run(argv: list[str] | None = None) -> int:
    app = make_qapp(argv)
    window = create_main_window()
    window.show()
    window.start_engine()
    return app.exec()
