"""The lines: the creator's own sentences, one row each, with the speaker, the direction, the chosen take (or why
there is none, or that it is stale) and its checks' verdict (the reasons on hover); a filter for the lines that
failed their checks; generate the selected line, retake the failed ones.

A model/view pair, so a script of thousands of lines costs only the rows on screen: a refresh replaces the rows
(:class:`~app.line_rows.LineRow` values) and repaints the ones that changed.
"""
from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QGroupBox, QHBoxLayout, QHeaderView, QLabel, QPushButton, QTreeView, QVBoxLayout,
    QWidget,
)

from ..line_rows import LineRow

COL_INDEX, COL_SPEAKER, COL_TEXT, COL_TAKE, COL_CHECK = range(5)
HEADERS = ("#", "Speaker", "Line", "Take", "Check")
STATUS_COLOURS = {"ready": "#3fb68b", "stale": "#d9a441", "generating": "#f2c14e"}


class LineModel(QAbstractTableModel):
    def __init__(self) -> None:
        super().__init__()
        self.rows: tuple[LineRow, ...] = ()

    def set_rows(self, rows: list[LineRow]) -> None:
        rows = tuple(rows)
        if [r.line_id for r in rows] != [r.line_id for r in self.rows]:
            self.beginResetModel()
            self.rows = rows
            self.endResetModel()
            return
        old, self.rows = self.rows, rows
        for i, (a, b) in enumerate(zip(old, rows)):
            if a != b:
                self.dataChanged.emit(self.index(i, 0), self.index(i, len(HEADERS) - 1))

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row, col = self.rows[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (str(row.number), row.speaker, row.text, row.take, row.badge)[col]
        if role == Qt.ItemDataRole.ToolTipRole:
            return {COL_TEXT: row.text, COL_TAKE: row.take_tip, COL_CHECK: row.badge_tip,
                    COL_SPEAKER: f"{row.speaker}" + (f" · {row.chapter}" if row.chapter else "")}.get(col)
        if role == Qt.ItemDataRole.ForegroundRole:
            if col == COL_TAKE and row.status in STATUS_COLOURS:
                return QBrush(QColor(STATUS_COLOURS[row.status]))
            if col == COL_CHECK:
                return QBrush(QColor(row.badge_colour))
        return None


class LineList(QGroupBox):
    lineSelected = Signal(str)  # line id ("" none)  # noqa: N815
    generateRequested = Signal(str)  # line id  # noqa: N815
    playRequested = Signal(str)  # noqa: N815
    retakeRequested = Signal()  # noqa: N815
    checkRequested = Signal()  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Lines", parent)
        self.model = LineModel()
        self.view = QTreeView()
        self.view.setModel(self.model)
        self.view.setRootIsDecorated(False)
        self.view.setUniformRowHeights(True)
        self.view.setAlternatingRowColors(True)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.view.header()
        header.setStretchLastSection(False)
        # Fitted to the rows on screen only: fitting to every row asks the model ~100 000 times per refresh of a
        # long script (0.1 s of GUI time for 350 lines), and the columns' widths barely depend on the rest.
        header.setResizeContentsPrecision(0)
        for col, mode in ((COL_INDEX, QHeaderView.ResizeMode.ResizeToContents),
                          (COL_SPEAKER, QHeaderView.ResizeMode.ResizeToContents),
                          (COL_TEXT, QHeaderView.ResizeMode.Stretch),
                          (COL_TAKE, QHeaderView.ResizeMode.ResizeToContents),
                          (COL_CHECK, QHeaderView.ResizeMode.ResizeToContents)):
            header.setSectionResizeMode(col, mode)
        self.view.selectionModel().currentRowChanged.connect(lambda *_: self.lineSelected.emit(self.current_line))
        self.view.doubleClicked.connect(lambda *_: self.playRequested.emit(self.current_line))
        self.generate_button = QPushButton("Generate line")
        self.generate_button.setToolTip("A new take of the selected line (a new seed unless the seed is locked)")
        self.generate_button.clicked.connect(lambda: self.generateRequested.emit(self.current_line))
        self.only_failed = QCheckBox("Only failed")
        self.only_failed.setToolTip("Show only the lines whose chosen take failed its checks")
        self.only_failed.toggled.connect(lambda _on: self._apply_filter())
        self.check_button = QPushButton("Check takes")
        self.check_button.setToolTip("Check every chosen take that has not been checked yet")
        self.check_button.clicked.connect(lambda: self.checkRequested.emit())
        self.retake_button = QPushButton("Retake failed lines")
        self.retake_button.setToolTip("New takes of every line that failed its checks, until one passes "
                                      "(best of N, Settings)")
        self.retake_button.clicked.connect(lambda: self.retakeRequested.emit())
        self.summary = QLabel("")
        self.summary.setObjectName("dimLabel")
        bar = QHBoxLayout()
        bar.setSpacing(4)
        for b in (self.generate_button, self.check_button, self.retake_button):
            b.setObjectName("compactButton")
        bar.addWidget(self.generate_button)
        bar.addWidget(self.only_failed)
        bar.addStretch(1)
        bar.addWidget(self.summary)
        bar.addWidget(self.check_button)
        bar.addWidget(self.retake_button)
        layout = QVBoxLayout(self)
        layout.setSpacing(4)
        layout.addWidget(self.view, 1)
        layout.addLayout(bar)
        self.show_rows([])

    # ---- what it shows -----------------------------------------------------------------------------
    def show_rows(self, rows: list[LineRow]) -> None:
        current = self.current_line
        self.model.set_rows(rows)
        self._apply_filter()
        if not self.select(current) and rows:
            self.select(rows[0].line_id)
        failed = self.failed_lines()
        self.retake_button.setEnabled(bool(failed))
        self.generate_button.setEnabled(bool(self.current_line))
        stale = sum(r.status == "stale" for r in rows)
        parts = [f"{len(rows)} lines"] + ([f"{stale} stale"] if stale else []) + ([f"{len(failed)} failed"]
                                                                                  if failed else [])
        self.summary.setText(" · ".join(parts) if rows else "")

    def failed_lines(self) -> list[str]:
        return [r.line_id for r in self.model.rows if r.verdict == "fail"]

    @property
    def current_line(self) -> str:
        index = self.view.currentIndex()
        return self.model.rows[index.row()].line_id if index.isValid() and index.row() < len(self.model.rows) else ""

    def select(self, line_id: str) -> bool:
        for i, row in enumerate(self.model.rows):
            if row.line_id == line_id and line_id:
                if not self.view.isRowHidden(i, QModelIndex()):
                    self.view.setCurrentIndex(self.model.index(i, COL_TEXT))
                    self.view.scrollTo(self.model.index(i, COL_TEXT))
                    return True
        return False

    def row_of(self, line_id: str) -> LineRow | None:
        return next((r for r in self.model.rows if r.line_id == line_id), None)

    def visible_lines(self) -> list[str]:
        return [r.line_id for i, r in enumerate(self.model.rows) if not self.view.isRowHidden(i, QModelIndex())]

    def _apply_filter(self) -> None:
        only = self.only_failed.isChecked()
        for i, row in enumerate(self.model.rows):
            self.view.setRowHidden(i, QModelIndex(), only and row.verdict != "fail")
        if only and self.current_line not in self.visible_lines():
            visible = self.visible_lines()
            if visible:
                self.select(visible[0])
