"""What the window shows of the project after each change: the script's marks and problems, the cast, the line list
with its statuses and verdicts, the selected line's takes and the selected take's waveform and checks, the banner
and the title. Only reads: every change goes through the document.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject

from engine import TimbreError

from . import engine_bridge as bridge
from .document import Change
from .engine_status import EngineState
from .line_rows import line_rows
from .playback import Playing
from .widgets.take_panel import take_rows
from .widgets.voice_banner import Banner, BannerState

if TYPE_CHECKING:
    from .widgets.main_window import MainWindow


class ProjectView(QObject):
    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.w = window

    def document_changed(self, change: Change) -> None:
        if change & (Change.SCRIPT | Change.CAST | Change.WORDS | Change.FILE):
            self.w.script.show_parse(self.w.document.project.script)
            self.w.cast_work.refresh()
        self.refresh_lines()
        self.show_line_takes()
        self.update_banner()
        self.update_title()

    def refresh_lines(self) -> None:
        rows = self.w.document.rows()
        w = self.w
        w.lines.show_rows(line_rows(rows, w.checks.report, w.generation.active_line, w.check_thread.pending))
        ready = sum(v.status.value == "ready" for v in rows)
        self.w.bar.set_progress(ready, len(rows))

    def show_line_takes(self) -> None:
        line = self.w.lines.current_line
        view = self.w.document.row(line) if line else None
        if view is None:
            self.w.takes.show_takes("", "", [])
        else:
            self.w.takes.show_takes(view.id, f"line {view.line.index + 1} · {view.line.speaker}",
                                    take_rows(view, self.w.checks.report))
        self.show_selected_take()

    def show_selected_take(self) -> None:
        """The selected take's waveform and checks (unless a take is playing: its waveform stays)."""
        take = self.w.takes.current_take
        if self.w.listening.tracker.state.what in (Playing.TAKE, Playing.NARRATION):
            return
        self.w.takes.show_checks(self.w.checks.report(take) if take else None)
        if not take:
            self.w.takes.show_audio(np.zeros(0, np.float32), bridge.OUTPUT_RATE)
            return
        try:
            self.w.takes.show_audio(self.w.document.take_audio(take), self.w.document.take_info(take).sample_rate)
        except TimbreError as error:
            self.w.takes.show_audio(np.zeros(0, np.float32), bridge.OUTPUT_RATE)
            self.w.statusBar().showMessage(str(error), 8000)

    def banner_state(self) -> BannerState:
        if self.w.engine_status.state is EngineState.NONE:
            return BannerState(Banner.MODEL_NEEDED)
        if self.w.engine_status.state is EngineState.FAILED:
            return BannerState(Banner.MODEL_FAILED)
        project, rows = self.w.document.project, self.w.document.rows()
        silent = tuple(r.name for r in self.w.cast_work.rows()
                       if not r.voice and (r.lines or r.name == bridge.NARRATOR))
        if silent and rows:
            return BannerState(Banner.NO_VOICE, silent)
        if project.script.problems:
            return BannerState(Banner.PROBLEMS, count=len(project.script.problems))
        stale = sum(v.status.value == "stale" for v in rows)
        if stale:
            return BannerState(Banner.STALE, count=stale)
        if self.w.engine_status.state is EngineState.LOADING:
            return BannerState(Banner.MODEL_LOADING)
        return BannerState(Banner.READY, count=sum(v.chosen is not None for v in rows), total=len(rows),
                           failed=len(self.w.lines.failed_lines()))

    def update_banner(self) -> None:
        self.w.banner.show_state(self.banner_state())

    def update_title(self) -> None:
        self.w.setWindowTitle(f"{self.w.document.title}[*] — Timbre")
        self.w.setWindowModified(self.w.document.has_unsaved_work())
