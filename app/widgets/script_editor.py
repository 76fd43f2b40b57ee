"""The script editor: plain text with a cast, directions and pauses, coloured as the parser reads it, with the
problems underlined (their sentence on hover), tags inserted at the cursor, and undo that belongs to the window.

It says when the typing has settled (``settled``, after :data:`SETTLE_MS`); the window then has the text parsed
off the GUI thread and gives it to the project. Undo and redo are the window's Edit actions (one history for
script edits, take choices and deleted takes), so the editor's own undo is off and it lets Ctrl+Z through.
"""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QTimer, Signal
from PySide6.QtGui import QFont, QKeySequence, QTextCursor
from PySide6.QtWidgets import QPlainTextEdit, QToolTip, QWidget

from .script_highlighter import ScriptHighlighter

SETTLE_MS = 400
PLACEHOLDER = ("Write the script. A line “Ann: Who is there?” is Ann's; lines without a name are the narrator's.\n"
               "# Chapter One starts a chapter · {whisper} or {Calm} directs a line · [pause 1.5s] is silence · "
               "[Ann] starts a block of Ann's lines.")


class ScriptEditor(QPlainTextEdit):
    settled = Signal()  # the text has not changed for SETTLE_MS
    edited = Signal()  # every change (the window knows the parse on screen is old)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("scriptEditor")
        self.setPlaceholderText(PLACEHOLDER)
        self.setTabChangesFocus(True)  # Tab moves on to the next control; a script needs no tab characters
        self.setUndoRedoEnabled(False)  # the window's undo stack has the script's history
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.1)
        self.setFont(font)
        self.highlighter = ScriptHighlighter(self.document(), self.palette().text().color())
        self._problems: tuple = ()
        self._quiet = False
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(SETTLE_MS)
        self._debounce.timeout.connect(self.settled)
        self.textChanged.connect(self._changed)

    def _changed(self) -> None:
        if not self._quiet:
            self._debounce.start()
            self.edited.emit()

    @property
    def settling(self) -> bool:
        """True while an edit waits for its debounce (the project does not have it yet)."""
        return self._debounce.isActive()

    def flush(self) -> None:
        """Say "settled" now (a generate button, undo) instead of after the debounce."""
        if self._debounce.isActive():
            self._debounce.stop()
            self.settled.emit()

    def cancel_settle(self) -> None:
        """The window took the text itself (undo): no "settled" for it."""
        self._debounce.stop()

    def show_text(self, text: str) -> None:
        """Put the project's script on screen (opened, undone) without it counting as typing; the cursor stays
        where it was as far as the text allows."""
        if text == self.toPlainText():
            return
        at = self.textCursor().position()
        self._quiet = True
        try:
            self.setPlainText(text)
        finally:
            self._quiet = False
        self._debounce.stop()
        cursor = self.textCursor()
        cursor.setPosition(min(at, len(text)))
        self.setTextCursor(cursor)

    def show_parse(self, script: Any) -> None:
        """Colour the text as the project reads it and keep its problems for the hover text."""
        self._problems = tuple(script.problems)
        self.highlighter.show(script)

    def problems_at(self, line: int, column: int) -> list[str]:
        """The problems' sentences at a 1-based line and column."""
        def inside(s: Any) -> bool:
            return (s.line, s.column) <= (line, column) < (s.end_line, s.end_column)

        return [p.message for p in self._problems if inside(p.span)]

    def move_to(self, line: int, column: int) -> None:
        """Put the cursor at a 1-based line and column (a click on a problem)."""
        block = self.document().findBlockByNumber(max(0, line - 1))
        cursor = QTextCursor(block)
        cursor.movePosition(QTextCursor.MoveOperation.Right, n=max(0, min(column - 1, block.length() - 1)))
        self.setTextCursor(cursor)
        self.setFocus()

    def event(self, event: QEvent) -> bool:  # noqa: D401 - Qt
        if event.type() == QEvent.Type.ShortcutOverride and (
                event.matches(QKeySequence.StandardKey.Undo) or event.matches(QKeySequence.StandardKey.Redo)):
            event.ignore()  # not ours: the window's Edit ▸ Undo / Redo take the key
            return False
        return super().event(event)

    def viewportEvent(self, event: QEvent) -> bool:  # noqa: N802 - Qt: the text's hover arrives at the viewport
        if event.type() == QEvent.Type.ToolTip:
            cursor = self.cursorForPosition(event.pos())
            found = self.problems_at(cursor.blockNumber() + 1, cursor.positionInBlock() + 1)
            if found:
                QToolTip.showText(event.globalPos(), "\n".join(found), self.viewport())
            else:
                QToolTip.hideText()
            return True
        return super().viewportEvent(event)

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
