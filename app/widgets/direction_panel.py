"""Direction: how a cast member's lines are spoken by default — mode, instruction (presets or free text) — plus
the tags for the script and the numbers of the next takes: speed, seed (dice + lock) and streaming.

The mode and instruction belong to the cast member selected in the Cast panel (:meth:`DirectionPanel.show_member`);
the panel says whose they are, and edits reach the window as ``memberDirectionEdited(mode, instruction)`` (the
instruction once the typing pauses). A line's own ``{direction}`` in the script wins over the member's.

Presets stay what they say: picking one fills the instruction box, and typing there makes the text a custom
instruction (the preset is deselected, never changed). A custom instruction can be kept as one of the user's own
presets ("My presets", saved in the settings), which can be deleted again; the built-in ones cannot.
"""
from __future__ import annotations

import random

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QButtonGroup, QCheckBox, QComboBox, QDoubleSpinBox, QGridLayout, QGroupBox, QHBoxLayout, QInputDialog, QLabel,
    QListWidget, QListWidgetItem, QPlainTextEdit, QPushButton, QSizePolicy, QSpinBox, QToolButton, QVBoxLayout,
    QWidget,
)

from .. import engine_bridge as bridge
from ..resources import Preset, icon_path
from .tag_palette import TagPalette

MAX_SEED = 2**31 - 1
EDIT_SETTLE_MS = 400  # an instruction being typed reaches the cast member when the typing pauses
MY_PRESETS = "My presets"


