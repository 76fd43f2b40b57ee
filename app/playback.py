"""What the player is playing for the user right now, and where it is, for the playheads and Play/Stop buttons.

The window tells :class:`PlaybackTracker` when it starts a clip (the reference, one take, the whole narration);
the tracker polls the player a few times a second and reports small frozen :class:`PlaybackState` values until
the clip has played out or was stopped. Generation's own streaming playback is not a clip: the transport's Stop
covers it.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

from PySide6.QtCore import QObject, QTimer, Signal

from .audio.player import StreamPlayer

POLL_MS = 40  # 25 playhead updates a second


class Playing(str, enum.Enum):
    NOTHING = "nothing"
    REFERENCE = "reference"
    TAKE = "take"
    NARRATION = "narration"
    WORD = "word"


@dataclass(frozen=True)
class Segment:
    """One line's take inside a clip: where it starts and ends in the clip, in seconds."""

    line: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class PlaybackState:
    what: Playing
    position_s: float = 0.0  # into the clip (a take played from the middle: into the take)
    line: str = ""  # the line playing (TAKE, NARRATION), else ""
    line_position_s: float = 0.0  # into that line's take
    take: str = ""  # the take playing (TAKE)


class PlaybackTracker(QObject):
    changed = Signal(object)  # PlaybackState

    def __init__(self, player: StreamPlayer, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.player = player
        self.state = PlaybackState(Playing.NOTHING)
        self._segments: tuple[Segment, ...] = ()
        self._offset = 0.0
        self._take = ""
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)

    def started(self, what: Playing, segments: tuple[Segment, ...] = (), offset_s: float = 0.0,
                take: str = "") -> None:
        """The player has just started the clip ``what`` (its lines at ``segments``), ``offset_s`` into it."""
        self._segments, self._offset, self._take = segments, offset_s, take
        self._report(offset_s, what)
        self._timer.start()

    def stopped(self) -> None:
        self._timer.stop()
        if self.state.what is not Playing.NOTHING:
            self._segments = ()
            self._emit(PlaybackState(Playing.NOTHING))

    def _poll(self) -> None:
        stats = self.player.stats
        if stats.finished or not stats.started:
            self.stopped()
            return
        self._report(self._offset + stats.played_frames / self.player.sample_rate, self.state.what)

    def _report(self, position: float, what: Playing) -> None:
        segment = next((s for s in self._segments if s.start_s <= position < s.end_s), None)
        if segment is None:
            self._emit(PlaybackState(what, position, take=self._take))
        else:
            self._emit(PlaybackState(what, position, segment.line, position - segment.start_s, self._take))

    def _emit(self, state: PlaybackState) -> None:
        if state != self.state:
            self.state = state
            self.changed.emit(state)
