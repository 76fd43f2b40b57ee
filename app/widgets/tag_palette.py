"""Buttons for the engine's fine-grained tags; a wrapping tag surrounds the editor's selection."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGridLayout, QToolButton, QWidget

COLUMNS = 4


class TagPalette(QWidget):
    tagChosen = Signal(str, str)  # opening token, closing token ("" for a single tag)  # noqa: N815

    def __init__(self, tags: list[tuple[str, str, str | None]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.buttons: dict[str, QToolButton] = {}
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(4)
        for i, (token, label, close) in enumerate(tags):
            button = QToolButton()
            button.setText(label)
            button.setObjectName("tagButton")
            shown = f"{token}…{close}" if close else token
            button.setToolTip(f"Insert {shown}" + (" around the selected words" if close else " at the cursor"))
            button.clicked.connect(lambda _=False, t=token, c=close: self.tagChosen.emit(t, c or ""))
            grid.addWidget(button, i // COLUMNS, i % COLUMNS)
            self.buttons[token] = button