class DirectionPanel(QGroupBox):
    tagChosen = Signal(str, str)  # noqa: N815 - forwarded from the palette to the narration editor
    myPresetsChanged = Signal(object)  # dict[str, str]: the user's presets, name -> instruction  # noqa: N815
    changed = Signal()
    memberDirectionEdited = Signal(str, str)  # mode, instruction: the user changed the member's direction  # noqa: N815

    def __init__(self, presets: dict[str, list[Preset]], tags: list[tuple[str, str, str | None]],
                 my_presets: dict[str, str] | None = None, parent: QWidget | None = None) -> None:
        super().__init__("Direction", parent)
        self.presets = presets
        self.my_presets = dict(my_presets or {})
        self._chosen: Preset | None = None  # the preset the instruction box shows unchanged
        self._filling = False
        self._showing = False  # show_member is filling the boxes: not an edit
        self.member = ""
        self._edit_timer = QTimer(self)
        self._edit_timer.setSingleShot(True)
        self._edit_timer.setInterval(EDIT_SETTLE_MS)
        self._edit_timer.timeout.connect(self._member_edited)

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
            b.setToolTip(tips[mode])  # the window's Direction menu gives each its key (Alt+1, 2, 3)
            b.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            self.mode_group.addButton(b, i)
            self.mode_buttons[mode] = b
            mode_row.addWidget(b)
        self.mode_buttons["zero_shot"].setChecked(True)
        self.mode_group.idToggled.connect(self._mode_toggled)

        self.group_combo = QComboBox()
        self.group_combo.addItems([*presets, MY_PRESETS])
        self.group_combo.setToolTip("Preset group")
        self.group_combo.currentTextChanged.connect(self._fill_presets)
        self.preset_list = QListWidget()
        self.preset_list.setObjectName("presetList")
        self.preset_list.setFlow(QListWidget.Flow.LeftToRight)
        self.preset_list.setWrapping(True)
        self.preset_list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.preset_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.preset_list.setSpacing(3)
        self.preset_list.setMaximumHeight(74)
        self.preset_list.setToolTip("Pick a preset to fill the instruction (arrow keys move between them)")
        self.preset_list.currentItemChanged.connect(self._preset_chosen)
        self.instruction = QPlainTextEdit()
        self.instruction.setPlaceholderText("Instruction, e.g. “Speak like a tired detective at 3 a.m.” "
                                            "Pick a preset above, or write your own.")
        self.instruction.setMaximumHeight(64)
        self.instruction.setTabChangesFocus(True)  # Tab moves on; an instruction needs no tab characters
        self.instruction.textChanged.connect(self._instruction_edited)
        self.preset_state = QLabel()
        self.preset_state.setObjectName("dimLabel")
        self.save_preset_button = QPushButton("Save as preset…")
        self.save_preset_button.setObjectName("compactButton")
        self.save_preset_button.setToolTip(f"Keep this instruction under a name of your own in “{MY_PRESETS}”")
        self.save_preset_button.clicked.connect(lambda: self.ask_preset_name())
        self.delete_preset_button = QPushButton("Delete preset")
        self.delete_preset_button.setObjectName("compactButton")
        self.delete_preset_button.setToolTip("Remove the selected preset of yours (the built-in ones stay)")
        self.delete_preset_button.clicked.connect(lambda: self.delete_my_preset())

        self.palette_widget = TagPalette(tags)
        self.palette_widget.tagChosen.connect(self.tagChosen)
        self._build_numbers()
        self._lay_out(mode_row)
        self._fill_presets(self.group_combo.currentText())
        self._mode_toggled(0, True)

    def _build_numbers(self) -> None:
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
        self.dice.setIcon(QIcon(str(icon_path("dice.svg"))))
        self.dice.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.dice.setToolTip("New random seed")
        self.dice.clicked.connect(lambda: self.roll_seed())
        self.lock = QToolButton()
        self.lock.setCheckable(True)
        self.lock.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.lock.setToolTip("Lock the seed (otherwise every new take rolls a new one)")
        self.lock.toggled.connect(self._lock_toggled)
        self._lock_toggled(False)
        self.streaming = QCheckBox("Stream while generating")
        self.streaming.setChecked(True)
        self.streaming.setToolTip("Play the first chunk as soon as it is ready (off: each sentence when it is done)")

    def _lay_out(self, mode_row: QHBoxLayout) -> None:
        preset_row = QHBoxLayout()
        preset_label = QLabel("Presets")
        preset_label.setObjectName("sectionLabel")
        preset_row.addWidget(preset_label)
        preset_row.addStretch(1)
        preset_row.addWidget(self.group_combo)
        preset_actions = QHBoxLayout()
        preset_actions.setSpacing(4)
        preset_actions.addWidget(self.preset_state, 1)
        preset_actions.addWidget(self.save_preset_button)
        preset_actions.addWidget(self.delete_preset_button)
        tags_label = QLabel("Tags (insert into the script)")
        tags_label.setObjectName("sectionLabel")
        # One grid for the numbers, so the labels, the boxes and the buttons line up.
        numbers = QGridLayout()
        numbers.setHorizontalSpacing(6)
        numbers.setVerticalSpacing(6)
        for row, (text, field) in enumerate((("Speed", self.speed), ("Seed", self.seed))):
            label = QLabel(text)
            label.setBuddy(field)
            numbers.addWidget(label, row, 0, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            numbers.addWidget(field, row, 1)
        numbers.addWidget(self.dice, 1, 2)
        numbers.addWidget(self.lock, 1, 3)
        numbers.addWidget(self.streaming, 2, 1, 1, 3)
        numbers.setColumnStretch(1, 1)

        layout = QVBoxLayout(self)
        layout.setSpacing(4)  # the column shares a small screen's height with the cast (issue 13: 1280x800)
        layout.addLayout(mode_row)
        layout.addLayout(preset_row)
        layout.addWidget(self.preset_list)
        layout.addWidget(self.instruction)
        layout.addLayout(preset_actions)
        layout.addWidget(tags_label)
        layout.addWidget(self.palette_widget)
        layout.addLayout(numbers)
        layout.addStretch(1)

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

    def _lock_toggled(self, locked: bool) -> None:
        self.lock.setText("Locked" if locked else "Lock")
        self.lock.setIcon(QIcon(str(icon_path("lock.svg" if locked else "lock-open.svg"))))

    # ---- presets ---------------------------------------------------------------------------
    def _group(self, group: str) -> list[Preset]:
        if group == MY_PRESETS:
            return [Preset(MY_PRESETS, name, text) for name, text in sorted(self.my_presets.items())]
        return self.presets.get(group, [])

    def _fill_presets(self, group: str) -> None:
        self.preset_list.blockSignals(True)
        self.preset_list.clear()
        for preset in self._group(group):
            item = QListWidgetItem(preset.name)
            item.setData(Qt.ItemDataRole.UserRole, preset)
            item.setToolTip(preset.instruction)
            self.preset_list.addItem(item)
        if group == MY_PRESETS and not self.my_presets:
            hint = QListWidgetItem("None yet: write an instruction, then Save as preset…")
            hint.setFlags(Qt.ItemFlag.NoItemFlags)
            self.preset_list.addItem(hint)
        self.preset_list.setCurrentRow(-1)
        self.preset_list.blockSignals(False)
        self._select_chosen()

    def _select_chosen(self) -> None:
        """Mark the preset the instruction box shows, if it is in the list on screen."""
        self.preset_list.blockSignals(True)
        self.preset_list.setCurrentRow(-1)
        for i in range(self.preset_list.count()):
            if self._chosen is not None and self.preset_list.item(i).data(Qt.ItemDataRole.UserRole) == self._chosen:
                self.preset_list.setCurrentRow(i)
        self.preset_list.blockSignals(False)
        self._update_preset_state()

    def choose_preset(self, group: str, name: str) -> bool:
        self.group_combo.setCurrentText(group)
        for i in range(self.preset_list.count()):
            item = self.preset_list.item(i)
            preset = item.data(Qt.ItemDataRole.UserRole)
            if preset is not None and preset.name == name:
                self.preset_list.setCurrentItem(item)
                return True
        return False

    def _preset_chosen(self, item: QListWidgetItem | None, _previous: object = None) -> None:
        preset = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        if preset is None:
            return
        self._filling = True
        self.instruction.setPlainText(preset.instruction)
        self._filling = False
        self._chosen = preset
        self.set_mode("instruct")
        self._update_preset_state()
        self.changed.emit()
        self._edited(at_once=True)

    def _instruction_edited(self) -> None:
        if not self._filling and self._chosen is not None and \
                self.instruction.toPlainText() != self._chosen.instruction:
            self._chosen = None  # the text is the user's own now; the preset stays as it is
            self._select_chosen()
        self._update_preset_state()
        self.changed.emit()
        if not self._filling:
            self._edited(at_once=False)

    def _update_preset_state(self) -> None:
        text = self.instruction.toPlainText().strip()
        if self._chosen is not None:
            self.preset_state.setText(f"Preset: {self._chosen.name}")
        else:
            self.preset_state.setText("Your own instruction" if text else "")
        self.save_preset_button.setEnabled(bool(text) and self._chosen is None)
        self.delete_preset_button.setEnabled(self._chosen is not None and self._chosen.group == MY_PRESETS)

    def ask_preset_name(self) -> QInputDialog | None:
        """Ask for a name and keep the instruction as one of "My presets" (a window-modal dialog)."""
        text = self.instruction.toPlainText().strip()
        if not text:
            return None
        dialog = QInputDialog(self)
        dialog.setWindowTitle("Save as preset")
        dialog.setLabelText(f"Name for this instruction (in “{MY_PRESETS}”):")
        dialog.setTextValue(" ".join(text.split()[:3]).rstrip(".,;:"))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.textValueSelected.connect(lambda name: self.save_my_preset(name, text))
        dialog.open()
        return dialog

    def save_my_preset(self, name: str, instruction: str) -> None:
        name = " ".join(name.split())
        if not name:
            return
        self.my_presets[name] = instruction
        self.myPresetsChanged.emit(dict(self.my_presets))
        self.choose_preset(MY_PRESETS, name)

    def delete_my_preset(self) -> None:
        """Remove the selected preset of "My presets"; its text stays in the box, as the user's own."""
        if self._chosen is None or self._chosen.group != MY_PRESETS:
            return
        self.my_presets.pop(self._chosen.name, None)
        self._chosen = None
        self.myPresetsChanged.emit(dict(self.my_presets))
        self._fill_presets(self.group_combo.currentText())

    def _mode_toggled(self, _id: int, checked: bool) -> None:
        if not checked:
            return
        instruct = self.mode == "instruct"
        for widget in (self.instruction, self.preset_state):
            widget.setEnabled(instruct)
        self._update_preset_state()
        self.changed.emit()
        self._edited(at_once=True)

    # ---- whose direction -------------------------------------------------------------------------
    def show_member(self, name: str, mode: str, instruction: str) -> None:
        """Show (not edit) cast member ``name``'s default direction."""
        self._edit_timer.stop()
        self.member = name
        self.setTitle(f"Direction · {name}" if name else "Direction")
        self._showing = True
        try:
            self.set_mode(mode)
            if instruction != self.instruction.toPlainText():
                self._chosen = None
                self.instruction.setPlainText(instruction)
                self._select_chosen()
        finally:
            self._showing = False

    def _edited(self, at_once: bool) -> None:
        if self._showing or not self.member:
            return
        if at_once:
            self._member_edited()
        else:
            self._edit_timer.start()

    def flush(self) -> None:
        """Hand an instruction still being typed to the member now (before generating)."""
        if self._edit_timer.isActive():
            self._member_edited()

    def _member_edited(self) -> None:
        self._edit_timer.stop()
        instruction = self.instruction.toPlainText().strip() if self.mode == "instruct" else ""
        self.memberDirectionEdited.emit(self.mode, instruction)
