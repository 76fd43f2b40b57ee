"""File ▸ Export…: the export dialog on the project's timeline (the chosen take of every line, with the script's
chapters and pauses), opened with the project's last export settings, which are saved back after an export.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt

from engine import TimbreError

from . import engine_bridge as bridge
from .widgets.export_dialog import ExportDialog
from .widgets.file_dialogs import FileKind

if TYPE_CHECKING:
    from .widgets.main_window import MainWindow


class Exporting(QObject):
    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.w = window
        self.files: list[Path] = []  # every file exported in this session

    def open_export(self, path: Path | None = None) -> ExportDialog | None:
        """The export dialog for the chosen takes of every line, with the project's last export settings."""
        rows = self.w.document.rows()
        if not any(v.chosen for v in rows):
            self.w.show_error("Nothing to export", "Generate the lines first (Ctrl+Enter).")
            return None
        saved = self.w.document.project.export
        settings = None
        if saved:
            try:
                settings = bridge.export_settings_from_json(saved)
            except TimbreError as error:
                self.w.statusBar().showMessage(str(error), 6000)
        suffix = ".wav"
        if settings is not None and settings.format:
            suffix = next((f.suffixes[0] for f in bridge.export_api().FORMATS if f.name == settings.format), suffix)
        target = path or self.w.dialogs.folder(FileKind.EXPORT) / f"{self.w.document.title}{suffix}"
        self.w.script_sync.flush_edits()
        dialog = ExportDialog(self.w.document.timeline_source(), target, settings, self.w)
        if settings is None or not settings.metadata.title:
            dialog.title_edit.setText(self.w.document.title if self.w.document.path else "")
        dialog.exported.connect(lambda result: self._exported(dialog, result))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def _exported(self, dialog: ExportDialog, result: Any) -> None:
        self.w.document.set_export(bridge.export_settings_to_json(dialog.saved_settings()))
        paths = [f.path for f in result.files]
        self.files += paths
        if paths:
            self.w.dialogs.remember(FileKind.EXPORT, paths[0])
        self.w.statusBar().showMessage(f"Exported {result.summary()}.", 6000)
        self.w.exported.emit(result)
