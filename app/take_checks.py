"""Which takes are checked, and what their checks said: the studio side of the take checks (issue 17).

:class:`TakeChecks` sends every new take of the project to the check thread (unless the take came with its checks,
as best-of retakes do) and keeps each report in the project (``TakeInfo.checks``, saved with the take). It turns
the saved dictionaries back into reports for the line list's badges and the take panel's scores, and says which
lines failed, for the filter and "Retake failed lines". Nothing here runs a check: that is the check thread's work.
"""
from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import QObject, Signal

from . import engine_bridge as bridge
from .document import Change, ProjectDocument
from .workers.check_worker import CheckDone, CheckRequest, CheckThread

FAIL = "fail"


class TakeChecks(QObject):
    checked = Signal(str)  # take id whose report is known now  # noqa: N815
    checkFailed = Signal(str)  # a sentence: the checks could not run  # noqa: N815

    def __init__(self, thread: CheckThread, document: ProjectDocument, enabled: Callable[[], bool],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thread, self.document, self._enabled = thread, document, enabled
        self._reports: dict[str, Any] = {}
        thread.checkDone.connect(self._done)
        document.changed.connect(self._document_changed)

    def _document_changed(self, change: Change) -> None:
        if change & Change.FILE:
            self._reports.clear()

    # ---- asking ----------------------------------------------------------------------------------
    def take_added(self, take_id: str) -> None:
        """A new take: check it (if checks are on and it was not checked as it was made)."""
        if self._enabled() and self.document.take_info(take_id).checks is None:
            self.check(take_id)

    def check(self, take_id: str) -> bool:
        """Queue the checks of one take; False when its audio cannot be read (the reason goes to checkFailed)."""
        info = self.document.take_info(take_id)
        try:
            audio = self.document.take_audio(take_id)
        except bridge.ProjectFileError as error:
            self.checkFailed.emit(str(error))
            return False
        instruction = info.instruction if info.mode == "instruct" else ""
        self.thread.check(CheckRequest(take_id, audio, info.sample_rate, info.spoken_text, instruction,
                                       self.document.voice_for(info.voice_id), info.watchdog))
        return True

    def check_unchecked(self) -> int:
        """Check every chosen take that has no report yet (on demand); returns how many were queued."""
        queued = 0
        for view in self.document.rows():
            if view.chosen and view.chosen not in self.thread.pending and self.report(view.chosen) is None:
                queued += self.check(view.chosen)
        return queued

    @property
    def busy(self) -> int:
        """How many takes wait for their checks."""
        return len(self.thread.pending)

    def _done(self, done: CheckDone) -> None:
        if self.document.project is None:
            return  # the studio closed while the take was checked
        if done.error:
            self.checkFailed.emit(done.error)
            return
        try:
            self.document.set_take_checks(done.take_id, done.report.to_dict())
        except bridge.ProjectError:
            return  # the project was closed (or the take is gone for good) while it was checked
        self._reports[done.take_id] = done.report
        self.checked.emit(done.take_id)

    # ---- reading ---------------------------------------------------------------------------------
    def report(self, take_id: str | None) -> Any:
        """The take's check report (engine TakeReport), None when it was not checked."""
        if take_id is None or self.document.project is None:  # a late signal after the project was closed
            return None
        if take_id not in self._reports:
            try:
                saved = self.document.take_info(take_id).checks
            except bridge.ProjectError:
                return None
            report = bridge.report_from_dict(saved)
            if report is None:
                return None
            self._reports[take_id] = report
        return self._reports[take_id]

    def verdict(self, view: Any) -> str | None:
        """The line's verdict: its chosen take's (None when not checked)."""
        report = self.report(view.chosen)
        return report.verdict if report is not None else None

    def failed_lines(self) -> list[str]:
        return [v.id for v in self.document.rows() if self.verdict(v) == FAIL]
