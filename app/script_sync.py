"""The script editor and the project agree: typing settles, the text thread parses it, the project takes the parse.

The editor says "settled" after a pause in typing; the text is parsed on the text thread and, if it is still the
editor's text, becomes the project's script (one undo step). Whatever needs the lines to be the editor's (generate,
save, undo) first flushes the typing and runs once the parse is in (:meth:`when_parsed`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from PySide6.QtCore import QObject

from .workers.text_worker import ParseResult

if TYPE_CHECKING:
    from .widgets.main_window import MainWindow


class ScriptSync(QObject):
    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.w = window
        self._applied = 0  # the parse revision the project has
        self._after_parse: Callable[[], None] | None = None

    def undo(self) -> None:
        self.apply_typing()
        self.w.document.undo.undo()

    def redo(self) -> None:
        self.apply_typing()
        self.w.document.undo.redo()

    def apply_typing(self) -> None:
        """Typing still waiting for its debounce becomes the project's script now (one undo step)."""
        self.w.direction.flush()
        text = self.w.editor.toPlainText()
        if text != self.w.document.project.script_text:
            self.w.editor.cancel_settle()
            self.w.document.set_script(text)

    def request_parse(self) -> None:
        project = self.w.document.project
        self.w.text_thread.request(self.w.editor.toPlainText(), tuple(project.cast), project.presets)

    def parse_done(self, result: ParseResult) -> None:
        if self.w.shut_down:
            return  # a parse that was under way when the studio closed: the project is gone
        if result.error:
            self.w.show_error("Cannot read the script", result.error)
        elif result.text == self.w.editor.toPlainText():  # not a text undone or replaced meanwhile
            self.w.document.set_script(result.text)  # the project's own parse hits the sentence cache now
        self._applied = result.revision
        self.w.scriptApplied.emit()
        action, self._after_parse = self._after_parse, None
        if action is not None and self.current:
            action()
        elif action is not None:
            self._after_parse = action  # a newer parse is on its way

    @property
    def current(self) -> bool:
        """The project has the editor's text (the lines on screen are the script's)."""
        return not self.w.editor.settling and self._applied == self.w.text_thread.latest and \
            self.w.editor.toPlainText() == self.w.document.project.script_text

    def flush_edits(self) -> None:
        """Typing that waits for its debounce reaches the project now (before generating, saving, undoing)."""
        self.w.direction.flush()
        if self.w.editor.settling:
            self.w.editor.flush()

    def when_parsed(self, action: Callable[[], None]) -> None:
        """Run ``action`` now if the project has the editor's text, else as soon as it does."""
        self.flush_edits()
        if self.current:
            action()
            return
        self._after_parse = action
        if self._applied == self.w.text_thread.latest and not self.w.editor.settling:
            self.request_parse()  # the editor changed without typing (show_text): parse it now
        self.w.statusBar().showMessage("Reading the script…", 3000)
