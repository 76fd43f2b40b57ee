"""What the studio plays for the user: the reference clip, a take, two takes A/B, a spoken word, the whole narration,
and where each playhead is.

Playing something while a generation runs lets the generation go on in silence. A/B plays the take before the
selected one (A); each press switches to the other take at the same moment, so the two can be compared word by
word. "Play all" gathers the chosen takes with the export's own layout (pauses after lines, paragraphs and chapters,
``[pause]`` marks) on the background thread and the line list follows the line being heard.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject

from engine import TimbreError

from . import engine_bridge as bridge
from .audio import devices
from .playback import Playing, PlaybackState, PlaybackTracker, Segment
from .workers.background import BackgroundThread, Done

if TYPE_CHECKING:
    from .widgets.main_window import MainWindow


@dataclass(frozen=True)
class ABState:
    a: str
    b: str
    hearing: str


class Listening(QObject):
    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.w = window
        self.player = window.player
        self.tracker = PlaybackTracker(self.player, self)
        self.background = BackgroundThread(self)
        self.ab_state: ABState | None = None
        self._mix_request: int | None = None
        self.tracker.changed.connect(self._changed)
        self.background.finished.connect(self._mix_done)

    # ---- starting ----------------------------------------------------------------------------------
    def play_clip(self, audio: np.ndarray, sample_rate: int, what: Playing, segments: tuple = (),
                  offset_s: float = 0.0, take: str = "") -> bool:
        self.stop()
        self.w.session.silence()
        try:
            self.player.device = devices.resolve(self.w.settings.output_device, "output")
            self.player.play(bridge.resample(audio, sample_rate, self.player.sample_rate))
        except TimbreError as error:
            self.w.show_error("Cannot play", str(error))
            return False
        self.tracker.started(what, segments, offset_s, take)
        return True

    def play_take(self, take_id: str, offset_s: float = 0.0, keep_ab: bool = False) -> bool:
        if not keep_ab:
            self.ab_state = None
        doc = self.w.document
        try:
            audio, rate = doc.take_audio(take_id), doc.take_info(take_id).sample_rate
        except TimbreError as error:
            self.w.show_error("Cannot play the take", str(error))
            return False
        start = min(int(offset_s * rate), max(0, len(audio) - 1)) if len(audio) else 0
        self.w.takes.show_audio(audio, rate)
        return self.play_clip(audio[start:], rate, Playing.TAKE, offset_s=start / rate, take=take_id)

    def ab(self, a: str, b: str) -> None:
        """Hear A (the take before), or switch to the other take of the pair at the moment heard now."""
        state, ab = self.tracker.state, self.ab_state
        if ab is not None and (ab.a, ab.b) == (a, b) and state.what is Playing.TAKE:
            hearing, at = (b if ab.hearing == a else a), state.position_s
        else:
            hearing, at = a, 0.0
        self.ab_state = ABState(a, b, hearing)
        self.play_take(hearing, at, keep_ab=True)

    def hearing_label(self) -> str:
        ab = self.ab_state
        if ab is None:
            return ""
        numbers = {r.take_id: r.number for r in self.w.takes.rows}
        side = "A" if ab.hearing == ab.a else "B"
        return f"Hearing {side}: take {numbers.get(ab.hearing, '?')} (A/B switches)"

    def play_word(self, audio: np.ndarray) -> None:
        self.play_clip(audio, bridge.OUTPUT_RATE, Playing.WORD)

    def play_all(self) -> None:
        """Gather the chosen takes off the GUI thread, then play them (the engine's message when a line has none)."""
        source = self.w.document.timeline_source()
        self._mix_request = self.background.run(lambda: _mixed(source()))
        self.w.statusBar().showMessage("Gathering the takes…", 3000)

    def _mix_done(self, done: Done) -> None:
        if done.request_id != self._mix_request:
            return
        self._mix_request = None
        if done.error:
            self.w.show_error("Nothing to play yet", done.error)
            return
        audio, rate, spans = done.result
        lines = [v.id for v in self.w.document.rows()]
        self.play_clip(audio, rate, Playing.NARRATION, tuple(Segment(line, a, b) for line, (a, b) in zip(lines, spans)))

    def stop(self) -> None:
        self.player.stop()
        self.tracker.stopped()

    def shutdown(self) -> None:
        self.stop()
        self.background.shutdown()

    # ---- where it is --------------------------------------------------------------------------------
    def _changed(self, state: PlaybackState) -> None:
        w = self.w
        w.reference.set_playing(state.what is Playing.REFERENCE)
        if state.what is Playing.REFERENCE:
            w.reference.set_playhead(state.position_s)
        w.bar.set_playing(state.what is Playing.NARRATION)
        if state.what is Playing.NARRATION and state.line:
            if w.lines.current_line != state.line:
                w.lines.select(state.line)  # the list follows the narration as it plays
            w.takes.set_playhead(state.line_position_s)
        take_playing = state.what is Playing.TAKE
        w.takes.set_playing(take_playing or state.what is Playing.NARRATION, self.hearing_label() if take_playing
                            else "")
        if take_playing:
            w.takes.set_playhead(state.position_s)
        if state.what is Playing.NOTHING:
            w.project_view.show_selected_take()


def _mixed(timeline: Any) -> tuple[np.ndarray, int, list[tuple[float, float]]]:
    """(clip, rate, (start, end) seconds of each line) of a project timeline, laid out as its export would be.
    Silent segments (a ``[pause]`` with no line before it) have no text; the others are the script's lines in
    order."""
    audio, placed = bridge.mix(timeline)
    rate = timeline.sample_rate
    return audio, rate, [(s / rate, e / rate) for i, s, e in placed if timeline.segments[i].text]
