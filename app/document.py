"""The narration project the studio has open: the engine's :class:`Project`, owned by the GUI thread.

Every change the studio makes to the project goes through :class:`ProjectDocument`, which then says what changed
(:class:`Change`, a small flag value) so the panels refresh; the undoable ones (script edits, the choice of a take,
deleting a take) are pushed on its undo stack (:mod:`app.undo`). A second after each change the project's
autosave is brought up to date (every take is already there the moment it is added), so a crash loses at most that
second; a clean save clears it. Workers never see the document: they get the project's frozen values (LineJob,
Take, TakeInfo) and give back Takes that are added here.
"""
from __future__ import annotations

import enum
import logging
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoStack

from engine import TimbreError

from . import engine_bridge as bridge
from .take_audio import TakeAudioCache
from .undo import ChooseTake, DeleteTake, ScriptEdit

log = logging.getLogger(__name__)
AUTOSAVE_MS = 1000
TIMELINE_TRIES = 5


class Change(enum.Flag):
    NONE = 0
    SCRIPT = enum.auto()  # the script text (and so the lines)
    CAST = enum.auto()  # cast members, their voices and directions (lines may turn stale)
    TAKES = enum.auto()  # a take added, chosen, deleted or brought back
    CHECKS = enum.auto()  # a take's check report
    WORDS = enum.auto()  # the pronunciation lists
    EXPORT = enum.auto()  # the export settings
    FILE = enum.auto()  # another project, or saved under another name
    ALL = SCRIPT | CAST | TAKES | CHECKS | WORDS | EXPORT | FILE


