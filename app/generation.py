"""Generate all, stale lines or one line, retake failed lines best-of-N, stop, and what the transport shows meanwhile.

Jobs are the project's LineJobs, each with the seed the direction panel gives it; the session (app/session.py) runs
them on the engine thread and plays them. This object turns buttons into jobs and the session's reports (small
frozen values: Metrics, JobEnded, Retaken) into the transport's figures and the status bar.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from PySide6.QtCore import QObject

from engine import TimbreError

from . import engine_bridge as bridge
from .session import Metrics, Retaken
from .workers.synthesis_worker import JobEnded, JobStats, Outcome

if TYPE_CHECKING:
    from .widgets.main_window import MainWindow


class Generation(QObject):
    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.w = window
        self.active_line: str | None = None  # the line being generated now

    def jobs(self, which: str | list[str]) -> list | None:
        """LineJobs for ``which`` ("pending", "stale", ... or line ids), each with its own seed; None (and a
        message) when the script or the cast cannot make them."""
        project, speed = self.w.document.project, float(self.w.direction.speed.value())
        try:
            jobs = project.jobs(which, speed=speed) if isinstance(which, str) else \
                [project.job(line_id, speed=speed) for line_id in which]
        except TimbreError as error:
            self.w.show_error("Cannot generate yet", str(error))
            return None
        return [bridge.with_seed(job, self.w.direction.next_seed()) for job in jobs]

    def generate_all(self) -> bool:
        """Takes of every line without a current one (of every line when all have one)."""
        return self._generate(lambda: self.jobs("pending") if any(v.status.value != "ready"
                                                                  for v in self.w.document.rows())
                              else self.jobs("all"))

    def generate_stale(self) -> bool:
        return self._generate(lambda: self.jobs("stale"))

    def generate_line(self, line_id: str | None = None) -> bool:
        """A new take of one line (the selected one by default)."""
        line_id = line_id or self.w.lines.current_line
        if not line_id:
            self.w.show_error("No line selected", "Select a line in the list first.")
            return False
        return self._generate(lambda: self.jobs([line_id]) if self.w.document.row(line_id) else
                              self.w.show_error("The line changed", "Its text was edited meanwhile. Select it again."))

    def _generate(self, jobs: Callable[[], list | None]) -> bool:
        if not self.w.engine_status.model_ready():
            return False

        def now() -> None:
            made = jobs()
            if made and self.w.extras.families.offer_remake(made, now):
                return  # a voice of the other model family is re-analysed first, then this runs again
            if made == []:
                self.w.show_error("Nothing to generate", "Every line has a current take (or there are no lines yet).")
            elif made:
                self.w.listening.stop()
                self.w.session.generate(made, self.w.direction.streaming.isChecked())
                self.started(len(made))

        self.w.script_sync.when_parsed(now)
        return True

    def retake_failed(self) -> bool:
        """Best-of-N takes of every line whose take failed its checks (N from Settings)."""
        if not self.w.engine_status.model_ready():
            return False
        failed = self.w.checks.failed_lines()
        if not failed:
            self.w.show_error("No failed lines", "No chosen take failed its checks.")
            return False
        jobs = self.jobs(failed)
        if jobs:
            if self.w.check_thread.checker is None:
                self.w.check_thread.use_model(self.w.settings.model_dir)
            self.w.session.retake(jobs, self.w.settings.best_of, self.w.check_thread.checker)
            self.started(len(jobs), f"Retaking {len(jobs)} line(s), best of {self.w.settings.best_of}…")
        return bool(jobs)

    def check_takes(self) -> int:
        queued = self.w.checks.check_unchecked()
        self.w.statusBar().showMessage(f"Checking {queued} take(s)…" if queued else "Every chosen take is checked.",
                                       4000)
        self.w.project_view.refresh_lines()
        return queued

    def started(self, lines: int, message: str = "") -> None:
        self.w.bar.set_busy(True)
        self.w.bar.set_metrics(None, None, None)
        self.w.bar.latency_label.setText("first audio …")
        self.w.statusBar().showMessage(message or f"Generating {lines} line(s)…")

    def line_active(self, line_id: str | None) -> None:
        self.active_line = line_id
        self.w.project_view.refresh_lines()

    def line_retaken(self, event: Retaken) -> None:
        verdict = "one passed its checks" if event.passed else "none passed; the best was kept"
        self.w.statusBar().showMessage(f"{event.tries} take(s) of a line: {verdict}.", 6000)

    def show_metrics(self, metrics: Metrics) -> None:
        self.w.bar.set_metrics(metrics.first_audio_s, metrics.rtf, metrics.buffered_s)

    def ended(self, event: JobEnded) -> None:
        self.w.bar.set_busy(False)
        if event.outcome is Outcome.FINISHED:
            stats = event.stats
            self.w.bar.set_metrics(stats.first_audio_s, stats.rtf, None)
            self.w.statusBar().showMessage(f"Done: {stats.audio_s:.1f} s of audio in {stats.compute_s:.1f} s.", 6000)
        elif event.outcome is Outcome.FAILED:
            self.w.show_error("Generation failed", event.message)
        else:
            self.w.statusBar().showMessage("Stopped.", 3000)
        self.w.project_view.refresh_lines()
        self.w.generationFinished.emit(event.outcome)

    @property
    def generating(self) -> bool:
        return self.w.session.generating

    @property
    def last_stats(self) -> JobStats | None:
        return self.w.session.last_stats

    def stop(self) -> None:
        """Stop generation and playback at once."""
        self.w.session.stop()
        self.w.listening.stop()
        self.w.bar.clear_buffer()

    def update_buffer(self) -> None:
        metrics = self.w.session.buffer_metrics()
        if metrics is not None:
            self.show_metrics(metrics)
        else:
            self.w.bar.clear_buffer()

    def play_line(self, line_id: str) -> None:
        view = self.w.document.row(line_id)
        if view is not None and view.chosen:
            self.w.listening.play_take(view.chosen)
