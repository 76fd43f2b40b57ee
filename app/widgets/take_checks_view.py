"""The take checks of a narration: a verdict badge per line (the reasons on hover), a filter for the lines
that failed, "Retake failed lines", and the selected line's checks with their numbers and limits.

Self-contained and not yet wired into the main window: it shows reports it is given (any object with the
shape of :class:`engine.checks.TakeReport`: ``verdict``, ``score``, ``summary()`` and ``checks`` whose items
have ``name``, ``verdict``, ``value``, ``threshold``, ``unit``, ``message``, ``line()``) and asks for retakes
by signal; checking and retaking run elsewhere (the engine worker), never on the GUI thread.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QGroupBox, QHBoxLayout, QHeaderView, QLabel, QPushButton, QTreeWidget,
    QTreeWidgetItem, QVBoxLayout, QWidget,
)

COL_INDEX, COL_TEXT, COL_VERDICT, COL_SCORE = range(4)
BADGES = {"pass": ("✓ pass", "#2e7d32"), "warn": ("! warn", "#b26a00"), "fail": ("✗ fail", "#c62828"),
          "not checked": ("– not checked", "#757575"), "not installed": ("– not installed", "#757575")}
UNCHECKED = ("… not checked yet", "#757575")


def badge(verdict: str | None) -> tuple[str, str]:
    """(text, colour) of a verdict's badge."""
    return BADGES.get(verdict, UNCHECKED) if verdict else UNCHECKED


def reasons(report) -> str:
    """The tooltip: every check's line, failed and warned checks first."""
    order = {"fail": 0, "warn": 1}
    return "\n".join(c.line() for c in sorted(report.checks, key=lambda c: order.get(c.verdict, 2)))


class TakeChecksView(QGroupBox):
    retakeRequested = Signal(list)  # line indices whose take failed  # noqa: N815
    lineSelected = Signal(int)  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Take checks", parent)
        self._lines: list[tuple[str, object | None]] = []
        self.tree = QTreeWidget()
        self.tree.setColumnCount(4)
        self.tree.setHeaderLabels(["#", "Line", "Verdict", "Score"])
        self.tree.setRootIsDecorated(False)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(COL_TEXT, QHeaderView.ResizeMode.Stretch)
        self.details = QTreeWidget()
        self.details.setColumnCount(4)
        self.details.setHeaderLabels(["Check", "Verdict", "Value", "Limit"])
        self.details.setRootIsDecorated(False)
        self.only_failed = QCheckBox("Only failed lines")
        self.retake = QPushButton("Retake failed lines")
        self.status = QLabel("")
        bar = QHBoxLayout()
        bar.addWidget(self.only_failed)
        bar.addStretch(1)
        bar.addWidget(self.status)
        bar.addWidget(self.retake)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.tree, 3)
        layout.addWidget(self.details, 2)
        self.only_failed.toggled.connect(self._apply_filter)
        self.retake.clicked.connect(lambda: self.retakeRequested.emit(self.failed_lines()))
        self.tree.currentItemChanged.connect(self._show_selected)
        self._refresh()

    # ---- what it shows -------------------------------------------------------------------------
    def set_lines(self, lines: list[tuple[str, object | None]]) -> None:
        """Every line's text and its chosen take's report (None: not checked yet)."""
        self._lines = list(lines)
        self._refresh()

    def set_report(self, index: int, report) -> None:
        """A line's new report (after a retake)."""
        text, _ = self._lines[index]
        self._lines[index] = (text, report)
        self._refresh()

    def failed_lines(self) -> list[int]:
        return [i for i, (_, r) in enumerate(self._lines) if r is not None and r.verdict == "fail"]

    # ---- internals -----------------------------------------------------------------------------
    def _refresh(self) -> None:
        current = self.tree.currentItem()
        keep = self.tree.indexOfTopLevelItem(current) if current is not None else -1
        self.tree.clear()
        for i, (text, report) in enumerate(self._lines):
            label, colour = badge(report.verdict if report is not None else None)
            item = QTreeWidgetItem([str(i + 1), text, label, str(report.score) if report is not None else ""])
            item.setForeground(COL_VERDICT, QBrush(QColor(colour)))
            item.setToolTip(COL_VERDICT, reasons(report) if report is not None else "Not checked yet.")
            item.setToolTip(COL_TEXT, report.summary() if report is not None else text)
            item.setData(COL_INDEX, Qt.ItemDataRole.UserRole, i)
            self.tree.addTopLevelItem(item)
        failed = self.failed_lines()
        self.retake.setEnabled(bool(failed))
        self.status.setText(f"{len(failed)} of {len(self._lines)} lines failed" if self._lines else "")
        self._apply_filter()
        if 0 <= keep < self.tree.topLevelItemCount():
            self.tree.setCurrentItem(self.tree.topLevelItem(keep))
        else:
            self._show_selected(None)

    def _apply_filter(self) -> None:
        only = self.only_failed.isChecked()
        for i in range(self.tree.topLevelItemCount()):
            report = self._lines[i][1]
            self.tree.topLevelItem(i).setHidden(only and not (report is not None and report.verdict == "fail"))

    def _show_selected(self, item: QTreeWidgetItem | None, _previous=None) -> None:
        self.details.clear()
        if item is None:
            return
        index = int(item.data(COL_INDEX, Qt.ItemDataRole.UserRole))
        report = self._lines[index][1]
        if report is not None:
            for c in report.checks:
                value = "" if c.value is None else f"{c.value:g}{c.unit}"
                limit = "" if c.threshold is None else f"{c.threshold:g}{c.unit}"
                row = QTreeWidgetItem([c.name, badge(c.verdict)[0], value, limit])
                row.setForeground(1, QBrush(QColor(badge(c.verdict)[1])))
                row.setToolTip(0, c.message)
                self.details.addTopLevelItem(row)
        self.lineSelected.emit(index)
