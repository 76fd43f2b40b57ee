"""Playback problems told once: the first time a playback fails for a reason (no PortAudio, no output device) the
user gets a message box; the same reason again (the next sentence, the next take) only shows in the status bar, so
a narration without sound never becomes a box per sentence."""
from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

if TYPE_CHECKING:
    from .widgets.main_window import MainWindow

STATUS_MS = 6000


class AudioNotice(QObject):
    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.w = window
        self._told: set[str] = set()

    def report(self, message: str) -> None:
        if message in self._told:
            self.w.statusBar().showMessage(f"Cannot play: {message}", STATUS_MS)
            return
        self._told.add(message)
        self.w.engine_status.update_output_label()
        self.w.show_error("Cannot play", message)
