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
        self.setTabChangesFocus(True)  # Tab moves on to the next control; the narration needs no tab characters
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

    @property
    def settling(self) -> bool:
        """True while an edit waits for its debounce (the sentences do not show it yet)."""
        return self._debounce.isActive()

    def flush(self) -> None:
        """Ask for the re-split now (generate buttons) instead of after the debounce."""
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
            # One space on each side, none doubled: "Hello|world", "Hello |world" and "Hello| world" all
            # become "Hello [laughter] world".
            text, at = self.toPlainText(), cursor.position()
            before, after = text[at - 1:at], text[at:at + 1]
            pad = "" if not before or before.isspace() else " "
            tail = "" if after.isspace() else " "
            cursor.insertText(f"{pad}{token}{tail}")
        self.setTextCursor(cursor)
        self.setFocus()
