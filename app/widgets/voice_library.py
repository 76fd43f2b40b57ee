"""The voice library: saved voices to pick from, rename, delete, import and export.

Listing, renaming and deleting are small file operations done here on the GUI thread through
engine.voices.VoiceLibrary; making a voice (which runs the model) happens on the engine thread.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView, QFileDialog, QGroupBox, QHBoxLayout, QInputDialog, QListWidget, QListWidgetItem,
    QMessageBox, QPushButton, QVBoxLayout, QWidget,
)

from engine import TimbreError

VOICE_FILTER = "Timbre voice (*.safetensors)"


class VoiceLibraryPanel(QGroupBox):
    voiceSelected = Signal(str)  # noqa: N815 - "" when none
    errorRaised = Signal(str, str)  # noqa: N815

    def __init__(self, library: Any, parent: QWidget | None = None) -> None:
        super().__init__("Voices", parent)
        self.library = library
        self.list = QListWidget()
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.currentItemChanged.connect(self._current_changed)
        self.list.itemDoubleClicked.connect(lambda _item: self.rename_selected())
        self.list.setToolTip("Saved voices. Double-click to rename.")
        self.rename_button = QPushButton("Rename")
        self.rename_button.clicked.connect(self.rename_selected)
        self.delete_button = QPushButton("Delete")
        self.delete_button.clicked.connect(self.delete_selected)
        self.import_button = QPushButton("Import…")
        self.import_button.clicked.connect(self._import)
        self.export_button = QPushButton("Export…")
        self.export_button.clicked.connect(self._export)
        buttons = QHBoxLayout()
        for b in (self.rename_button, self.delete_button, self.import_button, self.export_button):
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.setSpacing(8)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        self.refresh()

    @property
    def current_name(self) -> str:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item else ""

    def refresh(self, select: str | None = None) -> None:
        select = self.current_name if select is None else select
        self.list.blockSignals(True)
        self.list.clear()
        try:
            infos = self.library.list()
        except TimbreError as error:
            infos = []
            self.errorRaised.emit("Voice library", str(error))
        for info in infos:
            item = QListWidgetItem(f"{info.name}\n{info.duration_s:.1f} s · {(info.transcript or '(no transcript)')[:40]}")
            item.setData(Qt.ItemDataRole.UserRole, info.name)
            item.setToolTip(info.transcript or "No transcript (use Cross-lingual or Instruct mode)")
            self.list.addItem(item)
        if not infos:
            placeholder = QListWidgetItem("No voices yet — save one from the reference above.")
            placeholder.setFlags(Qt.ItemFlag.NoItemFlags)
            self.list.addItem(placeholder)
        self.list.blockSignals(False)
        self.select(select or "")
        self._update_enabled()

    def select(self, name: str) -> bool:
        for i in range(self.list.count()):
            item = self.list.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == name and name:
                self.list.setCurrentItem(item)
                return True
        self.list.setCurrentItem(None)
        self.voiceSelected.emit("")
        return False

    def _current_changed(self, *_: object) -> None:
        self._update_enabled()
        self.voiceSelected.emit(self.current_name)

    def _update_enabled(self) -> None:
        has = bool(self.current_name)
        self.rename_button.setEnabled(has)
        self.delete_button.setEnabled(has)
        self.export_button.setEnabled(has)

    def rename_selected(self, new_name: str | None = None) -> None:
        old = self.current_name
        if not old:
            return
        if new_name is None:
            new_name, ok = QInputDialog.getText(self, "Rename voice", "New name:", text=old)
            if not ok:
                return
        try:
            info = self.library.rename(old, new_name.strip())
        except TimbreError as error:
            self.errorRaised.emit("Cannot rename the voice", str(error))
            return
        self.refresh(select=info.name)

    def delete_selected(self, confirm: bool = True) -> None:
        name = self.current_name
        if not name:
            return
        if confirm and QMessageBox.question(self, "Delete voice", f"Delete the voice “{name}”? This cannot be undone.") \
                != QMessageBox.StandardButton.Yes:
            return
        try:
            self.library.delete(name)
        except TimbreError as error:
            self.errorRaised.emit("Cannot delete the voice", str(error))
            return
        self.refresh(select="")

    def _import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import a voice", "", VOICE_FILTER)
        if path:
            self.import_file(Path(path))

    def import_file(self, path: Path) -> str:
        try:
            info = self.library.import_file(path)
        except TimbreError as error:
            self.errorRaised.emit("Cannot import the voice", str(error))
            return ""
        self.refresh(select=info.name)
        return info.name

    def _export(self) -> None:
        name = self.current_name
        if not name:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export voice", f"{name}.safetensors", VOICE_FILTER)
        if path:
            self.export_file(Path(path))

    def export_file(self, path: Path) -> Path | None:
        try:
            return self.library.export(self.current_name, path)
        except TimbreError as error:
            self.errorRaised.emit("Cannot export the voice", str(error))
            return None
