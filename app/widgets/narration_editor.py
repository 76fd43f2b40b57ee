"""The narration text: a plain-text editor that re-splits into sentences shortly after each edit
and inserts fine-grained tags at the cursor (or around the selection)."""
from __future__ import annotations

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QFont, QTextCursor
from PySide6.QtWidgets import QPlainTextEdit, QWidget

RESPLIT_MS = 400


class NarrationEditor(QPlainTextEdit):
    sentencesChanged = Signal()  # noqa: N815 - debounced: the text settled
    textEdited = Signal(str)  # noqa: N815 - every edit (autosave)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("narrationEditor")
        self.setPlaceholderText("Type or paste the text to narrate. Each sentence appears on the right "
                                "and can be generated, regenerated and compared on its own.")
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.setFont(font)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(RESPLIT_MS)
        self._debounce.timeout.connect(self.sentencesChanged)
        self.textChanged.connect(self._changed)

    def _changed(self) -> None:
        self._debounce.start()
        self.textEdited.emit(self.toPlainText())

    def flush(self) -> None:
        """Re-split now (tests, generate buttons) instead of after the debounce."""
        if self._debounce.isActive():
            self._debounce.stop()
        self.sentencesChanged.emit()

    def insert_tag(self, token: str, close: str = "") -> None:
        cursor = self.textCursor()
        if close:
            selected = cursor.selectedText()
            cursor.insertText(f"{token}{selected}{close}")
            if not selected:  # put the cursor between the tags so the user can type the words
                cursor.movePosition(QTextCursor.MoveOperation.Left, n=len(close))
        else:
            before = self.toPlainText()[cursor.position() - 1:cursor.position()] if cursor.position() else ""
            pad = "" if not before or before.isspace() else " "
            cursor.insertText(f"{pad}{token} ")
        self.setTextCursor(cursor)
        self.setFocus()
