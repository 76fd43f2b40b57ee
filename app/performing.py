"""A line performed by the creator and turned into the speaker's voice, "hear this word", and the pronunciation lists.

The Perform dialog gathers the reading and the pronunciation dialog the lists; the engine thread converts readings
and says words (requests answered by ``requestDone``); the results become takes or are played.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject, Qt

from engine import TimbreError

from . import engine_bridge as bridge
from .audio import devices
from .widgets.perform_dialog import PerformDialog
from .widgets.pronunciation_dialog import PronunciationDialog, WordLists
from .workers.synthesis_worker import RequestDone

if TYPE_CHECKING:
    from .widgets.main_window import MainWindow


class Performing(QObject):
    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.w = window
        self._requests: dict[int, str] = {}  # engine request id -> "convert" / "word"

    def perform_line(self, line_id: str = "") -> PerformDialog | None:
        line_id = line_id or self.w.lines.current_line
        view = self.w.document.row(line_id) if line_id else None
        if view is None:
            self.w.show_error("No line selected", "Select the line to perform in the list first.")
            return None
        member = self.w.document.member(view.line.speaker)
        if member is None or member.voice is None:
            self.w.show_error("No voice", f"{view.line.speaker} has no voice: choose one in the Cast first.")
            return None
        dialog = PerformDialog(view.line.text, view.line.speaker, member.voice.name,
                               devices.resolve(self.w.reference.input_device_name, "input"), self.w.dialogs, self.w)
        dialog.errorRaised.connect(self.w.show_error)
        dialog.performed.connect(lambda reading: self.convert_reading(line_id, reading.audio, reading.sample_rate))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def convert_reading(self, line_id: str, audio: np.ndarray, sample_rate: int) -> int | None:
        """Turn the creator's reading of a line into a take in its speaker's voice (on the engine thread)."""
        if not self.w.engine_status.model_ready():
            return None
        jobs = self.w.generation.jobs([line_id])
        if not jobs:
            return None
        request = self.w.engine_thread.convert(jobs[0], audio, sample_rate)
        self._requests[request] = "convert"
        self.w.statusBar().showMessage("Turning your reading into the speaker's voice…")
        return request

    def hear_word(self, text: str, lexicon: Any) -> int | None:
        """"Hear this word": ``text`` respelled by ``lexicon``, in the selected cast member's voice."""
        if not self.w.engine_status.model_ready():
            return None
        member = self.w.document.member(self.w.cast.current_name or bridge.NARRATOR) or \
            self.w.document.member(bridge.NARRATOR)
        if member is None or member.voice is None:
            self.w.show_error("No voice", "Give the selected cast member a voice first.")
            return None
        request = self.w.engine_thread.hear(text, member.voice, lexicon)
        self._requests[request] = "word"
        return request

    def request_done(self, done: RequestDone) -> None:
        kind = self._requests.pop(done.request_id, None)
        if kind is None:
            return
        if done.error:
            self.w.show_error("Cannot convert the reading" if kind == "convert" else "Cannot say it", done.error)
        elif kind == "convert":
            info = self.w.document.add_take(done.take)
            if info is not None:
                self.w.statusBar().showMessage("The performed take is the line's take now.", 5000)
                self.w.checks.take_added(info.id)
                self.w.takePerformed.emit(info.id)
        else:
            self.w.listening.play_word(done.audio)

    def open_pronunciations(self) -> PronunciationDialog:
        doc = self.w.document
        dialog = PronunciationDialog(doc.project.pronunciations, doc.global_words,
                                     self.w.cast.current_name or bridge.NARRATOR, doc.global_words_problem, self.w,
                                     markup=self.w.extras.families.phoneme_markup)
        dialog.hearRequested.connect(self.hear_word)
        dialog.applied.connect(self.pronunciations_applied)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def pronunciations_applied(self, lists: WordLists) -> None:
        project, everyone = lists.project, lists.everyone
        if project != self.w.document.project.pronunciations:
            self.w.document.set_pronunciations(project)
        if everyone is not None and everyone != self.w.document.global_words:
            try:
                self.w.document.set_global_pronunciations(everyone)
            except (OSError, TimbreError) as error:
                self.w.show_error("Cannot save the pronunciations", str(error))
