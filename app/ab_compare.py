"""A/B of the selected line on two engines (Generate ▸ A/B on another model…): the studio's loaded model (A) and a
second model folder (B, e.g. CosyVoice 3 beside CosyVoice 2), the same voice clip and seed on both.

Model B gets an engine thread of its own (a second :class:`EngineThread`, loaded once and kept until the dialog
closes), so the studio's model stays loaded. Each engine makes the voice from the same clip for its own family
(``Engine.remake_voice``: the cast voice's transcript), then speaks the line's job with it and the same seed; A
runs on the studio's engine thread, B on its own, both at once. A kept take is the line's take like any other (it
keeps the cast voice's identity: the same clip and words, made by one of the two models).
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject, Qt

from engine import TimbreError

from . import engine_bridge as bridge
from .playback import Playing
from .widgets.ab_dialog import ABDialog
from .widgets.file_dialogs import FileKind
from .widgets.reference_panel import AUDIO_FILTER
from .workers.synthesis_worker import EngineFailed, EngineReady, EngineThread, JobEnded, Outcome, RequestDone, TakeMade

if TYPE_CHECKING:
    from .widgets.main_window import MainWindow


class ABCompare(QObject):
    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.w = window
        self.dialog: ABDialog | None = None
        self.b: EngineThread | None = None
        self.b_folder = ""  # what B has loaded (or is loading)
        self.b_ready = False
        self.folder = ""  # the last folder typed, offered again next time
        self.clip: tuple[np.ndarray, int] | None = None
        self.job: Any = None
        self.voices: dict[str, Any] = {}
        self.takes: dict[str, Any] = {}
        self._requests: dict[int, str] = {}  # remake request -> "A"/"B"
        self._jobs: dict[int, str] = {}  # job id -> "A"/"B"
        a = window.engine_thread.worker
        a.requestDone.connect(self._a_voice_made)  # bound methods: queued into the GUI thread
        a.takeMade.connect(self._take_made)
        a.jobEnded.connect(self._job_ended)

    # ---- the dialog ----------------------------------------------------------------------------
    def open(self) -> ABDialog | None:
        line_id = self.w.lines.current_line
        view = self.w.document.row(line_id) if line_id else None
        if view is None:
            self.w.show_error("No line selected", "Select the line to compare in the list first.")
            return None
        if not self.w.engine_status.model_ready():
            return None
        jobs = self.w.generation.jobs([line_id])
        if not jobs:
            return None
        self.job, self.takes = jobs[0], {}
        dialog = ABDialog(f"{view.line.speaker}: {view.line.text}", self.w.model_label.text(), self.folder,
                          self.w.dialogs, self.w)
        dialog.show_seed(self.job.seed)
        dialog.generateRequested.connect(self.generate)
        dialog.clipRequested.connect(self._choose_clip)
        dialog.playRequested.connect(self.play)
        dialog.keepRequested.connect(self.keep)
        dialog.finished.connect(lambda _r: self._closed())
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.dialog = dialog
        ref = self.w.reference
        if len(ref.audio):
            self.clip = (np.asarray(ref.audio, np.float32), int(ref.sample_rate))
            dialog.show_clip(f"{ref.source_name or 'the clip'} (from the Voices tab)")
        dialog.open()
        return dialog

    def _choose_clip(self) -> None:
        if self.dialog is not None:
            self.w.dialogs.open_file(self.dialog, FileKind.REFERENCE, "The voice's recording", AUDIO_FILTER,
                                     self._clip_chosen)

    def _clip_chosen(self, path: Any) -> None:
        try:
            self.clip = bridge.load_audio(path)
        except TimbreError as error:
            self.w.show_error("Cannot read the recording", str(error))
            return
        if self.dialog is not None:
            self.dialog.show_clip(path.name)

    def _closed(self) -> None:
        self.dialog = None
        self.shutdown()

    # ---- generating ------------------------------------------------------------------------------
    def generate(self, folder: str) -> None:
        if self.w.generating:
            self.w.show_error("Generation is running", "Stop it first, or wait until it ends.")
            return
        if self.dialog is None or self.clip is None:
            return
        self.folder, self.voices, self.takes = folder, {}, {}
        self.dialog.show_takes(set())
        if self.b is None:
            self.b = EngineThread(self)
            w = self.b.worker
            w.engineReady.connect(self._b_ready)  # bound methods: queued into the GUI thread
            w.engineFailed.connect(self._b_failed)
            w.requestDone.connect(self._b_voice_made)
            w.takeMade.connect(self._take_made)
            w.jobEnded.connect(self._job_ended)
        if folder != self.b_folder or not self.b_ready:
            self.b_folder, self.b_ready = folder, False
            self.dialog.show_busy("Loading model B…")
            self.b.load(folder, self.w.settings.device, self.w.settings.precision)
            return
        self._make_voices()

    def _b_ready(self, ready: EngineReady) -> None:
        self.b_ready = True
        if self.dialog is not None:
            self.dialog.b_family.setText(f"✔ {ready.model} · {ready.summary}")
            self._make_voices()

    def _b_failed(self, failed: EngineFailed) -> None:
        self.b_folder = ""
        if self.dialog is not None:
            self.dialog.show_done(f"Model B could not be loaded: {failed.message}")

    def _make_voices(self) -> None:
        audio, rate = self.clip
        self.dialog.show_busy("Making the voice from the clip on both models…")
        self._requests[self.w.engine_thread.remake_voice(self.job.voice, audio, rate)] = "A"
        self._requests[-self.b.remake_voice(self.job.voice, audio, rate)] = "B"  # each thread counts its own ids

    def _a_voice_made(self, done: RequestDone) -> None:
        self._voice_made(done, "A")

    def _b_voice_made(self, done: RequestDone) -> None:
        self._voice_made(dataclasses.replace(done, request_id=-done.request_id), "B")

    def _voice_made(self, done: RequestDone, side: str) -> None:
        if self._requests.get(done.request_id) != side:
            return
        del self._requests[done.request_id]
        if done.error:
            self._fail(f"{side}: {done.error}")
            return
        self.voices[side] = done.voice
        if len(self.voices) == 2:
            self.dialog.show_busy(f"Generating A and B with seed {self.job.seed}…")
            for key, thread in (("A", self.w.engine_thread), ("B", self.b)):
                job = dataclasses.replace(self.job, voice=self.voices[key])
                self._jobs[thread.submit([job])] = key

    def _side(self, job_id: int) -> str | None:
        """Which side a job report is about (job ids are unique across engine threads)."""
        return self._jobs.get(job_id)

    def _take_made(self, event: TakeMade) -> None:
        side = self._side(event.job_id)
        if side is None:
            return
        self.takes[side] = event.take
        if self.dialog is not None:
            self.dialog.show_takes(set(self.takes))
            if len(self.takes) == 2:
                self.dialog.show_done("Both are ready: play A and B, keep the one you like.")

    def _job_ended(self, event: JobEnded) -> None:
        side = self._side(event.job_id)
        if side is None:
            return
        self._jobs = {k: v for k, v in self._jobs.items() if v != side}
        if event.outcome is Outcome.FAILED:
            self._fail(f"{side}: {event.message}")

    def _fail(self, message: str) -> None:
        if self.dialog is not None:
            self.dialog.show_done(f"✖ {message}")

    # ---- listening, keeping ------------------------------------------------------------------------
    def play(self, side: str) -> None:
        take = self.takes.get(side)
        if take is not None:
            self.w.listening.play_clip(take.audio, take.info.sample_rate, Playing.TAKE)

    def keep(self, side: str) -> None:
        take = self.takes.pop(side, None)
        if take is None:
            return
        info = self.w.document.add_take(take)
        if self.dialog is not None:
            self.dialog.show_takes(set(self.takes))
            self.dialog.show_done(f"Kept {side} as the line's take." if info is not None else
                                  "The line has left the script meanwhile; nothing was kept.")
        if info is not None:
            self.w.checks.take_added(info.id)

    def shutdown(self) -> None:
        if self.b is not None:
            self.b.shutdown()
            self.b = None
            self.b_folder, self.b_ready = "", False
