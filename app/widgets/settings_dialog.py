"""Preferences: audio devices, export folder, take checks (check every take, best of N retakes), theme."""
from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout, QLineEdit, QPushButton,
    QSpinBox, QWidget,
)

from .. import engine_bridge as bridge
from ..audio import devices
from ..settings import Settings
from .file_dialogs import FileDialogs, FileKind


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, parent: QWidget | None = None, dialogs: FileDialogs | None = None) -> None:
        super().__init__(parent)
        self.dialogs = dialogs or FileDialogs({})
        self.setWindowTitle("Settings")
        self.setMinimumWidth(480)
        self.settings = settings
        self.output_combo = QComboBox()
        self.output_combo.addItem("System default", None)
        for d in devices.list_devices("output"):
            self.output_combo.addItem(d.name, d.name)
        self._select(self.output_combo, settings.output_device)
        self.input_combo = QComboBox()
        self.input_combo.addItem("System default", None)
        for d in devices.list_devices("input"):
            self.input_combo.addItem(d.name, d.name)
        self._select(self.input_combo, settings.input_device)
        self.folder_edit = QLineEdit(settings.output_dir)
        self.folder_edit.setPlaceholderText("Ask every time")
        browse = QPushButton("Choose…")
        browse.clicked.connect(lambda: self._browse())
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(browse)
        self.check_box = QCheckBox("Check every new take")
        self.check_box.setToolTip("Listen to each take for missing words, long silences, a cut end, another voice "
                                  "and noise, off the GUI thread (pip install 'timbre[checks]' for every check)")
        self.check_box.setChecked(settings.check_takes)
        self.best_of_spin = QSpinBox()
        self.best_of_spin.setRange(2, bridge.best_of_limit())
        self.best_of_spin.setValue(min(max(2, settings.best_of), bridge.best_of_limit()))
        self.best_of_spin.setPrefix("best of ")
        self.best_of_spin.setSuffix(" takes")
        self.best_of_spin.setToolTip("“Retake failed lines” makes up to this many takes per line and stops at the "
                                     "first that passes its checks (else it keeps the best)")
        self.theme_combo = QComboBox()
        self.theme_combo.addItems(["dark", "light"])
        self.theme_combo.setCurrentText(settings.theme)
        form = QFormLayout(self)
        form.addRow("Output device", self.output_combo)
        form.addRow("Input device", self.input_combo)
        form.addRow("Export folder", folder_row)
        form.addRow("Take checks", self.check_box)
        form.addRow("Retakes", self.best_of_spin)
        form.addRow("Theme", self.theme_combo)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    @staticmethod
    def _select(combo: QComboBox, value: str | None) -> None:
        i = combo.findData(value) if value else 0
        combo.setCurrentIndex(max(0, i))

    def _browse(self) -> None:
        start = self.folder_edit.text() or str(self.dialogs.folder(FileKind.EXPORT))
        self.dialogs.choose_folder(self, FileKind.EXPORT, "Export folder", start,
                                   lambda folder: self.folder_edit.setText(str(folder)))

    def apply(self) -> None:
        """Copy the dialog's values into the settings object."""
        s = self.settings
        s.output_device = self.output_combo.currentData()
        s.input_device = self.input_combo.currentData()
        s.output_dir = self.folder_edit.text().strip()
        s.check_takes = self.check_box.isChecked()
        s.best_of = int(self.best_of_spin.value())
        s.theme = self.theme_combo.currentText()