class ProjectDocument(QObject):
    changed = Signal(object)  # Change
    scriptReplaced = Signal(str)  # the script changed other than by typing (open, undo): the editor shows it  # noqa: N815
    autosaveFailed = Signal(str)  # noqa: N815

    def __init__(self, autosave_root: Path, global_words: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.autosave_root, self.global_words_path = Path(autosave_root), Path(global_words)
        self.project: Any = None
        self._keep = True  # False once the user gave up the unsaved changes: the autosave stays empty
        self.undo = QUndoStack(self)
        self.audio = TakeAudioCache()
        self.global_words = bridge.pronunciations()
        self.global_words_problem = ""
        self._rows: list | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(AUTOSAVE_MS)
        self._timer.timeout.connect(self.autosave_now)
        self._load_global_words()
        self.new()

    # ---- which project ---------------------------------------------------------------------------
    def replace(self, project: Any) -> None:
        """Make ``project`` the open one (the old one is closed; its autosave stays if it has unsaved work)."""
        old = self.project
        if old is not None and old.id == project.id:  # a copy of the same project: they share one autosave
            self._release(old)
            self.project = old = None
        project.global_pronunciations = self.global_words
        try:
            project.attach_autosave(self.autosave_root)  # ProjectBusyError: open in another Timbre
        except TimbreError:
            project.close()
            if self.project is None:
                self.new()
            raise
        self.project = project
        if old is not None:
            self._release(old)
        self._keep = True
        self.undo.clear()
        self.audio.clear()
        self._changed(Change.ALL, autosave=False)
        self.scriptReplaced.emit(project.script_text)

    def new(self, narrator_voice: Any = None) -> None:
        """An empty project whose narrator (the default cast member) speaks in ``narrator_voice``."""
        project = bridge.new_project()
        project.set_cast(bridge.NARRATOR, narrator_voice)
        self.replace(project)

    def _release(self, project: Any) -> None:
        if self._keep and self.has_unsaved_work(project):
            self._autosave(project)
        else:
            project.discard_autosave()
        project.close()

    def close(self) -> None:
        """Closing the studio: unsaved work stays in the autosave (the next start offers it back)."""
        self._timer.stop()
        if self.project is not None:
            self._release(self.project)
            self.project = None

    @property
    def discarded(self) -> bool:
        """The user gave up the open project's unsaved changes (and has not changed it since)."""
        return not self._keep

    def discard(self) -> None:
        """Forget the unsaved changes of the open project (the user said so)."""
        self._timer.stop()
        self._keep = False
        self.project.discard_autosave()

    @property
    def path(self) -> Path | None:
        return self.project.path

    @property
    def title(self) -> str:
        return self.path.stem if self.path is not None else "Untitled"

    def has_unsaved_work(self, project: Any = None) -> bool:
        """Changes not in a file, in a project worth keeping (a new project nobody has written in is not)."""
        p = project or self.project
        return p.modified and (p.path is not None or bool(p.script_text.strip()) or any(v.takes for v in p.rows()))

    def save(self, path: Path | None = None) -> Path:
        """Write the project (atomically; typed errors for the caller to show); its autosave is cleared."""
        self._timer.stop()
        saved = self.project.save(path)
        if any(isinstance(self.undo.command(i), DeleteTake) for i in range(self.undo.index())):
            self.undo.clear()  # the file no longer holds the deleted takes: their undo steps cannot work
        self.undo.setClean()
        self._changed(Change.FILE, autosave=False)
        return saved

    # ---- autosave ----------------------------------------------------------------------------------
    def autosave_now(self) -> None:
        if self.project is not None and self._keep and self.has_unsaved_work():
            self._autosave(self.project)

    def _autosave(self, project: Any) -> None:
        try:
            project.autosave()
        except (OSError, TimbreError) as error:
            log.warning("autosave failed: %s", error)
            self.autosaveFailed.emit(str(error))

    def _changed(self, change: Change, autosave: bool = True) -> None:
        if change & (Change.SCRIPT | Change.CAST | Change.TAKES | Change.WORDS | Change.CHECKS | Change.FILE):
            self._rows = None
        if autosave:
            self._keep = True  # work goes on in the project whose changes were given up (an Open that failed)
            self._timer.start()
        self.changed.emit(change)

    # ---- script ------------------------------------------------------------------------------------
    def set_script(self, text: str) -> bool:
        """The editor's text, once typing settled: one undo step. False when it is the project's already."""
        before = self.project.script_text
        if text == before:
            return False
        self.undo.push(ScriptEdit(self, before, text))
        return True

    def apply_script(self, text: str, show: bool) -> None:
        self.project.set_script(text)
        self._changed(Change.SCRIPT)
        if show:
            self.scriptReplaced.emit(text)

    # ---- cast --------------------------------------------------------------------------------------
    def set_cast(self, name: str, voice: Any = ..., *, mode: str | None = None, instruction: str | None = None):
        member = self.project.set_cast(name, voice, mode=mode, instruction=instruction)
        self._changed(Change.CAST)
        return member

    def member(self, name: str) -> Any:
        """The cast member called ``name`` (any case), or None."""
        key = bridge.name_key(name)
        return next((m for n, m in self.project.cast.items() if bridge.name_key(n) == key), None)

    def voice_for(self, voice_id: str) -> Any:
        """The cast voice a take was made with (None when no cast member has it any more)."""
        for member in self.project.cast.values():
            if member.voice is not None and member.voice_id == voice_id:
                return member.voice
        return None

    # ---- lines and takes -----------------------------------------------------------------------------
    def rows(self) -> list:
        """The line list (engine LineView values), kept until the next change."""
        if self._rows is None:
            self._rows = self.project.rows()
        return self._rows

    def row(self, line_id: str) -> Any:
        return next((v for v in self.rows() if v.id == line_id), None)

    def add_take(self, take: Any, choose: bool = True) -> Any:
        """Keep a take the engine made; None when its line has left the script meanwhile."""
        try:
            info = self.project.add_take(take, choose=choose)
        except bridge.ProjectError as error:
            log.info("take %s dropped: %s", take.info.id, error)
            return None
        self.audio.put(info.id, take.audio)
        self._changed(Change.TAKES)
        return info

    def choose_take(self, line_id: str, take_id: str | None) -> None:
        view = self.row(line_id)
        if view is not None and view.chosen != take_id:
            self.undo.push(ChooseTake(self, line_id, view.chosen, take_id))

    def use_generated(self, line_id: str, take_id: str) -> None:
        """Best-of's pick becomes the line's take (not an undo step: nothing the user did by hand)."""
        self.apply_choice(line_id, take_id)

    def delete_take(self, take_id: str) -> None:
        line_id = self.project.take_info(take_id).line_id
        view = self.row(line_id)
        others = [t.id for t in view.takes if t.id != take_id] if view is not None else []
        self.undo.push(DeleteTake(self, line_id, take_id, view.chosen if view else None,
                                  others[-1] if others else None))

    def apply_choice(self, line_id: str, take_id: str | None) -> None:
        self.project.choose_take(line_id, take_id)
        self._changed(Change.TAKES)

    def apply_delete(self, take_id: str) -> None:
        self.project.delete_take(take_id)
        self._changed(Change.TAKES)

    def apply_restore(self, take_id: str, choose: bool) -> None:
        self.project.restore_take(take_id, choose=choose)
        self._changed(Change.TAKES)

    def take_info(self, take_id: str) -> Any:
        return self.project.take_info(take_id)

    def take_audio(self, take_id: str) -> np.ndarray:
        """The take's samples at its rate (decoded once; typed ProjectFileError for a damaged take)."""
        return self.audio.get(take_id, self.project.take_audio)

    def timeline_source(self) -> Callable[[], Any]:
        """A function for a worker thread that gathers the chosen takes as an export Timeline (decoding them is the
        slow part). The GUI thread may change the project meanwhile; every change moves its revision, so a timeline
        gathered while it moved is gathered again (a change in the middle could pair a line with another's take)."""
        project = self.project

        def timeline() -> Any:
            for _ in range(TIMELINE_TRIES):
                revision = project.revision
                try:
                    made = project.timeline()
                except (LookupError, ValueError, TimbreError):
                    if project.revision == revision:
                        raise
                    continue
                if project.revision == revision:
                    return made
            raise bridge.ProjectError("The project kept changing while its takes were gathered; try again when "
                                      "the generation has finished.")

        return timeline

    def set_take_checks(self, take_id: str, report: dict | None) -> None:
        self.project.set_take_checks(take_id, report)
        self._changed(Change.CHECKS)

    # ---- pronunciations and export settings ------------------------------------------------------------
    def set_pronunciations(self, lexicon: Any) -> None:
        self.project.set_pronunciations(lexicon)
        self._changed(Change.WORDS)

    def set_global_pronunciations(self, lexicon: Any) -> None:
        """The list every project uses (saved at once, in the user's data folder)."""
        bridge.save_global_pronunciations(lexicon, self.global_words_path)
        self.global_words = lexicon
        self.project.global_pronunciations = lexicon
        self._changed(Change.WORDS, autosave=False)

    def _load_global_words(self) -> None:
        try:
            self.global_words = bridge.load_global_pronunciations(self.global_words_path)
        except TimbreError as error:  # a damaged list is reported, never overwritten or ignored silently
            self.global_words_problem = str(error)

    def set_export(self, settings: dict) -> None:
        if settings != self.project.export:
            self.project.set_export(settings)
            self._changed(Change.EXPORT)
