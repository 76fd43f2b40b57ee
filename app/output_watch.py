"""Playback whose sound server vanished (JACK stopped, a device unplugged): PortAudio then keeps the stream "active"
but never calls it again, so nothing would ever say so and the app would abort at exit (pa_jack's Terminate
asserts on the dead client). The watch polls the player: a stream open with audio still queued whose callback has
not run for :data:`STALL_S` has lost its output; playback stops with a message (generation goes on, takes are
kept) and PortAudio's exit clean-up is skipped.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer

from .audio import devices

if TYPE_CHECKING:
    from .widgets.main_window import MainWindow

POLL_MS = 250
# A callback comes every blocksize / rate seconds (1024 / 24000 = 43 ms). A sound server starved of CPU on an
# overloaded machine can miss a second of them and recover, so only 3 s without one (70 missed) counts as gone; a
# GUI thread blocked meanwhile cannot fake it (the callbacks go on in PortAudio's thread and are seen next poll).
STALL_S = 3.0
LOST = ("Playback stopped: the audio output went away (the sound server stopped or the device was unplugged). "
        "Generation goes on and every take is kept. Restart Timbre once the output is back to hear it again.")


class OutputWatch(QObject):
    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.w = window
        self.lost = False
        self._last = (-1, 0.0)  # callbacks seen, when they last changed
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)
        self._timer.start()

    def _poll(self) -> None:
        player = self.w.player
        stats = player.stats
        now = time.monotonic()
        if not player.is_active or stats.queued_frames <= stats.played_frames:
            self._last = (-1, now)
            return
        if stats.callbacks != self._last[0]:
            self._last = (stats.callbacks, now)
            return
        if now - self._last[1] >= STALL_S and not self.lost:
            self.lost = True
            self._timer.stop()
            self.w.session.silence()
            player.stop()
            devices.output_lost()
            self.w.show_error("Playback stopped", LOST)

    def shutdown(self) -> None:
        self._timer.stop()
