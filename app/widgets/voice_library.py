"""The voice library: saved voices to pick from, rename, delete, import and export.

Listing, renaming and deleting are small file operations done here on the GUI thread through
engine.voices.VoiceLibrary; making a voice (which runs the model) happens on the engine thread.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView, QGroupBox, QHBoxLayout, QInputDialog, QListWidget, QListWidgetItem,
    QMessageBox, QPushButton, QVBoxLayout, QWidget,
)

from engine import TimbreError

from .. import engine_bridge as bridge
from .file_dialogs import FileDialogs, FileKind

VOICE_FILTER = "Timbre voice (*.safetensors)"


class VoiceLibraryPanel(QGroupBox):
    voiceSelected = Signal(str)  # noqa: N815 - "" when none
    listChanged = Signal()  # noqa: N815 - voices saved, renamed, deleted or imported (the cast offers them)
    errorRaised = Signal(str, str)  # noqa: N815

    def __init__(self, library: Any, dialogs: FileDialogs | None = None, parent: QWidget | None = None) -> None:
        super().__init__("Voices", parent)
        self.library = library
        self.dialogs = dialogs or FileDialogs({})
        self.model_family = ""  # the loaded model's family: voices of the other one are marked
        self.list = QListWidget()
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setWordWrap(True)  # a long name or the empty-list hint wraps instead of scrolling sideways
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.currentItemChanged.connect(self._current_changed)
        self.list.itemDoubleClicked.connect(lambda _item: self.ask_rename())
        self.list.setToolTip("Saved voices. Double-click to rename.")
        # clicked(bool) would land in the slot's first parameter: each button gets a slot without parameters.
        self.rename_button = QPushButton("Rename…")
        self.rename_button.clicked.connect(lambda: self.ask_rename())
        self.delete_button = QPushButton("Delete…")
        self.delete_button.clicked.connect(lambda: self.ask_delete())
        self.import_button = QPushButton("Import…")
        self.import_button.setToolTip("Add a voice from a Timbre voice file")
        self.import_button.clicked.connect(lambda: self._import())
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Save the selected voice as one file, to use on another computer")
        self.export_button.clicked.connect(lambda: self._export())
        buttons = QHBoxLayout()
        buttons.setSpacing(4)
        for b in (self.rename_button, self.delete_button, self.import_button, self.export_button):
            b.setObjectName("compactButton")
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
            damaged = getattr(info, "damaged", "")
            other = family_mark(info.family, self.model_family)
            detail = "⚠ damaged" if damaged else \
                f"{info.duration_s:.1f} s · {other or bridge.family_name(info.family)} · " \
                f"{(info.transcript or '(no transcript)')[:40]}"
            item = QListWidgetItem(f"{info.name}\n{detail}")
            item.setData(Qt.ItemDataRole.UserRole, info.name)
            item.setToolTip(damaged or "\n".join(t for t in (other and family_advice(info.family, self.model_family),
                            info.transcript or "No transcript (use Cross-lingual or Instruct mode)") if t))
            self.list.addItem(item)
        if not infos:
            placeholder = QListWidgetItem("No voices yet: save one from the reference clip above.")
            placeholder.setFlags(Qt.ItemFlag.NoItemFlags)
            self.list.addItem(placeholder)
        self.list.blockSignals(False)
        self.select(select or "")
        self._update_enabled()
        self.listChanged.emit()

    def set_model_family(self, family: str) -> None:
        """Mark the voices made with another family than ``family`` (the loaded model's; "": none loaded)."""
        if family != self.model_family:
            self.model_family = family
            self.refresh()

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

    def ask_rename(self) -> QInputDialog | None:
        """Ask for the selected voice's new name (a window-modal dialog; no nested event loop)."""
        old = self.current_name
        if not old:
            return None
        dialog = QInputDialog(self)
        dialog.setWindowTitle("Rename voice")
        dialog.setLabelText(f"New name for “{old}”:")
        dialog.setTextValue(old)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.textValueSelected.connect(lambda text: self.rename_selected(text, old))
        dialog.open()
        return dialog

    def rename_selected(self, new_name: str, old: str | None = None) -> None:
        old = old or self.current_name
        if not old or new_name.strip() == old:
            return
        try:
            info = self.library.rename(old, new_name.strip())
        except TimbreError as error:
            self.errorRaised.emit("Cannot rename the voice", str(error))
            return
        self.refresh(select=info.name)

    def ask_delete(self) -> QMessageBox | None:
        """Ask before deleting the selected voice; Delete is never the default button."""
        name = self.current_name
        if not name:
            return None
        box = QMessageBox(QMessageBox.Icon.Question, "Delete voice",
                          f"Delete the voice “{name}”? This cannot be undone.", parent=self)
        delete = box.addButton("Delete", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(box.addButton(QMessageBox.StandardButton.Cancel))
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def answered(_result: int) -> None:
            if box.clickedButton() is delete:
                self.delete_selected(name)

        box.finished.connect(answered)
        box.open()
        return box

    def delete_selected(self, name: str | None = None) -> None:
        """Delete a voice now (the Delete button asks first: :meth:`ask_delete`)."""
        name = name or self.current_name
        if not name:
            return
        try:
            self.library.delete(name)
        except TimbreError as error:
            self.errorRaised.emit("Cannot delete the voice", str(error))
            return
        self.refresh(select="")

    def _import(self) -> None:
        self.dialogs.open_file(self, FileKind.VOICE, "Import a voice", VOICE_FILTER, self.import_file)

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
        if name:
            self.dialogs.save_file(self, FileKind.VOICE, "Export voice", f"{name}.safetensors", VOICE_FILTER,
                                   self.export_file)

    def export_file(self, path: Path) -> Path | None:
        try:
            return self.library.export(self.current_name, path)
        except TimbreError as error:
            self.errorRaised.emit("Cannot export the voice", str(error))
            return None


def family_mark(voice_family: str, model_family: str) -> str:
    """"⚠ CosyVoice 2" for a voice of another family than the loaded model's; "" when it fits (or none is loaded)."""
    return f"⚠ {bridge.family_name(voice_family)}" if model_family and voice_family != model_family else ""


def family_advice(voice_family: str, model_family: str) -> str:
    return (f"Made with {bridge.family_name(voice_family)}; the loaded model is {bridge.family_name(model_family)}. "
            "Generating with it offers to re-analyse it from its recording.")
