"""A/B of one line on two models: the loaded one (A) and a second model folder (B), the same voice clip and seed on
both; play each, keep one as a take. The dialog only shows and asks; app/ab_compare.py does the work."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget,
)

from engine import TimbreError

from .. import engine_bridge as bridge
from .file_dialogs import FileDialogs, FileKind


class ABDialog(QDialog):
    generateRequested = Signal(str)  # model B's folder  # noqa: N815
    clipRequested = Signal()  # noqa: N815 - choose another recording
    playRequested = Signal(str)  # "A" or "B"  # noqa: N815
    keepRequested = Signal(str)  # noqa: N815

    def __init__(self, line: str, model_a: str, folder_b: str, dialogs: FileDialogs,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("A/B on two models")
        self.setMinimumWidth(560)
        self.dialogs = dialogs
        self.line_label = QLabel(line)
        self.line_label.setWordWrap(True)
        self.a_label = QLabel(f"{model_a} (the loaded model)")
        self.folder_edit = QLineEdit(folder_b)
        self.folder_edit.setPlaceholderText("The other model's folder")
        self.folder_edit.textChanged.connect(lambda _t: self._check())
        browse = QPushButton("Choose folder…")
        browse.clicked.connect(lambda: self.dialogs.choose_folder(self, FileKind.MODEL, "Model B folder",
                                                                  self.folder_edit.text(), self._folder_chosen))
        self.b_family = QLabel("")
        self.b_family.setWordWrap(True)
        self.clip_label = QLabel("No recording yet")
        self.clip_label.setWordWrap(True)
        self.clip_button = QPushButton("Choose clip…")
        self.clip_button.clicked.connect(self.clipRequested)
        self.seed_label = QLabel("")
        folder_row, clip_row = QHBoxLayout(), QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(browse)
        clip_row.addWidget(self.clip_label, 1)
        clip_row.addWidget(self.clip_button)
        form = QFormLayout()
        form.addRow("Line", self.line_label)
        form.addRow("A", self.a_label)
        form.addRow("B", folder_row)
        form.addRow("", self.b_family)
        form.addRow("Voice clip", clip_row)
        form.addRow("Seed", self.seed_label)
        self.generate_button = QPushButton("Generate A and B")
        self.generate_button.setObjectName("primaryButton")
        self.generate_button.clicked.connect(lambda: self.generateRequested.emit(self.folder_edit.text().strip()))
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.play = {k: QPushButton(f"▶ Play {k}") for k in "AB"}
        self.keep = {k: QPushButton(f"Keep {k}") for k in "AB"}
        results = QHBoxLayout()
        for k in "AB":
            self.play[k].clicked.connect(lambda _=False, k=k: self.playRequested.emit(k))
            self.keep[k].clicked.connect(lambda _=False, k=k: self.keepRequested.emit(k))
            results.addWidget(self.play[k])
            results.addWidget(self.keep[k])
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.generate_button)
        layout.addWidget(self.status)
        layout.addLayout(results)
        layout.addWidget(buttons)
        self.show_takes(set())
        self._clip = False
        self._check()

    def _folder_chosen(self, folder) -> None:
        self.folder_edit.setText(str(folder))

    def _check(self) -> bool:
        """Show model B's family; Generate waits for a model folder and a clip."""
        text = self.folder_edit.text().strip()
        ok = False
        if not text:
            self.b_family.setText("Choose the other model's folder.")
        else:
            try:
                bridge.check_model_folder(text)
                self.b_family.setText(f"✔ {bridge.family_name(bridge.folder_family(text))} model folder")
                ok = True
            except TimbreError as error:
                self.b_family.setText(f"⚠ {error}")
        self.generate_button.setEnabled(ok and self._clip)
        return ok

    def show_clip(self, text: str) -> None:
        self._clip = True
        self.clip_label.setText(text)
        self._check()

    def show_seed(self, seed: int) -> None:
        self.seed_label.setText(f"{seed} (the same on both)")

    def show_busy(self, text: str) -> None:
        self.status.setText(text)
        self.generate_button.setEnabled(False)

    def show_done(self, text: str) -> None:
        self.status.setText(text)
        self._check()

    def show_takes(self, ready: set[str]) -> None:
        for k in "AB":
            self.play[k].setEnabled(k in ready)
            self.keep[k].setEnabled(k in ready)
