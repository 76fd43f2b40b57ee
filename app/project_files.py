"""File ▸ New, Open…, Open Recent, Save, Save As…, importing a script, and what a crash left behind.

Before the open project makes way for another (New, Open, Recent, Quit), unsaved work gets the usual question: Save,
Don't Save or Cancel. A project that cannot be opened (damaged, not a project, made by a newer Timbre) is one clear
message and the file is left as it is. At start, and when a project is opened whose autosave a crashed Timbre left,
the studio offers that work back ("Recover") or to throw it away ("Discard"). Every question is a window-modal box,
never a nested event loop.
"""
from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QMenu, QMessageBox

from engine import TimbreError

from . import engine_bridge as bridge
from .widgets.file_dialogs import FileKind

if TYPE_CHECKING:
    from .widgets.main_window import MainWindow

log = logging.getLogger(__name__)
PROJECT_FILTER = "Timbre project (*.timbre)"
SCRIPT_FILTER = "Script (*.txt *.md *.markdown);;All files (*)"
SAVE, DONT_SAVE, CANCEL = "Save", "Don't Save", "Cancel"
RECOVER, DISCARD = "Recover", "Discard"


class ProjectFiles(QObject):
    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.w = window
        self.document, self.settings, self.dialogs = window.document, window.settings, window.dialogs
        self.recent_menu = QMenu("Open &Recent", window)
        self.recent_menu.aboutToShow.connect(self.refresh_recent)
        self.refresh_recent()

    # ---- the File menu ---------------------------------------------------------------------------------
    def new(self) -> None:
        self.when_saved(lambda: self.document.new(self.w.narrator_voice()))

    def open(self) -> None:
        self.when_saved(lambda: self.dialogs.open_file(self.w, FileKind.PROJECT, "Open a project", PROJECT_FILTER,
                                                       self.open_path))

    def open_recent(self, path: str) -> None:
        self.when_saved(lambda: self.open_path(Path(path)))

    def open_path(self, path: Path) -> bool:
        """Open ``path`` now (no question about the open project: ask first with :meth:`when_saved`)."""
        path = Path(path)
        if self.document.path is not None and path.resolve() == self.document.path.resolve():
            self.w.statusBar().showMessage(f"{path.name} is open already.", 4000)
            return True
        try:
            project = bridge.open_project(path)
        except TimbreError as error:
            self.w.show_error("Cannot open the project", str(error))
            return False
        left = next((i for i in bridge.find_recoveries(self.document.autosave_root) if i.project_id == project.id),
                    None)
        if left is not None:
            project.close()
            self.ask_recovery(left, base=path)
            return True
        return self._show(project, path)

    def _show(self, project: Any, path: Path | None) -> bool:
        try:
            self.document.replace(project)
        except TimbreError as error:
            self.w.show_error("Cannot open the project", str(error))
            return False
        if path is not None:
            self.settings.remember_project(path)
            self._save_settings()
        self.w.statusBar().showMessage(f"Opened {self.document.title}: {len(self.document.rows())} lines.", 5000)
        return True

    def save(self, then: Callable[[], None] | None = None) -> bool:
        """Save to the project's file, or ask for one (then False now; ``then`` runs once it is saved)."""
        if self.document.path is None:
            self.save_as(then)
            return False
        return self.save_to(self.document.path, then) is not None

    def save_as(self, then: Callable[[], None] | None = None) -> None:
        def chosen(path: Path) -> None:
            self.save_to(path, then)

        self.dialogs.save_file(self.w, FileKind.PROJECT, "Save the project as", f"{self.document.title}.timbre",
                               PROJECT_FILTER, chosen)

    def save_to(self, path: Path, then: Callable[[], None] | None = None) -> Path | None:
        self.w.apply_typing()
        try:
            saved = self.document.save(Path(path))
        except (OSError, TimbreError) as error:
            self.w.show_error("Cannot save the project", str(error))
            return None
        self.settings.remember_project(saved)
        self._save_settings()
        self.w.statusBar().showMessage(f"Saved {saved}.", 5000)
        if then is not None:
            then()
        return saved

    def import_script(self) -> None:
        """Replace the script by a text file's (one undo step, so Edit ▸ Undo brings the old one back)."""
        self.dialogs.open_file(self.w, FileKind.TEXT, "Import a script", SCRIPT_FILTER, self.import_script_from)

    def import_script_from(self, path: Path) -> bool:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            self.w.show_error("Cannot read the script", f"{error}. Save it as UTF-8 text and try again.")
            return False
        self.w.script.editor.show_text(text)
        self.w.script.editor.settled.emit()
        return True

    def refresh_recent(self) -> None:
        self.recent_menu.clear()
        existing = [p for p in self.settings.recent_projects if Path(p).is_file()]
        for path in existing:
            action = self.recent_menu.addAction(Path(path).name)
            action.setToolTip(path)
            action.triggered.connect(lambda _=False, p=path: self.open_recent(p))
        if not existing:
            self.recent_menu.addAction("No recent projects").setEnabled(False)

    def _save_settings(self) -> None:
        try:
            self.settings.save()
        except (OSError, TimbreError) as error:
            log.warning("cannot save the settings: %s", error)

    # ---- unsaved work --------------------------------------------------------------------------------
    def when_saved(self, action: Callable[[], Any]) -> QMessageBox | None:
        """Run ``action`` once the open project's unsaved work is saved or given up (at once when there is none)."""
        self.w.apply_typing()
        if not self.document.has_unsaved_work():
            action()
            return None
        box = QMessageBox(QMessageBox.Icon.Question, "Save the changes?",
                          f"Save the changes to “{self.document.title}”?", parent=self.w)
        box.setInformativeText("Without saving, the changes since the last save are lost.")
        save = box.addButton(SAVE, QMessageBox.ButtonRole.AcceptRole)
        drop = box.addButton(DONT_SAVE, QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(box.addButton(CANCEL, QMessageBox.ButtonRole.RejectRole))
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def answered(button: Any) -> None:
            if button is save:
                self.save(then=action)
            elif button is drop:
                self.document.discard()
                action()

        box.buttonClicked.connect(answered)
        box.open()
        return box

    # ---- recovery ------------------------------------------------------------------------------------
    def offer_recovery(self) -> QMessageBox | None:
        """At start: the newest work a crashed Timbre left, to recover or discard (the next one after that)."""
        try:
            left = bridge.find_recoveries(self.document.autosave_root)
        except OSError as error:
            log.warning("cannot look for autosaves: %s", error)
            return None
        return self.ask_recovery(left[0]) if left else None

    def ask_recovery(self, info: Any, base: Path | None = None) -> QMessageBox:
        name = Path(info.base).stem if info.base else (info.title or "an untitled project")
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.modified))
        box = QMessageBox(QMessageBox.Icon.Question, "Recover unsaved work?",
                          f"Timbre closed before the changes to “{name}” were saved.", parent=self.w)
        box.setInformativeText(f"The autosave of {when} holds them, with {info.n_takes} take"
                               f"{'s' if info.n_takes != 1 else ''}. Recover them, or discard them for good?")
        box.setDefaultButton(box.addButton(RECOVER, QMessageBox.ButtonRole.AcceptRole))
        drop = box.addButton(DISCARD, QMessageBox.ButtonRole.DestructiveRole)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def answered(button: Any) -> None:
            if button is drop:
                self._discard(info)
                if base is not None:
                    self.open_path(base)
                else:
                    self.offer_recovery()
            else:
                self._recover(info)

        box.buttonClicked.connect(answered)
        box.open()
        return box

    def _recover(self, info: Any) -> None:
        try:
            project = bridge.recover_project(info)
        except TimbreError as error:
            self.w.show_error("Cannot recover the project", f"{error}\n\nThe autosave was left in {info.folder}.")
            return
        if self._show(project, None):
            self.w.statusBar().showMessage(f"Recovered {self.document.title}: save it to keep it.", 8000)

    def _discard(self, info: Any) -> None:
        try:
            project = bridge.recover_project(info)
            project.attach_autosave(self.document.autosave_root)
            project.discard_autosave()
            project.close()
        except TimbreError as error:  # damaged beyond opening: its folder goes
            log.warning("discarding a damaged autosave %s: %s", info.folder, error)
            shutil.rmtree(info.folder, ignore_errors=True)
