"""File dialogs that open where the user was last time, one remembered folder per kind of file.

Qt's static ``QFileDialog.get*`` functions start in the process's working folder unless told otherwise and run a
nested event loop; these open a window-modal dialog (``open()``), start in the folder last used for the same kind
of file (the home folder the first time) and remember the folder of what was chosen. The folders live in the
settings (``Settings.last_folders``), so they survive a restart.
"""
from __future__ import annotations

import enum
from collections.abc import Callable, MutableMapping
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QWidget


class FileKind(str, enum.Enum):
    REFERENCE = "reference"  # reference clips to import
    VOICE = "voice"  # voice files (import/export)
    EXPORT = "export"  # exported audio
    TEXT = "text"  # scripts (plain text or Markdown)
    PROJECT = "project"  # .timbre projects
    MODEL = "model"  # model folders


class FileDialogs:
    def __init__(self, folders: MutableMapping[str, str], export_folder: Callable[[], str] = lambda: "") -> None:
        self._folders = folders  # updated in place: the settings' dict
        self._export_folder = export_folder  # the Settings dialog's export folder, when one is set

    def folder(self, kind: FileKind) -> Path:
        """Where a dialog for ``kind`` opens: the folder used last, else the export folder setting for exports,
        else the home folder."""
        for candidate in (self._folders.get(kind.value, ""), self._export_folder() if kind is FileKind.EXPORT else ""):
            if candidate and Path(candidate).is_dir():
                return Path(candidate)
        return Path.home()

    def remember(self, kind: FileKind, path: Path) -> None:
        self._folders[kind.value] = str(path if path.is_dir() else path.parent)

    def open_file(self, parent: QWidget, kind: FileKind, title: str, name_filter: str,
                  chosen: Callable[[Path], None]) -> QFileDialog:
        dialog = self._dialog(parent, kind, title, name_filter, chosen)
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptOpen)
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.open()
        return dialog

    def save_file(self, parent: QWidget, kind: FileKind, title: str, suggested: str, name_filter: str,
                  chosen: Callable[[Path], None]) -> QFileDialog:
        dialog = self._dialog(parent, kind, title, name_filter, chosen)
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setFileMode(QFileDialog.FileMode.AnyFile)
        suffix = Path(suggested).suffix.lstrip(".")
        if suffix:
            dialog.setDefaultSuffix(suffix)
        dialog.selectFile(str(self.folder(kind) / suggested))
        dialog.open()
        return dialog

    def choose_folder(self, parent: QWidget, kind: FileKind, title: str, start: str,
                      chosen: Callable[[Path], None]) -> QFileDialog:
        dialog = self._dialog(parent, kind, title, "", chosen)
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
        if start and Path(start).is_dir():
            dialog.setDirectory(start)
        dialog.open()
        return dialog

    def _dialog(self, parent: QWidget, kind: FileKind, title: str, name_filter: str,
                chosen: Callable[[Path], None]) -> QFileDialog:
        dialog = QFileDialog(parent, title, str(self.folder(kind)), name_filter)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def selected(path: str) -> None:
            self.remember(kind, Path(path))
            chosen(Path(path))

        dialog.fileSelected.connect(selected)
        return dialog
