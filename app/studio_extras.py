"""The studio's additions beside the project work, built and shut down together so the window wires them in a few
lines: the failed-load guard (app/model_guard.py), model families and re-analysed voices (app/voice_families.py),
the A/B of a line on two models (app/ab_compare.py), the local speech server (app/speech_server.py), playback
problems told once (app/audio_notice.py) and a sound server vanishing mid-playback (app/output_watch.py)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from .ab_compare import ABCompare
from .audio_notice import AudioNotice
from .model_guard import ModelGuard
from .output_watch import OutputWatch
from .speech_server import StudioServer
from .voice_families import VoiceFamilies

if TYPE_CHECKING:
    from .widgets.main_window import MainWindow


class StudioExtras(QObject):
    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.guard = ModelGuard(window)
        self.families = VoiceFamilies(window)
        self.ab = ABCompare(window)
        self.server = StudioServer(window)
        self.audio_notice = AudioNotice(window)
        self.output_watch = OutputWatch(window)
        window.statusBar().addPermanentWidget(self.server.panel)

    def shutdown(self) -> None:
        """Before the engine thread stops: the server stops speaking, model B's thread ends, a load in progress is
        not remembered as broken."""
        self.output_watch.shutdown()
        self.server.shutdown()
        self.ab.shutdown()
        self.guard.shutdown()
