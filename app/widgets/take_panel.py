"""The takes of the selected line: every take with how it was made, its length and its checks' scores (for
comparing), the selected take's waveform with a playhead and its checks one by one; play it, A/B it against the
take before it, use it as the line's take, delete it, or perform the line yourself.

It shows :class:`TakeRow` values and the selected take's audio, and asks the window for everything by signal.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView, QGroupBox, QHBoxLayout, QHeaderView, QLabel, QPushButton, QSplitter, QTreeWidget,
    QTreeWidgetItem, QVBoxLayout, QWidget,
)

from ..check_badges import badge
from .waveform_view import WaveformView

COL_N, COL_HOW, COL_LENGTH, COL_CHECK, COL_SCORES = range(5)
CHOSEN_MARK = "●"


@dataclass(frozen=True)
class TakeRow:
    take_id: str
    number: int
    chosen: bool
    how: str
    seconds: float
    verdict: str | None
    scores: str  # "score 9 · WER 0.33 · voice 0.88", "" when not checked
    tip: str  # how it was made; its checks' lines


class TakePanel(QGroupBox):
    takeSelected = Signal(str)  # noqa: N815
    playRequested = Signal(str)  # take id  # noqa: N815
    stopRequested = Signal()  # noqa: N815
    abRequested = Signal(str, str)  # take A (the one before), take B (the selected)  # noqa: N815
    chooseRequested = Signal(str, str)  # line id, take id  # noqa: N815
    deleteRequested = Signal(str)  # take id  # noqa: N815
    performRequested = Signal(str)  # line id  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Takes", parent)
        self.line_id = ""
        self._rows: tuple[TakeRow, ...] = ()
        self._playing = False
        self.tree = QTreeWidget()
        self.tree.setColumnCount(5)
        self.tree.setHeaderLabels(["Take", "Made", "Length", "Check", "Scores"])
        self.tree.setRootIsDecorated(False)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.tree.header()
        header.setStretchLastSection(True)
        for col in (COL_N, COL_HOW, COL_LENGTH, COL_CHECK):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.currentItemChanged.connect(lambda *_: self._selected())
        self.tree.itemDoubleClicked.connect(lambda *_: self._choose())
        self.checks = QTreeWidget()
        self.checks.setColumnCount(4)
        self.checks.setHeaderLabels(["Check", "Verdict", "Value", "Limit"])
        self.checks.setRootIsDecorated(False)
        self.checks.header().setStretchLastSection(True)
        self.checks.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.waveform = WaveformView(editable=False, placeholder="The selected take")
        self.waveform.setMinimumHeight(44)
        self.waveform.setMaximumHeight(56)
        self.hearing = QLabel("")
        self.hearing.setObjectName("dimLabel")
        self.play_button = QPushButton("▶ Play")
        self.play_button.setToolTip("Play the selected take (Stop while it plays)")
        self.play_button.clicked.connect(lambda: self._play_or_stop())
        self.ab_button = QPushButton("A/B")
        self.ab_button.setToolTip("Hear the take before this one (A), then press again to switch to this one (B) at "
                                  "the same moment, and back")
        self.ab_button.clicked.connect(lambda: self._ab())
        self.choose_button = QPushButton("Use this take")
        self.choose_button.setToolTip("Make the selected take the line's take (played and exported)")
        self.choose_button.clicked.connect(lambda: self._choose())
        self.delete_button = QPushButton("Delete")
        self.delete_button.setToolTip("Delete the selected take (Edit ▸ Undo brings it back)")
        self.delete_button.clicked.connect(lambda: self._delete())
        self.perform_button = QPushButton("Perform…")
        self.perform_button.setToolTip("Record or import your own reading of the line and turn it into the speaker's "
                                       "voice, keeping your timing and emotion")
        self.perform_button.clicked.connect(lambda: self.performRequested.emit(self.line_id))
        self._lay_out()
        self.show_takes("", "", [])

    def _lay_out(self) -> None:
        buttons = QHBoxLayout()
        buttons.setSpacing(4)
        for b in (self.play_button, self.ab_button, self.choose_button, self.delete_button, self.perform_button):
            b.setObjectName("compactButton")
            buttons.addWidget(b)
        buttons.addWidget(self.hearing, 1)
        top = QSplitter(Qt.Orientation.Horizontal)  # the takes to compare, and the selected one's checks
        top.addWidget(self.tree)
        top.addWidget(self.checks)
        top.setStretchFactor(0, 1)  # on a small screen the checks' four columns need as much room as the takes
        top.setStretchFactor(1, 1)
        top.setSizes([300, 300])
        top.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        layout.addWidget(top, 1)
        layout.addWidget(self.waveform)
        layout.addLayout(buttons)

    # ---- what it shows -----------------------------------------------------------------------------
    @property
    def current_take(self) -> str:
        item = self.tree.currentItem()
        return item.data(COL_N, Qt.ItemDataRole.UserRole) if item is not None else ""

    @property
    def rows(self) -> tuple[TakeRow, ...]:
        return self._rows

    def show_takes(self, line_id: str, title: str, rows: list[TakeRow]) -> None:
        """The takes of ``line_id`` (oldest first); the selection stays on the same take, else the chosen one."""
        rows = tuple(rows)
        chosen = next((r.take_id for r in rows if r.chosen), "")
        old_chosen = next((r.take_id for r in self._rows if r.chosen), "")
        # the same take stays selected, unless the line has a new take now (a new one made, another chosen)
        keep = self.current_take if line_id == self.line_id and chosen == old_chosen else ""
        self.setTitle(f"Takes · {title}" if title else "Takes")
        if (line_id, rows) != (self.line_id, self._rows):
            self.line_id, self._rows = line_id, rows
            self.tree.blockSignals(True)
            self.tree.clear()
            for row in rows:
                label, colour = badge(row.verdict)
                item = QTreeWidgetItem([f"{CHOSEN_MARK if row.chosen else ' '} {row.number}", row.how,
                                        f"{row.seconds:.1f} s", label, row.scores])
                item.setData(COL_N, Qt.ItemDataRole.UserRole, row.take_id)
                item.setForeground(COL_CHECK, QBrush(QColor(colour)))
                for col in range(5):
                    item.setToolTip(col, row.tip)
                self.tree.addTopLevelItem(item)
            self.tree.blockSignals(False)
            chosen = chosen or (rows[-1].take_id if rows else "")
            self.select(keep if any(r.take_id == keep for r in rows) else chosen)
        self._update_enabled()

    def select(self, take_id: str) -> None:
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item.data(COL_N, Qt.ItemDataRole.UserRole) == take_id:
                self.tree.setCurrentItem(item)
                return
        self._selected()

    def show_audio(self, audio: np.ndarray, sample_rate: int) -> None:
        self.waveform.set_audio(audio, sample_rate)

    def show_checks(self, report: Any) -> None:
        """The selected take's checks, one row each (empty when it was not checked)."""
        self.checks.clear()
        for c in report.checks if report is not None else ():
            value = "" if c.value is None else f"{c.value:.3g}{c.unit}"
            limit = "" if c.threshold is None else f"{c.threshold:.3g}{c.unit}"
            item = QTreeWidgetItem([c.name, badge(c.verdict)[0], value, limit])
            item.setForeground(1, QBrush(QColor(badge(c.verdict)[1])))
            item.setToolTip(0, c.message)
            item.setToolTip(1, c.message)
            self.checks.addTopLevelItem(item)

    def set_playing(self, playing: bool, hearing: str = "") -> None:
        """A take of this line is playing (Play becomes Stop); ``hearing`` says which (A/B)."""
        self._playing = playing
        self.play_button.setText("■ Stop" if playing else "▶ Play")
        self.hearing.setText(hearing if playing else "")
        if not playing:
            self.waveform.set_playhead(None)
        self._update_enabled()

    def set_playhead(self, seconds: float | None) -> None:
        self.waveform.set_playhead(seconds)

    def previous_take(self, take_id: str) -> str:
        """The take made before ``take_id`` (A of an A/B), "" when it is the first."""
        ids = [r.take_id for r in self._rows]
        i = ids.index(take_id) if take_id in ids else -1
        return ids[i - 1] if i > 0 else ""

    # ---- asking ------------------------------------------------------------------------------------
    def _selected(self) -> None:
        self._update_enabled()
        self.takeSelected.emit(self.current_take)

    def _update_enabled(self) -> None:
        take = self.current_take
        chosen = next((r.chosen for r in self._rows if r.take_id == take), False)
        self.play_button.setEnabled(self._playing or bool(take))
        self.ab_button.setEnabled(bool(take and self.previous_take(take)))
        self.choose_button.setEnabled(bool(take) and not chosen)
        self.delete_button.setEnabled(bool(take))
        self.perform_button.setEnabled(bool(self.line_id))

    def _play_or_stop(self) -> None:
        if self._playing:
            self.stopRequested.emit()
        elif self.current_take:
            self.playRequested.emit(self.current_take)

    def _ab(self) -> None:
        take = self.current_take
        if take and self.previous_take(take):
            self.abRequested.emit(self.previous_take(take), take)

    def _choose(self) -> None:
        if self.current_take:
            self.chooseRequested.emit(self.line_id, self.current_take)

    def _delete(self) -> None:
        if self.current_take:
            self.deleteRequested.emit(self.current_take)


def take_rows(view: Any, report_of) -> list[TakeRow]:
    """The panel's rows for an engine LineView; ``report_of(take_id)``: its TakeReport or None."""
    from ..check_badges import reasons, scores
    from ..line_rows import how_spoken, take_details

    rows = []
    for n, info in enumerate(view.takes, start=1):
        report = report_of(info.id)
        tip = take_details(info) + (f"\n\nChecks:\n{reasons(report)}" if report is not None else "")
        rows.append(TakeRow(info.id, n, info.id == view.chosen, how_spoken(info), info.duration_s,
                            report.verdict if report is not None else None,
                            scores(report) if report is not None else "", tip))
    return rows

