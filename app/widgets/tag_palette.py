"""Buttons for the engine's fine-grained tags, in two even blocks: sounds inserted at the cursor in a grid of
equal cells, and tags that wrap the selected words on a row of their own (their labels are long)."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QResizeEvent, QShowEvent
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QSizePolicy, QToolButton, QVBoxLayout, QWidget

COLUMNS = 3


class TagPalette(QWidget):
    tagChosen = Signal(str, str)  # opening token, closing token ("" for a single tag)  # noqa: N815

    def __init__(self, tags: list[tuple[str, str, str | None]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.buttons: dict[str, QToolButton] = {}
        grid = QGridLayout()
        grid.setSpacing(4)
        wrapping = QHBoxLayout()
        wrapping.setSpacing(4)
        singles = [t for t in tags if not t[2]]
        for i, (token, label, _close) in enumerate(singles):
            grid.addWidget(self._button(token, label, ""), i // COLUMNS, i % COLUMNS)
        for column in range(COLUMNS):
            grid.setColumnStretch(column, 1)
        self._grid, self._singles = grid, [self.buttons[t[0]] for t in singles]
        for token, label, close in (t for t in tags if t[2]):
            wrapping.addWidget(self._button(token, label, close or ""), 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(grid)
        layout.addLayout(wrapping)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        # Equal cells whatever the labels: every column as wide as the widest button (known once the style
        # sheet has polished the buttons, i.e. now), then equal shares of any room left.
        widest = max((b.sizeHint().width() for b in self._singles), default=0)
        for column in range(COLUMNS):
            self._grid.setColumnMinimumWidth(column, widest)
        super().showEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        # A width the columns cannot share evenly would leave cells a pixel apart (103, 104, 103): every sound
        # button gets the smallest share (a maximum, not a fixed width, so the palette can still narrow).
        spacing = self._grid.horizontalSpacing()
        share = (event.size().width() - spacing * (COLUMNS - 1)) // COLUMNS
        for button in self._singles:
            button.setMaximumWidth(max(share, button.minimumSizeHint().width()))
        super().resizeEvent(event)

    def _button(self, token: str, label: str, close: str) -> QToolButton:
        button = QToolButton()
        button.setText(label)
        button.setObjectName("tagButton")
        button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        where = f"{token}…{close} around the selected words" if close else f"{token} at the cursor"
        button.setToolTip(f"Insert {where}")
        button.clicked.connect(lambda _=False, t=token, c=close: self.tagChosen.emit(t, c))
        self.buttons[token] = button
        return button
