"""The cast: every name the script speaks with (the narrator first), the saved voice each one speaks in, how
many lines each has and how it is directed by default. Picking a voice for a name is the whole mapping; the
selected member's default direction is edited in the Direction panel. A member whose voice changes keeps its takes;
its lines turn stale (the line list says so), so nothing is lost by trying another voice.
"""
from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QGroupBox, QHeaderView, QLabel, QTreeWidget, QTreeWidgetItem, QVBoxLayout,
    QWidget,
)

COL_NAME, COL_VOICE, COL_LINES = range(3)
NO_VOICE = "— choose a voice —"
PROJECT_COPY = "\x00project"  # the combo's data for a voice only the project holds (opened on another computer)


@dataclass(frozen=True)
class CastRow:
    """One member as the panel shows it: the voice it speaks in ("" none), whether the library has that voice,
    its default direction in words, its lines and how many of them are stale."""

    name: str
    voice: str = ""
    in_library: bool = True
    direction: str = ""
    lines: int = 0
    stale: int = 0


class CastPanel(QGroupBox):
    voiceChosen = Signal(str, str)  # member, saved voice name  # noqa: N815
    memberSelected = Signal(str)  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Cast", parent)
        self._rows: tuple[CastRow, ...] = ()
        self._voices: tuple[str, ...] = ()
        self.tree = QTreeWidget()
        self.tree.setColumnCount(3)
        self.tree.setHeaderLabels(["Name", "Voice", "Lines"])
        self.tree.setRootIsDecorated(False)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(COL_NAME, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_VOICE, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(COL_LINES, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.currentItemChanged.connect(lambda *_: self.memberSelected.emit(self.current_name))
        self.hint = QLabel("")
        self.hint.setObjectName("dimLabel")
        self.hint.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setSpacing(4)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.hint)

    @property
    def current_name(self) -> str:
        item = self.tree.currentItem()
        return item.text(COL_NAME) if item is not None else ""

    def select(self, name: str) -> None:
        for i in range(self.tree.topLevelItemCount()):
            if self.tree.topLevelItem(i).text(COL_NAME) == name:
                self.tree.setCurrentItem(self.tree.topLevelItem(i))

    def combo(self, name: str) -> QComboBox | None:
        """The voice box of member ``name``."""
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item.text(COL_NAME) == name:
                return self.tree.itemWidget(item, COL_VOICE)
        return None

    def show_cast(self, rows: list[CastRow], voices: list[str]) -> None:
        """The members (in order) and the saved voices they can speak in."""
        rows, voices = tuple(rows), tuple(voices)
        if (rows, voices) == (self._rows, self._voices):
            return
        current = self.current_name
        rebuild = [r.name for r in rows] != [r.name for r in self._rows] or voices != self._voices
        self._rows, self._voices = rows, voices
        if rebuild:
            self.tree.clear()
            for row in rows:
                item = QTreeWidgetItem([row.name, "", ""])
                self.tree.addTopLevelItem(item)
                self.tree.setItemWidget(item, COL_VOICE, self._make_combo(row.name))
        for i, row in enumerate(rows):
            self._show_row(self.tree.topLevelItem(i), row)
        self.select(current or (rows[0].name if rows else ""))
        missing = [r.name for r in rows if not r.voice]
        self.hint.setText(f"Give {', '.join(missing)} a voice to generate their lines." if missing else
                          "Select a name to set its default direction.")

    def _make_combo(self, name: str) -> QComboBox:
        combo = QComboBox()
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(8)
        combo.addItem(NO_VOICE, "")
        for voice in self._voices:
            combo.addItem(voice, voice)
        combo.activated.connect(lambda _i, n=name, c=combo: self._chosen(n, c))
        return combo

    def _show_row(self, item: QTreeWidgetItem, row: CastRow) -> None:
        combo: QComboBox = self.tree.itemWidget(item, COL_VOICE)
        combo.blockSignals(True)
        copy = combo.findData(PROJECT_COPY)
        if copy >= 0:
            combo.removeItem(copy)
        if row.voice and not row.in_library:
            combo.addItem(f"{row.voice} (in the project)", PROJECT_COPY)
            combo.setCurrentIndex(combo.count() - 1)
        else:
            combo.setCurrentIndex(max(0, combo.findData(row.voice)))
        combo.blockSignals(False)
        combo.setToolTip(f"{row.name} speaks in {row.voice}" if row.voice else f"Pick the saved voice {row.name} "
                         "speaks in")
        item.setText(COL_LINES, f"{row.lines}" + (f" ({row.stale} stale)" if row.stale else ""))
        item.setToolTip(COL_NAME, f"{row.name}: {row.direction}")
        item.setToolTip(COL_LINES, f"{row.lines} line(s), {row.stale} stale (made with another voice, text or "
                                   "direction: generate them again)" if row.stale else f"{row.lines} line(s)")

    def _chosen(self, name: str, combo: QComboBox) -> None:
        voice = combo.currentData()
        self.select(name)
        if voice != PROJECT_COPY:
            self.voiceChosen.emit(name, voice or "")
