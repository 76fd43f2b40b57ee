"""Direction: how the next take is spoken — mode, instruction presets and free text, tags,
speed, seed (dice + lock) and streaming."""
from __future__ import annotations

import random

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QButtonGroup, QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
    QListWidget, QListWidgetItem, QPlainTextEdit, QSizePolicy, QSpinBox, QToolButton, QVBoxLayout, QWidget,
)

from .. import engine_bridge as bridge
from ..resources import Preset
from .tag_palette import TagPalette

MAX_SEED = 2**31 - 1


class DirectionPanel(QGroupBox):
    tagChosen = Signal(str, str)  # noqa: N815 - forwarded from the palette to the narration editor
    presetEdited = Signal(str, str)  # "group/name", instruction  # noqa: N815
    changed = Signal()

    def __init__(self, presets: dict[str, list[Preset]], tags: list[tuple[str, str, str | None]],
                 custom: dict[str, str] | None = None, parent: QWidget | None = None) -> None:
        super().__init__("Direction", parent)
        self.presets = presets
        self.custom = dict(custom or {})
        self._current_key = ""

        # Mode: a segmented row of three buttons.
        self.mode_group = QButtonGroup(self)
        self.mode_buttons: dict[str, QToolButton] = {}
        mode_row = QHBoxLayout()
        mode_row.setSpacing(0)
        tips = {"zero_shot": "Speak like the reference, continuing its transcript (needs the transcript)",
                "cross_lingual": "Keep the voice, ignore the transcript (other languages, no transcript)",
                "instruct": "Keep the voice and follow the instruction below"}
        for i, mode in enumerate(bridge.MODES):
            b = QToolButton()
            b.setText(bridge.MODE_LABELS[mode])
            b.setCheckable(True)
            b.setObjectName("segment")
            b.setToolTip(f"{tips[mode]} — Alt+{i + 1}")
            b.setShortcut(QKeySequence(f"Alt+{i + 1}"))
            b.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            self.mode_group.addButton(b, i)
            self.mode_buttons[mode] = b
            mode_row.addWidget(b)
        self.mode_buttons["zero_shot"].setChecked(True)
        self.mode_group.idToggled.connect(self._mode_toggled)

        self.group_combo = QComboBox()
        self.group_combo.addItems(list(presets))
        self.group_combo.currentTextChanged.connect(self._fill_presets)
        self.preset_list = QListWidget()
        self.preset_list.setObjectName("presetList")
        self.preset_list.setFlow(QListWidget.Flow.LeftToRight)
        self.preset_list.setWrapping(True)
        self.preset_list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.preset_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.preset_list.setSpacing(3)
        self.preset_list.setMaximumHeight(74)
        self.preset_list.currentItemChanged.connect(self._preset_chosen)
        self.instruction = QPlainTextEdit()
        self.instruction.setPlaceholderText("Instruction, e.g. “Speak like a tired detective at 3 a.m.” "
                                            "Pick a preset above and edit it, or write your own.")
        self.instruction.setMaximumHeight(64)
        self.instruction.textChanged.connect(self._instruction_edited)

        self.palette_widget = TagPalette(tags)
        self.palette_widget.tagChosen.connect(self.tagChosen)

        self.speed = QDoubleSpinBox()
        self.speed.setRange(0.5, 2.0)
        self.speed.setSingleStep(0.05)
        self.speed.setValue(1.0)
        self.speed.setSuffix(" ×")
        self.speed.setToolTip("Speaking speed (time-stretches the generated speech)")
        self.seed = QSpinBox()
        self.seed.setRange(0, MAX_SEED)
        self.seed.setToolTip("Random seed: the same seed, text and direction give the same take")
        self.dice = QToolButton()
        self.dice.setText("Roll")
        self.dice.setToolTip("New random seed — Ctrl+D")
        self.dice.setShortcut(QKeySequence("Ctrl+D"))
        self.dice.clicked.connect(self.roll_seed)
        self.lock = QToolButton()
        self.lock.setText("Lock")
        self.lock.setCheckable(True)
        self.lock.setToolTip("Lock the seed (otherwise every new take rolls a new one)")
        self.lock.toggled.connect(lambda on: self.lock.setText("Locked" if on else "Lock"))
        self.streaming = QCheckBox("Stream while generating")
        self.streaming.setChecked(True)
        self.streaming.setToolTip("Play the first chunk as soon as it is ready")
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed, 1)
        seed_row.addWidget(self.dice)
        seed_row.addWidget(self.lock)

        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.addRow("Speed", self.speed)
        form.addRow("Seed", seed_row)
        form.addRow("", self.streaming)

        preset_row = QHBoxLayout()
        preset_label = QLabel("Presets")
        preset_label.setObjectName("sectionLabel")
        preset_row.addWidget(preset_label)
        preset_row.addStretch(1)
        preset_row.addWidget(self.group_combo)
        tags_label = QLabel("Tags (insert into the narration)")
        tags_label.setObjectName("sectionLabel")

        layout = QVBoxLayout(self)
        layout.setSpacing(8)
        layout.addLayout(mode_row)
        layout.addLayout(preset_row)
        layout.addWidget(self.preset_list)
        layout.addWidget(self.instruction)
        layout.addWidget(tags_label)
        layout.addWidget(self.palette_widget)
        layout.addLayout(form)
        layout.addStretch(1)
        self._fill_presets(self.group_combo.currentText())
        self._mode_toggled(0, True)

    # ---- state -----------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return bridge.MODES[max(0, self.mode_group.checkedId())]

    def set_mode(self, mode: str) -> None:
        self.mode_buttons[bridge.mode_value(mode)].setChecked(True)

    def direction(self, seed: int | None = None) -> bridge.Direction:
        instruction = self.instruction.toPlainText().strip() if self.mode == "instruct" else ""
        return bridge.Direction(self.mode, instruction, float(self.speed.value()),
                                int(self.seed.value() if seed is None else seed), self.streaming.isChecked())

    def next_seed(self) -> int:
        """The seed for a new take: the locked one, or a fresh roll shown in the box."""
        if not self.lock.isChecked():
            self.roll_seed()
        return int(self.seed.value())

    def roll_seed(self) -> None:
        self.seed.setValue(random.SystemRandom().randrange(MAX_SEED))

    # ---- presets ---------------------------------------------------------------------------
    def _fill_presets(self, group: str) -> None:
        self.preset_list.blockSignals(True)
        self.preset_list.clear()
        for preset in self.presets.get(group, []):
            item = QListWidgetItem(preset.name)
            item.setData(Qt.ItemDataRole.UserRole, preset)
            item.setToolTip(self.custom.get(self._key(preset), preset.instruction))
            self.preset_list.addItem(item)
        self.preset_list.setCurrentItem(None)
        self.preset_list.blockSignals(False)
        self._current_key = ""

    @staticmethod
    def _key(preset: Preset) -> str:
        return f"{preset.group}/{preset.name}"

    def choose_preset(self, group: str, name: str) -> bool:
        self.group_combo.setCurrentText(group)
        for i in range(self.preset_list.count()):
            item = self.preset_list.item(i)
            if item.data(Qt.ItemDataRole.UserRole).name == name:
                self.preset_list.setCurrentItem(item)
                return True
        return False

    def _preset_chosen(self, item: QListWidgetItem | None, _previous: object = None) -> None:
        if item is None:
            return
        preset: Preset = item.data(Qt.ItemDataRole.UserRole)
        self._current_key = ""
        self.instruction.setPlainText(self.custom.get(self._key(preset), preset.instruction))
        self._current_key = self._key(preset)
        self.set_mode("instruct")

    def _instruction_edited(self) -> None:
        # Editing the text of a chosen preset keeps the edit as that preset's instruction.
        if self._current_key:
            text = self.instruction.toPlainText()
            self.custom[self._current_key] = text
            self.presetEdited.emit(self._current_key, text)
        self.changed.emit()

    def _mode_toggled(self, _id: int, checked: bool) -> None:
        if not checked:
            return
        instruct = self.mode == "instruct"
        self.instruction.setEnabled(instruct)
        self.changed.emit()
